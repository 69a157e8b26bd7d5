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

// ---------------------------------------------------------------------------
// Every instruction class of the integer engine. Each word carries its
// assembly in the comment (reserved encodings as `.insn`) and matches
// riscv64-linux-gnu-as -march=rv64gc_zba_zbb_zbs with compression off, read
// back with objdump -M no-aliases. Expected values follow the unprivileged
// ISA (20191213, and the Zba/Zbb/Zbs 1.0.0 chapter), not the engine.

const RA: usize = 1;
const SP: usize = 2;
const S0: usize = 8;
const S1: usize = 9;
const A0: usize = 10;
const A1: usize = 11;
const A2: usize = 12;
const A3: usize = 13;
const A4: usize = 14;
const A5: usize = 15;

/// Data page for load/store tests, away from the code.
const DATA: u64 = RAM_BASE + 0x1000;

/// Runs `words` at `RAM_BASE` with `regs` preset until the pc leaves the
/// program; panics on any trap.
#[track_caller]
fn exec(m: &TestMachine, regs: &[(usize, u64)], words: &[u32]) -> crate::Hart {
    m.code(RAM_BASE, words);
    let mut h = m.hart_with(regs);
    let end = RAM_BASE + 4 * words.len() as u64;
    for _ in 0..1000 {
        if !(RAM_BASE..end).contains(&h.pc()) {
            return h;
        }
        let pc = h.pc();
        if let Err(t) = h.step() {
            panic!("unexpected trap {t:?} at {pc:#x} in {words:#010x?}");
        }
    }
    panic!("program {words:#010x?} did not finish");
}

/// Runs `words` until an instruction traps; returns the hart (pc at the
/// faulting instruction) and the trap.
#[track_caller]
fn trap(m: &TestMachine, regs: &[(usize, u64)], words: &[u32]) -> (crate::Hart, crate::Trap) {
    m.code(RAM_BASE, words);
    let mut h = m.hart_with(regs);
    for _ in 0..1000 {
        if let Err(t) = h.step() {
            return (h, t);
        }
    }
    panic!("program {words:#010x?} did not trap");
}

/// One instruction with rs1 = a0 = `a`, rs2 = a1 = `b`; returns rd = a2.
/// Table rows: (word, a, b, expected a2).
#[track_caller]
fn check_rrr(rows: &[(u32, u64, u64, u64)]) {
    let m = TestMachine::new(1);
    for &(w, a, b, want) in rows {
        let h = exec(&m, &[(A0, a), (A1, b), (A2, 0x5555)], &[w]);
        assert_eq!(
            h.reg(A2),
            want,
            "{w:#010x} with a0 = {a:#x}, a1 = {b:#x}: got {:#x}, want {want:#x}",
            h.reg(A2)
        );
        assert_eq!(h.pc(), RAM_BASE + 4);
    }
}

const MIN: u64 = i64::MIN as u64;
const MAX: u64 = u64::MAX;
/// `v` as i32 sign-extended to 64 bits (the W-form result rule).
const fn sx(v: u32) -> u64 {
    v as i32 as i64 as u64
}
const fn neg(v: i64) -> u64 {
    v as u64
}

#[test]
fn rv64i_lui_auipc() {
    check_rrr(&[
        (0x8000_0637, 0, 0, 0xffff_ffff_8000_0000), // lui a2, 0x80000
        (0x7fff_f637, 0, 0, 0x7fff_f000),           // lui a2, 0x7ffff
        (0xffff_f637, 0, 0, 0xffff_ffff_ffff_f000), // lui a2, 0xfffff
        (0x0000_0617, 0, 0, RAM_BASE),              // auipc a2, 0
        (0xffff_f617, 0, 0, RAM_BASE - 0x1000),     // auipc a2, 0xfffff
        (0x8000_0617, 0, 0, 0), // auipc a2, 0x80000 -- pc + 0xffff_ffff_8000_0000
        (0x7fff_f617, 0, 0, RAM_BASE + 0x7fff_f000), // auipc a2, 0x7ffff
    ]);
}

#[test]
fn rv64i_op_imm() {
    check_rrr(&[
        (0xfff5_0613, 0, 0, MAX),                             // addi a2, a0, -1
        (0x7ff5_0613, 1, 0, 2048),                            // addi a2, a0, 2047
        (0x8005_0613, 0, 0, neg(-2048)),                      // addi a2, a0, -2048
        (0x0015_0613, MAX, 0, 0),                             // addi a2, a0, 1 -> wraps
        (0xfff5_2613, neg(-2), 0, 1),                         // slti a2, a0, -1
        (0xfff5_2613, MAX, 0, 0),                             // slti a2, a0, -1
        (0x0005_2613, MIN, 0, 1),                             // slti a2, a0, 0
        (0xfff5_3613, 5, 0, 1), // sltiu a2, a0, -1 -- imm sign-extends, then compares unsigned
        (0xfff5_3613, MAX, 0, 0), // sltiu a2, a0, -1
        (0x0015_3613, 0, 0, 1), // sltiu a2, a0, 1
        (0x0015_3613, 1, 0, 0), // sltiu a2, a0, 1
        (0xfff5_4613, 0x0f, 0, !0x0f), // xori a2, a0, -1
        (0x7005_6613, 0x0f, 0, 0x70f), // ori a2, a0, 0x700
        (0x8005_6613, 0x0f, 0, neg(-2048) | 0x0f), // ori a2, a0, -2048
        (0xff05_7613, 0x1ff, 0, 0x1f0), // andi a2, a0, -16
        (0x0005_1613, 0x1234, 0, 0x1234), // slli a2, a0, 0
        (0x03f5_1613, 3, 0, MIN), // slli a2, a0, 63
        (0x0205_1613, 0x1_0000_0001, 0, 0x1_0000_0001 << 32), // slli a2, a0, 32
        (0x03f5_5613, MIN, 0, 1), // srli a2, a0, 63
        (0x0205_5613, MIN, 0, 0x8000_0000), // srli a2, a0, 32
        (0x43f5_5613, MIN, 0, MAX), // srai a2, a0, 63
        (0x4045_5613, MIN, 0, 0xf800_0000_0000_0000), // srai a2, a0, 4
        (0x4045_5613, 0x7000_0000_0000_0000, 0, 0x0700_0000_0000_0000), // srai a2, a0, 4
    ]);
}

#[test]
fn rv64i_op() {
    check_rrr(&[
        (0x00b5_0633, MAX, 1, 0),              // add a2, a0, a1
        (0x40b5_0633, 0, 1, MAX),              // sub a2, a0, a1
        (0x40b5_0633, MIN, 1, MIN - 1),        // sub a2, a0, a1
        (0x00b5_2633, MAX, 0, 1),              // slt a2, a0, a1
        (0x00b5_2633, 0, MAX, 0),              // slt a2, a0, a1
        (0x00b5_2633, 5, 5, 0),                // slt a2, a0, a1
        (0x00b5_3633, 0, MAX, 1),              // sltu a2, a0, a1
        (0x00b5_3633, MAX, 0, 0),              // sltu a2, a0, a1
        (0x00b5_4633, 0xff00, 0x0ff0, 0xf0f0), // xor a2, a0, a1
        (0x00b5_6633, 0xff00, 0x0ff0, 0xfff0), // or a2, a0, a1
        (0x00b5_7633, 0xff00, 0x0ff0, 0x0f00), // and a2, a0, a1
        // Shift amounts are rs2[5:0].
        (0x00b5_1633, 1, 63, MIN),   // sll a2, a0, a1
        (0x00b5_1633, 1, 64, 1),     // sll a2, a0, a1
        (0x00b5_1633, 1, 65, 2),     // sll a2, a0, a1
        (0x00b5_5633, MIN, 127, 1),  // srl a2, a0, a1
        (0x00b5_5633, MIN, 64, MIN), // srl a2, a0, a1
        (0x40b5_5633, MIN, neg(-63), 0xc000_0000_0000_0000), // sra a2, a0, a1 -- -63 & 63 = 1
        (0x40b5_5633, MIN, 63, MAX), // sra a2, a0, a1
    ]);
}

