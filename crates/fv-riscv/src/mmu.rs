//! Address translation: the Sv39/Sv48/Sv57 page-table walker with hardware
//! A/D updates (privileged spec 4.3-4.6) and the software TLB that caches
//! guest-virtual page -> guest-RAM offset for pages inside RAM only.

use std::sync::atomic::Ordering;

use crate::csr::status;
use crate::hart::{Hart, PRV_M, PRV_S, PRV_U};
use crate::trap::{cause, Trap};

/// The kind of access being translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Data load (also LR).
    Read = 0,
    /// Data store (also SC, AMO).
    Write = 1,
    /// Instruction fetch.
    Exec = 2,
}

impl Access {
    fn page_fault(self, vaddr: u64) -> Trap {
        let c = match self {
            Access::Read => cause::LOAD_PAGE_FAULT,
            Access::Write => cause::STORE_PAGE_FAULT,
            Access::Exec => cause::INSN_PAGE_FAULT,
        };
        Trap::new(c, vaddr)
    }
    /// The access-fault trap for this kind of access.
    pub fn access_fault(self, vaddr: u64) -> Trap {
        let c = match self {
            Access::Read => cause::LOAD_ACCESS,
            Access::Write => cause::STORE_ACCESS,
            Access::Exec => cause::INSN_ACCESS,
        };
        Trap::new(c, vaddr)
    }
}

/// `satp.MODE` values (privileged spec 4.1.11).
pub const SATP_BARE: u64 = 0;
pub const SATP_SV39: u64 = 8;
pub const SATP_SV48: u64 = 9;
pub const SATP_SV57: u64 = 10;

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
/// Bits 63:54: reserved (Svpbmt, Svnapot are not implemented) and must be 0.
const PTE_RESERVED: u64 = 0x3ff << 54;
const PPN_MASK: u64 = (1 << 44) - 1;

pub(crate) const TLB_SIZE: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(crate) struct TlbEntry {
    /// Virtual page number, or `u64::MAX` when empty.
    pub tag: u64,
    /// RAM offset of the page minus its virtual address (wrapping).
    pub addend: u64,
}

const EMPTY: TlbEntry = TlbEntry {
    tag: u64::MAX,
    addend: 0,
};

/// Per privilege level (U, S, M) and access kind: a direct-mapped TLB.
pub(crate) struct Tlb {
    pub sets: [[[TlbEntry; TLB_SIZE]; 3]; 3],
}

impl Tlb {
    pub fn new() -> Box<Self> {
        Box::new(Self {
            sets: [[[EMPTY; TLB_SIZE]; 3]; 3],
        })
    }
    pub fn flush(&mut self) {
        for p in self.sets.iter_mut() {
            for k in p.iter_mut() {
                k.fill(EMPTY);
            }
        }
    }
}

/// Index of a privilege level in the TLB sets.
#[inline]
pub(crate) fn prv_index(prv: u8) -> usize {
    match prv {
        PRV_U => 0,
        PRV_S => 1,
        _ => 2,
    }
}

impl Hart {
    /// The privilege level data accesses use (MPRV, privileged spec 3.1.6.3).
    #[inline]
    pub(crate) fn data_prv(&self) -> u8 {
        if self.prv == PRV_M && self.mstatus & status::MPRV != 0 {
            ((self.mstatus & status::MPP) >> status::MPP_SHIFT) as u8
        } else {
            self.prv
        }
    }

