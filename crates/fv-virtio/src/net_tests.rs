//! virtio-net through the MMIO transport, on a seqpacket socketpair: the
//! test holds the peer end and plays the host network.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fv_machine::{GuestRam, MmioDevice};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};

use crate::net::{feature, MacAddr, Net, NetBackend, NetConfig, RXQ, TXQ, VNET_HDR_LEN};
use crate::tests::{
    desc, r, ram, transport, w, wait_needs_reset, wait_used, Line, F_NEXT, F_WRITE, QUEUE_NUM,
    STATUS,
};
use crate::{features, status, MmioTransport};

type Vq<'a> = MockSplitQueue<'a, crate::GuestMemory>;

const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/// A NIC on one end of a seqpacket socketpair; the other end is returned.
fn nic(ram: &Arc<GuestRam>) -> (MmioTransport, Arc<Line>, OwnedFd) {
    let (ours, peer) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let backend = NetBackend::packet_fd(ours).unwrap();
    let net = Net::new(NetConfig { mac: MAC }, backend, 0);
    let (t, line) = transport(Box::new(net), ram);
    (t, line, peer)
}

/// Driver initialisation with the receive queue at `rx`'s rings and the
/// transmit queue at `tx`'s; returns the final status.
fn init(t: &MmioTransport, rx: &Vq<'_>, tx: &Vq<'_>, feats: u64) -> u32 {
    w(t, STATUS, 0);
    w(t, STATUS, status::ACKNOWLEDGE | status::DRIVER);
    for (sel, v) in [(0u32, feats as u32), (1, (feats >> 32) as u32)] {
        w(t, 0x24, sel);
        w(t, 0x20, v);
    }
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    w(t, STATUS, s);
    for (i, vq) in [(RXQ, rx), (TXQ, tx)] {
        w(t, 0x30, i as u32);
        w(t, QUEUE_NUM, 16);
        let (d, a, u) = (vq.desc_table_addr().0, vq.avail_addr().0, vq.used_addr().0);
        for (off, v) in [(0x80, d), (0x90, a), (0xa0, u)] {
            w(t, off, v as u32);
            w(t, off + 4, (v >> 32) as u32);
        }
        w(t, 0x44, 1);
    }
    w(t, STATUS, s | status::DRIVER_OK);
    r(t, STATUS)
}

const FEATS: u64 = features::VERSION_1 | features::RING_EVENT_IDX | feature::MAC | feature::STATUS;