#[test]
fn rv64i_word_forms_sign_extend() {
    check_rrr(&[
        (0x0015_061b, 0x7fff_ffff, 0, sx(0x8000_0000)), // addiw a2, a0, 1
        (0x0005_061b, 0x1_8000_0000, 0, sx(0x8000_0000)), // addiw a2, a0, 0
        (0xfff5_061b, 0xffff_ffff_0000_0000, 0, MAX),   // addiw a2, a0, -1
        (0x01f5_161b, 1, 0, sx(0x8000_0000)),           // slliw a2, a0, 31
        (0x0015_161b, 0xffff_ffff_4000_0000, 0, sx(0x8000_0000)), // slliw a2, a0, 1
        (0x0005_561b, 0x8000_0000, 0, sx(0x8000_0000)), // srliw a2, a0, 0
        (0x01f5_561b, 0xffff_ffff_8000_0000, 0, 1),     // srliw a2, a0, 31
        (0x0015_561b, 0xdead_beef_8000_0000, 0, 0x4000_0000), // srliw a2, a0, 1
        (0x41f5_561b, 0x8000_0000, 0, MAX),             // sraiw a2, a0, 31
        (0x41f5_561b, 0x1_7fff_ffff, 0, 0),             // sraiw a2, a0, 31
        (0x4045_561b, 0x8000_0000, 0, sx(0xf800_0000)), // sraiw a2, a0, 4
        (0x00b5_063b, 0x7fff_ffff, 1, sx(0x8000_0000)), // addw a2, a0, a1
        (0x00b5_063b, 0x1_0000_0000, 0x1_0000_0000, 0), // addw a2, a0, a1
        (0x40b5_063b, 0, 0x8000_0000, sx(0x8000_0000)), // subw a2, a0, a1
        (0x40b5_063b, 0x1_0000_0000, 1, MAX),           // subw a2, a0, a1
        (0x00b5_163b, 1, 31, sx(0x8000_0000)),          // sllw a2, a0, a1
        (0x00b5_163b, 1, 32, 1),                        // sllw a2, a0, a1 -- rs2[4:0]
        (0x00b5_163b, 1, 63, sx(0x8000_0000)),          // sllw a2, a0, a1
        (0x00b5_563b, 0x8000_0000, 32, sx(0x8000_0000)), // srlw a2, a0, a1
        (0x00b5_563b, 0x8000_0000, 31, 1),              // srlw a2, a0, a1
        (0x00b5_563b, 0xffff_ffff_0000_0010, 4, 1),     // srlw a2, a0, a1
        (0x40b5_563b, 0x8000_0000, 31, MAX),            // sraw a2, a0, a1
        (0x40b5_563b, 0x8000_0000, 63, MAX),            // sraw a2, a0, a1
        (0x40b5_563b, 0xffff_ffff_4000_0000, 30, 1),    // sraw a2, a0, a1
    ]);
}

#[test]
fn rv64m_all_thirteen() {
    check_rrr(&[
        (0x02b5_0633, 0x1_0000_0001, 0x1_0000_0001, 0x2_0000_0001), // mul a2, a0, a1
        (0x02b5_0633, neg(-3), 7, neg(-21)),                        // mul a2, a0, a1
        (0x02b5_1633, MAX, MAX, 0),                                 // mulh a2, a0, a1
        (0x02b5_1633, MIN, MIN, 0x4000_0000_0000_0000),             // mulh a2, a0, a1
        (0x02b5_1633, MIN, 1, MAX),                                 // mulh a2, a0, a1
        (0x02b5_2633, MAX, MAX, MAX), // mulhsu a2, a0, a1 -- -1 * (2^64 - 1)
        (0x02b5_2633, 2, MAX, 1),     // mulhsu a2, a0, a1
        (0x02b5_3633, MAX, MAX, MAX - 1), // mulhu a2, a0, a1
        (0x02b5_3633, MIN, 4, 2),     // mulhu a2, a0, a1
        (0x02b5_4633, neg(-7), 2, neg(-3)), // div a2, a0, a1 -- rounds toward zero
        (0x02b5_4633, 7, neg(-2), neg(-3)), // div a2, a0, a1
        (0x02b5_4633, 7, 0, MAX),     // div a2, a0, a1 -- by zero: -1
        (0x02b5_4633, MIN, MAX, MIN), // div a2, a0, a1 -- overflow
        (0x02b5_5633, MAX, 2, MAX >> 1), // divu a2, a0, a1
        (0x02b5_5633, 7, 0, MAX),     // divu a2, a0, a1
        (0x02b5_6633, neg(-7), 2, MAX), // rem a2, a0, a1 -- sign of the dividend
        (0x02b5_6633, 7, neg(-2), 1), // rem a2, a0, a1
        (0x02b5_6633, neg(-7), 0, neg(-7)), // rem a2, a0, a1 -- by zero: dividend
        (0x02b5_6633, MIN, MAX, 0),   // rem a2, a0, a1 -- overflow
        (0x02b5_7633, MAX, 10, 5),    // remu a2, a0, a1
        (0x02b5_7633, 7, 0, 7),       // remu a2, a0, a1
        (0x02b5_063b, 0x7fff_ffff, 2, MAX - 1), // mulw a2, a0, a1
        (0x02b5_063b, 0x1_0000_0003, 0x1_0000_0005, 15), // mulw a2, a0, a1
        (0x02b5_463b, 0xffff_ffff_8000_0000, MAX, sx(0x8000_0000)), // divw a2, a0, a1 -- overflow
        (0x02b5_463b, neg(-7), 2, neg(-3)), // divw a2, a0, a1
        (0x02b5_463b, 5, 0x1_0000_0000, MAX), // divw a2, a0, a1 -- rs2[31:0] = 0
        (0x02b5_463b, 0x1_0000_0006, 0xffff_ffff_0000_0003, 2), // divw a2, a0, a1
        (0x02b5_563b, 0x8000_0000, 0, MAX), // divuw a2, a0, a1
        (0x02b5_563b, MAX - 1, 2, 0x7fff_ffff), // divuw a2, a0, a1
        (0x02b5_563b, 0x8000_0000, 1, sx(0x8000_0000)), // divuw a2, a0, a1
        (0x02b5_663b, 0x8000_0000, MAX, 0), // remw a2, a0, a1 -- overflow
        (0x02b5_663b, neg(-7), 2, MAX), // remw a2, a0, a1
        (0x02b5_663b, 0x1_8000_0001, 0, sx(0x8000_0001)), // remw a2, a0, a1
        (0x02b5_763b, 0x1_8000_0001, 0, sx(0x8000_0001)), // remuw a2, a0, a1
        (0x02b5_763b, 0xffff_ffff, 0x10, 0xf), // remuw a2, a0, a1
        (0x02b5_763b, 0x8000_0007, 0x8000_0000, 7), // remuw a2, a0, a1
    ]);
}

