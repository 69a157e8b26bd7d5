//! CSR access rules (privileged spec 2.1-2.3 and the per-CSR sections):
//! privilege and read-only checks, WARL fields, counter enables.

use crate::csr::{self, status, MENVCFG_STCE};
use crate::hart::{Hart, PRV_M, PRV_S, PRV_U};
use crate::mmu;
use crate::trap::irq;

/// The CSR access is illegal (raise an illegal-instruction exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalCsr;

type R<T> = Result<T, IllegalCsr>;

impl Hart {
    /// Checks that the current privilege may access `addr` (and write it if
    /// `write`), per the CSR address convention: bits 9:8 are the lowest
    /// privilege, bits 11:10 == 0b11 means read-only.
    fn csr_check(&self, addr: u16, write: bool) -> R<()> {
        let min_prv = ((addr >> 8) & 3) as u8;
        if self.prv < min_prv {
            return Err(IllegalCsr);
        }
        if write && (addr >> 10) & 3 == 3 {
            return Err(IllegalCsr);
        }
        Ok(())
    }

    fn fs_enabled(&self) -> bool {
        self.mstatus & status::FS != 0
    }

    pub(crate) fn mark_fs_dirty(&mut self) {
        self.mstatus |= status::FS | status::SD;
    }

    /// Counter CSRs from S/U are gated by mcounteren/scounteren.
    fn counter_allowed(&self, index: u16) -> bool {
        let bit = 1u64 << index;
        match self.prv {
            PRV_M => true,
            PRV_S => self.mcounteren & bit != 0,
            _ => self.mcounteren & bit != 0 && self.scounteren & bit != 0,
        }
    }

    fn sstatus(&self) -> u64 {
        let s = self.mstatus & status::S_VISIBLE;
        if s & status::FS == status::FS {
            s | status::SD
        } else {
            s & !status::SD
        }
    }

    fn read_mstatus(&self) -> u64 {
        let s = self.mstatus & !status::SD;
        if s & status::FS == status::FS {
            s | status::SD
        } else {
            s
        }
    }

    /// Reads CSR `addr` (with the access checks).
    pub(crate) fn csr_read(&mut self, addr: u16) -> R<u64> {
        self.csr_check(addr, false)?;
        Ok(match addr {
            csr::FFLAGS | csr::FRM | csr::FCSR => {
                if !self.fs_enabled() {
                    return Err(IllegalCsr);
                }
                match addr {
                    csr::FFLAGS => self.fp.fflags as u64 & 0x1f,
                    csr::FRM => self.fp.frm as u64 & 7,
                    _ => ((self.fp.frm as u64 & 7) << 5) | (self.fp.fflags as u64 & 0x1f),
                }
            }
            csr::CYCLE..=csr::HPMCOUNTER31 => {
                let idx = addr - csr::CYCLE;
                if !self.counter_allowed(idx) {
                    return Err(IllegalCsr);
                }
                match addr {
                    csr::CYCLE | csr::INSTRET => self.instret,
                    csr::TIME => self.plat.clock.ticks(),
                    _ => 0,
                }
            }
            csr::SSTATUS => self.sstatus(),
            csr::SIE => self.mie & self.mideleg,
            csr::STVEC => self.stvec,
            csr::SCOUNTEREN => self.scounteren,
            csr::SENVCFG => self.senvcfg,
            csr::SSCRATCH => self.sscratch,
            csr::SEPC => self.sepc,
            csr::SCAUSE => self.scause,
            csr::STVAL => self.stval,
            csr::SIP => {
                self.refresh_timer_bits();
                self.mip() & self.mideleg
            }
            csr::STIMECMP => {
                if !self.stimecmp_allowed() {
                    return Err(IllegalCsr);
                }
                self.stimecmp
            }
            csr::SATP => {
                if self.prv == PRV_S && self.mstatus & status::TVM != 0 {
                    return Err(IllegalCsr);
                }
                self.satp
            }
            csr::MVENDORID | csr::MARCHID | csr::MIMPID | csr::MCONFIGPTR => 0,
            csr::MHARTID => self.id as u64,
            csr::MSTATUS => self.read_mstatus(),
            csr::MISA => self.misa,
            csr::MEDELEG => self.medeleg,
            csr::MIDELEG => self.mideleg,
            csr::MIE => self.mie,
            csr::MTVEC => self.mtvec,
            csr::MCOUNTEREN => self.mcounteren,
            csr::MENVCFG => self.menvcfg,
            csr::MCOUNTINHIBIT => 0,
            csr::MHPMEVENT3..=csr::MHPMEVENT31 => 0,
            csr::MSCRATCH => self.mscratch,
            csr::MEPC => self.mepc,
            csr::MCAUSE => self.mcause,
            csr::MTVAL => self.mtval,
            csr::MIP => {
                self.refresh_timer_bits();
                self.mip()
            }
            // No PMP entries are implemented: all read as zero (WARL).
            csr::PMPCFG0..=csr::PMPCFG15 | csr::PMPADDR0..=csr::PMPADDR63 => 0,
            csr::MCYCLE | csr::MINSTRET => self.instret,
            csr::MHPMCOUNTER3..=csr::MHPMCOUNTER31 => 0,
            _ => return Err(IllegalCsr),
        })
    }

