//! Instruction-level tests: small programs run on a test hart; expected
//! values follow from the unprivileged and privileged specs.

use crate::hart::{BootMode, PRV_M, PRV_S, PRV_U};
use crate::test_util::{TestMachine, RAM_BASE};
use crate::trap::cause;

/// Assembles nothing: the words below are hand-encoded; each carries its
/// assembly in a comment (checked with riscv64-linux-gnu-as).
fn run(m: &TestMachine, words: &[u32], steps: usize) -> crate::Hart {
    m.code(RAM_BASE, words);
    let mut h = m.hart(0);
    for _ in 0..steps {
        if let Err(t) = h.step() {
            h.take_exception(t);
        }
    }
    h
}

#[test]
fn integer_alu_and_branches() {
    let m = TestMachine::new(1);
    let h = run(
        &m,
        &[
            0xfff0_0513, // li a0, -1
            0x0015_0593, // addi a1, a0, 1      -> 0
            0x0015_5613, // srli a2, a0, 1      -> 0x7fff...
            0x4015_5693, // srai a3, a0, 1      -> -1
            0x0005_071b, // sext.w a4, a0 (addiw a4, a0, 0) -> -1
            0x00c5_3793, // sltiu a5, a0, 12 -> 0 (unsigned -1 is large)
            0x00a0_0813, // li a6, 10
            0x0108_0463, // beq a6, a6, +8 (skip next)
            0x0010_0893, // li a7, 1 (skipped)
            0x0200_0913, // li s2, 32
        ],
        9,
    );
    assert_eq!(h.reg(10), u64::MAX);
    assert_eq!(h.reg(11), 0);
    assert_eq!(h.reg(12), u64::MAX >> 1);
    assert_eq!(h.reg(13), u64::MAX);
    assert_eq!(h.reg(14), u64::MAX);
    assert_eq!(h.reg(15), 0);
    assert_eq!(h.reg(17), 0, "the branch skipped li a7, 1");
    assert_eq!(h.reg(18), 32);
    assert_eq!(h.pc(), RAM_BASE + 40);
}

#[test]
fn loads_stores_sign_extension_and_x0() {
    let m = TestMachine::new(1);
    let h = run(
        &m,
        &[
            0x0000_1537, // lui a0, 0x1
            0x8005_051b, // addiw a0, a0, -2048 -> 0x800
            0x00a5_0533, // add a0, a0, a0 -> 0x1000
            0x8000_05b7, // lui a1, 0x80000 -> 0xffff_ffff_8000_0000
            0x0205_9593, // slli a1, a1, 32 -> 0x8000_0000_0000_0000
            0x0205_d593, // srli a1, a1, 32 -> 0x8000_0000
            0x00b5_0533, // add a0, a0, a1 -> 0x8000_1000
            0xf800_0613, // li a2, -128
            0x00c5_0023, // sb a2, 0(a0)
            0x0005_0683, // lb a3, 0(a0) -> -128
            0x0005_4703, // lbu a4, 0(a0) -> 0x80
            0x0005_0003, // lb zero, 0(a0): x0 stays 0
        ],
        12,
    );
    assert_eq!(h.reg(10), 0x8000_1000);
    assert_eq!(h.reg(13), (-128i64) as u64);
    assert_eq!(h.reg(14), 0x80);
    assert_eq!(h.reg(0), 0);
}

#[test]
fn illegal_instruction_traps_to_m_with_tval() {
    let m = TestMachine::new(1);
    let mut h = run(&m, &[0xffff_ffff], 0);
    h.mtvec = RAM_BASE + 0x100;
    let t = h.step().unwrap_err();
    assert_eq!(t.cause, cause::ILLEGAL_INSN);
    assert_eq!(t.tval, 0xffff_ffff);
    h.take_exception(t);
    assert_eq!(h.pc(), RAM_BASE + 0x100);
    assert_eq!(h.mcause, cause::ILLEGAL_INSN);
    assert_eq!(h.mepc, RAM_BASE);
    assert_eq!(h.privilege(), PRV_M);
}

#[test]
fn ecall_from_u_is_delegated_to_s() {
    let m = TestMachine::new(1);
    m.code(RAM_BASE, &[0x0000_0073]); // ecall
    let mut h = m.hart(0);
    h.prv = PRV_U;
    h.medeleg = 1 << cause::ECALL_U;
    h.stvec = RAM_BASE + 0x200;
    h.mstatus |= crate::csr::status::SIE;
    let t = h.step().unwrap_err();
    h.take_exception(t);
    assert_eq!(h.privilege(), PRV_S);
    assert_eq!(h.scause, cause::ECALL_U);
    assert_eq!(h.sepc, RAM_BASE);
    assert_eq!(h.pc(), RAM_BASE + 0x200);
    // SPIE took SIE; SIE cleared; SPP = U.
    assert_eq!(h.mstatus & crate::csr::status::SIE, 0);
    assert_ne!(h.mstatus & crate::csr::status::SPIE, 0);
    assert_eq!(h.mstatus & crate::csr::status::SPP, 0);
}

