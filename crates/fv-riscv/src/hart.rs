//! One RISC-V hart: architectural state, the run loop, interrupts and trap
//! entry. Instruction semantics live in `exec`, CSRs in `csr_ops`, address
//! translation in `mmu`, hypercalls in `sbi`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fv_machine::{CpuIrq, ExitReason, GuestClock, GuestRam, MmioBus, VmControl};
use fv_riscv_fp::FpState;

use crate::csr::{status, MENVCFG_STCE};
use crate::mmu::{Access, Tlb};
use crate::trap::{cause, irq, Trap};

pub const PRV_U: u8 = 0;
pub const PRV_S: u8 = 1;
pub const PRV_M: u8 = 3;

/// How the guest is booted, which decides who answers `ecall` from S-mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    /// No firmware: the hypervisor answers SBI calls itself; harts start in
    /// S-mode (hart 0 at the kernel, others stopped until HSM starts them).
    Sbi,
    /// Bare metal (`-bios none`): every hart starts in M-mode at the entry.
    BareMetal,
}

/// The ISA options a machine offers (and advertises in its device tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsaConfig {
    /// Sstc: `stimecmp` and `menvcfg.STCE`.
    pub sstc: bool,
    /// Zba, Zbb, Zbs.
    pub bitmanip: bool,
    /// Largest `satp` mode accepted: 8 (Sv39), 9 (Sv48) or 10 (Sv57).
    pub max_satp_mode: u64,
}

impl Default for IsaConfig {
    fn default() -> Self {
        Self {
            sstc: true,
            bitmanip: true,
            max_satp_mode: crate::mmu::SATP_SV48,
        }
    }
}

impl IsaConfig {
    /// The `riscv,isa` string for the device tree.
    pub fn isa_string(&self) -> String {
        let mut s = String::from("rv64imafdc_zicntr_zicsr_zifencei_zihintpause");
        if self.bitmanip {
            s.push_str("_zba_zbb_zbs");
        }
        if self.sstc {
            s.push_str("_sstc");
        }
        s
    }
    /// The `riscv,isa-extensions` list for the device tree.
    pub fn isa_extensions(&self) -> Vec<&'static str> {
        let mut v = vec![
            "i",
            "m",
            "a",
            "f",
            "d",
            "c",
            "zicntr",
            "zicsr",
            "zifencei",
            "zihintpause",
        ];
        if self.bitmanip {
            v.extend(["zba", "zbb", "zbs"]);
        }
        if self.sstc {
            v.push("sstc");
        }
        v
    }
    /// The `mmu-type` for the device tree.
    pub fn mmu_type(&self) -> &'static str {
        match self.max_satp_mode {
            crate::mmu::SATP_SV39 => "riscv,sv39",
            crate::mmu::SATP_SV48 => "riscv,sv48",
            _ => "riscv,sv57",
        }
    }
}

/// Console access for the SBI debug-console and legacy console calls.
pub trait SbiConsole: Send + Sync {
    /// Writes guest bytes to the console.
    fn write(&self, data: &[u8]);
    /// Reads up to `buf.len()` pending input bytes; returns how many.
    fn read(&self, buf: &mut [u8]) -> usize;
}

/// SBI HSM hart states (SBI spec, HSM extension).
pub mod hsm {
    pub const STARTED: u32 = 0;
    pub const STOPPED: u32 = 1;
    pub const START_PENDING: u32 = 2;
    pub const STOP_PENDING: u32 = 3;
    pub const SUSPENDED: u32 = 4;
}

/// What other harts and the SBI implementation share with one hart.
#[derive(Debug)]
pub struct HartShared {
    /// Interrupt inputs and wake-up.
    pub irq: Arc<CpuIrq>,
    /// HSM state (see [`hsm`]).
    pub hsm_state: AtomicU32,
    /// Pending `hart_start`: (start address, opaque).
    pub start: Mutex<Option<(u64, u64)>>,
    /// Remote fence requests (generation counters): a requester bumps
    /// `fence_req` and waits until `fence_done` catches up.
    pub fence_req: AtomicU64,
    pub fence_done: AtomicU64,
}