    fn stimecmp_allowed(&self) -> bool {
        self.plat.isa.sstc
            && match self.prv {
                PRV_M => true,
                PRV_S => self.menvcfg & MENVCFG_STCE != 0 && self.mcounteren & 2 != 0,
                _ => false,
            }
    }

    /// Writes CSR `addr` (with the access checks).
    pub(crate) fn csr_write(&mut self, addr: u16, v: u64) -> R<()> {
        self.csr_check(addr, true)?;
        match addr {
            csr::FFLAGS | csr::FRM | csr::FCSR => {
                if !self.fs_enabled() {
                    return Err(IllegalCsr);
                }
                match addr {
                    csr::FFLAGS => self.fp.fflags = (v & 0x1f) as u32,
                    csr::FRM => self.fp.frm = (v & 7) as u32,
                    _ => {
                        self.fp.fflags = (v & 0x1f) as u32;
                        self.fp.frm = ((v >> 5) & 7) as u32;
                    }
                }
                self.mark_fs_dirty();
            }
            csr::SSTATUS => {
                let m = status::S_WRITABLE;
                self.write_mstatus((self.mstatus & !m) | (v & m));
            }
            csr::SIE => {
                self.mie = (self.mie & !self.mideleg) | (v & self.mideleg);
                self.end_batch = true;
            }
            csr::STVEC => self.stvec = legal_tvec(v),
            csr::SCOUNTEREN => self.scounteren = v & 0xffff_ffff,
            csr::SENVCFG => self.senvcfg = 0,
            csr::SSCRATCH => self.sscratch = v,
            csr::SEPC => self.sepc = v & !1,
            csr::SCAUSE => self.scause = v,
            csr::STVAL => self.stval = v,
            csr::SIP => {
                // Only SSIP is writable through sip (privileged spec 4.1.3).
                let m = self.mideleg & (1 << irq::SSI);
                self.write_mip_bits(m, v);
            }
            csr::STIMECMP => {
                if !self.stimecmp_allowed() {
                    return Err(IllegalCsr);
                }
                self.stimecmp = v;
                self.end_batch = true;
                self.refresh_timer_now();
            }
            csr::SATP => {
                if self.prv == PRV_S && self.mstatus & status::TVM != 0 {
                    return Err(IllegalCsr);
                }
                let mode = v >> 60;
                let ok = mode == mmu::SATP_BARE
                    || (mmu::SATP_SV39..=self.plat.isa.max_satp_mode).contains(&mode);
                // An unsupported MODE makes the whole write have no effect
                // (4.1.11). ASIDLEN is 0: the ASID field reads as zero.
                if ok {
                    self.satp = v & ((0xf << 60) | ((1 << 44) - 1));
                    self.tlb.flush();
                }
            }
            csr::MSTATUS => {
                self.write_mstatus((self.mstatus & !status::M_WRITABLE) | (v & status::M_WRITABLE))
            }
            csr::MISA => {} // WARL: fixed
            csr::MEDELEG => {
                // ecall from M cannot be delegated.
                self.medeleg = v & 0xb3ff;
            }
            csr::MIDELEG => {
                self.mideleg = v & irq::S_MASK;
                self.end_batch = true;
            }
            csr::MIE => {
                self.mie = v & irq::ALL_MASK;
                self.end_batch = true;
            }
            csr::MTVEC => self.mtvec = legal_tvec(v),
            csr::MCOUNTEREN => self.mcounteren = v & 0xffff_ffff,
            csr::MENVCFG => {
                let stce = if self.plat.isa.sstc { MENVCFG_STCE } else { 0 };
                self.menvcfg = v & stce;
                self.end_batch = true;
            }
            csr::MCOUNTINHIBIT | csr::MHPMEVENT3..=csr::MHPMEVENT31 => {}
            csr::MSCRATCH => self.mscratch = v,
            csr::MEPC => self.mepc = v & !1,
            csr::MCAUSE => self.mcause = v,
            csr::MTVAL => self.mtval = v,
            csr::MIP => {
                // SSIP, STIP (without Sstc) and SEIP are writable from M.
                let mut m = (1 << irq::SSI) | (1 << irq::SEI);
                if self.menvcfg & MENVCFG_STCE == 0 {
                    m |= 1 << irq::STI;
                }
                self.write_mip_bits(m, v);
            }
            csr::PMPCFG0..=csr::PMPCFG15 | csr::PMPADDR0..=csr::PMPADDR63 => {}
            csr::MCYCLE | csr::MINSTRET => self.instret = v,
            csr::MHPMCOUNTER3..=csr::MHPMCOUNTER31 => {}
            _ => return Err(IllegalCsr),
        }
        Ok(())
    }

