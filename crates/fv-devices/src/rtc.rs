//! Google goldfish RTC, as QEMU's `hw/rtc/goldfish_rtc.c` models it and
//! Linux's `rtc-goldfish` drives it.
//!
//! Time is host wall-clock nanoseconds since the Unix epoch plus an offset
//! the guest changes by writing TIME_LOW/TIME_HIGH (each write replaces that
//! half of the current time). Reading TIME_LOW latches TIME_HIGH. Writing
//! ALARM_LOW arms the alarm at `ALARM_HIGH:ALARM_LOW`; when the time passes
//! it, the interrupt becomes pending, and the line is high while pending and
//! IRQ_ENABLED. A timer thread waits for armed alarms; nothing polls.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fv_machine::{IrqLine, MmioDevice};

use crate::mmio;
use crate::timer::DeadlineTimer;

const TIME_LOW: u64 = 0x00;
const TIME_HIGH: u64 = 0x04;
const ALARM_LOW: u64 = 0x08;
const ALARM_HIGH: u64 = 0x0c;
const IRQ_ENABLED: u64 = 0x10;
const CLEAR_ALARM: u64 = 0x14;
const ALARM_STATUS: u64 = 0x18;
const CLEAR_INTERRUPT: u64 = 0x1c;

/// Longest single wait for an alarm: re-checking at least this often
/// follows host wall-clock steps.
const MAX_ALARM_WAIT: Duration = Duration::from_secs(1);

/// A goldfish RTC. See the module documentation.
pub struct GoldfishRtc {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<RtcState>,
    irq: Arc<dyn IrqLine>,
    timer: DeadlineTimer,
}

#[derive(Default)]
struct RtcState {
    /// Added (wrapping) to host time to give guest time.
    offset: u64,
    time_high: u32,
    alarm_next: u64,
    alarm_running: bool,
    irq_pending: bool,
    irq_enabled: bool,
    irq_level: bool,
}

/// Host wall-clock nanoseconds since the Unix epoch (0 before it).
fn host_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl std::fmt::Debug for GoldfishRtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("GoldfishRtc")
            .field("alarm_next", &st.alarm_next)
            .field("alarm_running", &st.alarm_running)
            .field("irq_pending", &st.irq_pending)
            .finish_non_exhaustive()
    }
}

impl GoldfishRtc {
    /// An RTC showing host time, interrupting on `irq`.
    pub fn new(irq: Arc<dyn IrqLine>) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            Inner {
                state: Mutex::new(RtcState::default()),
                irq,
                timer: DeadlineTimer::new(
                    "fv-rtc-alarm",
                    Arc::new(move || match weak.upgrade() {
                        Some(inner) => {
                            inner.on_timer();
                            true
                        }
                        None => false,
                    }),
                ),
            }
        });
        Self { inner }
    }

    /// The guest's current time in nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        self.inner.lock().now()
    }
}

impl RtcState {
    fn now(&self) -> u64 {
        host_ns().wrapping_add(self.offset)
    }