impl HartShared {
    /// Shared state for a hart in `hsm_state`.
    pub fn new(irq: Arc<CpuIrq>, hsm_state: u32) -> Self {
        Self {
            irq,
            hsm_state: AtomicU32::new(hsm_state),
            start: Mutex::new(None),
            fence_req: AtomicU64::new(0),
            fence_done: AtomicU64::new(0),
        }
    }
}

/// Everything a hart reaches besides its own state.
pub struct Platform {
    pub ram: Arc<GuestRam>,
    pub bus: Arc<MmioBus>,
    pub clock: GuestClock,
    pub control: Arc<VmControl>,
    pub harts: Vec<Arc<HartShared>>,
    pub mode: BootMode,
    pub isa: IsaConfig,
    pub console: Option<Arc<dyn SbiConsole>>,
}

/// Instructions run between checks of time, interrupts and requests.
const BATCH: u32 = 512;

/// One hart.
pub struct Hart {
    pub(crate) id: usize,
    pub(crate) x: [u64; 32],
    pub(crate) pc: u64,
    pub(crate) fp: FpState,
    pub(crate) prv: u8,
    pub(crate) mstatus: u64,
    pub(crate) misa: u64,
    pub(crate) medeleg: u64,
    pub(crate) mideleg: u64,
    pub(crate) mie: u64,
    pub(crate) mtvec: u64,
    pub(crate) mcounteren: u64,
    pub(crate) menvcfg: u64,
    pub(crate) mscratch: u64,
    pub(crate) mepc: u64,
    pub(crate) mcause: u64,
    pub(crate) mtval: u64,
    /// `mip` bits held by the hart itself: STIP written by M-mode (without
    /// Sstc) and the software-writable SEIP.
    pub(crate) mip_local: u64,
    pub(crate) stvec: u64,
    pub(crate) scounteren: u64,
    pub(crate) senvcfg: u64,
    pub(crate) sscratch: u64,
    pub(crate) sepc: u64,
    pub(crate) scause: u64,
    pub(crate) stval: u64,
    pub(crate) satp: u64,
    pub(crate) stimecmp: u64,
    /// Deadline set by SBI `set_timer` (SBI boot mode).
    pub(crate) sbi_timer: u64,
    pub(crate) instret: u64,
    /// LR reservation: (RAM offset, value loaded, size in bytes).
    pub(crate) reservation: Option<(u64, u64, u32)>,
    pub(crate) tlb: Box<Tlb>,
    pub(crate) icache: crate::icache::ICache,
    pub(crate) plat: Arc<Platform>,
    pub(crate) shared: Arc<HartShared>,
    /// Waiting in `wfi`.
    pub(crate) wfi: bool,
    /// End the current batch after this instruction (interrupt state may
    /// have changed).
    pub(crate) end_batch: bool,
    pub(crate) fence_seen: u64,
    /// pc of the instruction being executed, and the next pc.
    pub(crate) next_pc: u64,
    /// Timer interrupt bits (MTIP, STIP) as of the last time check.
    pub(crate) timer_bits: u64,
}

impl std::fmt::Debug for Hart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hart")
            .field("id", &self.id)
            .field("pc", &format_args!("{:#x}", self.pc))
            .field("prv", &self.prv)
            .finish_non_exhaustive()
    }
}

/// `misa`: RV64 with A, C, D, F, I, M, S, U.
const MISA: u64 = (2 << 62)
    | (1 << 0)   // A
    | (1 << 2)   // C
    | (1 << 3)   // D
    | (1 << 5)   // F
    | (1 << 8)   // I
    | (1 << 12)  // M
    | (1 << 18)  // S
    | (1 << 20); // U

