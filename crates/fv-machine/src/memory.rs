//! Guest RAM: one vm-memory region with an atomic dirty bitmap, and the one
//! module of the project that turns guest RAM offsets into host pointers.
//!
//! Every access names a RAM *offset* and is bounds-checked against the RAM
//! size, so no caller can reach host memory outside the guest's RAM. Accesses
//! use host atomics (relaxed unless the caller asks otherwise): several vCPU
//! threads and device threads share this memory, and the guest's own memory
//! model only promises what its fences and AMOs ask for.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use vm_memory::bitmap::{AtomicBitmap, Bitmap};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// The dirty-tracked guest memory type every device uses.
pub type GuestMemory = GuestMemoryMmap<AtomicBitmap>;

/// Errors from guest RAM.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// RAM size zero, not page aligned, or base+size wraps.
    #[error("invalid guest RAM layout: base {base:#x}, size {size:#x}")]
    InvalidLayout {
        /// Guest-physical base.
        base: u64,
        /// Size in bytes.
        size: u64,
    },
    /// The host could not map the memory.
    #[error("cannot allocate {size} bytes of guest RAM: {source}")]
    Allocate {
        /// Size in bytes.
        size: u64,
        /// The vm-memory error.
        source: vm_memory::mmap::FromRangesError,
    },
    /// An access outside RAM.
    #[error("guest-physical range {addr:#x}+{len:#x} is outside RAM")]
    OutOfRange {
        /// Guest-physical address.
        addr: u64,
        /// Length.
        len: u64,
    },
}

/// Guest RAM at `[base, base + size)`.
pub struct GuestRam {
    mem: GuestMemory,
    base: u64,
    size: u64,
    /// Host address of RAM offset 0; valid for `size` bytes while `mem` lives.
    host: *mut u8,
}

// SAFETY: `host` points into the mapping owned by `mem`, which is itself
// Send + Sync; every access through `host` is an atomic access or goes
// through vm-memory, so sharing across threads introduces no data race.
unsafe impl Send for GuestRam {}
// SAFETY: as above.
unsafe impl Sync for GuestRam {}

impl std::fmt::Debug for GuestRam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuestRam({:#x}+{:#x})", self.base, self.size)
    }
}

impl GuestRam {
    /// Maps `size` bytes of zeroed anonymous memory as guest RAM at `base`.
    pub fn new(base: u64, size: u64) -> Result<Self, MemoryError> {
        if size == 0 || size % 4096 != 0 || base % 4096 != 0 || base.checked_add(size).is_none() {
            return Err(MemoryError::InvalidLayout { base, size });
        }
        let len = usize::try_from(size).map_err(|_| MemoryError::InvalidLayout { base, size })?;
        let mem = GuestMemory::from_ranges(&[(GuestAddress(base), len)])
            .map_err(|source| MemoryError::Allocate { size, source })?;
        let host = mem
            .find_region(GuestAddress(base))
            .and_then(|r| r.get_host_address(vm_memory::MemoryRegionAddress(0)).ok())
            .ok_or(MemoryError::InvalidLayout { base, size })?;
        Ok(Self {
            mem,
            base,
            size,
            host,
        })
    }

    /// Guest-physical base address.
    #[inline]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size in bytes.
    #[inline]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The vm-memory view, for devices and loaders (its accesses mark pages
    /// dirty themselves).
    pub fn memory(&self) -> &GuestMemory {
        &self.mem
    }

    /// The RAM offset of guest-physical `[addr, addr+len)` if it lies wholly
    /// inside RAM.
    #[inline]
    pub fn offset_of(&self, addr: u64, len: u64) -> Option<u64> {
        let off = addr.wrapping_sub(self.base);
        (off < self.size && len <= self.size - off).then_some(off)
    }

    /// Marks `[off, off+len)` dirty (for writers that cache write access to a
    /// page, such as a vCPU's TLB, and then store through [`GuestRam::store`]).
    pub fn mark_dirty(&self, off: u64, len: u64) {
        if let Some(r) = self.mem.find_region(GuestAddress(self.base)) {
            r.bitmap().mark_dirty(off as usize, len as usize);
        }
    }

