//! The guest console on the host: output sinks, the terminal in raw mode
//! with QEMU's `Ctrl-A x` escape, and stdin fed to the UART or, with the
//! virtio console, into a pipe the virtio-console device reads.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use fv_devices::Uart;
use fv_machine::{ExitReason, VmControl};
use fv_riscv::SbiConsole;

use crate::config::ConsoleConfig;

/// One output shared by the UART and the SBI debug console.
#[derive(Clone)]
pub(crate) struct SharedOutput(Arc<Mutex<Box<dyn Write + Send>>>);

impl SharedOutput {
    pub fn new(w: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(Mutex::new(w)))
    }
}

impl Write for SharedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl SbiConsole for SharedOutput {
    fn write(&self, data: &[u8]) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.write_all(data);
        let _ = w.flush();
    }
    fn read(&self, _buf: &mut [u8]) -> usize {
        // Input belongs to the UART; the SBI console reads nothing.
        0
    }
}

/// Where host input currently goes (it changes when the guest reboots).
struct InputTarget {
    uart: Arc<Uart>,
    control: Arc<VmControl>,
    /// Hold input until the guest enables the UART's receive interrupt.
    /// Linux probes and resets the UART FIFOs during boot, which would eat
    /// early input; polled-mode (bare-metal) guests never enable it.
    wait_for_listener: bool,
}

type SharedTarget = Arc<Mutex<Option<InputTarget>>>;

/// The host side of the console for the whole life of a `run_vm` call.
/// The device the guest console is on.
enum ConsoleDevice {
    /// The UART: host input goes to it through [`HostConsole`]'s target.
    Uart,
    /// virtio-console; `input` is the read end of the pipe host input goes
    /// into (None without input), and every boot's device reads a copy.
    Virtio { input: Option<OwnedFd> },
}

pub(crate) struct HostConsole {
    config: ConsoleConfig,
    target: SharedTarget,
    /// Which device the guest console is.
    device: ConsoleDevice,
    _raw: Option<RawTerminal>,
}

impl HostConsole {
    /// `virtio`: input goes to a virtio-console device instead of the UART.
    pub fn open(config: &ConsoleConfig, virtio: bool) -> std::io::Result<Self> {
        let target: SharedTarget = Arc::new(Mutex::new(None));
        let mut raw = None;
        let mut device = if virtio {
            ConsoleDevice::Virtio { input: None }
        } else {
            ConsoleDevice::Uart
        };
        if let ConsoleConfig::Stdio = config {
            let tty = std::io::stdin().is_terminal();
            if tty {
                raw = RawTerminal::enable().ok();
            }
            let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
            let t = Arc::clone(&target);
            std::thread::Builder::new()
                .name("fv-stdin".into())
                .spawn(move || stdin_reader(t, tty, tx))?;
            let builder = std::thread::Builder::new().name("fv-console-in".into());
            if virtio {
                let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                device = ConsoleDevice::Virtio { input: Some(read) };
                builder.spawn(move || deliver_to_pipe(rx, std::fs::File::from(write)))?;
            } else {
                let t = Arc::clone(&target);
                builder.spawn(move || deliver(t, rx))?;
            }
        }
        Ok(Self {
            config: config.clone(),
            target,
            device,
            _raw: raw,
        })
    }

    /// The outputs of one boot of the VM: the UART's (and SBI debug
    /// console's), and with the virtio console its device, which then gets
    /// the real sink while the UART's output only goes to the debug log.
    pub fn outputs(&self) -> std::io::Result<(SharedOutput, Option<fv_virtio::Console>)> {
        let ConsoleDevice::Virtio { input } = &self.device else {
            return Ok((self.output()?, None));
        };
        let input = input.as_ref().map(|fd| fd.try_clone()).transpose()?;
        let size = match self.config {
            ConsoleConfig::Stdio => terminal_size(),
            _ => None,
        };
        let device = fv_virtio::Console::new(input, self.sink()?, size)?;
        let uart: Box<dyn Write + Send> = Box::new(LogLines::default());
        Ok((SharedOutput::new(uart), Some(device)))
    }

    /// A fresh output sink for one boot of the VM.
    pub fn output(&self) -> std::io::Result<SharedOutput> {
        Ok(SharedOutput::new(self.sink()?))
    }

