//! Guest tests: the bare-metal RISC-V programs in `tests/asm/` run on the
//! whole VMM, as QEMU would run them with `-M virt -bios none -kernel`.
//!
//! Each program checks one area of the privileged architecture from inside
//! the guest and reports through the SiFive test finisher: PASS, or
//! FAIL(code) where the code names the failing check in the program (its
//! UART message says the same in words). The programs are assembled at test
//! time with the cross binutils; `tests/asm/run-qemu.sh` runs the same
//! programs under QEMU, which is the reference they were validated against.
//! Where QEMU 7.2 deviates from the specification a program checks the
//! specification (see `deviations()` in run-qemu.sh), so here every program
//! must PASS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use fv_vmm::{run_vm, BiosMode, ConsoleBuffer, ConsoleConfig, ExitReason, VmConfig};

const AS: &str = "riscv64-linux-gnu-as";
const LD: &str = "riscv64-linux-gnu-ld";
const MARCH: &str = "rv64gc_zicsr_zifencei";
/// Generous: the slowest program needs a few seconds of guest time.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Every program in `tests/asm/` and the number of harts it runs on.
const PROGRAMS: &[(&str, usize)] = &[
    ("csr", 1),
    ("traps_delegation", 1),
    ("sv39", 1),
    ("sv48", 1),
    ("timer_irq", 1),
    ("sstc", 1),
    ("counters", 1),
    ("atomics", 1),
    ("smp2", 2),
    ("fence_i", 1),
    ("float_csr", 1),
    ("hostile", 1),
];

fn asm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/asm")
}

fn tool_missing(tool: &str) -> bool {
    !Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_tool(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assembles and links `tests/asm/<name>.S` into a fresh directory under the
/// system temp dir. `None` (after printing SKIP) when the cross binutils are
/// not installed.
fn build(name: &str) -> Option<(PathBuf, PathBuf)> {
    for tool in [AS, LD] {
        if tool_missing(tool) {
            eprintln!(
                "SKIP: guest_asm::{name}: `{tool}` not found; install the \
                 binutils-riscv64-linux-gnu package to run the guest tests"
            );
            return None;
        }
    }
    let dir = asm_dir();
    let out = std::env::temp_dir().join(format!("fv-guest-asm-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&out).expect("create the build directory");
    let obj = out.join(format!("{name}.o"));
    let elf = out.join(format!("{name}.elf"));
    run_tool(
        Command::new(AS)
            .arg(format!("-march={MARCH}"))
            .arg("-I")
            .arg(&dir)
            .arg("-o")
            .arg(&obj)
            .arg(dir.join(format!("{name}.S"))),
        &format!("assembling {name}.S"),
    );
    run_tool(
        Command::new(LD)
            .arg("-nostdlib")
            .arg("-T")
            .arg(dir.join("link.ld"))
            .arg("-o")
            .arg(&elf)
            .arg(&obj),
        &format!("linking {name}"),
    );
    Some((out, elf))
}

/// Runs one program on the VMM and requires the finisher's PASS.
fn run_guest(name: &str) {
    let cpus = PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| c)
        .expect("program listed in PROGRAMS");
    let Some((dir, elf)) = build(name) else {
        return;
    };
    let console = ConsoleBuffer::default();
    let mut cfg = VmConfig::new(&elf);
    cfg.bios = BiosMode::None;
    cfg.mem_bytes = 128 << 20;
    cfg.cpus = cpus;
    cfg.console = ConsoleConfig::Buffer(console.clone());

    // The VM runs on its own thread so that a guest that never reaches the
    // finisher fails this test instead of hanging the suite.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("guest-{name}"))
        .spawn(move || {
            let _ = tx.send(run_vm(cfg));
        })
        .expect("spawn the VM thread");
    let text = || String::from_utf8_lossy(&console.contents()).into_owned();
    let exit = match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(exit)) => exit,
        Ok(Err(e)) => panic!("{name}: run_vm failed: {e}\nconsole:\n{}", text()),
        Err(RecvTimeoutError::Timeout) => {
            panic!(
                "{name}: no exit within {TIMEOUT:?}\nconsole so far:\n{}",
                text()
            )
        }
        Err(RecvTimeoutError::Disconnected) => {
            panic!("{name}: the VM thread panicked\nconsole:\n{}", text())
        }
    };
    assert_eq!(
        exit,
        ExitReason::TestPass,
        "{name}: FAIL codes name the check in tests/asm/{name}.S\nconsole:\n{}",
        text()
    );
    // Shown with --nocapture: notes such as a skipped optional extension.
    print!("{}", text());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_program_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(asm_dir())
        .expect("read tests/asm")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".S").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = PROGRAMS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "tests/asm/*.S and PROGRAMS differ");
}

/// misa/mhartid/mstatus WARL fields, mscratch, read-only and missing CSRs,
/// ecall/ebreak/illegal-instruction traps into M.
#[test]
fn csr() {
    run_guest("csr");
}

/// mret/sret to U and S, ecall causes 8/9, medeleg to S, SSIP via mideleg.
#[test]
fn traps_delegation() {
    run_guest("traps_delegation");
}

/// Sv39: translation, A/D update, page faults, SUM, MXR, sfence.vma,
/// mega/gigapages.
#[test]
fn sv39() {
    run_guest("sv39");
}

/// Sv48: the same core checks with four levels, terapages, upper half.
#[test]
fn sv48() {
    run_guest("sv48");
}

/// CLINT mtimecmp/MTIP, msip/MSIP, wfi wake-up, priority, vectored mtvec.
#[test]
fn timer_irq() {
    run_guest("timer_irq");
}

/// Sstc: stimecmp, menvcfg.STCE, mcounteren.TM (passes with a note when
/// Sstc is not offered).
#[test]
fn sstc() {
    run_guest("sstc");
}

/// cycle/time/instret, mcounteren/scounteren access control.
#[test]
fn counters() {
    run_guest("counters");
}

/// LR/SC, every AMO in .w and .d, misaligned atomics.
#[test]
fn atomics() {
    run_guest("atomics");
}

/// Two harts: msip wake-up from wfi, shared amoadd.w and LR/SC lock.
#[test]
fn smp2() {
    run_guest("smp2");
}

/// Self-modifying code made visible with fence.i.
#[test]
fn fence_i() {
    run_guest("fence_i");
}

/// fcsr/frm/fflags, mstatus.FS Off/Initial/Clean/Dirty, NaN boxing.
#[test]
fn float_csr() {
    run_guest("float_csr");
}

/// Fetches, loads, stores and an AMO to holes in the memory map and past
/// RAM (access faults), jalr to an odd address, all-zero/all-one words
/// (illegal), 1 MiB of UART output without waiting for THRE.
#[test]
fn hostile() {
    run_guest("hostile");
}
