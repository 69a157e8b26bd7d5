//! Transport and device tests: a driver written against the registers, the
//! rings built with virtio-queue's mock driver in vm-memory test memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fv_machine::{GuestRam, IrqLine, MmioDevice};
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};

use crate::block::default_serial;
use crate::{features, status, Block, BlockConfig, MmioTransport, Rng, VirtioDevice};

pub(crate) const F_NEXT: u16 = 1;
pub(crate) const F_WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;

pub(crate) use crate::mmio::reg::QUEUE_NUM;
pub(crate) use crate::mmio::reg::STATUS;

#[derive(Default)]
pub(crate) struct Line(pub(crate) AtomicBool);
impl IrqLine for Line {
    fn set_level(&self, level: bool) {
        self.0.store(level, Ordering::SeqCst);
    }
}

pub(crate) fn ram() -> Arc<GuestRam> {
    Arc::new(GuestRam::new(0, 4 << 20).unwrap())
}

pub(crate) fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next))
}

pub(crate) fn r(t: &MmioTransport, off: u64) -> u32 {
    let mut b = [0u8; 4];
    t.read(off, &mut b);
    u32::from_le_bytes(b)
}

pub(crate) fn w(t: &MmioTransport, off: u64, v: u32) {
    t.write(off, &v.to_le_bytes());
}

pub(crate) fn transport(
    dev: Box<dyn VirtioDevice>,
    ram: &Arc<GuestRam>,
) -> (MmioTransport, Arc<Line>) {
    let line = Arc::new(Line::default());
    (MmioTransport::new(dev, Arc::clone(ram), line.clone()), line)
}

/// Driver initialisation (virtio 1.2, 3.1.1) with queue 0 at the mock's
/// rings; returns the final status.
fn init(
    t: &MmioTransport,
    vq: &MockSplitQueue<'_, crate::GuestMemory>,
    size: u32,
    feats: u64,
) -> u32 {
    init_queues(t, &[vq], size, feats)
}

