//! SiFive CLINT (ACLINT MSWI + MTIMER) for N harts.
//!
//! `msip` drives `mip.MSIP` (bit 3) of its hart directly. `mtimecmp` lives
//! in the hart's [`CpuIrq::timer_cmp`]: the hart compares it with the time
//! itself and raises `mip.MTIP`, so this device never touches bit 7.
//! `mtime` is the shared [`GuestClock`]; writing it sets the time for all harts.

use std::sync::{Arc, Mutex};

use fv_machine::{CpuIrq, GuestClock, MmioDevice};

use crate::mmio;

/// `mip.MSIP`.
pub const MIP_MSIP: u64 = 1 << 3;

const MSIP_BASE: u64 = 0x0;
const MTIMECMP_BASE: u64 = 0x4000;
const MTIME: u64 = 0xBFF8;

/// A CLINT serving the harts whose inputs it was given, in hart order.
pub struct Clint {
    cpus: Vec<Arc<CpuIrq>>,
    clock: GuestClock,
    /// Serialises read-modify-write of `mtimecmp` halves.
    cmp_lock: Mutex<()>,
}

impl std::fmt::Debug for Clint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clint")
            .field("harts", &self.cpus.len())
            .finish_non_exhaustive()
    }
}

impl Clint {
    /// A CLINT for `cpus` (hart `h` is `cpus[h]`), reading `mtime` from
    /// `clock`.
    pub fn new(cpus: Vec<Arc<CpuIrq>>, clock: GuestClock) -> Self {
        Self {
            cpus,
            clock,
            cmp_lock: Mutex::new(()),
        }
    }

    fn hart(&self, index: u64) -> Option<&Arc<CpuIrq>> {
        self.cpus.get(usize::try_from(index).ok()?)
    }

    /// The register at `offset`: (what, hart, byte offset inside it).
    fn decode(&self, offset: u64, len: usize) -> Option<(Reg, Option<&Arc<CpuIrq>>, u64)> {
        if offset < MTIMECMP_BASE {
            if len != 4 || offset & 3 != 0 {
                return None;
            }
            return Some((Reg::Msip, Some(self.hart((offset - MSIP_BASE) / 4)?), 0));
        }
        let aligned = (len == 8 && offset & 7 == 0) || (len == 4 && offset & 3 == 0);
        if !aligned {
            return None;
        }
        if (MTIME..MTIME + 8).contains(&offset) {
            return Some((Reg::Mtime, None, offset - MTIME));
        }
        let rel = offset - MTIMECMP_BASE;
        Some((Reg::Mtimecmp, Some(self.hart(rel / 8)?), rel % 8))
    }
}

#[derive(Clone, Copy)]
enum Reg {
    Msip,
    Mtimecmp,
    Mtime,
}

/// The bytes `[shift, shift+len)` of a 64-bit register.
fn part(value: u64, shift: u64, len: usize) -> u64 {
    let v = value >> (8 * shift);
    if len >= 8 {
        v
    } else {
        v & ((1u64 << (8 * len)) - 1)
    }
}

