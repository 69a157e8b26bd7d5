//! Helpers shared by the CLI tests that run bare-metal guest programs.

use std::path::{Path, PathBuf};
use std::process::Command;

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
