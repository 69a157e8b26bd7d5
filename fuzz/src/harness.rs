//! Runs one input against a device behind the real [`MmioTransport`]: lays
//! out guest RAM, initialises the device through its registers like a
//! driver, performs the input's actions and checks the oracles.
//!
//! The harness only uses the register interface (QueueNotify, Status, ...)
//! and watches guest RAM, so it does not depend on how the transport runs
//! its queues (today one worker thread per device): after a notification it
//! waits, bounded, until the device has used every chain offered or has set
//! DEVICE_NEEDS_RESET.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fv_machine::{GuestRam, IrqLine, MmioDevice};
use fv_virtio::{features, status, MmioTransport, VirtioDevice};

use crate::input::{flag, layout, queue_size, Input, Op};

/// How long a device may take to use the chains offered by one notification
/// (a few tiny requests on a 64 KiB image in RAM-backed files) before the
/// harness calls it stuck.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);

/// Register offsets (virtio 1.2, table 4.1).
pub use fv_virtio::mmio::reg;

/// Descriptor flags (virtio 1.2, 2.7.5).
const F_WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;

/// A device for the harness, with whatever must outlive it (image files).
pub struct DeviceUnderTest {
    /// The device model.
    pub device: Box<dyn VirtioDevice>,
    /// Queues on which the device must use every chain it is offered as soon
    /// as it is notified (bit q for queue q). A receive queue, whose buffers
    /// wait for incoming packets, is left out.
    pub eager_queues: u32,
    /// Kept alive until the device is gone.
    pub keep: Box<dyn std::any::Any>,
}

/// Builds the device for variant `0..8` (bits 5..8 of the flags byte).
pub type Factory = fn(variant: u8) -> DeviceUnderTest;

/// An oracle failed: a bug in the device or the transport.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Violation {
    /// The device neither used the offered chains nor asked for a reset.
    #[error("queue {queue}: device did not use the offered chains within {limit:?} (avail idx {avail}, used idx {used}) and did not set DEVICE_NEEDS_RESET")]
    Stalled {
        /// The bound.
        limit: Duration,
        /// Queue.
        queue: usize,
        /// Available index at the deadline.
        avail: u16,
        /// Used index at the deadline.
        used: u16,
    },
    /// The device wrote guest memory that no descriptor made writable.
    #[error("guest RAM at {addr:#x} changed ({before:#04x} -> {after:#04x}) but no descriptor made it device-writable")]
    WroteOutside {
        /// Guest-physical address of the first such byte.
        addr: u64,
        /// The byte before.
        before: u8,
        /// The byte after.
        after: u8,
    },
}

/// What a run left behind, for the seed tests.
#[derive(Debug)]
pub struct Outcome {
    /// Final used index of each fuzzed queue.
    pub used_idx: Vec<u16>,
    /// Whether DEVICE_NEEDS_RESET was set before the final reset.
    pub needs_reset: bool,
    /// Device status before the final reset.
    pub status: u32,
    /// Whether the "only device-writable memory changes" oracle ran (it is
    /// skipped when writable buffers overlap descriptor tables, so that the
    /// set of writable bytes could change during the run, or when the
    /// input rewrote ring registers).
    pub memory_checked: bool,
    /// Guest RAM at the end.
    pub ram: Vec<u8>,
    /// Guest RAM base.
    pub base: u64,
}

impl Outcome {
    /// `len` bytes of RAM at guest-physical `addr`.
    pub fn bytes(&self, addr: u64, len: usize) -> &[u8] {
        let off = (addr - self.base) as usize;
        &self.ram[off..off + len]
    }
}

#[derive(Default)]
struct Line(AtomicBool);

impl IrqLine for Line {
    fn set_level(&self, level: bool) {
        self.0.store(level, Ordering::SeqCst);
    }
}

