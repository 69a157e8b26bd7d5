//! Helpers shared by the CLI tests: building bare-metal guest programs,
//! making sure the default guest is there, and running `fv` with a timeout.
//! (Each test binary uses a different subset.)
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `fv` binary under test, with warnings-only logging.
pub fn fv() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fv"));
    c.env("FV_LOG", "warn");
    c
}

/// Assembles `src` (RISC-V assembly) and links it at 0x8000_0000 into
/// `dir/name.elf`; None (after a SKIP line) without the cross binutils.
pub fn build_elf(dir: &Path, name: &str, src: &str) -> Option<PathBuf> {
    if Command::new("riscv64-linux-gnu-as")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIP: riscv64-linux-gnu-as not found (apt-get install binutils-riscv64-linux-gnu)"
        );
        return None;
    }
    let s = dir.join(format!("{name}.S"));
    let o = dir.join(format!("{name}.o"));
    let elf = dir.join(format!("{name}.elf"));
    std::fs::write(&s, src).unwrap();
    let st = Command::new("riscv64-linux-gnu-as")
        .args(["-march=rv64gc", "-o"])
        .arg(&o)
        .arg(&s)
        .status()
        .unwrap();
    assert!(st.success(), "assembling {name}");
    // -N: one segment at the text address (no ELF headers below RAM).
    let st = Command::new("riscv64-linux-gnu-ld")
        .args([
            "-nostdlib",
            "-N",
            "--no-warn-rwx-segments",
            "-Ttext=0x80000000",
            "-e",
            "_start",
            "-o",
        ])
        .arg(&elf)
        .arg(&o)
        .status()
        .unwrap();
    assert!(st.success(), "linking {name}");
    Some(elf)
}

/// Makes sure the default guest is cached; false (after printing SKIP) if
/// it cannot be fetched.
pub fn guest_available(test: &str) -> bool {
    let out = fv()
        .args(["guest", "fetch"])
        .output()
        .expect("run fv guest fetch");
    if out.status.success() {
        return true;
    }
    eprintln!(
        "SKIP {test}: the default guest is not available: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    false
}

/// Runs `fv` with `args`, feeding `input` to the console, with a timeout;
/// returns (exit code, stdout, stderr).
pub fn run_with_timeout(
    args: &[&str],
    input: Option<Vec<u8>>,
    limit: Duration,
) -> (Option<i32>, String, String) {
    let mut cmd = fv();
    cmd.args(args);
    run_command_with_timeout(cmd, input, limit)
}

/// Waits for `child` to exit within `limit`; kills it and panics with
/// `what` otherwise.
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: Duration,
    what: impl FnOnce() -> String,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait for fv") {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{}", what());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`run_with_timeout`] for any command that runs `fv` (e.g. through
/// `ip netns exec`).
pub fn run_command_with_timeout(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    limit: Duration,
) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fv");
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        let _ = tx.send(s);
    });
    let (etx, erx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        let _ = etx.send(s);
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    let err = erx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&out).into_owned();
    let err = String::from_utf8_lossy(&err).into_owned();
    if status.is_none() {
        panic!("fv did not finish within {limit:?}\nstdout:\n{text}\nstderr:\n{err}");
    }
    (status.and_then(|s| s.code()), text, err)
}