/// Driver initialisation with queue `i` at the rings of `vqs[i]`, each of
/// `size` entries; returns the final status.
pub(crate) fn init_queues(
    t: &MmioTransport,
    vqs: &[&MockSplitQueue<'_, crate::GuestMemory>],
    size: u32,
    feats: u64,
) -> u32 {
    w(t, STATUS, 0);
    w(t, STATUS, status::ACKNOWLEDGE);
    w(t, STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let hi = (r(t, 0x14), {
        w(t, 0x14, 1);
        r(t, 0x10)
    });
    assert_eq!(hi.1 & 1, 1, "VERSION_1 offered");
    w(t, 0x24, 0);
    w(t, 0x20, feats as u32);
    w(t, 0x24, 1);
    w(t, 0x20, (feats >> 32) as u32);
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    w(t, STATUS, s);
    if r(t, STATUS) & status::FEATURES_OK == 0 {
        return r(t, STATUS);
    }
    for (i, vq) in vqs.iter().enumerate() {
        w(t, 0x30, i as u32);
        w(t, QUEUE_NUM, size);
        let (d, a, u) = (vq.desc_table_addr().0, vq.avail_addr().0, vq.used_addr().0);
        w(t, 0x80, d as u32);
        w(t, 0x84, (d >> 32) as u32);
        w(t, 0x90, a as u32);
        w(t, 0x94, (a >> 32) as u32);
        w(t, 0xa0, u as u32);
        w(t, 0xa4, (u >> 32) as u32);
        w(t, 0x44, 1);
    }
    w(t, STATUS, s | status::DRIVER_OK);
    r(t, STATUS)
}

/// Waits until the used ring holds `n` entries.
pub(crate) fn wait_used(vq: &MockSplitQueue<'_, crate::GuestMemory>, n: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if vq.used().idx().load() >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

pub(crate) fn wait_needs_reset(t: &MmioTransport) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if r(t, STATUS) & status::DEVICE_NEEDS_RESET != 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn disk(len: usize, read_only: bool) -> (tempfile::NamedTempFile, Block) {
    let f = tempfile::NamedTempFile::new().unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i / 512) as u8).collect();
    std::fs::write(f.path(), data).unwrap();
    let b = Block::open(
        &BlockConfig {
            path: f.path().into(),
            format: None,
            read_only,
            serial: "fv-serial-0".into(),
        },
        0,
    )
    .unwrap();
    (f, b)
}

pub(crate) const FEATS: u64 = features::VERSION_1;

#[test]
fn identification_registers() {
    let ram = ram();
    let (_f, b) = disk(8192, false);
    let (t, _) = transport(Box::new(b), &ram);
    assert_eq!(r(&t, 0), 0x7472_6976);
    assert_eq!(r(&t, 4), 2);
    assert_eq!(r(&t, 8), 2);
    assert_eq!(r(&t, 0x34), 256, "QueueNumMax");
    w(&t, 0x30, 5);
    assert_eq!(r(&t, 0x34), 0, "QueueNumMax of a missing queue");
    // Capacity in config space, read in pieces.
    let mut cap = [0u8; 8];
    t.read(0x100, &mut cap);
    assert_eq!(u64::from_le_bytes(cap), 16);
    let mut b1 = [0u8; 1];
    t.read(0x100, &mut b1);
    assert_eq!(b1[0], 16);
    assert_eq!(r(&t, 0xfc), 0, "ConfigGeneration");
    // Sub-word register reads return 0 rather than misbehave.
    let mut half = [0xffu8; 2];
    t.read(0, &mut half);
    assert_eq!(half, [0, 0]);
    let mut rng_t = transport(Box::new(Rng::new().unwrap()), &ram).0;
    assert_eq!(r(&rng_t, 8), 4);
    let _ = &mut rng_t;
}

#[test]
fn feature_negotiation_requires_version_1_and_offered_bits() {
    let ram = ram();
    let vq = MockSplitQueue::new(ram.memory(), 16);
    let (_f, b) = disk(8192, false);
    let (t, _) = transport(Box::new(b), &ram);
    assert_eq!(init(&t, &vq, 16, 0) & status::FEATURES_OK, 0);
    assert_eq!(
        init(&t, &vq, 16, FEATS | (1 << 50)) & status::FEATURES_OK,
        0
    );
    let st = init(
        &t,
        &vq,
        16,
        FEATS | features::RING_EVENT_IDX | features::RING_INDIRECT_DESC,
    );
    assert_eq!(st & 0xff, 0xf, "live: {st:#x}");
    // Reset clears everything.
    w(&t, STATUS, 0);
    assert_eq!(r(&t, STATUS), 0);
    assert_eq!(r(&t, 0x44), 0, "QueueReady after reset");
}

#[test]
fn invalid_queue_sizes_need_reset() {
    let ram = ram();
    let vq = MockSplitQueue::new(ram.memory(), 16);
    for size in [0, 12, 512] {
        let (_f, b) = disk(8192, false);
        let (t, line) = transport(Box::new(b), &ram);
        let st = init(&t, &vq, size, FEATS);
        assert_ne!(st & status::DEVICE_NEEDS_RESET, 0, "size {size}: {st:#x}");
        assert!(line.0.load(Ordering::SeqCst), "config interrupt raised");
        assert_eq!(r(&t, 0x60) & 2, 2);
        w(&t, 0x64, 2);
        assert!(!line.0.load(Ordering::SeqCst), "ACK lowers the line");
        // A reset recovers the device.
        assert_eq!(init(&t, &vq, 16, FEATS) & 0xff, 0xf);
    }
}

#[test]
fn rings_outside_ram_need_reset() {
    let ram = ram();
    let far = GuestRam::new(0x1000_0000, 1 << 20).unwrap();
    // Rings described in another memory: addresses outside this VM's RAM.
    let vq = MockSplitQueue::create(far.memory(), GuestAddress(0x1000_0000), 16);
    let (_f, b) = disk(8192, false);
    let (t, _) = transport(Box::new(b), &ram);
    let st = init(&t, &vq, 16, FEATS);
    assert_ne!(st & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn notify_before_driver_ok_is_ignored() {
    let ram = ram();
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    let (_f, b) = disk(8192, false);
    let (t, _) = transport(Box::new(b), &ram);
    vq.add_desc_chains(
        &[
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0x10_1000, 1, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, 0x50, 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(vq.used().idx().load(), 0);
    assert_eq!(r(&t, STATUS), 0);
}

fn blk_header(mem: &crate::GuestMemory, at: u64, kind: u32, sector: u64) {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&kind.to_le_bytes());
    h[8..16].copy_from_slice(&sector.to_le_bytes());
    mem.write_slice(&h, GuestAddress(at)).unwrap();
}

fn status_at(mem: &crate::GuestMemory, at: u64) -> u8 {
    mem.read_obj::<u8>(GuestAddress(at)).unwrap()
}

#[test]
fn block_read_write_flush_get_id() {
    let ram = ram();
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    let (f, b) = disk(64 * 512, false);
    let (t, line) = transport(Box::new(b), &ram);
    assert_eq!(
        init(&t, &vq, 16, FEATS | features::RING_EVENT_IDX) & 0xff,
        0xf
    );

    // Read sectors 3..5 into two buffers.
    blk_header(mem, 0x10_0000, 0, 3);
    vq.add_desc_chains(
        &[
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0x11_0000, 512, F_NEXT | F_WRITE, 2),
            desc(0x12_0000, 512, F_NEXT | F_WRITE, 3),
            desc(0x10_0100, 1, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 1));
    assert!(line.0.load(Ordering::SeqCst));
    assert_eq!(r(&t, 0x60), 1);
    w(&t, 0x64, 1);
    assert_eq!(status_at(mem, 0x10_0100), 0);
    assert_eq!(status_at(mem, 0x11_01ff), 3);
    assert_eq!(status_at(mem, 0x12_0000), 4);
    let used = vq.used().ring().ref_at(0).unwrap().load();
    assert_eq!((used.id(), used.len()), (0, 1025));

    // Write sector 10, then flush, then GET_ID.
    blk_header(mem, 0x10_0200, 1, 10);
    mem.write_slice(&[0xab; 512], GuestAddress(0x13_0000))
        .unwrap();
    blk_header(mem, 0x10_0400, 4, 0);
    blk_header(mem, 0x10_0600, 8, 0);
    vq.add_desc_chains(
        &[
            desc(0x10_0200, 16, F_NEXT, 5),
            desc(0x13_0000, 512, F_NEXT, 6),
            desc(0x10_0300, 1, F_WRITE, 0),
            desc(0x10_0400, 16, F_NEXT, 8),
            desc(0x10_0500, 1, F_WRITE, 0),
            desc(0x10_0600, 16, F_NEXT, 10),
            desc(0x14_0000, 20, F_NEXT | F_WRITE, 11),
            desc(0x10_0700, 1, F_WRITE, 0),
        ],
        4,
    )
    .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 4));
    assert_eq!(status_at(mem, 0x10_0300), 0);
    assert_eq!(status_at(mem, 0x10_0500), 0);
    assert_eq!(status_at(mem, 0x10_0700), 0);
    let data = std::fs::read(f.path()).unwrap();
    assert!(data[10 * 512..11 * 512].iter().all(|&x| x == 0xab));
    assert_eq!(data[11 * 512], 11);
    let mut id = [0u8; 20];
    mem.read_slice(&mut id, GuestAddress(0x14_0000)).unwrap();
    assert_eq!(&id[..11], b"fv-serial-0");
    assert_eq!(id[11], 0);
}

#[test]
fn block_out_of_range_and_unknown_requests_report_status() {
    let ram = ram();
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    let (_f, b) = disk(8 * 512, false);
    let (t, _) = transport(Box::new(b), &ram);
    init(&t, &vq, 16, FEATS);
    // Read past the end (sector 7 + 2 sectors), a sector whose byte offset
    // overflows, an unknown type, and a header too short.
    blk_header(mem, 0x10_0000, 0, 7);
    blk_header(mem, 0x10_0100, 0, u64::MAX / 256);
    blk_header(mem, 0x10_0200, 99, 0);
    vq.add_desc_chains(
        &[
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0x11_0000, 1024, F_NEXT | F_WRITE, 2),
            desc(0x10_0080, 1, F_WRITE, 0),
            desc(0x10_0100, 16, F_NEXT, 4),
            desc(0x11_0000, 512, F_NEXT | F_WRITE, 5),
            desc(0x10_0180, 1, F_WRITE, 0),
            desc(0x10_0200, 16, F_NEXT, 7),
            desc(0x10_0280, 1, F_WRITE, 0),
            desc(0x10_0300, 8, F_NEXT, 9),
            desc(0x10_0380, 1, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 4));
    assert_eq!(status_at(mem, 0x10_0080), 1);
    assert_eq!(status_at(mem, 0x10_0180), 1);
    assert_eq!(status_at(mem, 0x10_0280), 2);
    assert_eq!(status_at(mem, 0x10_0380), 1);
    assert_eq!(r(&t, STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn read_only_disk_rejects_writes() {
    let ram = ram();
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    let (f, b) = disk(8 * 512, true);
    assert_ne!(b.features() & (1 << 5), 0, "VIRTIO_BLK_F_RO");
    let (t, _) = transport(Box::new(b), &ram);
    init(&t, &vq, 16, FEATS | (1 << 5));
    blk_header(mem, 0x10_0000, 1, 0);
    vq.add_desc_chains(
        &[
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0x11_0000, 512, F_NEXT, 2),
            desc(0x10_0080, 1, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 1));
    assert_eq!(status_at(mem, 0x10_0080), 1, "IOERR");
    assert_eq!(std::fs::read(f.path()).unwrap()[0], 0);
}

#[test]
fn discard_and_write_zeroes_zero_the_range() {
    let ram = ram();
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    let (f, b) = disk(64 * 512, false);
    let (t, _) = transport(Box::new(b), &ram);
    init(&t, &vq, 16, FEATS | (1 << 13) | (1 << 14));
    // Discard sectors 8..16 (4 KiB aligned), write-zeroes 20..22 (no unmap).
    blk_header(mem, 0x10_0000, 11, 0);
    let mut seg = [0u8; 16];
    seg[0..8].copy_from_slice(&8u64.to_le_bytes());
    seg[8..12].copy_from_slice(&8u32.to_le_bytes());
    mem.write_slice(&seg, GuestAddress(0x10_0010)).unwrap();
    blk_header(mem, 0x10_0100, 13, 0);
    seg[0..8].copy_from_slice(&20u64.to_le_bytes());
    seg[8..12].copy_from_slice(&2u32.to_le_bytes());
    mem.write_slice(&seg, GuestAddress(0x10_0110)).unwrap();
    vq.add_desc_chains(
        &[
            desc(0x10_0000, 32, F_NEXT, 1),
            desc(0x10_0080, 1, F_WRITE, 0),
            desc(0x10_0100, 32, F_NEXT, 3),
            desc(0x10_0180, 1, F_WRITE, 0),
        ],
        0,
    )
    .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 2));
    assert_eq!(status_at(mem, 0x10_0080), 0);
    assert_eq!(status_at(mem, 0x10_0180), 0);
    let data = std::fs::read(f.path()).unwrap();
    assert_eq!(data.len(), 64 * 512, "size kept");
    assert!(data[8 * 512..16 * 512].iter().all(|&x| x == 0));
    assert!(data[20 * 512..22 * 512].iter().all(|&x| x == 0));
    assert_eq!(data[7 * 512], 7);
    assert_eq!(data[16 * 512], 16);
    assert_eq!(data[22 * 512], 22);
}

#[test]
fn indirect_chain_through_the_device() {
    let ram = ram();
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    let (_f, b) = disk(8 * 512, false);
    let (t, _) = transport(Box::new(b), &ram);
    init(&t, &vq, 16, FEATS | features::RING_INDIRECT_DESC);
    blk_header(mem, 0x10_0000, 0, 2);
    let table = [
        SplitDescriptor::new(0x10_0000, 16, F_NEXT, 1),
        SplitDescriptor::new(0x11_0000, 512, F_NEXT | F_WRITE, 2),
        SplitDescriptor::new(0x10_0080, 1, F_WRITE, 0),
    ];
    for (i, d) in table.iter().enumerate() {
        mem.write_obj(*d, GuestAddress(0x20_0000 + 16 * i as u64))
            .unwrap();
    }
    vq.add_desc_chains(&[desc(0x20_0000, 48, F_INDIRECT, 0)], 0)
        .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 1));
    assert_eq!(status_at(mem, 0x10_0080), 0);
    assert_eq!(status_at(mem, 0x11_0000), 2);
}

#[test]
fn hostile_chains_need_reset_and_other_devices_keep_working() {
    let ram = ram();
    let mem = ram.memory();
    let cases: Vec<Vec<RawDescriptor>> = vec![
        // Loop.
        vec![
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0x10_0100, 1, F_WRITE | F_NEXT, 0),
        ],
        // Buffer outside RAM.
        vec![
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0xffff_0000, 1, F_WRITE, 0),
        ],
        // Lengths that overflow 2^32 together.
        vec![
            desc(0x10_0000, 16, F_NEXT, 1),
            desc(0x11_0000, u32::MAX - 8, F_NEXT | F_WRITE, 2),
            desc(0x10_0100, 16, F_WRITE, 0),
        ],
        // No status byte.
        vec![desc(0x10_0000, 16, 0, 0)],
        // next past the table.
        vec![desc(0x10_0000, 16, F_NEXT, 300)],
    ];
    for (n, descs) in cases.into_iter().enumerate() {
        let vq = MockSplitQueue::new(mem, 16);
        let (_f, b) = disk(8 * 512, false);
        let (t, line) = transport(Box::new(b), &ram);
        init(&t, &vq, 16, FEATS);
        blk_header(mem, 0x10_0000, 0, 0);
        vq.add_desc_chains(&descs, 0).unwrap();
        w(&t, 0x50, 0);
        assert!(wait_needs_reset(&t), "case {n}");
        assert!(line.0.load(Ordering::SeqCst), "case {n}: config interrupt");
        assert_eq!(r(&t, 0x60) & 2, 2, "case {n}");
        // Notifications after the error are ignored, and a reset recovers.
        w(&t, 0x50, 0);
        w(&t, STATUS, 0);
        assert_eq!(r(&t, STATUS), 0);
        assert!(!line.0.load(Ordering::SeqCst));
    }

    // A bogus available index (more chains than the queue holds) on one
    // device; an rng at another queue still works.
    let vq = MockSplitQueue::new(mem, 16);
    let (_f, b) = disk(8 * 512, false);
    let (t, _) = transport(Box::new(b), &ram);
    init(&t, &vq, 16, FEATS);
    vq.avail().idx().store(1000);
    w(&t, 0x50, 0);
    assert!(wait_needs_reset(&t));

    let vq2 = MockSplitQueue::create(mem, GuestAddress(0x30_0000), 16);
    let (rng, _) = transport(Box::new(Rng::new().unwrap()), &ram);
    init(&rng, &vq2, 16, FEATS);
    vq2.add_desc_chains(&[desc(0x31_0000, 64, F_WRITE, 0)], 0)
        .unwrap();
    w(&rng, 0x50, 0);
    assert!(wait_used(&vq2, 1));
    let used = vq2.used().ring().ref_at(0).unwrap().load();
    assert_eq!(used.len(), 64);
    let mut buf = [0u8; 64];
    mem.read_slice(&mut buf, GuestAddress(0x31_0000)).unwrap();
    assert!(buf.iter().any(|&x| x != 0), "random bytes");
}