impl Hart {
    /// A hart in its reset state, in M-mode at `pc`.
    pub fn new(id: usize, plat: Arc<Platform>, pc: u64) -> Self {
        let shared = Arc::clone(&plat.harts[id]);
        Self {
            id,
            x: [0; 32],
            pc,
            fp: FpState::default(),
            prv: PRV_M,
            mstatus: status::XLEN_FIELDS,
            misa: MISA,
            medeleg: 0,
            mideleg: 0,
            mie: 0,
            mtvec: 0,
            mcounteren: 0,
            menvcfg: 0,
            mscratch: 0,
            mepc: 0,
            mcause: 0,
            mtval: 0,
            mip_local: 0,
            stvec: 0,
            scounteren: 0,
            senvcfg: 0,
            sscratch: 0,
            sepc: 0,
            scause: 0,
            stval: 0,
            satp: 0,
            stimecmp: u64::MAX,
            sbi_timer: u64::MAX,
            instret: 0,
            reservation: None,
            tlb: Tlb::new(),
            icache: crate::icache::ICache::new(),
            plat,
            shared,
            wfi: false,
            end_batch: false,
            fence_seen: 0,
            next_pc: pc,
            timer_bits: 0,
        }
    }

    /// Sets the state an SBI implementation (such as OpenSBI) leaves for an
    /// S-mode kernel: S-mode at `pc`, `a0` = hartid, `a1` = `arg1`,
    /// exceptions and S-level interrupts delegated, counters and Sstc
    /// available to S-mode, FPU on.
    pub fn enter_supervisor(&mut self, pc: u64, arg1: u64) {
        self.x = [0; 32];
        self.x[10] = self.id as u64;
        self.x[11] = arg1;
        self.pc = pc;
        self.prv = PRV_S;
        self.satp = 0;
        self.medeleg = (1 << cause::INSN_MISALIGNED)
            | (1 << cause::INSN_ACCESS)
            | (1 << cause::ILLEGAL_INSN)
            | (1 << cause::BREAKPOINT)
            | (1 << cause::LOAD_MISALIGNED)
            | (1 << cause::LOAD_ACCESS)
            | (1 << cause::STORE_MISALIGNED)
            | (1 << cause::STORE_ACCESS)
            | (1 << cause::ECALL_U)
            | (1 << cause::INSN_PAGE_FAULT)
            | (1 << cause::LOAD_PAGE_FAULT)
            | (1 << cause::STORE_PAGE_FAULT);
        self.mideleg = irq::S_MASK;
        self.mcounteren = 0xffff_ffff;
        self.menvcfg = if self.plat.isa.sstc { MENVCFG_STCE } else { 0 };
        self.mstatus = status::XLEN_FIELDS | (1 << status::FS_SHIFT);
        self.mie = 0;
        self.stimecmp = u64::MAX;
        self.sbi_timer = u64::MAX;
        self.mip_local = 0;
        self.reservation = None;
        self.tlb.flush();
        self.icache.flush();
        self.wfi = false;
    }

    /// Sets up a bare-metal start in M-mode at `pc` with `a0` = hartid and
    /// `a1` = `arg1` (what QEMU does for `-bios none`).
    pub fn enter_machine(&mut self, pc: u64, arg1: u64) {
        self.x[10] = self.id as u64;
        self.x[11] = arg1;
        self.pc = pc;
        self.prv = PRV_M;
    }

    /// Program counter.
    pub fn pc(&self) -> u64 {
        self.pc
    }
    /// Integer register `i`.
    pub fn reg(&self, i: usize) -> u64 {
        self.x[i & 31]
    }
    /// Current privilege level (0 U, 1 S, 3 M).
    pub fn privilege(&self) -> u8 {
        self.prv
    }
    /// Instructions retired.
    pub fn instret(&self) -> u64 {
        self.instret
    }