#[test]
fn zba() {
    check_rrr(&[
        (0x20b5_2633, 3, 1, 7),                                 // sh1add a2, a0, a1
        (0x20b5_2633, MIN, 5, 5),                               // sh1add a2, a0, a1
        (0x20b5_4633, 3, 1, 13),                                // sh2add a2, a0, a1
        (0x20b5_6633, 3, 1, 25),                                // sh3add a2, a0, a1
        (0x08b5_063b, 0xffff_ffff_8000_0000, 1, 0x8000_0001),   // add.uw a2, a0, a1
        (0x20b5_263b, 0xffff_ffff_8000_0001, 1, 0x1_0000_0003), // sh1add.uw a2, a0, a1
        (0x20b5_463b, 0x1_ffff_ffff, 0, 0x3_ffff_fffc),         // sh2add.uw a2, a0, a1
        (0x20b5_663b, MAX, 8, 0x8_0000_0000),                   // sh3add.uw a2, a0, a1
        (0x0805_161b, MAX, 0, 0xffff_ffff),                     // slli.uw a2, a0, 0
        (0x0bf5_161b, 0xffff_fffe_0000_0001, 0, MIN),           // slli.uw a2, a0, 63
        (0x0a05_161b, 0xdead_beef_1234_5678, 0, 0x1234_5678_0000_0000), // slli.uw a2, a0, 32
    ]);
}

#[test]
fn zbb() {
    check_rrr(&[
        (0x40b5_7633, 0xff, 0x0f, 0xf0),                 // andn a2, a0, a1
        (0x40b5_6633, 0x10, !0xff, 0xff),                // orn a2, a0, a1
        (0x40b5_4633, 0xf0, 0xff, !0x0f),                // xnor a2, a0, a1
        (0x6005_1613, 0, 0, 64),                         // clz a2, a0
        (0x6005_1613, 1, 0, 63),                         // clz a2, a0
        (0x6005_1613, MAX, 0, 0),                        // clz a2, a0
        (0x6015_1613, 0, 0, 64),                         // ctz a2, a0
        (0x6015_1613, 8, 0, 3),                          // ctz a2, a0
        (0x6015_1613, MIN, 0, 63),                       // ctz a2, a0
        (0x6025_1613, 0, 0, 0),                          // cpop a2, a0
        (0x6025_1613, MAX, 0, 64),                       // cpop a2, a0
        (0x6025_1613, 0xf0f0, 0, 8),                     // cpop a2, a0
        (0x6005_161b, 0xffff_ffff_0000_0000, 0, 32),     // clzw a2, a0
        (0x6005_161b, 1, 0, 31),                         // clzw a2, a0
        (0x6005_161b, 0x8000_0000, 0, 0),                // clzw a2, a0
        (0x6015_161b, 0xffff_ffff_0000_0000, 0, 32),     // ctzw a2, a0
        (0x6015_161b, 0x10, 0, 4),                       // ctzw a2, a0
        (0x6025_161b, 0xffff_ffff_0000_0003, 0, 2),      // cpopw a2, a0
        (0x6025_161b, MAX, 0, 32),                       // cpopw a2, a0
        (0x0ab5_4633, MAX, 1, MAX),                      // min a2, a0, a1
        (0x0ab5_5633, MAX, 1, 1),                        // minu a2, a0, a1
        (0x0ab5_6633, MAX, 1, 1),                        // max a2, a0, a1
        (0x0ab5_7633, MAX, 1, MAX),                      // maxu a2, a0, a1
        (0x0ab5_4633, MIN, 0, MIN),                      // min a2, a0, a1
        (0x6045_1613, 0x80, 0, neg(-128)),               // sext.b a2, a0
        (0x6045_1613, 0x7f12, 0, 0x12),                  // sext.b a2, a0
        (0x6055_1613, 0x8000, 0, neg(-32768)),           // sext.h a2, a0
        (0x6055_1613, 0x1_7fff, 0, 0x7fff),              // sext.h a2, a0
        (0x0805_463b, MAX, 0, 0xffff),                   // zext.h a2, a0
        (0x60b5_1633, 0x8000_0000_0000_0001, 1, 3),      // rol a2, a0, a1
        (0x60b5_1633, 0x8000_0000_0000_0001, 65, 3),     // rol a2, a0, a1
        (0x60b5_5633, 1, 1, MIN),                        // ror a2, a0, a1
        (0x60b5_5633, 1, 64, 1),                         // ror a2, a0, a1
        (0x60b5_163b, 0x8000_0001, 1, 3),                // rolw a2, a0, a1
        (0x60b5_163b, 0x4000_0000, 33, sx(0x8000_0000)), // rolw a2, a0, a1
        (0x60b5_563b, 1, 1, sx(0x8000_0000)),            // rorw a2, a0, a1
        (0x60b5_563b, 0xffff_ffff_0000_0002, 1, 1),      // rorw a2, a0, a1
        (0x63f5_5613, 0x8000_0000_0000_0001, 0, 3),      // rori a2, a0, 63
        (0x6045_5613, 0xf, 0, 0xf000_0000_0000_0000),    // rori a2, a0, 4
        (0x6015_561b, 1, 0, sx(0x8000_0000)),            // roriw a2, a0, 1
        (0x61f5_561b, 0xdead_beef_0000_0001, 0, 2),      // roriw a2, a0, 31
        (0x2875_5613, 0x0001_0000_ff00_0100, 0, 0x00ff_0000_ff00_ff00), // orc.b a2, a0
        (0x6b85_5613, 0x0102_0304_0506_0708, 0, 0x0807_0605_0403_0201), // rev8 a2, a0
    ]);
}

#[test]
fn zbs() {
    check_rrr(&[
        (0x48b5_1633, MAX, 63, MAX >> 1), // bclr a2, a0, a1
        (0x48b5_1633, MAX, 64, MAX - 1),  // bclr a2, a0, a1 -- rs2[5:0]
        (0x48b5_5633, MIN, 63, 1),        // bext a2, a0, a1
        (0x48b5_5633, MIN, 127, 1),       // bext a2, a0, a1
        (0x48b5_5633, MIN, 0, 0),         // bext a2, a0, a1
        (0x68b5_1633, 0, 65, 2),          // binv a2, a0, a1
        (0x68b5_1633, 2, 1, 0),           // binv a2, a0, a1
        (0x28b5_1633, 0, 63, MIN),        // bset a2, a0, a1
        (0x4bf5_1613, MAX, 0, MAX >> 1),  // bclri a2, a0, 63
        (0x4bf5_5613, MIN, 0, 1),         // bexti a2, a0, 63
        (0x4835_5613, 0x10, 0, 0),        // bexti a2, a0, 3
        (0x6805_1613, 1, 0, 0),           // binvi a2, a0, 0
        (0x2a05_1613, 0, 0, 1 << 32),     // bseti a2, a0, 32
    ]);
}