    /// True if the page holding `off` was written since the bitmap was reset.
    pub fn is_dirty(&self, off: u64) -> bool {
        self.mem
            .find_region(GuestAddress(self.base))
            .is_some_and(|r| r.bitmap().dirty_at(off as usize))
    }

    #[inline]
    fn ptr(&self, off: u64, len: u64) -> Option<*mut u8> {
        if off < self.size && len <= self.size - off {
            // In bounds: `off + len <= size`, checked just above.
            Some(self.host.wrapping_add(off as usize))
        } else {
            None
        }
    }

    /// The byte at `off` as an atomic.
    #[inline]
    pub fn atomic_u8(&self, off: u64) -> Option<&AtomicU8> {
        let p = self.ptr(off, 1)?;
        // SAFETY: `p` is inside the live mapping (bounds checked by `ptr`),
        // valid for the lifetime of `&self`, and only ever accessed atomically
        // or through vm-memory's volatile accessors.
        Some(unsafe { AtomicU8::from_ptr(p) })
    }

    /// The aligned 16-bit word at `off` as an atomic; None if misaligned or
    /// outside RAM.
    #[inline]
    pub fn atomic_u16(&self, off: u64) -> Option<&AtomicU16> {
        if off % 2 != 0 {
            return None;
        }
        let p = self.ptr(off, 2)?;
        // SAFETY: in bounds (checked by `ptr`), 2-aligned because the mapping
        // is page aligned and `off` is even; lifetime tied to `&self`.
        Some(unsafe { AtomicU16::from_ptr(p.cast()) })
    }

    /// The aligned 32-bit word at `off` as an atomic.
    #[inline]
    pub fn atomic_u32(&self, off: u64) -> Option<&AtomicU32> {
        if off % 4 != 0 {
            return None;
        }
        let p = self.ptr(off, 4)?;
        // SAFETY: in bounds (checked by `ptr`), 4-aligned because the mapping
        // is page aligned and `off` is a multiple of 4; lifetime tied to `&self`.
        Some(unsafe { AtomicU32::from_ptr(p.cast()) })
    }

    /// The aligned 64-bit word at `off` as an atomic.
    #[inline]
    pub fn atomic_u64(&self, off: u64) -> Option<&AtomicU64> {
        if off % 8 != 0 {
            return None;
        }
        let p = self.ptr(off, 8)?;
        // SAFETY: in bounds (checked by `ptr`), 8-aligned because the mapping
        // is page aligned and `off` is a multiple of 8; lifetime tied to `&self`.
        Some(unsafe { AtomicU64::from_ptr(p.cast()) })
    }

    /// Loads `size` (1, 2, 4 or 8) bytes little-endian at RAM offset `off`,
    /// zero-extended. Misaligned loads are done bytewise. None if outside RAM.
    #[inline]
    pub fn load(&self, off: u64, size: u32) -> Option<u64> {
        let o = Ordering::Relaxed;
        match size {
            8 if off % 8 == 0 => Some(u64::from_le(self.atomic_u64(off)?.load(o))),
            4 if off % 4 == 0 => Some(u32::from_le(self.atomic_u32(off)?.load(o)) as u64),
            2 if off % 2 == 0 => Some(u16::from_le(self.atomic_u16(off)?.load(o)) as u64),
            1 => Some(self.atomic_u8(off)?.load(o) as u64),
            _ => {
                self.ptr(off, size as u64)?;
                let mut v = 0u64;
                for i in 0..size as u64 {
                    v |= (self.atomic_u8(off + i)?.load(o) as u64) << (8 * i);
                }
                Some(v)
            }
        }
    }

    /// Stores the low `size` bytes of `val` little-endian at RAM offset `off`.
    /// Does not mark the page dirty (see [`GuestRam::mark_dirty`]).
    /// None (and nothing written) if outside RAM.
    #[inline]
    pub fn store(&self, off: u64, size: u32, val: u64) -> Option<()> {
        let o = Ordering::Relaxed;
        match size {
            8 if off % 8 == 0 => self.atomic_u64(off)?.store(val.to_le(), o),
            4 if off % 4 == 0 => self.atomic_u32(off)?.store((val as u32).to_le(), o),
            2 if off % 2 == 0 => self.atomic_u16(off)?.store((val as u16).to_le(), o),
            1 => self.atomic_u8(off)?.store(val as u8, o),
            _ => {
                self.ptr(off, size as u64)?;
                for i in 0..size as u64 {
                    self.atomic_u8(off + i)?.store((val >> (8 * i)) as u8, o);
                }
            }
        }
        Some(())
    }