#[test]
fn serial_is_the_file_name_cut_to_20_bytes() {
    assert_eq!(
        default_serial(std::path::Path::new("/a/disk.img")),
        "disk.img"
    );
    assert_eq!(
        default_serial(std::path::Path::new("a-very-long-image-name.raw")),
        "a-very-long-image-na"
    );
}

/// A device fed from the host: bytes written into a pipe are delivered into
/// the driver's buffers on queue 0 as they arrive, as net and console do.
struct PipeFed {
    rx: std::os::fd::OwnedFd,
}

struct PipeFedHandler {
    rx: std::fs::File,
    /// Waiting for buffers: the pipe has data but the queue had none.
    starved: bool,
}

impl VirtioDevice for PipeFed {
    fn device_type(&self) -> u32 {
        crate::device_type::CONSOLE
    }
    fn name(&self) -> String {
        "pipefed".into()
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![16]
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn activate(
        &mut self,
        _acked: u64,
    ) -> Result<Box<dyn crate::QueueHandler>, crate::DeviceError> {
        let rx = self
            .rx
            .try_clone()
            .map_err(|_| crate::DeviceError::Request("dup"))?;
        Ok(Box::new(PipeFedHandler {
            rx: rx.into(),
            starved: false,
        }))
    }
}

impl crate::QueueHandler for PipeFedHandler {
    fn queue_notify(
        &mut self,
        _queue: usize,
        _queues: &mut crate::Queues<'_>,
    ) -> Result<(), crate::DeviceError> {
        // New buffers: wait on the pipe again.
        self.starved = false;
        Ok(())
    }
    fn host_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.rx.as_fd())
    }
    fn wants_host_event(&self) -> bool {
        !self.starved
    }
    fn host_event(&mut self, queues: &mut crate::Queues<'_>) -> Result<(), crate::DeviceError> {
        use std::io::Read;
        let Some(chain) = queues.pop(0)? else {
            self.starved = true;
            return Ok(());
        };
        let mut buf = vec![0u8; chain.writable_len().min(64) as usize];
        let n = self.rx.read(&mut buf).unwrap_or(0);
        if n == 0 {
            // Nothing after all (or end of file): the buffer goes back.
            queues.undo_pop(0);
            self.starved = true;
            return Ok(());
        }
        chain.write_at(queues.mem(), 0, &buf[..n])?;
        queues.add_used(0, chain.head, n as u32)
    }
}

