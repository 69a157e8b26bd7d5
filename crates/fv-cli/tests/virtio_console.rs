//! System tests for the paravirtual devices a console user meets:
//! virtio-console (`--console virtio`: the guest's shell on hvc0, input from
//! stdin, on a pipe and on a terminal with Ctrl-C and `Ctrl-A x`) and the
//! always-present virtio-rng behind the guest's `/dev/hwrng`.
//!
//! The default guest loads virtio_mmio (and so finds both devices) itself
//! when the console is hvc0, and with `fv.modules=1` otherwise. Without the
//! default guest (`fv guest fetch`) each test prints a SKIP line.

mod support;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::termios::{tcgetattr, LocalFlags};
use support::{guest_available, run_with_timeout};

const LIMIT: Duration = Duration::from_secs(900);

/// The shell runs on hvc0, reads piped input through the virtio console
/// and powers the VM off.
#[test]
fn shell_on_hvc0_reads_stdin_and_powers_off() {
    let test = "shell_on_hvc0_reads_stdin_and_powers_off";
    if !guest_available(test) {
        return;
    }
    // The console echoes commands: every marker is computed in the guest.
    let script = "\
tty | sed 's/^/FV-TTY=/'
sed 's/^/FV-CONSOLE=/' /proc/consoles
echo FV-SUM-$((6*7))
poweroff
";
    let (code, out, err) = run_with_timeout(
        &["run", "--cpus", "1", "--console", "virtio"],
        Some(script.as_bytes().to_vec()),
        LIMIT,
    );
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(0), "poweroff must exit 0:\n{all}");
    assert!(out.contains("FV-GUEST-MODULES-LOADED"), "modules:\n{all}");
    assert!(out.contains("ferrovisor guest: Linux"), "banner:\n{all}");
    assert!(out.contains("FV-TTY=/dev/hvc0"), "tty:\n{all}");
    let consoles: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("FV-CONSOLE="))
        .filter(|l| !l.starts_with('/'))
        .collect();
    assert!(
        consoles.len() == 1 && consoles[0].starts_with("hvc0 "),
        "the one kernel console is hvc0: {consoles:?}\n{all}"
    );
    assert!(out.contains("FV-SUM-42"), "stdin reached the shell:\n{all}");
    assert!(out.contains("FV-GUEST-SHUTDOWN"), "clean shutdown:\n{all}");
}

/// `--console virtio,file=PATH`: the test-mode markers go through hvc0 into
/// the file, nothing of the guest's on stdout.
#[test]
fn boot_markers_through_hvc0_into_a_file() {
    let test = "boot_markers_through_hvc0_into_a_file";
    if !guest_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("console.log");
    let console = format!("virtio,file={}", log.display());
    let (code, out, err) = run_with_timeout(
        &[
            "run",
            "--console",
            &console,
            "--append",
            "console=hvc0 fv.test=boot",
        ],
        None,
        LIMIT,
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let all = format!("file:\n{text}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(0), "the guest powers off:\n{all}");
    for needle in [
        "FV-GUEST-MODULES-LOADED",
        "FV-GUEST-READY",
        "FV-UNAME-M=riscv64",
        "FV-NPROC=1",
        "FV-GUEST-POWEROFF",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{all}");
    }
    assert!(!out.contains("FV-GUEST"), "guest output on stdout:\n{all}");
}

/// `od -An -tx1` of 64 bytes, as one hex string, from the line after
/// `marker` (the echoed command has no hex after it).
fn hex_after(out: &str, marker: &str) -> Option<String> {
    out.match_indices(marker).find_map(|(i, _)| {
        let hex: String = out[i + marker.len()..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == ' ')
            .filter(|c| *c != ' ')
            .collect();
        (hex.len() == 128).then_some(hex)
    })
}

/// virtio-rng is the guest's hardware RNG and returns fresh bytes.
#[test]
fn hwrng_is_virtio_rng() {
    let test = "hwrng_is_virtio_rng";
    if !guest_available(test) {
        return;
    }
    let script = "\
sed 's/^/FV-RNG-CURRENT=/' /sys/class/misc/hw_random/rng_current
echo FV-RNG-A=$(head -c 64 /dev/hwrng | od -An -tx1)
echo FV-RNG-B=$(head -c 64 /dev/hwrng | od -An -tx1)
poweroff
";
    let (code, out, err) = run_with_timeout(
        &["run", "--append", "console=ttyS0 fv.modules=1"],
        Some(script.as_bytes().to_vec()),
        LIMIT,
    );
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(0), "poweroff must exit 0:\n{all}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FV-RNG-CURRENT=virtio_rng")),
        "rng_current:\n{all}"
    );
    let a = hex_after(&out, "FV-RNG-A=").unwrap_or_else(|| panic!("64 bytes:\n{all}"));
    let b = hex_after(&out, "FV-RNG-B=").unwrap_or_else(|| panic!("64 bytes:\n{all}"));
    assert_ne!(a, b, "two reads gave the same bytes");
    assert!(
        a.as_bytes().chunks(2).any(|x| x != &a.as_bytes()[..2]),
        "64 equal bytes: {a}"
    );
}