    /// Replaces bits `[shift, shift+32)` of the current time with `v`.
    fn set_time_bits(&mut self, shift: u32, v: u32) {
        let current = self.now();
        let mask = 0xffff_ffffu64 << shift;
        let new = (current & !mask) | (u64::from(v) << shift);
        self.offset = self.offset.wrapping_add(new.wrapping_sub(current));
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, RtcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_irq(&self, st: &mut RtcState) {
        let level = st.irq_pending && st.irq_enabled;
        if level != st.irq_level {
            st.irq_level = level;
            self.irq.set_level(level);
        }
    }

    /// Fires the alarm if its time has come, or waits for it.
    fn check_alarm(&self, st: &mut RtcState) {
        if !st.alarm_running {
            return;
        }
        let now = st.now();
        if st.alarm_next <= now {
            st.alarm_running = false;
            st.irq_pending = true;
            self.update_irq(st);
        } else {
            let wait = Duration::from_nanos(st.alarm_next - now).min(MAX_ALARM_WAIT);
            self.timer.arm(Instant::now() + wait);
        }
    }

    fn on_timer(&self) {
        let mut st = self.lock();
        self.check_alarm(&mut st);
    }

    fn read32(&self, offset: u64) -> Option<u32> {
        let mut st = self.lock();
        Some(match offset {
            TIME_LOW => {
                let t = st.now();
                st.time_high = (t >> 32) as u32;
                t as u32
            }
            TIME_HIGH => st.time_high,
            ALARM_LOW => st.alarm_next as u32,
            ALARM_HIGH => (st.alarm_next >> 32) as u32,
            IRQ_ENABLED => u32::from(st.irq_enabled),
            ALARM_STATUS => u32::from(st.alarm_running),
            _ => return None,
        })
    }

    fn write32(&self, offset: u64, v: u32) -> Option<()> {
        let mut st = self.lock();
        match offset {
            TIME_LOW => st.set_time_bits(0, v),
            TIME_HIGH => st.set_time_bits(32, v),
            ALARM_LOW => {
                st.alarm_next = (st.alarm_next & !0xffff_ffff) | u64::from(v);
                st.alarm_running = true;
                self.check_alarm(&mut st);
            }
            ALARM_HIGH => st.alarm_next = (st.alarm_next & 0xffff_ffff) | u64::from(v) << 32,
            IRQ_ENABLED => {
                st.irq_enabled = v & 1 != 0;
                self.update_irq(&mut st);
            }
            CLEAR_ALARM => st.alarm_running = false,
            CLEAR_INTERRUPT => {
                st.irq_pending = false;
                self.update_irq(&mut st);
            }
            _ => return None,
        }
        Some(())
    }
}

impl MmioDevice for GoldfishRtc {
    fn read(&self, offset: u64, data: &mut [u8]) {
        let v = if data.len() == 4 {
            self.inner.read32(offset)
        } else {
            None
        };
        if v.is_none() {
            tracing::debug!(offset, len = data.len(), "RTC: unexpected read");
        }
        mmio::fill(data, u64::from(v.unwrap_or(0)));
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let done = match mmio::value_of(data) {
            Some(v) if data.len() == 4 => self.inner.write32(offset, v as u32),
            _ => None,
        };
        if done.is_none() {
            tracing::debug!(offset, len = data.len(), "RTC: unexpected write ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{rd, wr, LineRecorder};

    fn rtc() -> (GoldfishRtc, Arc<LineRecorder>) {
        let line = Arc::new(LineRecorder::default());
        (GoldfishRtc::new(line.clone()), line)
    }

    /// Reads the time the way Linux does: LOW (latching HIGH), then HIGH.
    fn time(r: &GoldfishRtc) -> u64 {
        let lo = rd(r, TIME_LOW, 4);
        let hi = rd(r, TIME_HIGH, 4);
        hi << 32 | lo
    }

    fn set_alarm(r: &GoldfishRtc, at: u64) {
        wr(r, ALARM_HIGH, 4, at >> 32);
        wr(r, ALARM_LOW, 4, at & 0xffff_ffff);
    }

    fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        cond()
    }

    #[test]
    fn time_is_host_wall_clock() {
        let (r, _) = rtc();
        let before = host_ns();
        let t = time(&r);
        let after = host_ns();
        assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    }

    #[test]
    fn guest_can_set_the_time() {
        let (r, _) = rtc();
        // Linux's set_time: HIGH then LOW, for 2001-09-09T01:46:40Z.
        let target: u64 = 1_000_000_000 * 1_000_000_000;
        wr(&r, TIME_HIGH, 4, target >> 32);
        wr(&r, TIME_LOW, 4, target & 0xffff_ffff);
        let t = time(&r);
        assert!(t >= target && t - target < 1_000_000_000, "got {t}");
        assert_eq!(r.now_ns() / 1_000_000_000, t / 1_000_000_000);
    }

    #[test]
    fn alarm_fires_and_raises_irq_until_cleared() {
        let (r, line) = rtc();
        wr(&r, IRQ_ENABLED, 4, 1);
        let at = time(&r) + 20_000_000;
        set_alarm(&r, at);
        assert_eq!(rd(&r, ALARM_STATUS, 4), 1);
        assert_eq!(rd(&r, ALARM_LOW, 4), at & 0xffff_ffff);
        assert_eq!(rd(&r, ALARM_HIGH, 4), at >> 32);
        assert!(!line.level());
        assert!(wait_for(|| line.level()), "alarm did not fire");
        assert!(r.now_ns() >= at);
        assert_eq!(rd(&r, ALARM_STATUS, 4), 0);
        wr(&r, CLEAR_INTERRUPT, 4, 1);
        assert!(!line.level());
        assert_eq!(line.rises(), 1);
    }

    #[test]
    fn past_alarm_fires_at_once_and_enable_gates_the_line() {
        let (r, line) = rtc();
        set_alarm(&r, 1);
        assert_eq!(rd(&r, ALARM_STATUS, 4), 0);
        assert!(!line.level(), "pending but not enabled");
        wr(&r, IRQ_ENABLED, 4, 1);
        assert_eq!(rd(&r, IRQ_ENABLED, 4), 1);
        assert!(line.level());
        wr(&r, IRQ_ENABLED, 4, 0);
        assert!(!line.level());
    }

    #[test]
    fn cleared_alarm_does_not_fire() {
        let (r, line) = rtc();
        wr(&r, IRQ_ENABLED, 4, 1);
        set_alarm(&r, time(&r) + 10_000_000);
        wr(&r, CLEAR_ALARM, 4, 1);
        assert_eq!(rd(&r, ALARM_STATUS, 4), 0);
        std::thread::sleep(Duration::from_millis(40));
        assert!(!line.level());
    }

    #[test]
    fn odd_accesses_are_ignored() {
        let (r, line) = rtc();
        assert_eq!(rd(&r, TIME_LOW, 8), 0);
        assert_eq!(rd(&r, 0x20, 4), 0);
        wr(&r, IRQ_ENABLED, 2, 1);
        wr(&r, 0x100, 4, 1);
        assert_eq!(rd(&r, IRQ_ENABLED, 4), 0);
        set_alarm(&r, 1);
        wr(&r, IRQ_ENABLED, 8, 1);
        assert!(!line.level());
    }
}