    /// Translates `vaddr` for `access` at privilege `prv`, returning the
    /// guest-physical address.
    pub(crate) fn translate(&mut self, vaddr: u64, access: Access, prv: u8) -> Result<u64, Trap> {
        let mode = self.satp >> 60;
        if prv == PRV_M || mode == SATP_BARE {
            return Ok(vaddr);
        }
        let levels: u32 = match mode {
            SATP_SV39 => 3,
            SATP_SV48 => 4,
            _ => 5,
        };
        let va_bits = 12 + 9 * levels;
        // The upper bits must be a sign extension of the top VA bit.
        let top = (vaddr as i64) >> (va_bits - 1);
        if top != 0 && top != -1 {
            return Err(access.page_fault(vaddr));
        }
        let ram = &self.plat.ram;
        'walk: loop {
            let mut table = (self.satp & PPN_MASK) << 12;
            let mut level = levels;
            while level > 0 {
                level -= 1;
                let vpn = (vaddr >> (12 + 9 * level)) & 0x1ff;
                let pte_addr = table + vpn * 8;
                let atomic = ram
                    .offset_of(pte_addr, 8)
                    .and_then(|off| ram.atomic_u64(off))
                    .ok_or(access.access_fault(vaddr))?;
                let pte = atomic.load(Ordering::Acquire);
                if pte & PTE_V == 0
                    || (pte & PTE_R == 0 && pte & PTE_W != 0)
                    || pte & PTE_RESERVED != 0
                {
                    return Err(access.page_fault(vaddr));
                }
                if pte & (PTE_R | PTE_X) == 0 {
                    // Pointer to the next level (A/D/U must be 0 on non-leaves).
                    if pte & (PTE_A | PTE_D | PTE_U) != 0 {
                        return Err(access.page_fault(vaddr));
                    }
                    table = ((pte >> 10) & PPN_MASK) << 12;
                    continue;
                }
                // Leaf: permission checks (4.3.2 step 5).
                let ok = match access {
                    Access::Exec => pte & PTE_X != 0,
                    Access::Read => {
                        pte & PTE_R != 0 || (self.mstatus & status::MXR != 0 && pte & PTE_X != 0)
                    }
                    Access::Write => pte & PTE_W != 0,
                };
                if !ok {
                    return Err(access.page_fault(vaddr));
                }
                if prv == PRV_U {
                    if pte & PTE_U == 0 {
                        return Err(access.page_fault(vaddr));
                    }
                } else if pte & PTE_U != 0
                    && (access == Access::Exec || self.mstatus & status::SUM == 0)
                {
                    return Err(access.page_fault(vaddr));
                }
                let ppn = (pte >> 10) & PPN_MASK;
                // Misaligned superpage.
                let low_mask = (1u64 << (9 * level)) - 1;
                if ppn & low_mask != 0 {
                    return Err(access.page_fault(vaddr));
                }
                // Hardware A/D update (Svadu behaviour, as QEMU does).
                let want = PTE_A | if access == Access::Write { PTE_D } else { 0 };
                if pte & want != want
                    && atomic
                        .compare_exchange(pte, pte | want, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                {
                    // Another hart changed the PTE: walk again.
                    continue 'walk;
                }
                let page_mask = (1u64 << (12 + 9 * level)) - 1;
                return Ok((ppn << 12 & !page_mask) | (vaddr & page_mask));
            }
            return Err(access.page_fault(vaddr));
        }
    }

