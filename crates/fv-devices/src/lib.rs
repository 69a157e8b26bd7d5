//! The platform devices of the RISC-V `virt` board, as QEMU models them:
//! the NS16550A UART, the SiFive CLINT (ACLINT MSWI + MTIMER), the SiFive
//! PLIC, the goldfish RTC and the SiFive test finisher / syscon, plus the
//! board's address and interrupt table ([`layout`]).
//!
//! Every device implements [`fv_machine::MmioDevice`] and keeps its state
//! behind its own lock; devices reach the CPUs only through
//! [`fv_machine::CpuIrq`] and [`fv_machine::IrqLine`]. This crate knows
//! nothing of the instruction engine, and virtio devices live elsewhere.

pub mod clint;
pub mod layout;
pub mod plic;
pub mod rtc;
pub mod syscon;
pub mod uart;

mod mmio;
mod timer;

#[cfg(test)]
mod testutil;

pub use clint::Clint;
pub use plic::Plic;
pub use rtc::GoldfishRtc;
pub use syscon::Syscon;
pub use uart::Uart;