    /// Writes the `mip` bits in `mask` from `v`.
    fn write_mip_bits(&mut self, mask: u64, v: u64) {
        if mask & (1 << irq::SSI) != 0 {
            // SSIP lives with the other lines so SBI IPIs from other harts
            // and the guest's own writes meet in one place.
            self.shared.irq.set(1 << irq::SSI, v & (1 << irq::SSI) != 0);
        }
        let local = mask & ((1 << irq::STI) | (1 << irq::SEI));
        self.mip_local = (self.mip_local & !local) | (v & local);
        self.end_batch = true;
    }

    fn write_mstatus(&mut self, new: u64) {
        let mut new = new;
        // MPP is WARL: only U, S, M.
        if (new & status::MPP) >> status::MPP_SHIFT == 2 {
            new = (new & !status::MPP) | (self.mstatus & status::MPP);
        }
        let flush_bits = status::MPRV | status::MPP | status::SUM | status::MXR;
        if (new ^ self.mstatus) & flush_bits != 0 {
            self.tlb.flush();
        }
        self.mstatus = (new & !status::SD) | status::XLEN_FIELDS;
        self.end_batch = true;
    }

    pub(crate) fn refresh_timer_now(&mut self) {
        let now = self.plat.clock.ticks();
        let sstc = self.menvcfg & MENVCFG_STCE != 0;
        let sti = (sstc && now >= self.stimecmp) || now >= self.sbi_timer;
        if sti {
            self.timer_bits |= 1 << irq::STI;
        } else {
            self.timer_bits &= !(1 << irq::STI);
        }
    }

    /// Is the current privilege allowed to use `sfence.vma` / `satp`?
    pub(crate) fn tvm_trapped(&self) -> bool {
        self.prv == PRV_U || (self.prv == PRV_S && self.mstatus & status::TVM != 0)
    }
}

/// `xtvec` MODE is WARL: only direct (0) and vectored (1).
fn legal_tvec(v: u64) -> u64 {
    if v & 3 >= 2 {
        v & !3
    } else {
        v
    }
}
