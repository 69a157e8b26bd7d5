//! The guest console on the host: output sinks, the terminal in raw mode
//! with QEMU's `Ctrl-A x` escape, and stdin fed to the UART.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
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
pub(crate) struct HostConsole {
    config: ConsoleConfig,
    target: SharedTarget,
    _raw: Option<RawTerminal>,
}

impl HostConsole {
    pub fn open(config: &ConsoleConfig) -> std::io::Result<Self> {
        let target: SharedTarget = Arc::new(Mutex::new(None));
        let mut raw = None;
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
            let t = Arc::clone(&target);
            std::thread::Builder::new()
                .name("fv-console-in".into())
                .spawn(move || deliver(t, rx))?;
        }
        Ok(Self {
            config: config.clone(),
            target,
            _raw: raw,
        })
    }

    /// A fresh output sink for one boot of the VM.
    pub fn output(&self) -> std::io::Result<SharedOutput> {
        let w: Box<dyn Write + Send> = match &self.config {
            ConsoleConfig::Stdio => Box::new(std::io::stdout()),
            ConsoleConfig::None => Box::new(std::io::sink()),
            ConsoleConfig::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            ConsoleConfig::Buffer(b) => Box::new(b.clone()),
        };
        Ok(SharedOutput::new(w))
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