/// Each row: a branch at offset 0 to +8 over `addi a2, zero, 1`, with
/// a0/a1 = the operands; a2 = 0 afterwards means taken.
#[test]
fn rv64i_branches_signed_and_unsigned() {
    let m = TestMachine::new(1);
    let rows: &[(u32, u64, u64, bool)] = &[
        (0x00b5_0463, 5, 5, true),         // beq a0, a1, .+8
        (0x00b5_0463, 5, 6, false),        // beq a0, a1, .+8
        (0x00b5_1463, 5, 6, true),         // bne a0, a1, .+8
        (0x00b5_1463, 5, 5, false),        // bne a0, a1, .+8
        (0x00b5_4463, MAX, 0, true),       // blt a0, a1, .+8
        (0x00b5_4463, 0, MAX, false),      // blt a0, a1, .+8
        (0x00b5_4463, 5, 5, false),        // blt a0, a1, .+8
        (0x00b5_4463, MIN, MIN + 1, true), // blt a0, a1, .+8
        (0x00b5_5463, 0, MAX, true),       // bge a0, a1, .+8
        (0x00b5_5463, 5, 5, true),         // bge a0, a1, .+8
        (0x00b5_5463, MAX, 0, false),      // bge a0, a1, .+8
        (0x00b5_6463, 0, MAX, true),       // bltu a0, a1, .+8
        (0x00b5_6463, MAX, 0, false),      // bltu a0, a1, .+8
        (0x00b5_6463, 5, 5, false),        // bltu a0, a1, .+8
        (0x00b5_7463, MAX, 0, true),       // bgeu a0, a1, .+8
        (0x00b5_7463, 5, 5, true),         // bgeu a0, a1, .+8
        (0x00b5_7463, 0, MAX, false),      // bgeu a0, a1, .+8
    ];
    for &(w, a, b, taken) in rows {
        let skip = 0x0010_0613; // addi a2, zero, 1
        let h = exec(&m, &[(A0, a), (A1, b)], &[w, skip]);
        assert_eq!(h.reg(A2) == 0, taken, "{w:#010x} with {a:#x}, {b:#x}");
        assert_eq!(h.pc(), RAM_BASE + 8);
    }
    // A backward branch: a three-iteration loop.
    let h = exec(
        &m,
        &[(A0, 3)],
        &[
            0x0015_8593, // addi a1, a1, 1
            0xfff5_0513, // addi a0, a0, -1
            0xfe05_1ce3, // bne a0, zero, .-8
        ],
    );
    assert_eq!((h.reg(A0), h.reg(A1)), (0, 3));
}

#[test]
fn rv64i_jal_jalr() {
    let m = TestMachine::new(1);
    // Forward and backward JAL; rd gets pc + 4.
    let h = exec(
        &m,
        &[],
        &[
            0x00c0_006f, // jal zero, .+12
            0x0070_0693, // addi a3, zero, 7
            0x0080_006f, // jal zero, .+8
            0xff9f_f0ef, // jal ra, .-8
        ],
    );
    assert_eq!(h.reg(A3), 7);
    assert_eq!(h.reg(RA), RAM_BASE + 16);
    assert_eq!(h.pc(), RAM_BASE + 16);

    // JALR clears bit 0 of the target: a0 + 1 is odd, lands on a0.
    let h = exec(
        &m,
        &[(A0, RAM_BASE + 8)],
        &[
            0x0015_00e7, // jalr ra, 1(a0)
            0x0010_0613, // addi a2, zero, 1
            0x0010_0693, // addi a3, zero, 1
        ],
    );
    assert_eq!(h.reg(RA), RAM_BASE + 4);
    assert_eq!((h.reg(A2), h.reg(A3)), (0, 1));

    // rd = rs1: the target uses the old rs1.
    let h = exec(
        &m,
        &[(A0, RAM_BASE + 8)],
        &[
            0x0005_0567, // jalr a0, 0(a0)
            0x0010_0613, // addi a2, zero, 1
            0x0010_0693, // addi a3, zero, 1
        ],
    );
    assert_eq!(h.reg(A0), RAM_BASE + 4);
    assert_eq!((h.reg(A2), h.reg(A3)), (0, 1));

    // Negative offset; rd = zero writes nothing.
    let h = exec(
        &m,
        &[(A0, RAM_BASE + 12)],
        &[
            0xffc5_0067, // jalr zero, -4(a0)
            0x0010_0613, // addi a2, zero, 1
            0x0010_0693, // addi a3, zero, 1
        ],
    );
    assert_eq!((h.reg(0), h.reg(A2), h.reg(A3)), (0, 0, 1));
}

#[test]
fn rv64i_loads_extend() {
    let m = TestMachine::new(1);
    m.write64(DATA, 0x8887_8685_8483_8281);
    m.write64(DATA + 8, 0x0102_0304_0506_0708);
    check_loads(
        &m,
        &[
            (0x0005_0603, 0xffff_ffff_ffff_ff81), // lb a2, 0(a0)
            (0x0005_4603, 0x81),                  // lbu a2, 0(a0)
            (0x0005_1603, 0xffff_ffff_ffff_8281), // lh a2, 0(a0)
            (0x0005_5603, 0x8281),                // lhu a2, 0(a0)
            (0x0005_2603, 0xffff_ffff_8483_8281), // lw a2, 0(a0)
            (0x0005_6603, 0x8483_8281),           // lwu a2, 0(a0)
            (0x0005_3603, 0x8887_8685_8483_8281), // ld a2, 0(a0)
            (0x0085_0603, 0x08),                  // lb a2, 8(a0)
            (0x0085_1603, 0x0708),                // lh a2, 8(a0)
            (0x0085_2603, 0x0506_0708),           // lw a2, 8(a0)
            (0x0075_4603, 0x88),                  // lbu a2, 7(a0)
            (0xfff5_8603, 0xffff_ffff_ffff_ff88), // lb a2, -1(a1) -- a1 = DATA + 8
        ],
    );
}

/// Each row: one load into a2 with a0 = DATA, a1 = DATA + 8.
#[track_caller]
fn check_loads(m: &TestMachine, rows: &[(u32, u64)]) {
    for &(w, want) in rows {
        let h = exec(m, &[(A0, DATA), (A1, DATA + 8)], &[w]);
        assert_eq!(h.reg(A2), want, "{w:#010x}: got {:#x}", h.reg(A2));
    }
}

#[test]
fn rv64i_stores_sizes_and_offsets() {
    let m = TestMachine::new(1);
    let v = 0xa1a2_a3a4_a5a6_a7a8;
    for (w, want) in [
        (0x00b5_0023, 0xa8),        // sb a1, 0(a0)
        (0x00b5_1023, 0xa7a8),      // sh a1, 0(a0)
        (0x00b5_2023, 0xa5a6_a7a8), // sw a1, 0(a0)
        (0x00b5_3023, v),           // sd a1, 0(a0)
    ] {
        m.write64(DATA, 0);
        exec(&m, &[(A0, DATA), (A1, v)], &[w]);
        assert_eq!(m.read64(DATA), want, "{w:#010x}");
    }
    m.write64(DATA, 0);
    exec(&m, &[(A0, DATA + 8), (A1, v)], &[0xfeb5_3c23]); // sd a1, -8(a0)
    assert_eq!(m.read64(DATA), v);
    m.write64(DATA + 0x7f8, 0);
    exec(&m, &[(A0, DATA), (A1, v)], &[0x7eb5_3c23]); // sd a1, 2040(a0)
    assert_eq!(m.read64(DATA + 0x7f8), v);
}

