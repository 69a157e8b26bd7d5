//! Relaying a container's pty to our own terminal: raw mode on our stdin
//! while it runs, its window size copied over, bytes both ways.

use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use nix::sys::termios::{self, SetArg, Termios};

/// A running relay; [`Relay::finish`] waits for the output to drain and
/// restores the terminal.
pub struct Relay {
    saved: Option<Termios>,
    out: JoinHandle<()>,
}

/// Copies our terminal's window size (if stdin is one) to `master`.
fn copy_window_size(master: &OwnedFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into `ws`, which lives for
    // the call; fd 0 is ours (a bad fd only makes the call fail).
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return;
    }
    // SAFETY: TIOCSWINSZ reads one `winsize` from `ws`; `master` is an
    // open pty master we own.
    let _ = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

impl Relay {
    /// Puts our stdin in raw mode (if it is a terminal) and starts copying
    /// stdin → `master` and `master` → stdout.
    pub fn start(master: OwnedFd) -> std::io::Result<Relay> {
        copy_window_size(&master);
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        }
        let master = std::fs::File::from(master);
        let mut to_pty = master.try_clone()?;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_pty);
        });
        let out = std::thread::spawn(move || {
            let mut master = master;
            // Ends with EIO once every copy of the slave is closed.
            let _ = std::io::copy(&mut master, &mut std::io::stdout().lock());
        });
        Ok(Relay { saved, out })
    }

    /// Waits until the pty's output ends, then restores our terminal.
    pub fn finish(self) {
        let _ = self.out.join();
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}
