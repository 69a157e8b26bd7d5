//! The transport's interrupt: the InterruptStatus register and the level of
//! the device's PLIC line, shared by the hart threads (which acknowledge)
//! and the worker (which raises).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use fv_machine::IrqLine;

/// InterruptStatus bit: the device used buffers (virtio 1.2, 4.2.2).
pub const USED_BUFFER: u32 = 1;
/// InterruptStatus bit: the configuration (or DEVICE_NEEDS_RESET) changed.
pub const CONFIG_CHANGE: u32 = 2;

/// InterruptStatus plus the line it drives; the line is high while any
/// status bit is set (level-triggered, as QEMU's virtio-mmio).
pub struct Interrupt {
    status: AtomicU32,
    needs_reset: AtomicBool,
    /// Serialises status changes with line updates so a raise racing an
    /// acknowledge never leaves the line low with a bit set.
    level: Mutex<()>,
    line: Arc<dyn IrqLine>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("status", &self.status())
            .field("needs_reset", &self.needs_reset())
            .finish()
    }
}

impl Interrupt {
    /// No bit set, line low.
    pub fn new(line: Arc<dyn IrqLine>) -> Self {
        Self {
            status: AtomicU32::new(0),
            needs_reset: AtomicBool::new(false),
            level: Mutex::new(()),
            line,
        }
    }

    /// The InterruptStatus register.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::Acquire)
    }

    /// Sets `bits` in InterruptStatus and raises the line.
    pub fn raise(&self, bits: u32) {
        let _g = self.level.lock().unwrap_or_else(|e| e.into_inner());
        self.status.fetch_or(bits, Ordering::AcqRel);
        self.line.set_level(true);
    }

    /// InterruptACK: clears `bits`; lowers the line when none is left.
    pub fn ack(&self, bits: u32) {
        let _g = self.level.lock().unwrap_or_else(|e| e.into_inner());
        let left = self.status.fetch_and(!bits, Ordering::AcqRel) & !bits;
        if left == 0 {
            self.line.set_level(false);
        }
    }

    /// Marks the device as needing a reset and tells the driver through a
    /// configuration change interrupt (virtio 1.2, 2.1.2).
    pub fn set_needs_reset(&self) {
        self.needs_reset.store(true, Ordering::Release);
        self.raise(CONFIG_CHANGE);
    }

    /// True once the device needs a reset.
    pub fn needs_reset(&self) -> bool {
        self.needs_reset.load(Ordering::Acquire)
    }

    /// Device reset: no status bit, no error, line low.
    pub fn reset(&self) {
        self.needs_reset.store(false, Ordering::Release);
        self.ack(u32::MAX);
    }
}
