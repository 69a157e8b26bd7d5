//! fv-riscv
