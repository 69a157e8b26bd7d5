//! `fv run --bios none`: bare-metal programs and the `virt` test finisher
//! decide the exit status, as with QEMU's `-bios none`.

mod support;

use std::path::Path;
use std::process::Command;

use support::build_elf as build;

/// A program that writes `value` to the test finisher at 0x100000.
fn finisher(value: u32) -> String {
    format!(
        ".globl _start\n_start:\n  li t0, 0x100000\n  li t1, {value}\n  sw t1, 0(t0)\n1: j 1b\n"
    )
}

fn fv_run(elf: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fv"))
        .args([
            "run",
            "--bios",
            "none",
            "--mem",
            "64M",
            "--console",
            "none",
            "--kernel",
        ])
        .arg(elf)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn finisher_pass_fail_and_reboot_set_the_exit_status() {
    let d = tempfile::tempdir().unwrap();
    let Some(pass) = build(d.path(), "pass", &finisher(0x5555)) else {
        return;
    };
    let fail7 = build(d.path(), "fail7", &finisher(0x3333 | (7 << 16))).unwrap();
    let reboot = build(d.path(), "reboot", &finisher(0x7777)).unwrap();
    assert_eq!(fv_run(&pass, &[]).0, Some(0));
    assert_eq!(fv_run(&fail7, &[]).0, Some(7));
    assert_eq!(fv_run(&reboot, &[]).0, Some(3));
}

#[test]
fn uart_output_reaches_the_console() {
    let d = tempfile::tempdir().unwrap();
    let src = r#"
.globl _start
_start:
  li t0, 0x10000000
  la t1, msg
1: lbu t2, 0(t1)
  beqz t2, 2f
  sb t2, 0(t0)
  addi t1, t1, 1
  j 1b
2: li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
3: j 3b
msg: .asciz "hello from bare metal\n"
"#;
    let Some(elf) = build(d.path(), "hello", src) else {
        return;
    };
    let log = d.path().join("console.log");
    let out = Command::new(env!("CARGO_BIN_EXE_fv"))
        .args(["run", "--bios", "none", "--mem", "64M", "--kernel"])
        .arg(&elf)
        .arg("--console")
        .arg(format!("file={}", log.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text, "hello from bare metal\n");
}

#[test]
fn elf_for_another_machine_is_refused() {
    let d = tempfile::tempdir().unwrap();
    // The host's own /bin/true is an ELF, but not RISC-V (on x86-64/arm64 hosts).
    let (code, err) = fv_run(Path::new("/bin/true"), &[]);
    let _ = d;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/bin/true") && err.contains("RISC-V"), "{err}");
}
