//! Compiles the vendored subset of Berkeley SoftFloat 3e (RISC-V
//! specialization) and the one-function glue in `softfloat/fv_glue.c`.
//! All build options live in `softfloat/platform.h`.

use std::path::Path;

fn main() {
    let root = Path::new("softfloat");
    let mut sources = Vec::new();
    for dir in ["source", "RISCV"] {
        let entries = std::fs::read_dir(root.join(dir)).expect("vendored SoftFloat sources");
        for entry in entries {
            let path = entry.expect("vendored SoftFloat sources").path();
            if path.extension().is_some_and(|e| e == "c") {
                sources.push(path);
            }
        }
    }
    sources.push(root.join("fv_glue.c"));
    sources.sort();
    println!("cargo:rerun-if-changed=softfloat");

    cc::Build::new()
        .files(&sources)
        .include(root)
        .include(root.join("include"))
        .include(root.join("RISCV"))
        .flag_if_supported("-std=gnu11")
        // Always optimise: this runs in the interpreter's hot loop, and the
        // debug profile would otherwise build it at -O0.
        .opt_level(2)
        .warnings(false)
        .compile("fv_softfloat");
}