#[test]
fn host_input_waits_for_buffers_and_fills_them_in_order() {
    use std::io::Write;
    let ram = ram();
    let (rx, tx) = nix::unistd::pipe().unwrap();
    let mut tx = std::fs::File::from(tx);
    let (t, line) = transport(Box::new(PipeFed { rx }), &ram);
    let mem = ram.memory();
    let vq = MockSplitQueue::new(mem, 16);
    // Input arrives before the driver has offered any buffer: it must wait.
    tx.write_all(b"hello").unwrap();
    assert_eq!(
        init(&t, &vq, 16, FEATS) & status::DRIVER_OK,
        status::DRIVER_OK
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(vq.used().idx().load(), 0, "nothing used without buffers");
    assert!(!line.0.load(Ordering::SeqCst));
    vq.build_desc_chain(&[desc(0x10_0000, 64, F_WRITE, 0)])
        .unwrap();
    w(&t, 0x50, 0);
    assert!(wait_used(&vq, 1), "buffer filled once offered");
    let mut got = [0u8; 5];
    mem.read_slice(&mut got, GuestAddress(0x10_0000)).unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(vq.used().ring().ref_at(0).unwrap().load().len(), 5);
    assert!(line.0.load(Ordering::SeqCst), "used-buffer interrupt");
    // A second buffer offered first, input later: filled when input comes.
    vq.build_desc_chain(&[desc(0x11_0000, 64, F_WRITE, 0)])
        .unwrap();
    w(&t, 0x50, 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(vq.used().idx().load(), 1);
    tx.write_all(b"world").unwrap();
    assert!(wait_used(&vq, 2), "input delivered into the waiting buffer");
    mem.read_slice(&mut got, GuestAddress(0x11_0000)).unwrap();
    assert_eq!(&got, b"world");
    // The writer goes away: the worker must not spin or fail; reset joins it.
    drop(tx);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(r(&t, STATUS) & status::DEVICE_NEEDS_RESET, 0);
    w(&t, STATUS, 0);
    assert_eq!(r(&t, STATUS), 0);
}