fn queues(mem: &crate::GuestMemory) -> (Vq<'_>, Vq<'_>) {
    (
        MockSplitQueue::create(mem, GuestAddress(0x2_0000), 16),
        MockSplitQueue::create(mem, GuestAddress(0x4_0000), 16),
    )
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

fn recv(peer: &OwnedFd) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(peer), &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn send(peer: &OwnedFd, data: &[u8]) {
    assert_eq!(nix::unistd::write(peer, data).unwrap(), data.len());
}

fn used(vq: &Vq<'_>, i: u16) -> (u32, u32) {
    let e = vq.used().ring().ref_at(usize::from(i)).unwrap().load();
    (e.id(), e.len())
}

#[test]
fn config_space_has_the_mac_and_link_up() {
    let ram = ram();
    let (t, _, _peer) = nic(&ram);
    assert_eq!(r(&t, 8), 1, "device ID: network card");
    w(&t, 0x14, 0);
    let f = r(&t, 0x10);
    assert_ne!(u64::from(f) & feature::MAC, 0);
    assert_ne!(u64::from(f) & feature::STATUS, 0);
    assert_eq!(u64::from(f) & feature::CSUM, 0, "no offloads without a TAP");
    assert_eq!(u64::from(f) & feature::GUEST_TSO4, 0);
    let mut mac = [0u8; 6];
    t.read(0x100, &mut mac);
    assert_eq!(mac, MAC.0);
    let mut st = [0u8; 2];
    t.read(0x106, &mut st);
    assert_eq!(u16::from_le_bytes(st), 1, "VIRTIO_NET_S_LINK_UP");
    // Byte by byte, and past the end.
    let mut b = [0u8; 1];
    t.read(0x105, &mut b);
    assert_eq!(b[0], 0x56);
    let mut far = [0xffu8; 4];
    t.read(0x1f0, &mut far);
    assert_eq!(far, [0; 4]);
}

#[test]
fn transmitted_frames_reach_the_peer_without_the_header() {
    let ram = ram();
    let mem = ram.memory();
    let (rx, tx) = queues(mem);
    let (t, line, peer) = nic(&ram);
    assert_eq!(init(&t, &rx, &tx, FEATS) & 0xff, 0xf);
    // Header and frame in separate buffers, then both in one.
    let f1 = frame(1514, 1);
    let f2 = frame(60, 2);
    mem.write_slice(&[0xaa; VNET_HDR_LEN], GuestAddress(0x10_0000))
        .unwrap();
    mem.write_slice(&f1, GuestAddress(0x11_0000)).unwrap();
    let mut both = vec![0u8; VNET_HDR_LEN];
    both.extend_from_slice(&f2);
    mem.write_slice(&both, GuestAddress(0x12_0000)).unwrap();
    tx.add_desc_chains(
        &[
            desc(0x10_0000, VNET_HDR_LEN as u32, F_NEXT, 1),
            desc(0x11_0000, f1.len() as u32, 0, 0),
            desc(0x12_0000, both.len() as u32, 0, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, TXQ as u32);
    assert!(wait_used(&tx, 2));
    assert_eq!(recv(&peer), f1);
    assert_eq!(recv(&peer), f2);
    assert_eq!(used(&tx, 0), (0, 0));
    assert_eq!(used(&tx, 1), (2, 0));
    assert!(line.0.load(Ordering::SeqCst), "used-buffer interrupt");
}

#[test]
fn received_frames_wait_for_buffers_and_get_a_zeroed_header() {
    let ram = ram();
    let mem = ram.memory();
    let (rx, tx) = queues(mem);
    let (t, line, peer) = nic(&ram);
    // Frames arrive before the driver has offered any buffer: they wait.
    let f1 = frame(1000, 3);
    let f2 = frame(42, 4);
    send(&peer, &f1);
    send(&peer, &f2);
    assert_eq!(init(&t, &rx, &tx, FEATS) & 0xff, 0xf);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rx.used().idx().load(), 0);
    assert!(!line.0.load(Ordering::SeqCst));

    // Buffers full of garbage: the header must be written, not left.
    mem.write_slice(&[0xee; 0x3000], GuestAddress(0x10_0000))
        .unwrap();
    rx.add_desc_chains(
        &[
            desc(0x10_0000, VNET_HDR_LEN as u32, F_WRITE | F_NEXT, 1),
            desc(0x10_1000, 1514, F_WRITE, 0),
            desc(0x10_2000, 1526, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, RXQ as u32);
    assert!(wait_used(&rx, 2), "both frames delivered once offered");
    let mut hdr = [0u8; VNET_HDR_LEN];
    mem.read_slice(&mut hdr, GuestAddress(0x10_0000)).unwrap();
    assert_eq!(hdr, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], "num_buffers = 1");
    let mut got = vec![0u8; f1.len()];
    mem.read_slice(&mut got, GuestAddress(0x10_1000)).unwrap();
    assert_eq!(got, f1);
    assert_eq!(used(&rx, 0), (0, (VNET_HDR_LEN + f1.len()) as u32));
    let mut got = vec![0u8; VNET_HDR_LEN + f2.len()];
    mem.read_slice(&mut got, GuestAddress(0x10_2000)).unwrap();
    assert_eq!(got[10..12], [1, 0]);
    assert_eq!(got[VNET_HDR_LEN..], f2[..]);
    assert_eq!(used(&rx, 1), (2, (VNET_HDR_LEN + f2.len()) as u32));
    assert!(line.0.load(Ordering::SeqCst));

    // No buffers left: a new frame waits until the driver offers one.
    let f3 = frame(300, 5);
    send(&peer, &f3);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rx.used().idx().load(), 2);
    rx.add_desc_chains(&[desc(0x10_4000, 2048, F_WRITE, 0)], 3)
        .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, RXQ as u32);
    assert!(wait_used(&rx, 3));
    let mut got = vec![0u8; f3.len()];
    mem.read_slice(&mut got, GuestAddress(0x10_4000 + VNET_HDR_LEN as u64))
        .unwrap();
    assert_eq!(got, f3);

    // A buffer offered first, a frame later: filled when the frame comes.
    rx.add_desc_chains(&[desc(0x10_5000, 2048, F_WRITE, 0)], 4)
        .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, RXQ as u32);
    std::thread::sleep(Duration::from_millis(50));
    let f4 = frame(64, 6);
    send(&peer, &f4);
    assert!(wait_used(&rx, 4));
    assert_eq!(used(&rx, 3), (4, (VNET_HDR_LEN + f4.len()) as u32));
}