    /// Where the console's output goes.
    fn sink(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match &self.config {
            ConsoleConfig::Stdio => Box::new(std::io::stdout()),
            ConsoleConfig::None => Box::new(std::io::sink()),
            ConsoleConfig::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            ConsoleConfig::Buffer(b) => Box::new(b.clone()),
        })
    }

    /// Sends host input to this UART from now on.
    pub fn attach(&self, uart: Arc<Uart>, control: Arc<VmControl>, wait_for_listener: bool) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = Some(InputTarget {
            uart,
            control,
            wait_for_listener,
        });
    }
}

/// Ctrl-A, QEMU's escape character.
const ESCAPE: u8 = 0x01;

/// Reads stdin, handles the escape sequence at once (even while earlier
/// input waits for the guest), and passes the rest on.
fn stdin_reader(target: SharedTarget, tty: bool, tx: std::sync::mpsc::Sender<Vec<u8>>) {
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 256];
    let mut escape = false;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => return, // EOF: the guest just sees no more input
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if tty && escape {
                escape = false;
                match b {
                    b'x' | b'X' => {
                        if let Some(t) = &*target.lock().unwrap_or_else(|e| e.into_inner()) {
                            t.control.request_exit(ExitReason::HostStop);
                        }
                        return;
                    }
                    ESCAPE => out.push(ESCAPE),
                    _ => {}
                }
            } else if tty && b == ESCAPE {
                escape = true;
            } else {
                out.push(b);
            }
        }
        if !out.is_empty() && tx.send(out).is_err() {
            return;
        }
    }
}

/// Feeds input to the UART with flow control: what does not fit waits for
/// the guest to drain the receive FIFO.
fn deliver(target: SharedTarget, rx: std::sync::mpsc::Receiver<Vec<u8>>) {
    let pause = std::time::Duration::from_millis(10);
    while let Ok(chunk) = rx.recv() {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let uart = target
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .filter(|t| !t.wait_for_listener || t.uart.receiver_listening())
                .map(|t| Arc::clone(&t.uart));
            match uart {
                Some(u) => {
                    let n = u.push_input(rest);
                    rest = &rest[n..];
                    if !rest.is_empty() {
                        std::thread::sleep(pause);
                    }
                }
                None => std::thread::sleep(pause),
            }
        }
    }
}

/// Feeds input to the virtio console's pipe; a full pipe (the guest not
/// reading) holds the writer back, while the escape keeps working.
fn deliver_to_pipe(rx: std::sync::mpsc::Receiver<Vec<u8>>, mut pipe: std::fs::File) {
    while let Ok(chunk) = rx.recv() {
        if let Err(e) = pipe.write_all(&chunk) {
            tracing::warn!("console input pipe: {e}");
            return;
        }
    }
}

/// The UART's output while the console is on virtio: kept off the
/// terminal, logged line by line (`FV_LOG=debug`).
#[derive(Default)]
struct LogLines(Vec<u8>);

impl LogLines {
    /// Longest line kept before it is logged anyway.
    const MAX_LINE: usize = 4096;

    fn log(&mut self, end: usize) {
        let line: Vec<u8> = self.0.drain(..end).collect();
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if !text.is_empty() {
            tracing::debug!(target: "fv::uart", "{text}");
        }
    }
}

impl Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        while let Some(pos) = self.0.iter().position(|&b| b == b'\n') {
            self.log(pos + 1);
        }
        if self.0.len() > Self::MAX_LINE {
            self.log(self.0.len());
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

nix::ioctl_read_bad!(tiocgwinsz, nix::libc::TIOCGWINSZ, nix::pty::Winsize);

/// (columns, rows) of the terminal on stdout, if it is one.
fn terminal_size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let mut ws = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer,
    // which points to `ws`, live and writable for the whole call.
    unsafe { tiocgwinsz(stdout.as_raw_fd(), &mut ws) }.ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

/// Puts the terminal on stdin in raw mode and restores it when dropped.
struct RawTerminal {
    saved: nix::sys::termios::Termios,
}

impl RawTerminal {
    fn enable() -> nix::Result<Self> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // Keep output processing so host-side messages still get CR-LF.
        raw.output_flags = saved.output_flags;
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uart_log_keeps_only_the_unfinished_line() {
        let mut log = LogLines::default();
        log.write_all(b"first\nsec").unwrap();
        assert_eq!(log.0, b"sec");
        log.write_all(b"ond\r\n").unwrap();
        assert!(log.0.is_empty());
        // A line that never ends is logged in pieces, not kept forever.
        log.write_all(&[b'x'; 5000]).unwrap();
        assert!(log.0.is_empty());
    }
}
