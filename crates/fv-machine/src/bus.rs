//! The MMIO bus: guest-physical address ranges owned by devices.

use std::sync::Arc;

/// A memory-mapped device. Accesses come from any CPU thread, so devices
/// keep their state behind their own locks.
pub trait MmioDevice: Send + Sync {
    /// Reads `data.len()` bytes (1, 2, 4 or 8) at `offset` into the device's
    /// range; little-endian.
    fn read(&self, offset: u64, data: &mut [u8]);
    /// Writes `data` at `offset`; little-endian.
    fn write(&self, offset: u64, data: &[u8]);
}

/// A range that could not be added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The range overlaps one already on the bus.
    #[error("MMIO range {base:#x}+{len:#x} overlaps an existing device")]
    Overlap {
        /// Start of the new range.
        base: u64,
        /// Length of the new range.
        len: u64,
    },
    /// Zero length or wrapping range.
    #[error("invalid MMIO range {base:#x}+{len:#x}")]
    InvalidRange {
        /// Start of the new range.
        base: u64,
        /// Length of the new range.
        len: u64,
    },
}

struct Range {
    base: u64,
    len: u64,
    dev: Arc<dyn MmioDevice>,
}

/// Devices by address range, sorted by base.
#[derive(Default)]
pub struct MmioBus {
    ranges: Vec<Range>,
}

impl std::fmt::Debug for MmioBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        for r in &self.ranges {
            l.entry(&format_args!("{:#x}+{:#x}", r.base, r.len));
        }
        l.finish()
    }
}

impl MmioBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `dev` at `[base, base+len)`.
    pub fn insert(
        &mut self,
        base: u64,
        len: u64,
        dev: Arc<dyn MmioDevice>,
    ) -> Result<(), BusError> {
        let end = base
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(BusError::InvalidRange { base, len })?;
        if self
            .ranges
            .iter()
            .any(|r| base < r.base + r.len && r.base < end)
        {
            return Err(BusError::Overlap { base, len });
        }
        let pos = self.ranges.partition_point(|r| r.base < base);
        self.ranges.insert(pos, Range { base, len, dev });
        Ok(())
    }

    fn find(&self, addr: u64, size: usize) -> Option<(&Range, u64)> {
        let idx = self.ranges.partition_point(|r| r.base <= addr);
        let r = self.ranges.get(idx.checked_sub(1)?)?;
        let off = addr - r.base;
        (off.checked_add(size as u64)? <= r.len).then_some((r, off))
    }

    /// Reads from the device at `addr`; false if no device covers the access.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((r, off)) => {
                r.dev.read(off, data);
                true
            }
            None => false,
        }
    }

    /// Writes to the device at `addr`; false if no device covers the access.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((r, off)) => {
                r.dev.write(off, data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Scratch(Mutex<Vec<(u64, Vec<u8>)>>);
    impl MmioDevice for Scratch {
        fn read(&self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&self, offset: u64, data: &[u8]) {
            self.0.lock().unwrap().push((offset, data.to_vec()));
        }
    }

    #[test]
    fn routes_by_range_and_rejects_overlap() {
        let mut bus = MmioBus::new();
        let a = Arc::new(Scratch::default());
        let b = Arc::new(Scratch::default());
        bus.insert(0x1000_0000, 0x100, a.clone()).unwrap();
        bus.insert(0x0200_0000, 0x1_0000, b.clone()).unwrap();
        assert_eq!(
            bus.insert(0x1000_0080, 0x100, a.clone()),
            Err(BusError::Overlap {
                base: 0x1000_0080,
                len: 0x100
            })
        );
        assert!(matches!(
            bus.insert(5, 0, a.clone()),
            Err(BusError::InvalidRange { .. })
        ));
        let mut buf = [0u8; 4];
        assert!(bus.read(0x1000_0005, &mut buf));
        assert_eq!(buf, [5; 4]);
        assert!(bus.write(0x0200_4000, &[1, 2]));
        assert_eq!(b.0.lock().unwrap()[0], (0x4000, vec![1, 2]));
        // Outside any device, and straddling a device's end.
        assert!(!bus.read(0x3000_0000, &mut buf));
        assert!(!bus.read(0x1000_00fe, &mut buf));
    }
}