#[test]
fn csr_privilege_and_read_only_rules() {
    let m = TestMachine::new(1);
    // csrr a0, mstatus from S-mode: illegal.
    m.code(RAM_BASE, &[0x3000_2573]);
    let mut h = m.hart(0);
    h.prv = PRV_S;
    assert_eq!(h.step().unwrap_err().cause, cause::ILLEGAL_INSN);
    // csrw mhartid, a0 in M-mode: read-only CSR -> illegal.
    m.code(RAM_BASE, &[0xf145_1073]);
    let mut h = m.hart(0);
    assert_eq!(h.step().unwrap_err().cause, cause::ILLEGAL_INSN);
    // csrr a0, mhartid in M-mode works.
    m.code(RAM_BASE, &[0xf140_2573]);
    let mut h = m.hart(0);
    h.step().unwrap();
    assert_eq!(h.reg(10), 0);
}

#[test]
fn lr_sc_and_amo() {
    let m = TestMachine::new(1);
    m.write64(RAM_BASE + 0x1000, 5);
    let h = run(
        &m,
        &[
            0x0000_1537, // lui a0, 0x1
            0x8000_05b7, // lui a1, 0x80000
            0x0205_9593, // slli a1, a1, 32
            0x0205_d593, // srli a1, a1, 32
            0x00b5_0533, // add a0, a0, a1 -> 0x8000_1000
            0x1005_362f, // lr.d a2, (a0)        -> 5
            0x0070_0693, // li a3, 7
            0x18d5_372f, // sc.d a4, a3, (a0)    -> 0 (success)
            0x18d5_37af, // sc.d a5, a3, (a0)    -> 1 (no reservation)
            0x00d5_382f, // amoadd.d a6, a3, (a0) -> old 7, mem 14
        ],
        10,
    );
    assert_eq!(h.reg(12), 5);
    assert_eq!(h.reg(14), 0);
    assert_eq!(h.reg(15), 1);
    assert_eq!(h.reg(16), 7);
    assert_eq!(m.read64(RAM_BASE + 0x1000), 14);
}

#[test]
fn sbi_ecall_is_answered_by_the_hypervisor() {
    let m = TestMachine::with_mode(1, BootMode::Sbi);
    m.code(RAM_BASE, &[0x0000_0073]); // ecall
    let mut h = m.hart(0);
    h.enter_supervisor(RAM_BASE, 0);
    h.x[17] = crate::sbi::EXT_BASE;
    h.x[16] = 3; // probe_extension
    h.x[10] = crate::sbi::EXT_HSM;
    let t = h.step().unwrap_err();
    h.take_exception(t);
    assert_eq!(h.reg(10), 0, "SBI_SUCCESS");
    assert_eq!(h.reg(11), 1, "HSM is implemented");
    assert_eq!(h.pc(), RAM_BASE + 4);
    // Unknown extension: SBI_ERR_NOT_SUPPORTED.
    m.code(RAM_BASE + 4, &[0x0000_0073]);
    h.x[17] = 0x1234_5678;
    let t = h.step().unwrap_err();
    h.take_exception(t);
    assert_eq!(h.reg(10) as i64, crate::sbi::SBI_ERR_NOT_SUPPORTED);
}

#[test]
fn compressed_instructions_execute() {
    let m = TestMachine::new(1);
    // c.li a0, 5 ; c.addi a0, 3 ; c.mv a1, a0 ; c.slli a1, 2
    let halves: [u16; 4] = [0x4515, 0x050d, 0x85aa, 0x058a];
    let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
    m.plat.ram.write_slice(RAM_BASE, &bytes).unwrap();
    let mut h = m.hart(0);
    for _ in 0..4 {
        h.step().unwrap();
    }
    assert_eq!(h.reg(10), 8);
    assert_eq!(h.reg(11), 32);
    assert_eq!(h.pc(), RAM_BASE + 8);
}

#[test]
fn fp_disabled_when_fs_off() {
    let m = TestMachine::new(1);
    m.code(RAM_BASE, &[0x0205_0553]); // fadd.d fa0, fa0, ft0
    let mut h = m.hart(0);
    h.mstatus &= !crate::csr::status::FS;
    assert_eq!(h.step().unwrap_err().cause, cause::ILLEGAL_INSN);
    h.mstatus |= 1 << crate::csr::status::FS_SHIFT; // Initial
    h.step().unwrap();
    assert_eq!(
        h.mstatus & crate::csr::status::FS,
        crate::csr::status::FS,
        "FS becomes Dirty"
    );
}