#[test]
fn frames_that_do_not_fit_are_dropped_and_the_device_goes_on() {
    let ram = ram();
    let mem = ram.memory();
    let (rx, tx) = queues(mem);
    let (t, _, peer) = nic(&ram);
    init(&t, &rx, &tx, FEATS);
    // Receive: a 100-byte buffer for a 1000-byte frame is completed empty;
    // the next frame lands in the next buffer.
    send(&peer, &frame(1000, 7));
    let small = frame(50, 8);
    send(&peer, &small);
    rx.add_desc_chains(
        &[
            desc(0x10_0000, 100, F_WRITE, 0),
            desc(0x10_1000, 100, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, RXQ as u32);
    assert!(wait_used(&rx, 2));
    assert_eq!(used(&rx, 0), (0, 0));
    assert_eq!(used(&rx, 1), (1, (VNET_HDR_LEN + small.len()) as u32));

    // Transmit: a frame past 64 KiB, a chain shorter than the header, and a
    // chain with no readable buffer are completed and not sent; the frame
    // after them is.
    let ok = frame(80, 9);
    let mut with_hdr = vec![0u8; VNET_HDR_LEN];
    with_hdr.extend_from_slice(&ok);
    mem.write_slice(&with_hdr, GuestAddress(0x13_0000)).unwrap();
    tx.add_desc_chains(
        &[
            desc(0x20_0000, 0x2_0000, 0, 0),
            desc(0x12_0000, 6, 0, 0),
            desc(0x12_1000, 64, F_WRITE, 0),
            desc(0x13_0000, with_hdr.len() as u32, 0, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, TXQ as u32);
    assert!(wait_used(&tx, 4));
    assert_eq!(recv(&peer), ok, "only the good frame is sent");
    assert_eq!(r(&t, STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn hostile_chains_need_reset_without_panics() {
    let ram = ram();
    let mem = ram.memory();
    // (queue, chain)
    let cases = [
        // A loop on the transmit queue.
        (
            TXQ,
            vec![
                desc(0x10_0000, 16, F_NEXT, 1),
                desc(0x10_0100, 16, F_NEXT, 0),
            ],
        ),
        // A receive buffer outside RAM.
        (RXQ, vec![desc(0xffff_0000, 2048, F_WRITE, 0)]),
        // A receive chain whose next is past the table.
        (RXQ, vec![desc(0x10_0000, 2048, F_WRITE | F_NEXT, 300)]),
        // A transmit buffer whose end wraps the address space.
        (TXQ, vec![desc(u64::MAX - 8, 64, 0, 0)]),
    ];
    for (n, (queue, descs)) in cases.into_iter().enumerate() {
        let (rx, tx) = queues(mem);
        let (t, _, peer) = nic(&ram);
        assert_eq!(init(&t, &rx, &tx, FEATS) & 0xff, 0xf, "case {n}");
        let vq = if queue == RXQ { &rx } else { &tx };
        vq.add_desc_chains(&descs, 0).unwrap();
        // A frame to receive, so the receive queue is looked at.
        send(&peer, &frame(60, 10));
        w(&t, crate::mmio::reg::QUEUE_NOTIFY, queue as u32);
        assert!(wait_needs_reset(&t), "case {n}");
        // A reset recovers.
        w(&t, STATUS, 0);
        assert_eq!(r(&t, STATUS), 0, "case {n}");
    }
    // A bogus available index on the receive queue.
    let (rx, tx) = queues(mem);
    let (t, _, peer) = nic(&ram);
    init(&t, &rx, &tx, FEATS);
    rx.avail().idx().store(1000);
    send(&peer, &frame(60, 11));
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, RXQ as u32);
    assert!(wait_needs_reset(&t));
}

#[test]
fn a_closed_backend_stops_receiving_and_transmit_still_completes() {
    let ram = ram();
    let mem = ram.memory();
    let (rx, tx) = queues(mem);
    let (t, _, peer) = nic(&ram);
    init(&t, &rx, &tx, FEATS);
    rx.add_desc_chains(&[desc(0x10_0000, 2048, F_WRITE, 0)], 0)
        .unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, RXQ as u32);
    drop(peer);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rx.used().idx().load(), 0, "nothing received");
    // Transmit still completes its chains (the frames are dropped).
    tx.add_desc_chains(&[desc(0x11_0000, 72, 0, 0)], 0).unwrap();
    w(&t, crate::mmio::reg::QUEUE_NOTIFY, TXQ as u32);
    assert!(wait_used(&tx, 1));
    assert_eq!(r(&t, STATUS) & status::DEVICE_NEEDS_RESET, 0);
    w(&t, STATUS, 0);
    assert_eq!(r(&t, STATUS), 0);
}

#[test]
fn macs_parse_and_derive_deterministically() {
    let m: MacAddr = "52:54:00:AB:cd:01".parse().unwrap();
    assert_eq!(m.0, [0x52, 0x54, 0, 0xab, 0xcd, 1]);
    assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
    for bad in [
        "",
        "52:54:00:ab:cd",
        "52:54:00:ab:cd:01:02",
        "52:54:00:ab:cd:1",
        "52:54:00:ab:cd:zz",
        "01:00:5e:00:00:01",
        "00:00:00:00:00:00",
        "52-54-00-ab-cd-01",
    ] {
        assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
    }
    let a = MacAddr::from_seed(b"vm1/0");
    assert_eq!(a, MacAddr::from_seed(b"vm1/0"), "same seed, same MAC");
    assert_ne!(a, MacAddr::from_seed(b"vm2/0"));
    assert_ne!(a, MacAddr::from_seed(b"vm1/1"));
    assert_eq!(a.0[..3], [0x52, 0x54, 0x00]);
    assert!(!a.is_multicast());
    // Pinned: a change of hash would silently renumber every VM's NIC.
    assert_eq!(MacAddr::from_seed(b"fv/0").to_string(), "52:54:00:46:b5:b2");
}
