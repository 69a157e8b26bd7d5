//! A one-shot deadline timer on a host thread, for device events that must
//! happen without a guest access (UART character timeout and output flush,
//! RTC alarm).
//!
//! The thread starts on the first `arm` and sleeps on a condition variable
//! until the earliest armed deadline, so an idle device costs nothing. The
//! callback runs without the timer's lock held; it may re-arm the timer.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The work a timer does when its deadline passes; false asks the thread
/// to exit (its device is gone).
pub(crate) type TimerCallback = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct TimerState {
    deadline: Option<Instant>,
    started: bool,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<TimerState>,
    cv: Condvar,
}

/// One deadline and the thread that waits for it.
pub(crate) struct DeadlineTimer {
    name: &'static str,
    shared: Arc<Shared>,
    callback: TimerCallback,
}

impl DeadlineTimer {
    /// A timer that runs `callback` on a thread named `name` when armed
    /// deadlines pass.
    pub(crate) fn new(name: &'static str, callback: TimerCallback) -> Self {
        Self {
            name,
            shared: Arc::default(),
            callback,
        }
    }

    /// Makes the callback run at `at` or earlier (an earlier armed
    /// deadline is kept).
    pub(crate) fn arm(&self, at: Instant) {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.deadline.is_some_and(|d| d <= at) {
            return;
        }
        st.deadline = Some(at);
        if st.started {
            self.shared.cv.notify_all();
            return;
        }
        let shared = Arc::clone(&self.shared);
        let callback = Arc::clone(&self.callback);
        match std::thread::Builder::new()
            .name(self.name.to_string())
            .spawn(move || run(&shared, &*callback))
        {
            Ok(_) => st.started = true,
            Err(e) => tracing::warn!(timer = self.name, "cannot start timer thread: {e}"),
        }
    }
}

impl Drop for DeadlineTimer {
    fn drop(&mut self) {
        // The thread may be the one dropping us (from inside its callback),
        // so ask it to stop rather than join it.
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.shutdown = true;
        self.shared.cv.notify_all();
    }
}

fn run(shared: &Shared, callback: &(dyn Fn() -> bool + Send + Sync)) {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if st.shutdown {
            return;
        }
        match st.deadline {
            None => st = shared.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    st.deadline = None;
                    drop(st);
                    if !callback() {
                        return;
                    }
                    st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                } else {
                    st = shared
                        .cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn fires_once_per_arm_and_keeps_earliest_deadline() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hits);
        let t = DeadlineTimer::new(
            "test-timer",
            Arc::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
                true
            }),
        );
        let start = Instant::now();
        t.arm(start + Duration::from_millis(10));
        // A later deadline does not postpone the earlier one.
        t.arm(start + Duration::from_secs(60));
        let wait_until = Instant::now() + Duration::from_secs(5);
        while hits.load(Ordering::SeqCst) == 0 && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(start.elapsed() >= Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(hits.load(Ordering::SeqCst), 1, "one arm, one callback");
    }
}
