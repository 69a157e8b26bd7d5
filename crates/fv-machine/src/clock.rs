//! Guest time: a host monotonic clock scaled to the board's timer frequency,
//! so guest time is real time. The guest may set the time (the CLINT's
//! `mtime` is read-write, privileged spec 3.2.1); every clone of a clock
//! shares that offset, so all harts and devices see one time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Converts host monotonic time to guest timer ticks and back.
#[derive(Debug, Clone)]
pub struct GuestClock {
    start: Instant,
    freq_hz: u64,
    /// Added to the host-derived ticks (wrapping), set by guest writes.
    offset: Arc<AtomicI64>,
}

impl GuestClock {
    /// A clock that reads 0 now and advances `freq_hz` ticks per second.
    pub fn new(freq_hz: u64) -> Self {
        assert!(
            freq_hz > 0 && freq_hz <= 1_000_000_000,
            "timer frequency out of range"
        );
        Self {
            start: Instant::now(),
            freq_hz,
            offset: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Ticks per second.
    pub fn frequency(&self) -> u64 {
        self.freq_hz
    }

    fn raw_ticks_at(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.start).as_nanos();
        (ns * self.freq_hz as u128 / 1_000_000_000) as u64
    }

    /// Current guest time in ticks.
    #[inline]
    pub fn ticks(&self) -> u64 {
        self.ticks_at(Instant::now())
    }

    /// Guest time in ticks at host instant `at`.
    pub fn ticks_at(&self, at: Instant) -> u64 {
        self.raw_ticks_at(at)
            .wrapping_add(self.offset.load(Ordering::Relaxed) as u64)
    }

    /// Sets the current guest time to `ticks` (for every clone).
    pub fn set_ticks(&self, ticks: u64) {
        let raw = self.raw_ticks_at(Instant::now());
        self.offset
            .store(ticks.wrapping_sub(raw) as i64, Ordering::Relaxed);
    }

    /// The host instant at which the guest clock reaches `ticks`
    /// (now if already past, saturating far in the future).
    pub fn instant_of(&self, ticks: u64) -> Instant {
        let raw = ticks as i128 - self.offset.load(Ordering::Relaxed) as i128;
        if raw <= 0 {
            return self.start;
        }
        let ns = raw as u128 * 1_000_000_000 / self.freq_hz as u128;
        let ns = ns.min(u64::MAX as u128 / 2) as u64;
        self.start
            .checked_add(Duration::from_nanos(ns))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600 * 24 * 365))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_advance_and_round_trip() {
        let c = GuestClock::new(10_000_000);
        let a = c.ticks();
        std::thread::sleep(Duration::from_millis(5));
        let b = c.ticks();
        assert!(
            b >= a + 40_000,
            "5 ms at 10 MHz is 50k ticks, got {}",
            b - a
        );
        let at = c.instant_of(1_000_000);
        assert_eq!(c.ticks_at(at), 1_000_000);
        // Far-future deadlines do not overflow.
        let _ = c.instant_of(u64::MAX);
    }

    #[test]
    fn set_ticks_moves_every_clone() {
        let c = GuestClock::new(10_000_000);
        let d = c.clone();
        c.set_ticks(1 << 40);
        let t = d.ticks();
        assert!((1 << 40..(1 << 40) + 10_000_000).contains(&t), "{t:#x}");
        // Deadlines follow the new time base.
        let at = d.instant_of(t + 100_000);
        let dt = at.saturating_duration_since(Instant::now());
        assert!(dt <= Duration::from_millis(10), "{dt:?}");
    }
}