/// Output of the pty master, collected by a thread.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    /// Waits until the text after byte `from` contains `needle`; returns
    /// the end of the match.
    fn wait_for(&self, needle: &str, from: usize, limit: Duration) -> usize {
        let start = Instant::now();
        loop {
            let text = self.text();
            if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                return from + i + needle.len();
            }
            assert!(
                start.elapsed() < limit,
                "no {needle:?} on the terminal:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// On a terminal: raw mode, the guest sees the terminal's size
/// (VIRTIO_CONSOLE_F_SIZE), keys reach the guest's shell, Ctrl-C interrupts
/// the guest's foreground job (hvc0 is the shell's controlling tty), and
/// `Ctrl-A x` quits with status 0 and restores the terminal.
#[test]
fn terminal_keys_ctrl_c_and_escape_on_hvc0() {
    let test = "terminal_keys_ctrl_c_and_escape_on_hvc0";
    if !guest_available(test) {
        return;
    }
    let size = Winsize {
        ws_row: 37,
        ws_col: 111,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).unwrap();
    let before = tcgetattr(pty.slave.as_fd()).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fv"))
        .args(["run", "--console", "virtio"])
        .env("FV_LOG", "warn")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let screen = Screen::default();
    let mut reader = master.try_clone().unwrap();
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.0.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });

    let at = screen.wait_for("root@ferrovisor", 0, LIMIT);
    let raw = tcgetattr(slave.as_fd()).unwrap();
    assert!(!raw.local_flags.contains(LocalFlags::ICANON), "raw mode");
    master.write_all(b"echo FV-SIZE=$(stty size)\r").unwrap();
    let at = screen.wait_for("FV-SIZE=37 111", at, LIMIT);
    // A foreground job that says when it runs.
    master
        .write_all(b"sh -c 'echo FV-SLEEP-$((3+4)); exec sleep 600'\r")
        .unwrap();
    let at = screen.wait_for("FV-SLEEP-7", at, LIMIT);
    // Ctrl-C goes to the guest (not to fv) and ends the foreground sleep.
    master.write_all(b"\x03").unwrap();
    let at = screen.wait_for("root@ferrovisor", at, LIMIT);
    master.write_all(b"echo FV-AFTER-$((2+3))\r").unwrap();
    screen.wait_for("FV-AFTER-5", at, LIMIT);
    assert!(child.try_wait().unwrap().is_none(), "fv still running");

    master.write_all(b"\x01x").unwrap();
    let status = support::wait_exit(&mut child, Duration::from_secs(60), || {
        format!("fv did not quit on Ctrl-A x:\n{}", screen.text())
    });
    assert_eq!(status.code(), Some(0));
    let after = tcgetattr(slave.as_fd()).unwrap();
    assert_eq!(after.local_flags, before.local_flags, "terminal restored");
    assert_eq!(after.input_flags, before.input_flags);
}