#[test]
fn misaligned_loads_and_stores_within_and_across_pages() {
    // The unprivileged spec (2.6) lets an EEI support misaligned accesses;
    // ours does, in RAM, also across a page boundary.
    let m = TestMachine::new(1);
    m.write64(DATA, 0x8877_6655_4433_2211);
    m.write64(DATA + 8, 0xffee_ddcc_bbaa_9988);
    check_loads(
        &m,
        &[
            (0x0035_3603, 0xaa99_8888_7766_5544), // ld a2, 3(a0)
            (0x0065_2603, 0xffff_ffff_9988_8877), // lw a2, 6(a0)
            (0x0065_6603, 0x9988_8877),           // lwu a2, 6(a0)
            (0x0075_5603, 0x8888),                // lhu a2, 7(a0)
            (0x0075_1603, 0xffff_ffff_ffff_8888), // lh a2, 7(a0)
        ],
    );
    let page = RAM_BASE + 0x3000;
    m.write64(page - 8, 0x8877_6655_4433_2211);
    m.write64(page, 0xffee_ddcc_bbaa_9988);
    let h = exec(&m, &[(A0, page)], &[0xffd5_3603]); // ld a2, -3(a0)
    assert_eq!(h.reg(A2), 0xccbb_aa99_8888_7766);
    let h = exec(&m, &[(A0, page)], &[0xffe5_2603]); // lw a2, -2(a0)
    assert_eq!(h.reg(A2), 0xffff_ffff_9988_8877);
    let sd = 0xfeb5_3e23; // sd a1, -4(a0)
    exec(&m, &[(A0, page), (A1, 0x0102_0304_0506_0708)], &[sd]);
    assert_eq!(m.read64(page - 8), 0x0506_0708_4433_2211);
    assert_eq!(m.read64(page), 0xffee_ddcc_0102_0304);
    let sh = 0xfeb5_1fa3; // sh a1, -1(a0)
    exec(&m, &[(A0, page), (A1, 0xabcd)], &[sh]);
    assert_eq!(m.read64(page - 8) >> 56, 0xcd);
    assert_eq!(m.read64(page) & 0xff, 0xab);
    let sw = 0x00b5_20a3; // sw a1, 1(a0)
    exec(&m, &[(A0, DATA), (A1, 0x1122_3344)], &[sw]);
    assert_eq!(m.read64(DATA), 0x8877_6611_2233_4411);
}

#[test]
fn rv64a_every_amo() {
    let m = TestMachine::new(1);
    const GUARD: u64 = 0x5a5a_5a5a << 32;
    const W0: u64 = 0x8000_0001;
    const OPW: u64 = 0x1234_5678_0000_0002; // upper half ignored by .w
                                            // (word, initial, operand, old value in a2, memory afterwards)
    let w_rows: &[(u32, u64, u64, u64, u64)] = &[
        (0x08b5_262f, W0, OPW, sx(0x8000_0001), 2), // amoswap.w a2, a1, (a0)
        (0x00b5_262f, W0, OPW, sx(0x8000_0001), 0x8000_0003), // amoadd.w a2, a1, (a0)
        (0x00b5_262f, 0xffff_ffff, 1, MAX, 0),      // amoadd.w a2, a1, (a0)
        (0x60b5_262f, W0, OPW, sx(0x8000_0001), 0), // amoand.w a2, a1, (a0)
        (0x40b5_262f, W0, OPW, sx(0x8000_0001), 0x8000_0003), // amoor.w a2, a1, (a0)
        (0x20b5_262f, W0, 3, sx(0x8000_0001), 0x8000_0002), // amoxor.w a2, a1, (a0)
        (0x80b5_262f, W0, OPW, sx(0x8000_0001), W0), // amomin.w a2, a1, (a0)
        (0xa0b5_262f, W0, OPW, sx(0x8000_0001), 2), // amomax.w a2, a1, (a0)
        (0xc0b5_262f, W0, OPW, sx(0x8000_0001), 2), // amominu.w a2, a1, (a0)
        (0xe0b5_262f, W0, OPW, sx(0x8000_0001), W0), // amomaxu.w a2, a1, (a0)
        (0x06b5_262f, 5, 7, 5, 12),                 // amoadd.w.aqrl a2, a1, (a0)
    ];
    for &(w, init, op, old, mem) in w_rows {
        m.write64(DATA, GUARD | init);
        let h = exec(&m, &[(A0, DATA), (A1, op)], &[w]);
        assert_eq!(h.reg(A2), old, "{w:#010x} old value");
        assert_eq!(m.read64(DATA), GUARD | mem, "{w:#010x} memory");
    }
    const D0: u64 = 0x8000_0000_0000_0001;
    let d_rows: &[(u32, u64, u64, u64, u64)] = &[
        (0x08b5_362f, D0, 2, D0, 2),                     // amoswap.d a2, a1, (a0)
        (0x00b5_362f, D0, 2, D0, 0x8000_0000_0000_0003), // amoadd.d a2, a1, (a0)
        (0x60b5_362f, D0, 3, D0, 1),                     // amoand.d a2, a1, (a0)
        (0x40b5_362f, D0, 2, D0, 0x8000_0000_0000_0003), // amoor.d a2, a1, (a0)
        (0x20b5_362f, D0, 3, D0, 0x8000_0000_0000_0002), // amoxor.d a2, a1, (a0)
        (0x80b5_362f, D0, 2, D0, D0),                    // amomin.d a2, a1, (a0)
        (0xa0b5_362f, D0, 2, D0, 2),                     // amomax.d a2, a1, (a0)
        (0xc0b5_362f, D0, 2, D0, 2),                     // amominu.d a2, a1, (a0)
        (0xe0b5_362f, D0, 2, D0, D0),                    // amomaxu.d a2, a1, (a0)
    ];
    for &(w, init, op, old, mem) in d_rows {
        m.write64(DATA, init);
        let h = exec(&m, &[(A0, DATA), (A1, op)], &[w]);
        assert_eq!(h.reg(A2), old, "{w:#010x} old value");
        assert_eq!(m.read64(DATA), mem, "{w:#010x} memory");
    }
    // rd = zero: memory still updated, x0 stays 0.
    m.write64(DATA, 1);
    let h = exec(&m, &[(A0, DATA), (A1, 2)], &[0x00b5_302f]); // amoadd.d zero, a1, (a0)
    assert_eq!((h.reg(0), m.read64(DATA)), (0, 3));
}

