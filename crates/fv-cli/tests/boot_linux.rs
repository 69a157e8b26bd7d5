//! System tests: boot the default guest (Debian riscv64 kernel + busybox
//! initramfs) on our engine through the `fv` binary and check what the guest
//! prints and the exit status.
//!
//! The guest comes from `fv guest fetch` (`.ci/run` fetches it first). If it
//! cannot be had (no mirror reachable), each test prints a SKIP line with
//! the reason instead of passing silently.

mod support;

use std::time::Duration;

use support::{guest_available, run_with_timeout};

const LIMIT: Duration = Duration::from_secs(600);

fn boot_and_check(cpus: usize) {
    let name = format!("boot_default_guest_{cpus}_harts");
    if !guest_available(&name) {
        return;
    }
    let cpus_s = cpus.to_string();
    let (code, out, _) = run_with_timeout(
        &[
            "run",
            "--cpus",
            &cpus_s,
            "--append",
            "console=ttyS0 fv.test=boot",
        ],
        None,
        LIMIT,
    );
    assert_eq!(code, Some(0), "guest did not power off cleanly:\n{out}");
    let ready = out
        .find("FV-GUEST-READY")
        .unwrap_or_else(|| panic!("no marker:\n{out}"));
    let after = &out[ready..];
    assert!(after.contains("FV-UNAME-M=riscv64"), "uname -m:\n{out}");
    assert!(after.contains(&format!("FV-NPROC={cpus}")), "nproc:\n{out}");
    assert!(
        after.contains("FV-GUEST-POWEROFF"),
        "poweroff marker:\n{out}"
    );
}

#[test]
fn boot_default_guest_one_hart() {
    boot_and_check(1);
}

#[test]
fn boot_default_guest_two_harts() {
    boot_and_check(2);
}

/// The default guest's interactive shell reads the console as a stream when
/// stdin is not a TTY: commands piped in run, and `poweroff` exits 0.
#[test]
fn piped_console_commands_and_poweroff() {
    if !guest_available("piped_console_commands_and_poweroff") {
        return;
    }
    // ping reads the clock with rdtime in user mode: that needs Linux's SBI
    // PMU driver to open `time` to user mode (scounteren.TM).
    let script = b"echo FV-PIPE-$((6*7))\nuname -m\nip link set lo up\n\
                   ping -c1 -W5 127.0.0.1 && echo FV-PING-OK\npoweroff\n"
        .to_vec();
    let (code, out, _) = run_with_timeout(&["run"], Some(script), LIMIT);
    assert_eq!(code, Some(0), "poweroff from the shell must exit 0:\n{out}");
    assert!(
        out.contains("FV-PIPE-42"),
        "the shell ran the piped command:\n{out}"
    );
    assert!(
        out.contains("FV-PING-OK") && !out.contains("Illegal instruction"),
        "a user program reading the clock (ping) works:\n{out}"
    );
}