struct Driver {
    t: MmioTransport,
    ram: Arc<GuestRam>,
    base: u64,
    /// Programmed size of each fuzzed queue.
    sizes: Vec<u16>,
    features: u64,
    stall_limit: Duration,
}

impl Driver {
    fn r(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.t.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    fn w(&self, off: u64, v: u32) {
        self.t.write(off, &v.to_le_bytes());
    }

    fn w64(&self, lo: u64, v: u64) {
        self.w(lo, v as u32);
        self.w(lo + 4, (v >> 32) as u32);
    }

    fn ring(&self, q: usize, part: u64) -> u64 {
        self.base + q as u64 * layout::QUEUE_STRIDE + part
    }

    fn read_u16(&self, addr: u64) -> u16 {
        let mut b = [0u8; 2];
        // The rings lie inside RAM by construction.
        let _ = self.ram.read_slice(addr, &mut b);
        u16::from_le_bytes(b)
    }

    /// Driver initialisation (virtio 1.2, 3.1.1) on the fuzzed rings.
    fn init(&self) {
        self.w(reg::STATUS, 0);
        self.w(reg::STATUS, status::ACKNOWLEDGE);
        self.w(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        for sel in 0..2 {
            self.w(reg::DEVICE_FEATURES_SEL, sel);
            let _ = self.r(reg::DEVICE_FEATURES);
            self.w(reg::DRIVER_FEATURES_SEL, sel);
            self.w(reg::DRIVER_FEATURES, (self.features >> (32 * sel)) as u32);
        }
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.w(reg::STATUS, s);
        for (q, &size) in self.sizes.iter().enumerate() {
            self.w(reg::QUEUE_SEL, q as u32);
            self.w(reg::QUEUE_NUM, u32::from(size));
            self.w64(reg::QUEUE_DESC_LOW, self.ring(q, layout::DESC));
            self.w64(reg::QUEUE_DESC_LOW + 0x10, self.ring(q, layout::AVAIL));
            self.w64(reg::QUEUE_DESC_LOW + 0x20, self.ring(q, layout::USED));
            self.w(reg::QUEUE_READY, 1);
        }
        self.w(reg::STATUS, s | status::DRIVER_OK);
    }

    fn needs_reset(&self) -> bool {
        self.r(reg::STATUS) & status::DEVICE_NEEDS_RESET != 0
    }

    /// After a notification of queue `q`: waits until the device has used
    /// every chain offered there or needs a reset.
    fn settle(&self, q: usize) -> Result<(), Violation> {
        let start = Instant::now();
        loop {
            let avail = self.read_u16(self.ring(q, layout::AVAIL + 2));
            let used = self.read_u16(self.ring(q, layout::USED + 2));
            if avail == used || self.needs_reset() {
                return Ok(());
            }
            if start.elapsed() > self.stall_limit {
                return Err(Violation::Stalled {
                    limit: self.stall_limit,
                    queue: q,
                    avail,
                    used,
                });
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// Byte ranges `[start, end)` as guest-physical addresses.
type Ranges = Vec<(u64, u64)>;

fn range(addr: u64, len: u64) -> (u64, u64) {
    (addr, addr.saturating_add(len))
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn desc_at(ram: &[u8], base: u64, addr: u64) -> Option<(u64, u32, u16)> {
    let off = usize::try_from(addr.checked_sub(base)?).ok()?;
    let d = ram.get(off..off.checked_add(16)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(&d[0..8]);
    let mut l = [0u8; 4];
    l.copy_from_slice(&d[8..12]);
    Some((
        u64::from_le_bytes(a),
        u32::from_le_bytes(l),
        u16::from_le_bytes([d[12], d[13]]),
    ))
}

/// Every range a descriptor marks device-writable (in the tables and in
/// the indirect tables they name), and the tables themselves.
fn writable_ranges(ram: &[u8], base: u64, tables: &[(u64, u16)]) -> (Ranges, Ranges) {
    let mut writable = Vec::new();
    let mut table_ranges = Vec::new();
    for &(table, size) in tables {
        table_ranges.push(range(table, 16 * u64::from(size)));
        for i in 0..u64::from(size) {
            let Some((addr, len, flags)) = desc_at(ram, base, table + 16 * i) else {
                continue;
            };
            if flags & F_WRITE != 0 {
                writable.push(range(addr, u64::from(len)));
            }
            if flags & F_INDIRECT != 0 {
                table_ranges.push(range(addr, u64::from(len)));
                for j in 0..u64::from(len / 16) {
                    match desc_at(ram, base, addr + 16 * j) {
                        Some((a, l, f)) if f & F_WRITE != 0 => {
                            writable.push(range(a, u64::from(l)))
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
            }
        }
    }
    (writable, table_ranges)
}

/// Runs `input` against `dut` (see the module docs).
pub fn run_input(input: &Input, dut: DeviceUnderTest) -> Result<Outcome, Violation> {
    run_input_within(input, dut, STALL_LIMIT)
}

/// [`run_input`] with another bound on how long one notification may take.
pub fn run_input_within(
    input: &Input,
    dut: DeviceUnderTest,
    stall_limit: Duration,
) -> Result<Outcome, Violation> {
    let base = if input.flags & flag::HIGH_BASE != 0 {
        layout::HIGH_BASE
    } else {
        0
    };
    let ram = Arc::new(GuestRam::new(base, layout::RAM_SIZE).expect("guest RAM for the harness"));
    let maxes = dut.device.queue_max_sizes();
    let offered = dut.device.features();
    let eager = dut.eager_queues;
    // Image files and the like: dropped after the transport (declared
    // later, dropped first), which stops the device.
    let _keep = dut.keep;

    // Guest RAM: rings of each fuzzed queue, then the data area.
    let mut sizes = Vec::new();
    for (q, (img, &max)) in input.queues.iter().zip(&maxes).enumerate() {
        let size = queue_size(img.size_log2, max);
        let at = base + q as u64 * layout::QUEUE_STRIDE;
        let mut desc = img.desc.clone();
        desc.resize(16 * usize::from(size), 0);
        let mut avail = img.avail.clone();
        avail.resize(6 + 2 * usize::from(size), 0);
        ram.write_slice(at + layout::DESC, &desc)
            .expect("descriptor table inside RAM");
        ram.write_slice(at + layout::AVAIL, &avail)
            .expect("available ring inside RAM");
        sizes.push(size);
    }
    let room = (layout::RAM_SIZE - layout::DATA) as usize;
    let data = &input.data[..input.data.len().min(room)];
    ram.write_slice(base + layout::DATA, data)
        .expect("data area inside RAM");

    let mut feats = features::VERSION_1;
    if input.flags & flag::EVENT_IDX != 0 {
        feats |= features::RING_EVENT_IDX;
    }
    if input.flags & flag::INDIRECT_DESC != 0 {
        feats |= features::RING_INDIRECT_DESC;
    }
    if input.flags & flag::DEVICE_FEATURES != 0 {
        feats |= offered & 0x00ff_ffff;
    }

    let line = Arc::new(Line::default());
    let drv = Driver {
        t: MmioTransport::new(dut.device, Arc::clone(&ram), line),
        ram: Arc::clone(&ram),
        base,
        sizes,
        features: feats,
        stall_limit,
    };
    drv.init();

    let mut before = vec![0u8; layout::RAM_SIZE as usize];
    ram.read_slice(base, &mut before).expect("RAM snapshot");
    let tables: Vec<(u64, u16)> = drv
        .sizes
        .iter()
        .enumerate()
        .map(|(q, &s)| (drv.ring(q, layout::DESC), s))
        .collect();
    let (writable, table_ranges) = writable_ranges(&before, base, &tables);
    let mut memory_checked = !writable
        .iter()
        .any(|&w| table_ranges.iter().any(|&t| overlaps(w, t)));

    let nq = drv.sizes.len();
    let mut rings_known = true;
    for op in &input.ops {
        let notified = match *op {
            Op::Notify(v) => {
                drv.w(reg::QUEUE_NOTIFY, u32::from(v));
                Some(usize::from(v))
            }
            Op::Offer { queue, n } if nq > 0 => {
                let q = usize::from(queue) % nq;
                let at = drv.ring(q, layout::AVAIL + 2);
                let idx = drv.read_u16(at).wrapping_add(u16::from(n));
                let _ = ram.write_slice(at, &idx.to_le_bytes());
                drv.w(reg::QUEUE_NOTIFY, q as u32);
                Some(q)
            }
            Op::Offer { .. } => None,
            Op::Reinit => {
                drv.init();
                rings_known = true;
                None
            }
            Op::RegWrite { word, value } => {
                let off = u64::from(word) * 4;
                // Anything that can move or resize the rings (a reset
                // clears their addresses) leaves the harness without a
                // picture of them until the next Reinit.
                if off == reg::STATUS
                    || off == reg::QUEUE_NUM
                    || (reg::QUEUE_DESC_LOW..=reg::QUEUE_DEVICE_HIGH).contains(&off)
                {
                    rings_known = false;
                    memory_checked = false;
                }
                drv.w(off, u32::from(value));
                None
            }
            Op::RegRead { word, size } => {
                let mut b = [0u8; 8];
                drv.t.read(u64::from(word) * 4, &mut b[..1 << (size % 4)]);
                None
            }
            Op::AckInterrupt => {
                let s = drv.r(reg::INTERRUPT_STATUS);
                drv.w(reg::INTERRUPT_ACK, s);
                None
            }
        };
        if let Some(q) = notified {
            let live = drv.r(reg::STATUS) & status::DRIVER_OK != 0;
            if rings_known && live && q < nq && eager & (1 << q) != 0 {
                drv.settle(q)?;
            }
        }
    }

    let status_before_reset = drv.r(reg::STATUS);
    let needs_reset = drv.needs_reset();
    // A reset stops the device: nothing writes RAM after this.
    drv.w(reg::STATUS, 0);
    let mut after = vec![0u8; layout::RAM_SIZE as usize];
    ram.read_slice(base, &mut after).expect("RAM snapshot");

    if memory_checked {
        let mut device_owned: Ranges = writable;
        for (q, &s) in drv.sizes.iter().enumerate() {
            device_owned.push(range(drv.ring(q, layout::USED), 6 + 8 * u64::from(s)));
            // The harness itself moves the available index.
            device_owned.push(range(drv.ring(q, layout::AVAIL + 2), 2));
        }
        for (i, (&b, &a)) in before.iter().zip(&after).enumerate() {
            let addr = base + i as u64;
            if b != a && !device_owned.iter().any(|&(s, e)| s <= addr && addr < e) {
                return Err(Violation::WroteOutside {
                    addr,
                    before: b,
                    after: a,
                });
            }
        }
    }

    let used_idx = (0..nq)
        .map(|q| {
            let off = (q as u64 * layout::QUEUE_STRIDE + layout::USED + 2) as usize;
            u16::from_le_bytes([after[off], after[off + 1]])
        })
        .collect();
    Ok(Outcome {
        used_idx,
        needs_reset,
        status: status_before_reset,
        memory_checked,
        ram: after,
        base,
    })
}

/// Decodes `bytes` for the device `factory` builds and runs it; what a fuzz
/// target calls.
pub fn run(bytes: &[u8], factory: Factory) -> Result<Outcome, Violation> {
    let flags = bytes.first().copied().unwrap_or(0);
    let dut = factory(Input::variant(flags));
    let input = Input::decode(bytes, &dut.device.queue_max_sizes());
    run_input(&input, dut)
}