#[test]
fn rv64a_lr_sc_rules() {
    let m = TestMachine::new(1);
    // LR.W sign-extends; SC.W after it succeeds (rd = 0) and writes the low
    // word; a second SC.W has no reservation: fails (rd != 0), no write.
    m.write64(DATA, 0x5a5a_5a5a_8000_0000);
    let h = exec(
        &m,
        &[(A0, DATA), (A1, 0x1111_1111_0000_0007), (A5, 9)],
        &[
            0x1005_262f, // lr.w a2, (a0)
            0x18b5_26af, // sc.w a3, a1, (a0)
            0x18f5_272f, // sc.w a4, a5, (a0)
        ],
    );
    assert_eq!(h.reg(A2), sx(0x8000_0000));
    assert_eq!(h.reg(A3), 0);
    assert_ne!(h.reg(A4), 0);
    assert_eq!(m.read64(DATA), 0x5a5a_5a5a_0000_0007);

    // SC.D without any LR fails and leaves memory alone.
    m.write64(DATA, 1);
    let h = exec(&m, &[(A0, DATA), (A1, 2)], &[0x18b5_36af]); // sc.d a3, a1, (a0)
    assert_ne!(h.reg(A3), 0);
    assert_eq!(m.read64(DATA), 1);

    // LR.D/SC.D pair; then any SC (here to another page, whatever its
    // outcome) invalidates the reservation, so a following SC.D fails.
    m.write64(DATA, 0x8000_0000_0000_0000);
    let h = exec(
        &m,
        &[(A0, DATA), (A1, DATA + 0x1000), (A5, 3)],
        &[
            0x1005_362f, // lr.d a2, (a0)
            0x18f5_36af, // sc.d a3, a5, (a0)
            0x1005_362f, // lr.d a2, (a0)
            0x18f5_b72f, // sc.d a4, a5, (a1)
            0x18f5_372f, // sc.d a4, a5, (a0)
        ],
    );
    assert_eq!(h.reg(A2), 3);
    assert_eq!(h.reg(A3), 0);
    assert_ne!(h.reg(A4), 0);
}

#[test]
fn rv64a_misaligned_and_unmapped_atomics_trap() {
    let m = TestMachine::new(1);
    m.write64(DATA, 0x1122_3344_5566_7788);
    // (word, address, allowed causes): AMOs and SC are store/AMO accesses
    // (privileged spec 3.1.15), LR is a load; misaligned atomics raise an
    // address-misaligned or an access-fault exception (unprivileged 8.2/8.4).
    let rows: &[(u32, u64, &[u64])] = &[
        (0x00b5_262f, DATA + 2, &[cause::STORE_MISALIGNED]), // amoadd.w a2, a1, (a0)
        (0x08b5_362f, DATA + 4, &[cause::STORE_MISALIGNED]), // amoswap.d a2, a1, (a0)
        (0xe0b5_262f, DATA + 1, &[cause::STORE_MISALIGNED]), // amomaxu.w a2, a1, (a0)
        (
            0x1005_362f,
            DATA + 4,
            &[cause::LOAD_MISALIGNED, cause::LOAD_ACCESS],
        ), // lr.d a2, (a0)
        (
            0x18b5_262f,
            DATA + 1,
            &[cause::STORE_MISALIGNED, cause::STORE_ACCESS],
        ), // sc.w a2, a1, (a0)
        (0x40b5_362f, 0, &[cause::STORE_ACCESS]),            // amoor.d a2, a1, (a0)
        (0x1005_262f, 0, &[cause::LOAD_ACCESS]),             // lr.w a2, (a0)
    ];
    for &(w, va, causes) in rows {
        let (h, t) = trap(&m, &[(A0, va), (A1, 0xff), (A2, 0x77)], &[w]);
        assert!(causes.contains(&t.cause), "{w:#010x}: {t:?}");
        assert_eq!(t.tval, va, "{w:#010x}");
        assert_eq!(h.reg(A2), 0x77, "{w:#010x}: rd unchanged");
        assert_eq!(h.pc(), RAM_BASE);
    }
    assert_eq!(m.read64(DATA), 0x1122_3344_5566_7788);
}

#[test]
fn zicsr_all_six_forms() {
    let m = TestMachine::new(1);
    // (word, mscratch before, a0, old value in a2, mscratch after)
    let rows: &[(u32, u64, u64, u64, u64)] = &[
        (0x3405_1673, 3, 5, 3, 5),             // csrrw a2, mscratch, a0
        (0x3405_2673, 0x0f, 0x30, 0x0f, 0x3f), // csrrs a2, mscratch, a0
        (0x3405_3673, 0xff, 0x0f, 0xff, 0xf0), // csrrc a2, mscratch, a0
        (0x340f_d673, 1, 0, 1, 31),            // csrrwi a2, mscratch, 31
        (0x3408_6673, 0x0f, 0, 0x0f, 0x1f),    // csrrsi a2, mscratch, 16
        (0x3400_f673, 0x0f, 0, 0x0f, 0x0e),    // csrrci a2, mscratch, 1
        (0x3400_2673, 7, 0, 7, 7),             // csrrs a2, mscratch, zero
        (0x3400_3673, 7, 0, 7, 7),             // csrrc a2, mscratch, zero
        (0x3400_6673, 7, 0, 7, 7),             // csrrsi a2, mscratch, 0
        (0x3400_7673, 7, 0, 7, 7),             // csrrci a2, mscratch, 0
        (0x3400_1673, 7, 0, 7, 0),             // csrrw a2, mscratch, zero
    ];
    for &(w, before, a0, old, after) in rows {
        let mut h = m.hart_with(&[(A0, a0)]);
        h.mscratch = before;
        m.code(RAM_BASE, &[w]);
        h.step().unwrap();
        assert_eq!((h.reg(A2), h.mscratch), (old, after), "{w:#010x}");
    }
    // rd = x0: the write happens, x0 stays 0.
    let mut h = m.hart_with(&[(A0, 9)]);
    m.code(RAM_BASE, &[0x3405_1073]); // csrrw zero, mscratch, a0
    h.step().unwrap();
    assert_eq!((h.mscratch, h.reg(0)), (9, 0));

    // Read-only CSR (mhartid): rs1 = x0 / uimm = 0 forms of CSRRS/CSRRC do
    // not write and are legal; every other form writes and is illegal, even
    // when the value written is zero (Zicsr chapter, table of side effects).
    let legal = [
        0xf140_2673, // csrrs a2, mhartid, zero
        0xf140_3673, // csrrc a2, mhartid, zero
        0xf140_6673, // csrrsi a2, mhartid, 0
        0xf140_7673, // csrrci a2, mhartid, 0
    ];
    for w in legal {
        let mut h = m.hart_with(&[(A2, 0x77)]);
        m.code(RAM_BASE, &[w]);
        h.step().unwrap_or_else(|t| panic!("{w:#010x}: {t:?}"));
        assert_eq!(h.reg(A2), 0, "{w:#010x}: mhartid");
    }
    let illegal = [
        0xf145_a673, // csrrs a2, mhartid, a1 -- a1 = 0, still a write
        0xf145_b673, // csrrc a2, mhartid, a1
        0xf140_e673, // csrrsi a2, mhartid, 1
        0xf140_f673, // csrrci a2, mhartid, 1
        0xf140_1073, // csrrw zero, mhartid, zero
        0xf140_5673, // csrrwi a2, mhartid, 0
        0x7c05_1673, // csrrw a2, 0x7c0, a0 -- no such CSR
        0x8000_2673, // csrrs a2, 0x800, zero -- no such CSR
    ];
    for w in illegal {
        let (h, t) = trap(&m, &[(A1, 0), (A2, 0x77)], &[w]);
        assert_eq!(
            (t.cause, t.tval),
            (cause::ILLEGAL_INSN, w as u64),
            "{w:#010x}"
        );
        assert_eq!(h.reg(A2), 0x77, "{w:#010x}: rd unchanged");
    }
}