    /// Translates and, if the page is RAM, caches it in the TLB. Returns the
    /// guest-physical address.
    pub(crate) fn translate_fill(
        &mut self,
        vaddr: u64,
        access: Access,
        prv: u8,
    ) -> Result<u64, Trap> {
        let paddr = self.translate(vaddr, access, prv)?;
        let page = paddr & !0xfff;
        if let Some(off) = self.plat.ram.offset_of(page, 0x1000) {
            if access == Access::Write {
                self.plat.ram.mark_dirty(off, 0x1000);
            }
            let vpn = vaddr >> 12;
            let e = &mut self.tlb.sets[prv_index(prv)][access as usize][(vpn as usize) % TLB_SIZE];
            e.tag = vpn;
            e.addend = off.wrapping_sub(vaddr & !0xfff);
        }
        Ok(paddr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TestMachine;

    const ROOT: u64 = 0x8010_0000;

    fn pte(pa: u64, flags: u64) -> u64 {
        ((pa >> 12) << 10) | flags
    }

    #[test]
    fn sv39_walk_sets_access_and_dirty_and_faults() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.prv = PRV_S;
        h.satp = (SATP_SV39 << 60) | (ROOT >> 12);
        let l1 = ROOT + 0x1000;
        let l0 = ROOT + 0x2000;
        // VA 0x4000_1000 -> PA 0x8020_0000, R/W, not yet accessed.
        m.write64(ROOT + 8, pte(l1, PTE_V));
        m.write64(l1, pte(l0, PTE_V));
        m.write64(l0 + 8, pte(0x8020_0000, PTE_V | PTE_R | PTE_W));
        let va = 0x4000_1234;
        assert_eq!(h.translate(va, Access::Read, PRV_S), Ok(0x8020_0234));
        assert_eq!(m.read64(l0 + 8) & (PTE_A | PTE_D), PTE_A);
        assert_eq!(h.translate(va, Access::Write, PRV_S), Ok(0x8020_0234));
        assert_eq!(m.read64(l0 + 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
        // Not executable: instruction page fault with stval = va.
        assert_eq!(
            h.translate(va, Access::Exec, PRV_S),
            Err(Trap::new(cause::INSN_PAGE_FAULT, va))
        );
        // Not a user page.
        assert_eq!(
            h.translate(va, Access::Read, PRV_U),
            Err(Trap::new(cause::LOAD_PAGE_FAULT, va))
        );
        // Unmapped.
        assert_eq!(
            h.translate(0x4000_5000, Access::Write, PRV_S),
            Err(Trap::new(cause::STORE_PAGE_FAULT, 0x4000_5000))
        );
        // Non-canonical address.
        let bad = 0x0000_0080_0000_0000;
        assert_eq!(
            h.translate(bad, Access::Read, PRV_S),
            Err(Trap::new(cause::LOAD_PAGE_FAULT, bad))
        );
    }

    #[test]
    fn sum_and_mxr() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.satp = (SATP_SV39 << 60) | (ROOT >> 12);
        // 1 GiB user gigapage at VA 0 -> PA 0x8000_0000, R only.
        m.write64(ROOT, pte(0x8000_0000, PTE_V | PTE_R | PTE_U | PTE_A));
        // Execute-only gigapage at VA 0x4000_0000.
        m.write64(ROOT + 8, pte(0x8000_0000, PTE_V | PTE_X | PTE_A));
        assert!(h.translate(0x10, Access::Read, PRV_S).is_err());
        h.mstatus |= status::SUM;
        assert_eq!(h.translate(0x10, Access::Read, PRV_S), Ok(0x8000_0010));
        // SUM never allows executing user pages from S.
        assert!(h.translate(0x10, Access::Exec, PRV_S).is_err());
        assert!(h.translate(0x4000_0010, Access::Read, PRV_S).is_err());
        h.mstatus |= status::MXR;
        assert_eq!(
            h.translate(0x4000_0010, Access::Read, PRV_S),
            Ok(0x8000_0010)
        );
    }

    #[test]
    fn misaligned_superpage_faults() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.satp = (SATP_SV39 << 60) | (ROOT >> 12);
        // A gigapage whose PPN is only 2 MiB aligned.
        m.write64(ROOT, pte(0x8020_0000, PTE_V | PTE_R | PTE_A));
        assert_eq!(
            h.translate(0x1000, Access::Read, PRV_S),
            Err(Trap::new(cause::LOAD_PAGE_FAULT, 0x1000))
        );
    }

    #[test]
    fn sv48_four_levels() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.satp = (SATP_SV48 << 60) | (ROOT >> 12);
        let l2 = ROOT + 0x1000;
        // VA 0x0000_8000_0000_0000 is non-canonical in Sv48 (bit 47 set, upper clear).
        let va = 0x0000_7f80_0020_0000u64; // vpn3 = 255, vpn2 = 0x000, 2 MiB page
        m.write64(ROOT + 8 * 255, pte(l2, PTE_V));
        let l1 = ROOT + 0x2000;
        m.write64(l2, pte(l1, PTE_V));
        m.write64(
            l1 + 8,
            pte(0x8040_0000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D),
        );
        assert_eq!(
            h.translate(va + 0x123, Access::Write, PRV_S),
            Ok(0x8040_0123)
        );
        assert!(h
            .translate(0x0000_8000_0000_0000, Access::Read, PRV_S)
            .is_err());
        // Sign-extended high half is canonical (and unmapped here).
        assert_eq!(
            h.translate(0xffff_8000_0000_0000, Access::Read, PRV_S),
            Err(Trap::new(cause::LOAD_PAGE_FAULT, 0xffff_8000_0000_0000))
        );
    }

    #[test]
    fn page_table_outside_ram_is_an_access_fault() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.satp = (SATP_SV39 << 60) | (0x1000_0000 >> 12);
        assert_eq!(
            h.translate(0x1000, Access::Write, PRV_S),
            Err(Trap::new(cause::STORE_ACCESS, 0x1000))
        );
    }
}
