//! The console on a terminal: raw mode while the VM runs (guest input is
//! not line-buffered by the host), `Ctrl-A x` quits with status 0, and the
//! terminal settings are restored on exit.

mod support;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::pty::openpty;
use nix::sys::termios::{tcgetattr, LocalFlags};

#[test]
fn ctrl_a_x_quits_and_restores_the_terminal() {
    let d = tempfile::tempdir().unwrap();
    // A guest that echoes UART input back forever: prove raw input reaches it.
    let src = r#"
.globl _start
_start:
  li t0, 0x10000000
1: lbu t1, 5(t0)        # LSR
  andi t1, t1, 1        # data ready?
  beqz t1, 1b
  lbu t2, 0(t0)         # RBR
  sb t2, 0(t0)          # THR
  j 1b
"#;
    let Some(elf) = support::build_elf(d.path(), "echo", src) else {
        return;
    };

    let pty = openpty(None, None).unwrap();
    let before = tcgetattr(pty.slave.as_fd()).unwrap();
    assert!(before.local_flags.contains(LocalFlags::ICANON));
    let slave = std::fs::File::from(pty.slave);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fv"))
        .args(["run", "--bios", "none", "--mem", "64M", "--kernel"])
        .arg(&elf)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);

    // Wait until fv has put the terminal in raw mode.
    let start = Instant::now();
    loop {
        let t = tcgetattr(slave.as_fd()).unwrap();
        if !t.local_flags.contains(LocalFlags::ICANON) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "terminal never went raw"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // In raw mode a single key (no newline) reaches the guest, which echoes it.
    master.write_all(b"q").unwrap();
    let mut buf = [0u8; 64];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(&b'q') {
        assert!(
            Instant::now() < deadline,
            "guest never echoed the key: {seen:?}"
        );
        // The master read blocks until output arrives; the guest echoes.
        let n = master.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    // Ctrl-A x quits.
    master.write_all(b"\x01x").unwrap();
    let status = support::wait_exit(&mut child, Duration::from_secs(20), || {
        "fv did not quit on Ctrl-A x".to_string()
    });
    assert_eq!(status.code(), Some(0));
    let after = tcgetattr(slave.as_fd()).unwrap();
    assert!(
        after.local_flags.contains(LocalFlags::ICANON),
        "terminal left in raw mode"
    );
    assert_eq!(after.local_flags, before.local_flags);
    assert_eq!(after.input_flags, before.input_flags);
}