impl MmioDevice for Clint {
    fn read(&self, offset: u64, data: &mut [u8]) {
        let len = data.len();
        let v = match self.decode(offset, len) {
            Some((Reg::Msip, Some(cpu), _)) => u64::from(cpu.lines() & MIP_MSIP != 0),
            Some((Reg::Mtimecmp, Some(cpu), shift)) => part(cpu.timer_cmp(), shift, len),
            Some((Reg::Mtime, _, shift)) => part(self.clock.ticks(), shift, len),
            _ => {
                tracing::debug!(offset, len, "CLINT: unexpected read");
                0
            }
        };
        mmio::fill(data, v);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let len = data.len();
        let Some(v) = mmio::value_of(data) else {
            tracing::debug!(offset, len, "CLINT: unexpected write width");
            return;
        };
        match self.decode(offset, len) {
            Some((Reg::Msip, Some(cpu), _)) => cpu.set(MIP_MSIP, v & 1 != 0),
            Some((Reg::Mtimecmp, Some(cpu), shift)) => {
                let _guard = self.cmp_lock.lock().unwrap_or_else(|e| e.into_inner());
                let new = if len == 8 {
                    v
                } else {
                    let mask = 0xffff_ffffu64 << (8 * shift);
                    (cpu.timer_cmp() & !mask) | ((v << (8 * shift)) & mask)
                };
                cpu.set_timer_cmp(new);
            }
            Some((Reg::Mtime, _, shift)) => {
                // mtime is read-write (privileged spec 3.2.1): the clock is
                // shared, so every hart's `time` moves with it.
                let _guard = self.cmp_lock.lock().unwrap_or_else(|e| e.into_inner());
                let new = if len == 8 {
                    v
                } else {
                    let mask = 0xffff_ffffu64 << (8 * shift);
                    (self.clock.ticks() & !mask) | ((v << (8 * shift)) & mask)
                };
                self.clock.set_ticks(new);
            }
            _ => tracing::debug!(offset, len, v, "CLINT: unexpected write ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{rd, wr};
    use std::time::Duration;

    fn clint(n: usize) -> (Clint, Vec<Arc<CpuIrq>>) {
        let cpus: Vec<_> = (0..n).map(|_| Arc::new(CpuIrq::new())).collect();
        (Clint::new(cpus.clone(), GuestClock::new(10_000_000)), cpus)
    }

    #[test]
    fn msip_raises_and_lowers_mip_bit_3_of_its_hart() {
        let (c, cpus) = clint(2);
        wr(&c, 4, 4, 1);
        assert_eq!(cpus[1].lines(), MIP_MSIP);
        assert_eq!(cpus[0].lines(), 0);
        assert!(cpus[1].take_attention(), "the hart is woken");
        assert_eq!(rd(&c, 4, 4), 1);
        assert_eq!(rd(&c, 0, 4), 0);
        // Only bit 0 counts.
        wr(&c, 4, 4, 0xfffe);
        assert_eq!(cpus[1].lines(), 0);
        assert_eq!(rd(&c, 4, 4), 0);
        // No hart 2: ignored.
        wr(&c, 8, 4, 1);
        assert_eq!(rd(&c, 8, 4), 0);
    }

    #[test]
    fn mtimecmp_halves_and_whole_reach_timer_cmp_without_touching_mtip() {
        let (c, cpus) = clint(2);
        assert_eq!(rd(&c, 0x4008, 8), u64::MAX, "reset value: never");
        wr(&c, 0x4008, 4, 0x1234_5678);
        assert_eq!(cpus[1].timer_cmp(), 0xffff_ffff_1234_5678);
        wr(&c, 0x400c, 4, 0x0000_0009);
        assert_eq!(cpus[1].timer_cmp(), 0x0000_0009_1234_5678);
        assert_eq!(rd(&c, 0x400c, 4), 9);
        assert_eq!(rd(&c, 0x4008, 4), 0x1234_5678);
        wr(&c, 0x4000, 8, 42);
        assert_eq!(cpus[0].timer_cmp(), 42);
        assert_eq!(rd(&c, 0x4000, 8), 42);
        assert_eq!(cpus[0].lines() & (1 << 7), 0);
        assert_eq!(cpus[1].timer_cmp(), 0x0000_0009_1234_5678);
    }

    #[test]
    fn mtime_advances_at_the_clock_rate_in_both_widths() {
        let (c, _) = clint(1);
        let a = rd(&c, MTIME, 8);
        std::thread::sleep(Duration::from_millis(5));
        let b = rd(&c, MTIME, 8);
        assert!(b >= a + 40_000, "5 ms at 10 MHz, got {}", b - a);
        let lo = rd(&c, MTIME, 4);
        let hi = rd(&c, MTIME + 4, 4);
        let t = rd(&c, MTIME, 8);
        assert!(hi <= t >> 32);
        assert!((hi << 32 | lo) <= t);
        // mtime is writable: time continues from the written value.
        wr(&c, MTIME, 8, 0x1_0000_0000);
        let after = rd(&c, MTIME, 8);
        assert!(
            (0x1_0000_0000..0x1_0000_0000 + 10_000_000).contains(&after),
            "{after:#x}"
        );
        // A 32-bit write replaces only the low half.
        wr(&c, MTIME, 4, 0);
        assert_eq!(rd(&c, MTIME + 4, 4), 1);
    }

    #[test]
    fn odd_accesses_are_ignored() {
        let (c, cpus) = clint(1);
        wr(&c, 0, 2, 1);
        wr(&c, 1, 4, 1);
        assert_eq!(cpus[0].lines(), 0);
        wr(&c, 0x4002, 4, 0);
        assert_eq!(cpus[0].timer_cmp(), u64::MAX);
        assert_eq!(rd(&c, 0x4001, 8), 0);
        assert_eq!(rd(&c, 0xfff0, 8), 0);
        c.write(0, &[1, 0, 0]);
        assert_eq!(cpus[0].lines(), 0);
    }
}
