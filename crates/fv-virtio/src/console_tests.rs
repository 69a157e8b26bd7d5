//! virtio-console through the MMIO transport, driven with virtio-queue's
//! mock driver: the receiveq at one set of rings, the transmitq at another,
//! host input from a pipe, output into a shared buffer.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fv_machine::MmioDevice;
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};

use crate::tests::{
    desc, init_queues, r, ram, transport, w, wait_needs_reset, wait_used, FEATS, F_NEXT, F_WRITE,
    STATUS,
};
use crate::{console, features, status, Console, GuestMemory, MmioTransport};

use crate::mmio::reg::QUEUE_NOTIFY as NOTIFY;
const RING: u16 = 16;

/// What the device wrote, shared with the test.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The receiveq's and transmitq's rings, apart from each other and from
/// the buffers (which the tests put at 0x10_0000 and up).
fn queues(
    mem: &GuestMemory,
) -> (
    MockSplitQueue<'_, GuestMemory>,
    MockSplitQueue<'_, GuestMemory>,
) {
    (
        MockSplitQueue::create(mem, GuestAddress(0x1000), RING),
        MockSplitQueue::create(mem, GuestAddress(0x8000), RING),
    )
}

fn pipe() -> (OwnedFd, std::fs::File) {
    let (rx, tx) = nix::unistd::pipe().unwrap();
    (rx, std::fs::File::from(tx))
}

fn read_guest(mem: &GuestMemory, at: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    mem.read_slice(&mut v, GuestAddress(at)).unwrap();
    v
}

fn used_len(vq: &MockSplitQueue<'_, GuestMemory>, i: usize) -> u32 {
    vq.used().ring().ref_at(i).unwrap().load().len()
}

/// The driver transmits one byte (`txq` entry `at`): its port is up, so
/// input may flow from now on.
fn connect(t: &MmioTransport, mem: &GuestMemory, txq: &MockSplitQueue<'_, GuestMemory>, at: u16) {
    mem.write_slice(b">", GuestAddress(0x30_0000)).unwrap();
    txq.add_desc_chains(&[desc(0x30_0000, 1, 0, 0)], at)
        .unwrap();
    w(t, NOTIFY, 1);
    assert!(wait_used(txq, at + 1), "transmit");
}

fn live(
    t: &MmioTransport,
    rxq: &MockSplitQueue<'_, GuestMemory>,
    txq: &MockSplitQueue<'_, GuestMemory>,
    feats: u64,
) {
    let st = init_queues(t, &[rxq, txq], u32::from(RING), feats);
    assert_eq!(st & 0xff, 0xf, "device live: {st:#x}");
}

#[test]
fn config_space_and_features() {
    let ram = ram();
    let dev = Console::new(None, Box::new(Sink::default()), Some((132, 43))).unwrap();
    let (t, _) = transport(Box::new(dev), &ram);
    assert_eq!(r(&t, 8), crate::device_type::CONSOLE);
    w(&t, 0x14, 0);
    assert_eq!(r(&t, 0x10) & 1, 1, "F_SIZE offered with a size");
    assert_eq!(r(&t, 0x10) & 2, 0, "no MULTIPORT");
    assert_eq!(r(&t, 0x100) & 0xffff, 132, "cols");
    assert_eq!(r(&t, 0x100) >> 16, 43, "rows");
    assert_eq!(r(&t, 0x104), 1, "max_nr_ports");
    let mut b = [0u8; 2];
    t.read(0x102, &mut b);
    assert_eq!(u16::from_le_bytes(b), 43);
    w(&t, 0x30, 1);
    assert_eq!(r(&t, 0x34), 64, "transmitq size");
    w(&t, 0x30, 2);
    assert_eq!(r(&t, 0x34), 0, "no control queues");

    let dev = Console::new(None, Box::new(Sink::default()), None).unwrap();
    let (t, _) = transport(Box::new(dev), &ram);
    w(&t, 0x14, 0);
    assert_eq!(r(&t, 0x10) & 1, 0, "no F_SIZE without a size");
    assert_eq!(console::F_SIZE, 1);
}

