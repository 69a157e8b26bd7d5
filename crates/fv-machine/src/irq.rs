//! Interrupt inputs of one virtual CPU, shared between the CPU's thread and
//! the devices (and other CPUs) that raise them.
//!
//! A CPU's inputs are a bit mask of lines; what each bit means is the
//! architecture's business (for RISC-V: the `mip` bit numbers). Raising a
//! line wakes the CPU if it sleeps in a wait-for-interrupt.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// A level-triggered interrupt line into an interrupt controller.
pub trait IrqLine: Send + Sync {
    /// Drives the line high (`true`) or low.
    fn set_level(&self, level: bool);
}

/// The interrupt inputs, timer compare register and wake-up of one CPU.
#[derive(Debug)]
pub struct CpuIrq {
    lines: AtomicU64,
    /// The platform timer's compare value for this CPU (CLINT `mtimecmp`).
    timer_cmp: AtomicU64,
    /// Set whenever something the CPU must look at changed; the CPU's loop
    /// polls it cheaply and clears it.
    attention: AtomicBool,
    sleep_lock: Mutex<bool>,
    sleep_cv: Condvar,
}

impl Default for CpuIrq {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuIrq {
    /// No line raised, timer compare at its reset value (all ones: never).
    pub fn new() -> Self {
        Self {
            lines: AtomicU64::new(0),
            timer_cmp: AtomicU64::new(u64::MAX),
            attention: AtomicBool::new(false),
            sleep_lock: Mutex::new(false),
            sleep_cv: Condvar::new(),
        }
    }

    /// Raises the lines in `mask` and wakes the CPU.
    pub fn raise(&self, mask: u64) {
        let old = self.lines.fetch_or(mask, Ordering::SeqCst);
        if old & mask != mask {
            self.kick();
        }
    }

    /// Lowers the lines in `mask`.
    pub fn lower(&self, mask: u64) {
        self.lines.fetch_and(!mask, Ordering::SeqCst);
    }

    /// Sets the lines in `mask` to `level`.
    pub fn set(&self, mask: u64, level: bool) {
        if level {
            self.raise(mask)
        } else {
            self.lower(mask)
        }
    }

    /// The lines currently raised.
    #[inline]
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Acquire)
    }

    /// The timer compare value.
    #[inline]
    pub fn timer_cmp(&self) -> u64 {
        self.timer_cmp.load(Ordering::Acquire)
    }

    /// Sets the timer compare value and wakes the CPU so it re-arms its sleep.
    pub fn set_timer_cmp(&self, value: u64) {
        self.timer_cmp.store(value, Ordering::Release);
        self.kick();
    }

    /// True if something changed since the last call (and clears the flag).
    #[inline]
    pub fn take_attention(&self) -> bool {
        self.attention.load(Ordering::Relaxed) && self.attention.swap(false, Ordering::AcqRel)
    }

    /// Asks the CPU to look at its inputs soon, and wakes it if it sleeps.
    pub fn kick(&self) {
        self.attention.store(true, Ordering::Release);
        let mut woken = self.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        *woken = true;
        self.sleep_cv.notify_all();
    }

    /// Sleeps the calling (CPU) thread until kicked or until `deadline`.
    /// Returns immediately if a kick arrived since the last sleep.
    pub fn sleep_until(&self, deadline: Option<Instant>) {
        let mut woken = self.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        while !*woken {
            match deadline {
                None => {
                    woken = self.sleep_cv.wait(woken).unwrap_or_else(|e| e.into_inner());
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    woken = self
                        .sleep_cv
                        .wait_timeout(woken, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        *woken = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn raise_lower_and_attention() {
        let c = CpuIrq::new();
        assert_eq!(c.lines(), 0);
        c.raise(1 << 9);
        assert_eq!(c.lines(), 1 << 9);
        assert!(c.take_attention());
        assert!(!c.take_attention());
        c.set(1 << 3, true);
        c.lower(1 << 9);
        assert_eq!(c.lines(), 1 << 3);
    }

    #[test]
    fn sleep_wakes_on_raise_from_other_thread() {
        let c = Arc::new(CpuIrq::new());
        // Consume any pending wake.
        c.sleep_until(Some(Instant::now()));
        let c2 = Arc::clone(&c);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c2.raise(1 << 11);
        });
        let start = Instant::now();
        c.sleep_until(Some(Instant::now() + Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(c.lines(), 1 << 11);
        t.join().unwrap();
    }

    #[test]
    fn sleep_times_out() {
        let c = CpuIrq::new();
        c.sleep_until(Some(Instant::now())); // clear initial state
        let start = Instant::now();
        c.sleep_until(Some(Instant::now() + Duration::from_millis(10)));
        assert!(start.elapsed() >= Duration::from_millis(10));
    }
}