    /// Runs until the VM is asked to stop (power-off, reboot, an engine
    /// fault reported through `VmControl`, or the host).
    pub fn run(&mut self) {
        loop {
            if self.plat.control.should_stop() {
                return;
            }
            let st = self.shared.hsm_state.load(Ordering::Acquire);
            if st != hsm::STARTED && st != hsm::SUSPENDED {
                self.wait_for_start();
                continue;
            }
            self.poll();
            if self.wfi {
                self.sleep_in_wfi();
                continue;
            }
            self.run_batch(BATCH);
        }
    }

    /// Runs up to `n` instructions (ends early when interrupt state may have
    /// changed or the hart waits for an interrupt).
    pub fn run_batch(&mut self, n: u32) {
        for _ in 0..n {
            if let Err(t) = self.step() {
                self.take_exception(t);
            }
            if self.end_batch {
                self.end_batch = false;
                break;
            }
        }
    }

    /// Fetches and executes one instruction.
    #[inline]
    pub(crate) fn step(&mut self) -> Result<(), Trap> {
        let pc = self.pc;
        let insn = self.fetch(pc)?;
        self.execute(insn)?;
        self.pc = self.next_pc;
        self.instret = self.instret.wrapping_add(1);
        Ok(())
    }

    /// Fetches the instruction at `pc` (expanded if compressed) and sets
    /// `next_pc` past it: from the decoded-instruction cache when the page
    /// is RAM and mapped in the TLB, else through the slow path.
    #[inline(always)]
    fn fetch(&mut self, pc: u64) -> Result<u32, Trap> {
        let vpn = pc >> 12;
        let e = self.tlb.sets[crate::mmu::prv_index(self.prv)][Access::Exec as usize]
            [(vpn as usize) % crate::mmu::TLB_SIZE];
        if e.tag == vpn {
            let off = pc.wrapping_add(e.addend);
            let cached = self.icache.get(off);
            if cached != crate::icache::EMPTY {
                let (insn, len) = crate::icache::unpack(cached);
                self.next_pc = pc.wrapping_add(len);
                return Ok(insn);
            }
            if let Some(lo) = self.plat.ram.load(off, 2) {
                let lo = lo as u32;
                if lo & 3 != 3 {
                    let insn = crate::rvc::expand(lo as u16)
                        .ok_or(Trap::new(cause::ILLEGAL_INSN, lo as u64))?;
                    self.icache.put(off, crate::icache::pack(insn, true));
                    self.next_pc = pc.wrapping_add(2);
                    return Ok(insn);
                }
                if pc & 0xfff != 0xffe {
                    if let Some(hi) = self.plat.ram.load(off + 2, 2) {
                        let insn = (hi as u32) << 16 | lo;
                        self.icache.put(off, insn);
                        self.next_pc = pc.wrapping_add(4);
                        return Ok(insn);
                    }
                }
            }
        }
        self.fetch_uncached(pc)
    }

    /// Fetch without the cache (TLB miss, page crossing, not RAM).
    #[cold]
    fn fetch_uncached(&mut self, pc: u64) -> Result<u32, Trap> {
        let lo = self.fetch16(pc)?;
        if lo & 3 == 3 {
            let hi = self.fetch16(pc.wrapping_add(2))?;
            self.next_pc = pc.wrapping_add(4);
            Ok((hi << 16) | lo)
        } else {
            self.next_pc = pc.wrapping_add(2);
            crate::rvc::expand(lo as u16).ok_or(Trap::new(cause::ILLEGAL_INSN, lo as u64))
        }
    }

    #[inline]
    fn fetch16(&mut self, va: u64) -> Result<u32, Trap> {
        let vpn = va >> 12;
        let e = self.tlb.sets[crate::mmu::prv_index(self.prv)][Access::Exec as usize]
            [(vpn as usize) % crate::mmu::TLB_SIZE];
        if e.tag == vpn {
            if let Some(v) = self.plat.ram.load(va.wrapping_add(e.addend), 2) {
                return Ok(v as u32);
            }
        }
        self.fetch16_slow(va)
    }