#[test]
fn output_reaches_the_writer_in_order() {
    let ram = ram();
    let mem = ram.memory();
    let sink = Sink::default();
    let dev = Console::new(None, Box::new(sink.clone()), None).unwrap();
    let (t, line) = transport(Box::new(dev), &ram);
    let (rxq, txq) = queues(mem);
    live(&t, &rxq, &txq, FEATS | features::RING_EVENT_IDX);

    mem.write_slice(b"first ", GuestAddress(0x10_0000)).unwrap();
    mem.write_slice(b"sec", GuestAddress(0x11_0000)).unwrap();
    mem.write_slice(b"ond ", GuestAddress(0x12_0000)).unwrap();
    // A buffer larger than the device's copy chunk.
    let big: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    mem.write_slice(&big, GuestAddress(0x13_0000)).unwrap();
    txq.add_desc_chains(
        &[
            desc(0x10_0000, 6, 0, 0),
            desc(0x11_0000, 3, F_NEXT, 2),
            desc(0x12_0000, 4, 0, 0),
            desc(0x13_0000, big.len() as u32, 0, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, NOTIFY, 1);
    assert!(wait_used(&txq, 3));
    let expected = format!("first second {}", String::from_utf8_lossy(&big));
    assert_eq!(sink.text(), expected);
    assert_eq!(
        used_len(&txq, 0),
        0,
        "nothing written into transmit buffers"
    );
    assert!(line.0.load(Ordering::SeqCst), "used-buffer interrupt");

    mem.write_slice(b"third\n", GuestAddress(0x14_0000))
        .unwrap();
    txq.add_desc_chains(&[desc(0x14_0000, 6, 0, 0)], 4).unwrap();
    w(&t, NOTIFY, 1);
    assert!(wait_used(&txq, 4));
    assert!(sink.text().ends_with("third\n"));
    assert_eq!(r(&t, STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn input_waits_for_receive_buffers() {
    let ram = ram();
    let mem = ram.memory();
    let (rx, mut tx) = pipe();
    let dev = Console::new(Some(rx), Box::new(Sink::default()), None).unwrap();
    let (t, line) = transport(Box::new(dev), &ram);
    let (rxq, txq) = queues(mem);
    // Input before the driver is there, and before it offers buffers.
    tx.write_all(b"0123456789").unwrap();
    live(&t, &rxq, &txq, FEATS | features::RING_EVENT_IDX);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rxq.used().idx().load(), 0, "nothing used without buffers");
    assert!(!line.0.load(Ordering::SeqCst));

    // Two 4-byte buffers take 8 bytes once the driver has transmitted;
    // the rest waits.
    rxq.add_desc_chains(
        &[
            desc(0x10_0000, 4, F_WRITE, 0),
            desc(0x10_1000, 4, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, NOTIFY, 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        rxq.used().idx().load(),
        0,
        "input held until the driver writes"
    );
    assert!(!line.0.load(Ordering::SeqCst));
    connect(&t, mem, &txq, 0);
    assert!(wait_used(&rxq, 2));
    assert_eq!(read_guest(mem, 0x10_0000, 4), b"0123");
    assert_eq!(read_guest(mem, 0x10_1000, 4), b"4567");
    assert_eq!((used_len(&rxq, 0), used_len(&rxq, 1)), (4, 4));
    assert!(line.0.load(Ordering::SeqCst), "used-buffer interrupt");
    // Starved, the device asked to be notified of the next buffer
    // (avail_event, after the used ring's entries).
    let avail_event_at = rxq.used_addr().0 + 4 + 8 * u64::from(RING);
    let avail_event: u16 = mem.read_obj(GuestAddress(avail_event_at)).unwrap();
    assert_eq!(avail_event, 2, "avail_event names the next buffer");

    // A new buffer receives what waited.
    rxq.add_desc_chains(&[desc(0x10_2000, 64, F_WRITE, 0)], 2)
        .unwrap();
    w(&t, NOTIFY, 0);
    assert!(wait_used(&rxq, 3));
    assert_eq!(read_guest(mem, 0x10_2000, 2), b"89");
    assert_eq!(used_len(&rxq, 2), 2);

    // A buffer waiting for input is filled when input comes.
    rxq.add_desc_chains(&[desc(0x10_3000, 64, F_WRITE, 0)], 3)
        .unwrap();
    w(&t, NOTIFY, 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rxq.used().idx().load(), 3, "no input, buffer kept");
    tx.write_all(b"typed").unwrap();
    assert!(wait_used(&rxq, 4));
    assert_eq!(read_guest(mem, 0x10_3000, 5), b"typed");

    // End of input: buffers stay with the device, no error.
    rxq.add_desc_chains(&[desc(0x10_4000, 64, F_WRITE, 0)], 4)
        .unwrap();
    w(&t, NOTIFY, 0);
    drop(tx);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rxq.used().idx().load(), 4, "nothing received after EOF");
    assert_eq!(r(&t, STATUS) & status::DEVICE_NEEDS_RESET, 0);
    // Output still works after input ended.
    connect(&t, mem, &txq, 1);
    // Reset stops the worker cleanly.
    w(&t, STATUS, 0);
    assert_eq!(r(&t, STATUS), 0);
}

#[test]
fn hostile_chains_need_reset() {
    let ram = ram();
    let mem = ram.memory();
    // (queue, chain) pairs the device must refuse.
    let cases: Vec<(u32, Vec<_>)> = vec![
        // transmitq: a loop, a buffer outside RAM, a next past the table.
        (
            1,
            vec![desc(0x10_0000, 4, F_NEXT, 1), desc(0x10_1000, 4, F_NEXT, 0)],
        ),
        (1, vec![desc(0xffff_f000, 0x2000, 0, 0)]),
        (1, vec![desc(0x10_0000, 4, F_NEXT, 300)]),
        // receiveq: a device-readable buffer, an empty writable one, a
        // writable buffer outside RAM.
        (0, vec![desc(0x10_0000, 16, 0, 0)]),
        (0, vec![desc(0x10_0000, 0, F_WRITE, 0)]),
        (0, vec![desc(0xffff_f000, 0x2000, F_WRITE, 0)]),
    ];
    for (n, (queue, descs)) in cases.into_iter().enumerate() {
        let (rx, mut tx) = pipe();
        tx.write_all(b"input").unwrap();
        let dev = Console::new(Some(rx), Box::new(Sink::default()), None).unwrap();
        let (t, _) = transport(Box::new(dev), &ram);
        let (rxq, txq) = queues(mem);
        live(&t, &rxq, &txq, FEATS);
        connect(&t, mem, &txq, 0);
        let vq = if queue == 0 { &rxq } else { &txq };
        vq.add_desc_chains(&descs, 1).unwrap();
        w(&t, NOTIFY, queue);
        assert!(wait_needs_reset(&t), "case {n}");
        // Later notifications are ignored; a reset recovers the device.
        w(&t, NOTIFY, 0);
        w(&t, NOTIFY, 1);
        w(&t, STATUS, 0);
        assert_eq!(r(&t, STATUS), 0, "case {n}");
        let (rxq, txq) = queues(mem);
        live(&t, &rxq, &txq, FEATS);
        rxq.add_desc_chains(&[desc(0x10_0000, 64, F_WRITE, 0)], 0)
            .unwrap();
        connect(&t, mem, &txq, 0);
        w(&t, NOTIFY, 0);
        assert!(wait_used(&rxq, 1), "case {n}: input after reset");
        assert_eq!(read_guest(mem, 0x10_0000, 5), b"input", "case {n}");
    }
}
