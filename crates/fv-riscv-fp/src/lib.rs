//! fv-riscv-fp (placeholder; see docs/architecture.md).