    #[cold]
    fn fetch16_slow(&mut self, va: u64) -> Result<u32, Trap> {
        if va & 1 != 0 {
            return Err(Trap::new(cause::INSN_MISALIGNED, va));
        }
        let pa = self.translate_fill(va, Access::Exec, self.prv)?;
        match self
            .plat
            .ram
            .offset_of(pa, 2)
            .and_then(|o| self.plat.ram.load(o, 2))
        {
            Some(v) => Ok(v as u32),
            None => Err(Trap::new(cause::INSN_ACCESS, va)),
        }
    }

    /// The full `mip` value.
    pub(crate) fn mip(&self) -> u64 {
        self.shared.irq.lines() & irq::ALL_MASK | self.mip_local | self.timer_bits
    }

    pub(crate) fn refresh_timer_bits(&mut self) {
        let now = self.plat.clock.ticks();
        let mut bits = 0;
        if now >= self.shared.irq.timer_cmp() {
            bits |= 1 << irq::MTI;
        }
        let sstc = self.menvcfg & MENVCFG_STCE != 0;
        if (sstc && now >= self.stimecmp) || now >= self.sbi_timer {
            bits |= 1 << irq::STI;
        }
        self.timer_bits = bits;
    }

    /// Periodic work: remote fences, timers, interrupts.
    fn poll(&mut self) {
        if self.shared.irq.take_attention() {
            self.handle_fence_requests();
        }
        self.refresh_timer_bits();
        self.check_interrupts();
    }

    /// Serves remote fence requests addressed to this hart.
    pub(crate) fn handle_fence_requests(&mut self) {
        let req = self.shared.fence_req.load(Ordering::Acquire);
        if req != self.fence_seen {
            self.tlb.flush();
            self.icache.flush();
            self.fence_seen = req;
            self.shared.fence_done.store(req, Ordering::Release);
        }
    }

    /// Takes the highest-priority pending and enabled interrupt, if any
    /// (privileged spec 3.1.9).
    pub(crate) fn check_interrupts(&mut self) {
        let pending = self.mip() & self.mie;
        if pending == 0 {
            return;
        }
        self.wfi = false;
        let m_enabled = self.prv < PRV_M || self.mstatus & status::MIE != 0;
        let s_enabled = self.prv < PRV_S || (self.prv == PRV_S && self.mstatus & status::SIE != 0);
        let m_pending = pending & !self.mideleg;
        let s_pending = pending & self.mideleg;
        let take = if m_enabled && m_pending != 0 {
            Some(m_pending)
        } else if s_enabled && s_pending != 0 {
            Some(s_pending)
        } else {
            None
        };
        if let Some(set) = take {
            if let Some(&n) = irq::PRIORITY.iter().find(|&&n| set & (1 << n) != 0) {
                self.take_trap(n, 0, true);
            }
        }
    }

    /// Enters the trap handler for a synchronous exception, or answers the
    /// SBI call when S-mode `ecall`s a firmware that is the hypervisor.
    pub(crate) fn take_exception(&mut self, t: Trap) {
        if t.cause == cause::ECALL_S && self.plat.mode == BootMode::Sbi {
            // Not delegated: goes to "M-mode", which is us.
            crate::sbi::handle_ecall(self);
            self.pc = self.pc.wrapping_add(4);
            return;
        }
        self.take_trap(t.cause, t.tval, false);
    }