#[test]
fn fence_forms_and_fence_i_makes_stores_visible() {
    let m = TestMachine::new(1);
    // Unused FENCE/FENCE.I fields are reserved for future use and ignored
    // (unprivileged 2.7, 3.1): none of these traps.
    let h = exec(
        &m,
        &[],
        &[
            0x0ff0_000f, // fence iorw, iorw
            0x8330_000f, // fence.tso
            0x0230_000f, // fence r, rw
            0x0000_100f, // fence.i
            0x0ff5_060f, // .insn i 0x0f, 0, a2, a0, 0x0ff -- fence with rd, rs1 set
            0x1235_160f, // .insn i 0x0f, 1, a2, a0, 0x123 -- fence.i with rd, rs1, imm set
        ],
    );
    assert_eq!(h.reg(A2), 0);

    // Self-modifying code: the first instruction runs, is replaced by a
    // store, fence.i, and runs again as the new instruction.
    let new = 0x0106_0613; // addi a2, a2, 16
    m.code(
        RAM_BASE,
        &[
            0x0016_0613, // addi a2, a2, 1
            0x00b5_2023, // sw a1, 0(a0)
            0x0000_100f, // fence.i
            0xff5f_f06f, // jal zero, .-12
        ],
    );
    let mut h = m.hart_with(&[(A0, RAM_BASE), (A1, new as u64)]);
    for _ in 0..5 {
        h.step().unwrap();
    }
    assert_eq!(h.reg(A2), 17);
    assert_eq!(h.pc(), RAM_BASE + 4);
}

#[test]
fn compressed_data_formats_execute() {
    // CIW, CI, CSS, CL, CS, CA, CB and CR forms; sp and s0 point at data.
    let m = TestMachine::new(1);
    let sp = RAM_BASE + 0x1800;
    let halves: &[u16] = &[
        0x0808, // c.addi4spn a0, sp, 16
        0x55f5, // c.li a1, -3
        0x05a9, // c.addi a1, 10
        0x767d, // c.lui a2, 0xfffff
        0x8631, // c.srai a2, 12
        0x9271, // c.srli a2, 60
        0x8a15, // c.andi a2, 5
        0x0592, // c.slli a1, 4
        0x35fd, // c.addiw a1, -1
        0x86ae, // c.mv a3, a1
        0x96b2, // c.add a3, a2
        0x8e91, // c.sub a3, a2
        0x8eb1, // c.xor a3, a2
        0x8ed1, // c.or a3, a2
        0x8ef1, // c.and a3, a2
        0x9eb1, // c.addw a3, a2
        0x9e8d, // c.subw a3, a1
        0xe436, // c.sdsp a3, 8(sp)
        0x6722, // c.ldsp a4, 8(sp)
        0xc22e, // c.swsp a1, 4(sp)
        0x4792, // c.lwsp a5, 4(sp)
        0xe814, // c.sd a3, 16(s0)
        0x6804, // c.ld s1, 16(s0)
        0xc010, // c.sw a2, 0(s0)
        0x400c, // c.lw a1, 0(s0)
        0x7139, // c.addi16sp sp, -64
        0x0001, // c.nop
    ];
    m.code16(RAM_BASE, halves);
    let mut h = m.hart_with(&[(SP, sp), (S0, DATA)]);
    for _ in 0..halves.len() {
        let pc = h.pc();
        h.step().unwrap_or_else(|t| panic!("{t:?} at {pc:#x}"));
    }
    let minus_101 = neg(-101);
    assert_eq!(h.reg(A0), sp + 16);
    assert_eq!(h.reg(A1), 5);
    assert_eq!(h.reg(A2), 5);
    assert_eq!(h.reg(A3), minus_101);
    assert_eq!(h.reg(A4), minus_101);
    assert_eq!(h.reg(A5), 0x6f);
    assert_eq!(h.reg(S1), minus_101);
    assert_eq!(h.reg(SP), sp - 64);
    assert_eq!(m.read64(sp + 8), minus_101);
    assert_eq!(m.read64(sp) >> 32, 0x6f);
    assert_eq!(m.read64(DATA + 16), minus_101);
    assert_eq!(m.read64(DATA) & 0xffff_ffff, 5);
    assert_eq!(h.pc(), RAM_BASE + 2 * halves.len() as u64);
}

#[test]
fn compressed_control_flow_and_mixed_lengths() {
    // CB branches, CJ, CR jumps; a 32-bit instruction at pc % 4 == 2.
    let m = TestMachine::new(1);
    let auipc = 0x0000_0717; // auipc a4, 0
    let halves: &[u16] = &[
        0xc119, // c.beqz a0, .+6
        0x4605, // c.li a2, 1
        0x4609, // c.li a2, 2
        0xe111, // c.bnez a0, .+4
        0xa011, // c.j .+4
        0x4685, // c.li a3, 1
        0x0001, // c.nop
        (auipc & 0xffff) as u16,
        (auipc >> 16) as u16,
        0x0731, // c.addi a4, 12
        0x9702, // c.jalr a4
        0x4689, // c.li a3, 2
        0x468d, // c.li a3, 3
        0x8786, // c.mv a5, ra
        0x459d, // c.li a1, 7
    ];
    m.code16(RAM_BASE, halves);
    let mut h = m.hart_with(&[]);
    for _ in 0..9 {
        let pc = h.pc();
        h.step().unwrap_or_else(|t| panic!("{t:?} at {pc:#x}"));
    }
    assert_eq!((h.reg(A2), h.reg(A3)), (0, 0), "skipped instructions ran");
    assert_eq!(h.reg(A4), RAM_BASE + 26);
    assert_eq!(h.reg(RA), RAM_BASE + 22);
    assert_eq!(h.reg(A5), RAM_BASE + 22);
    assert_eq!(h.reg(A1), 7);
    assert_eq!(h.pc(), RAM_BASE + 30);

    // c.jr back to a c.ebreak: breakpoint, epc at the c.ebreak.
    m.code16(
        RAM_BASE,
        &[
            0x8502, // c.jr a0
            0x9002, // c.ebreak
        ],
    );
    let mut h = m.hart_with(&[(A0, RAM_BASE + 2)]);
    h.step().unwrap();
    let t = h.step().unwrap_err();
    assert_eq!(t.cause, cause::BREAKPOINT);
    assert_eq!(h.pc(), RAM_BASE + 2);

    // A 32-bit instruction straddling a page boundary.
    let w = 0x02a0_0613; // addi a2, zero, 42
    m.code16(RAM_BASE + 0xffe, &[(w & 0xffff) as u16, (w >> 16) as u16]);
    let mut h = m.hart_with(&[]);
    h.pc = RAM_BASE + 0xffe;
    h.step().unwrap();
    assert_eq!((h.reg(A2), h.pc()), (42, RAM_BASE + 0x1002));
}