    /// Copies `data` into RAM at guest-physical `addr` (marks pages dirty).
    pub fn write_slice(&self, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.offset_of(addr, data.len() as u64)
            .ok_or(MemoryError::OutOfRange {
                addr,
                len: data.len() as u64,
            })?;
        self.mem
            .write_slice(data, GuestAddress(addr))
            .map_err(|_| MemoryError::OutOfRange {
                addr,
                len: data.len() as u64,
            })
    }

    /// Copies RAM at guest-physical `addr` into `data`.
    pub fn read_slice(&self, addr: u64, data: &mut [u8]) -> Result<(), MemoryError> {
        self.offset_of(addr, data.len() as u64)
            .ok_or(MemoryError::OutOfRange {
                addr,
                len: data.len() as u64,
            })?;
        self.mem
            .read_slice(data, GuestAddress(addr))
            .map_err(|_| MemoryError::OutOfRange {
                addr,
                len: data.len() as u64,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_stores_little_endian_and_misaligned() {
        let ram = GuestRam::new(0x8000_0000, 0x10000).unwrap();
        ram.store(0x10, 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(ram.load(0x10, 4), Some(0x5566_7788));
        assert_eq!(ram.load(0x11, 2), Some(0x6677));
        assert_eq!(ram.load(0x13, 4), Some(0x2233_4455));
        ram.store(0x21, 8, 0xa1a2_a3a4_a5a6_a7a8).unwrap();
        assert_eq!(ram.load(0x21, 8), Some(0xa1a2_a3a4_a5a6_a7a8));
        assert_eq!(ram.load(0x20, 1), Some(0));
        let mut b = [0u8; 2];
        ram.read_slice(0x8000_0010, &mut b).unwrap();
        assert_eq!(b, [0x88, 0x77]);
    }

    #[test]
    fn out_of_range_is_refused() {
        let ram = GuestRam::new(0x8000_0000, 0x10000).unwrap();
        assert_eq!(ram.load(0x10000, 1), None);
        assert_eq!(ram.load(0xfffc, 8), None);
        assert_eq!(ram.load(0xffff, 2), None);
        assert_eq!(ram.store(0xfffd, 4, 0), None);
        assert_eq!(ram.load(u64::MAX - 2, 8), None);
        assert!(ram.atomic_u64(0x4).is_none());
        assert_eq!(ram.offset_of(0x7fff_ffff, 2), None);
        assert_eq!(ram.offset_of(0x8000_fff0, 0x10), Some(0xfff0));
        assert_eq!(ram.offset_of(0x8000_fff0, 0x11), None);
        assert!(ram.write_slice(0x8000_fffe, &[1, 2, 3]).is_err());
        // A refused store wrote nothing.
        assert_eq!(ram.load(0xfffc, 4), Some(0));
    }

    #[test]
    fn dirty_tracking() {
        let ram = GuestRam::new(0x8000_0000, 0x10000).unwrap();
        assert!(!ram.is_dirty(0x3000));
        ram.write_slice(0x8000_3004, &[1]).unwrap();
        assert!(ram.is_dirty(0x3000));
        ram.mark_dirty(0x5000, 1);
        assert!(ram.is_dirty(0x5fff));
    }

    #[test]
    fn invalid_layouts() {
        assert!(matches!(
            GuestRam::new(0, 0),
            Err(MemoryError::InvalidLayout { .. })
        ));
        assert!(matches!(
            GuestRam::new(0x1001, 0x1000),
            Err(MemoryError::InvalidLayout { .. })
        ));
        assert!(matches!(
            GuestRam::new(u64::MAX - 0xfff, 0x2000),
            Err(MemoryError::InvalidLayout { .. })
        ));
    }
}