    pub(crate) fn take_trap(&mut self, code: u64, tval: u64, interrupt: bool) {
        let deleg = if interrupt {
            self.mideleg
        } else {
            self.medeleg
        };
        let to_s = self.prv <= PRV_S && (deleg >> code) & 1 != 0;
        let cause = code | if interrupt { 1 << 63 } else { 0 };
        self.reservation = None;
        if to_s {
            self.scause = cause;
            self.sepc = self.pc;
            self.stval = tval;
            let mut s = self.mstatus & !(status::SPP | status::SPIE | status::SIE);
            if self.prv == PRV_S {
                s |= status::SPP;
            }
            if self.mstatus & status::SIE != 0 {
                s |= status::SPIE;
            }
            self.mstatus = s;
            self.set_prv(PRV_S);
            self.pc = trap_vector(self.stvec, code, interrupt);
        } else {
            if self.plat.mode == BootMode::Sbi {
                // No firmware runs in M-mode: a trap that reaches it cannot
                // be handled by anything.
                self.plat.control.request_exit(ExitReason::Fault {
                    cpu: self.id,
                    pc: self.pc,
                    cause: format!(
                        "{} {code} (tval {tval:#x}) trapped to M-mode, where no firmware runs",
                        if interrupt { "interrupt" } else { "exception" }
                    ),
                });
                self.end_batch = true;
                return;
            }
            self.mcause = cause;
            self.mepc = self.pc;
            self.mtval = tval;
            let mut s = self.mstatus & !(status::MPP | status::MPIE | status::MIE);
            s |= (self.prv as u64) << status::MPP_SHIFT;
            if self.mstatus & status::MIE != 0 {
                s |= status::MPIE;
            }
            self.mstatus = s;
            self.set_prv(PRV_M);
            self.pc = trap_vector(self.mtvec, code, interrupt);
        }
        self.end_batch = true;
    }

    pub(crate) fn set_prv(&mut self, prv: u8) {
        self.prv = prv;
    }

    /// Sleeps the host thread until an interrupt is pending, a request
    /// arrives or the VM stops.
    fn sleep_in_wfi(&mut self) {
        let now = self.plat.clock.ticks();
        let mut deadline = u64::MAX;
        if self.mie & (1 << irq::MTI) != 0 {
            deadline = deadline.min(self.shared.irq.timer_cmp());
        }
        if self.mie & (1 << irq::STI) != 0 {
            if self.menvcfg & MENVCFG_STCE != 0 {
                deadline = deadline.min(self.stimecmp);
            }
            deadline = deadline.min(self.sbi_timer);
        }
        if deadline <= now {
            return;
        }
        let when = (deadline != u64::MAX).then(|| self.plat.clock.instant_of(deadline));
        self.shared.irq.sleep_until(when);
    }

    fn wait_for_start(&mut self) {
        // Serve fences (none needed: the TLB is flushed on start) and sleep.
        let _ = self.shared.irq.take_attention();
        let req = self.shared.fence_req.load(Ordering::Acquire);
        self.fence_seen = req;
        self.shared.fence_done.store(req, Ordering::Release);
        let start = self
            .shared
            .start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((addr, opaque)) = start {
            self.enter_supervisor(addr, opaque);
            self.shared.hsm_state.store(hsm::STARTED, Ordering::Release);
            return;
        }
        if self.plat.control.should_stop() {
            return;
        }
        self.shared.irq.sleep_until(None);
    }
}