#[test]
fn reserved_encodings_are_illegal_with_tval() {
    // a0 points at RAM so that only the encoding can be wrong.
    let m = TestMachine::new(1);
    let words = [
        0x0005_1667, // .insn i 0x67, 1, a2, 0(a0) -- jalr with funct3 = 1
        0x0005_4667, // .insn i 0x67, 4, a2, 0(a0) -- jalr with funct3 = 4
        0x00b5_3463, // .insn b 0x63, 2, a0, a1, 8 -- branch funct3 = 2
        0x00b5_2463, // .insn b 0x63, 3, a0, a1, 8 -- branch funct3 = 3
        0x0005_7603, // .insn i 0x03, 7, a2, 0(a0) -- load funct3 = 7
        0x00b5_4023, // .insn s 0x23, 4, a1, 0(a0) -- store funct3 = 4
        0x00b5_7023, // .insn s 0x23, 7, a1, 0(a0) -- store funct3 = 7
        0x0405_1613, // .insn i 0x13, 1, a2, a0, 0x040 -- slli with imm[11:6] = 000001
        0x8005_1613, // .insn i 0x13, 1, a2, a0, -2048 -- slli with imm[11:6] = 100000
        0x0415_5613, // .insn i 0x13, 5, a2, a0, 0x041 -- srli with imm[11:6] = 000001
        0x4415_5613, // .insn i 0x13, 5, a2, a0, 0x441 -- srai with imm[11:6] = 010001
        0x6035_1613, // .insn i 0x13, 1, a2, a0, 0x603 -- clz family, rs2 field = 3
        0x2885_5613, // .insn i 0x13, 5, a2, a0, 0x288 -- orc.b with a wrong low field
        0x0205_161b, // .insn i 0x1b, 1, a2, a0, 0x020 -- slliw with shamt[5] = 1
        0x0205_561b, // .insn i 0x1b, 5, a2, a0, 0x020 -- srliw with shamt[5] = 1
        0x4205_561b, // .insn i 0x1b, 5, a2, a0, 0x420 -- sraiw with shamt[5] = 1
        0x0005_261b, // .insn i 0x1b, 2, a2, a0, 0 -- OP-IMM-32 funct3 = 2
        0x04b5_0633, // .insn r 0x33, 0, 2, a2, a0, a1 -- OP funct7 = 2
        0x40b5_1633, // .insn r 0x33, 1, 0x20, a2, a0, a1 -- OP funct7 = 0x20, funct3 = 1
        0x80b5_0633, // .insn r 0x33, 0, 0x40, a2, a0, a1 -- OP funct7 = 0x40
        0x00b5_263b, // .insn r 0x3b, 2, 0, a2, a0, a1 -- OP-32 funct3 = 2
        0x02b5_163b, // .insn r 0x3b, 1, 1, a2, a0, a1 -- OP-32 M funct3 = 1 (no mulhw)
        0x08b5_463b, // .insn r 0x3b, 4, 4, a2, a0, a1 -- zext.h form with rs2 != 0
        0x0005_700f, // .insn i 0x0f, 7, zero, a0, 0 -- MISC-MEM funct3 = 7
        0x00b5_062f, // .insn r 0x2f, 0, 0, a2, a0, a1 -- AMO funct3 = 0
        0x28b5_362f, // .insn r 0x2f, 3, 0x14, a2, a0, a1 -- AMO funct5 = 00101
        0x10b5_362f, // .insn r 0x2f, 3, 0x08, a2, a0, a1 -- lr.d with rs2 != 0
        0x3405_4673, // .insn i 0x73, 4, a2, a0, 0x340 -- SYSTEM funct3 = 4
        0x0000_0673, // .insn i 0x73, 0, a2, zero, 0 -- ecall with rd != 0
        0x00b5_060b, // .insn r 0x0b, 0, 0, a2, a0, a1 -- custom-0
        0x00b5_0657, // .insn r 0x57, 0, 0, a2, a0, a1 -- OP-V, no V
        0x00b5_0677, // .insn r 0x77, 0, 0, a2, a0, a1 -- reserved major opcode
        0x0000_001f, // -- 48-bit instruction prefix: longer than ILEN
        0xffff_ffff, // -- all ones
        0x0000_0000, // -- all zeros: a reserved compressed encoding (tval 16 bits)
    ];
    for w in words {
        let (h, t) = trap(&m, &[(A0, DATA), (A1, 0), (A2, 0x77)], &[w]);
        assert_eq!(
            (t.cause, t.tval),
            (cause::ILLEGAL_INSN, w as u64),
            "{w:#010x}"
        );
        assert_eq!(h.reg(A2), 0x77, "{w:#010x}: rd unchanged");
        assert_eq!(h.pc(), RAM_BASE);
    }
    // Reserved compressed encodings: tval is the 16-bit parcel.
    for c in [
        0x0004u16, // -- c.addi4spn s1, sp, 0: nzuimm = 0 is reserved
        0x9c41,    // -- funct6 100111, funct2 10: reserved CA encoding
        0x4002,    // -- c.lwsp zero: reserved
        0x8002,    // -- c.jr zero: reserved
    ] {
        m.code16(RAM_BASE, &[c, 0x0001]);
        let mut h = m.hart_with(&[]);
        let t = h.step().unwrap_err();
        assert_eq!(
            (t.cause, t.tval),
            (cause::ILLEGAL_INSN, c as u64),
            "{c:#06x}"
        );
    }
    // Decoding comes before the memory access: an illegal AMO whose address
    // is not memory is still an illegal instruction (privileged spec 3.1.15,
    // exception priority).
    let w = 0x28b0_362f; // .insn r 0x2f, 3, 0x14, a2, zero, a1 -- AMO funct5 = 00101
    let (_, t) = trap(&m, &[], &[w]);
    assert_eq!((t.cause, t.tval), (cause::ILLEGAL_INSN, w as u64));
}

/// SBI PMU: three fixed hardware counters (cycle, time, instret), so that
/// Linux's SBI PMU driver loads and opens `time` to user mode.
#[test]
fn sbi_pmu_reports_the_fixed_counters() {
    let m = TestMachine::with_mode(1, BootMode::Sbi);
    let mut h = m.hart(0);
    h.enter_supervisor(RAM_BASE, 0);
    let call = |h: &mut crate::hart::Hart, eid: u64, fid: u64, a0: u64, a1: u64| {
        let pc = h.pc();
        m.code(pc, &[0x0000_0073]); // ecall
        h.x[17] = eid;
        h.x[16] = fid;
        h.x[10] = a0;
        h.x[11] = a1;
        let t = h.step().unwrap_err();
        h.take_exception(t);
        (h.reg(10) as i64, h.reg(11))
    };
    let pmu = crate::sbi::EXT_PMU;
    assert_eq!(
        call(&mut h, crate::sbi::EXT_BASE, 3, pmu, 0),
        (0, 1),
        "probe"
    );
    assert_eq!(call(&mut h, pmu, 0, 0, 0), (0, 3), "num_counters");
    // get_info of counter 1: CSR time (0xc01), 64 bits wide, hardware.
    assert_eq!(call(&mut h, pmu, 1, 1, 0), (0, 0xc01 | (63 << 12)));
    assert_eq!(
        call(&mut h, pmu, 1, 3, 0).0,
        crate::sbi::SBI_ERR_INVALID_PARAM
    );
    // stop all three (what Linux does at start-up); a mask past them fails.
    assert_eq!(call(&mut h, pmu, 4, 0, 0b111).0, 0);
    assert_eq!(call(&mut h, pmu, 4, 1, 0b11).0, 0);
    assert_eq!(
        call(&mut h, pmu, 4, 1, 0b111).0,
        crate::sbi::SBI_ERR_INVALID_PARAM
    );
    // No programmable events.
    assert_eq!(
        call(&mut h, pmu, 2, 0, 0b111).0,
        crate::sbi::SBI_ERR_NOT_SUPPORTED
    );
}
