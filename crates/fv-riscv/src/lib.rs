//! The RISC-V engine: RV64GC harts (plus Zba/Zbb/Zbs, Sstc) with M/S/U
//! privilege, the Sv39/Sv48/Sv57 MMU with a software TLB, traps and
//! interrupts, and the SBI implementation that lets S-mode kernels boot
//! without firmware. It reaches the board only through `fv-machine`: guest
//! RAM, the MMIO bus, per-hart interrupt inputs and the clock.
//!
//! The engine is an interpreter today; a translator will sit behind the
//! same `Hart::run` loop.

mod csr;
mod csr_ops;
mod exec;
mod hart;
mod icache;
mod mmu;
mod rvc;
mod sbi;
mod trap;

#[cfg(test)]
mod test_util;

pub use hart::{
    hsm, BootMode, Hart, HartShared, IsaConfig, Platform, SbiConsole, PRV_M, PRV_S, PRV_U,
};
pub use mmu::{SATP_SV39, SATP_SV48, SATP_SV57};
pub use sbi::IMPL_ID as SBI_IMPL_ID;
pub use trap::Trap;
#[cfg(test)]
mod tests_exec;