/// Trap vector for `xtvec` (privileged spec 3.1.7): vectored mode sends
/// interrupts to base + 4 * cause.
#[inline]
fn trap_vector(tvec: u64, code: u64, interrupt: bool) -> u64 {
    let base = tvec & !3;
    if interrupt && tvec & 3 == 1 {
        base.wrapping_add(4 * code)
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{TestMachine, RAM_BASE};

    const INT: u64 = 1 << 63;

    #[test]
    fn m_timer_interrupt_needs_mie_in_m_mode_but_not_below() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.mtvec = RAM_BASE + 0x100;
        h.mie = 1 << irq::MTI;
        m.plat.harts[0].irq.set_timer_cmp(0); // already due
        h.refresh_timer_bits();
        // M-mode with mstatus.MIE clear: pending but not taken.
        h.check_interrupts();
        assert_eq!(h.pc(), RAM_BASE);
        assert_ne!(h.mip() & (1 << irq::MTI), 0);
        // Enabled: taken, with mcause's interrupt bit and MPIE stacking.
        h.mstatus |= status::MIE;
        h.check_interrupts();
        assert_eq!(h.pc(), RAM_BASE + 0x100);
        assert_eq!(h.mcause, INT | irq::MTI);
        assert_eq!(h.mstatus & status::MIE, 0);
        assert_ne!(h.mstatus & status::MPIE, 0);
        // From S-mode, M interrupts are taken whatever mstatus.MIE says.
        let mut h = m.hart(0);
        h.mtvec = RAM_BASE + 0x100;
        h.mie = 1 << irq::MTI;
        h.prv = PRV_S;
        h.refresh_timer_bits();
        h.check_interrupts();
        assert_eq!(h.privilege(), PRV_M);
        assert_eq!(h.mcause, INT | irq::MTI);
        assert_eq!((h.mstatus & status::MPP) >> status::MPP_SHIFT, PRV_S as u64);
    }

    #[test]
    fn delegated_interrupts_go_to_s_and_respect_sie() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.stvec = RAM_BASE + 0x201; // vectored
        h.mideleg = irq::S_MASK;
        h.mie = 1 << irq::SEI;
        h.prv = PRV_S;
        m.plat.harts[0].irq.raise(1 << irq::SEI); // from the PLIC
        h.check_interrupts();
        assert_eq!(h.pc(), RAM_BASE, "S-mode with SIE clear does not take it");
        h.mstatus |= status::SIE;
        h.check_interrupts();
        assert_eq!(h.privilege(), PRV_S);
        assert_eq!(h.scause, INT | irq::SEI);
        assert_eq!(h.pc(), RAM_BASE + 0x200 + 4 * irq::SEI, "vectored stvec");
        // From U-mode, S interrupts are taken even with SIE clear.
        let mut h = m.hart(0);
        h.stvec = RAM_BASE + 0x200;
        h.mideleg = irq::S_MASK;
        h.mie = 1 << irq::SEI;
        h.prv = PRV_U;
        h.check_interrupts();
        assert_eq!(h.privilege(), PRV_S);
        assert_eq!(h.mstatus & status::SPP, 0, "came from U");
        // Delegated interrupts are never taken in M-mode.
        let mut h = m.hart(0);
        h.mideleg = irq::S_MASK;
        h.mie = 1 << irq::SEI;
        h.mstatus |= status::MIE | status::SIE;
        h.check_interrupts();
        assert_eq!(h.pc(), RAM_BASE);
    }

    #[test]
    fn priority_order_mei_msi_mti_sei_ssi_sti() {
        let m = TestMachine::new(1);
        let all = (1 << irq::MEI) | (1 << irq::MSI) | (1 << irq::SEI) | (1 << irq::SSI);
        let cases: [(u64, u64); 4] = [
            (all, irq::MEI),
            (all & !(1 << irq::MEI), irq::MSI),
            ((1 << irq::SEI) | (1 << irq::SSI), irq::SEI),
            (1 << irq::SSI, irq::SSI),
        ];
        for (lines, expect) in cases {
            m.plat.harts[0].irq.lower(u64::MAX);
            m.plat.harts[0].irq.raise(lines);
            let mut h = m.hart(0);
            h.mie = irq::ALL_MASK;
            h.prv = PRV_U;
            h.check_interrupts();
            assert_eq!(h.mcause, INT | expect, "lines {lines:#x}");
        }
    }

    #[test]
    fn wfi_sleep_wakes_on_an_interrupt_from_another_thread() {
        let m = TestMachine::new(1);
        let mut h = m.hart(0);
        h.mie = 1 << irq::MSI;
        h.wfi = true;
        let irq = Arc::clone(&m.plat.harts[0].irq);
        let _ = irq.take_attention();
        irq.sleep_until(Some(std::time::Instant::now())); // consume old kicks
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            irq.raise(1 << irq::MSI);
        });
        let start = std::time::Instant::now();
        h.sleep_in_wfi();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        h.poll();
        assert!(!h.wfi, "a pending enabled interrupt ends wfi");
        t.join().unwrap();
    }
}
