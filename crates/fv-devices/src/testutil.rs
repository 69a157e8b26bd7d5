//! Test doubles shared by the device tests.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fv_machine::IrqLine;

/// An interrupt line that records its level and counts rising edges.
#[derive(Default)]
pub(crate) struct LineRecorder {
    level: AtomicBool,
    rises: AtomicUsize,
}

impl LineRecorder {
    pub(crate) fn level(&self) -> bool {
        self.level.load(Ordering::SeqCst)
    }
    pub(crate) fn rises(&self) -> usize {
        self.rises.load(Ordering::SeqCst)
    }
}

impl IrqLine for LineRecorder {
    fn set_level(&self, level: bool) {
        if !self.level.swap(level, Ordering::SeqCst) && level {
            self.rises.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A `Write` sink whose bytes and flushes the test can inspect.
#[derive(Clone, Default)]
pub(crate) struct SharedSink {
    pub(crate) bytes: Arc<Mutex<Vec<u8>>>,
    pub(crate) flushed: Arc<Mutex<Vec<u8>>>,
}

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let b = self.bytes.lock().unwrap().clone();
        *self.flushed.lock().unwrap() = b;
        Ok(())
    }
}

/// Reads `len` bytes at `offset` from a device as a little-endian value.
pub(crate) fn rd(dev: &dyn fv_machine::MmioDevice, offset: u64, len: usize) -> u64 {
    let mut b = vec![0u8; len];
    dev.read(offset, &mut b);
    let mut v = [0u8; 8];
    v[..len].copy_from_slice(&b);
    u64::from_le_bytes(v)
}

/// Writes the low `len` bytes of `value` at `offset`.
pub(crate) fn wr(dev: &dyn fv_machine::MmioDevice, offset: u64, len: usize, value: u64) {
    dev.write(offset, &value.to_le_bytes()[..len]);
}
