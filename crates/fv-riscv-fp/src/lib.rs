//! fv-riscv-fp: the arithmetic semantics of the RISC-V F and D standard
//! extensions (unprivileged spec chapters "F" and "D") for one hart's
//! floating-point state: decoding and executing the OP-FP and fused
//! multiply-add instructions, rounding modes, `fflags` accumulation,
//! canonical NaNs and NaN-boxing of singles.
//!
//! It does not own loads/stores (FLW/FLD/FSW/FSD), compressed forms,
//! `fcsr`/`frm`/`fflags` CSR access or `mstatus.FS` tracking: the caller
//! does those, and marks FS dirty when [`execute`] returns `Ok`.
//!
//! IEEE 754 arithmetic comes from a vendored subset of Berkeley SoftFloat 3e
//! with its RISC-V specialization (what Spike uses); `softfloat/README.md`
//! says why it is vendored rather than taken from a crate.

mod softfloat;
#[cfg(test)]
mod tests;

use softfloat::Op;

/// Architectural floating-point state of one hart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FpState {
    /// f0..f31; singles live NaN-boxed in the low 32 bits.
    pub f: [u64; 32],
    /// Accrued exceptions, 5 bits NV DZ OF UF NX as in `fcsr` (see [`fflags`]).
    pub fflags: u32,
    /// Dynamic rounding mode, 3 bits.
    pub frm: u32,
}

/// Bits of `fflags` (unprivileged spec, "Floating-Point Control and Status
/// Register", accrued exception flag encoding).
pub mod fflags {
    /// Inexact.
    pub const NX: u32 = 1 << 0;
    /// Underflow.
    pub const UF: u32 = 1 << 1;
    /// Overflow.
    pub const OF: u32 = 1 << 2;
    /// Divide by zero.
    pub const DZ: u32 = 1 << 3;
    /// Invalid operation.
    pub const NV: u32 = 1 << 4;
}

/// The instruction is not a valid F/D computational instruction (unknown
/// funct, reserved/invalid rounding mode incl. dynamic rm with frm 5..7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal floating-point instruction")]
pub struct IllegalFp;

/// Boxes a single into a 64-bit register: upper 32 bits all ones (spec
/// "NaN Boxing of Narrower Values").
#[inline]
pub fn nan_box(v: u32) -> u64 {
    0xffff_ffff_0000_0000 | u64::from(v)
}

/// Reads a single from a 64-bit register; a value that is not properly
/// NaN-boxed reads as the canonical NaN (spec "NaN Boxing of Narrower Values").
#[inline]
pub fn unbox_f32(r: u64) -> u32 {
    if r >> 32 == 0xffff_ffff {
        r as u32
    } else {
        CANONICAL_NAN_S
    }
}

const CANONICAL_NAN_S: u32 = 0x7fc0_0000;
const CANONICAL_NAN_D: u64 = 0x7ff8_0000_0000_0000;

const OPCODE_MADD: u32 = 0x43;
const OPCODE_MSUB: u32 = 0x47;
const OPCODE_NMSUB: u32 = 0x4b;
const OPCODE_NMADD: u32 = 0x4f;
const OPCODE_OP_FP: u32 = 0x53;

/// `fmt` field (bits 26:25) values; H (2) and Q (3) are not implemented.
const FMT_S: u32 = 0;
const FMT_D: u32 = 1;

/// Executes one F/D computational instruction: opcode 0x53 (OP-FP) or
/// 0x43/0x47/0x4B/0x4F (FMADD/FMSUB/FNMSUB/FNMADD), 32-bit encoding (the
/// caller expands compressed forms and handles FLW/FLD/FSW/FSD itself).
/// `x` is the integer register file; x0 is never written (results for
/// rd == 0 are discarded). On `Err` nothing was modified.
pub fn execute(insn: u32, fp: &mut FpState, x: &mut [u64; 32]) -> Result<(), IllegalFp> {
    let d = Fields::decode(insn);
    let opcode = insn & 0x7f;
    match (opcode, d.fmt) {
        (OPCODE_MADD | OPCODE_MSUB | OPCODE_NMSUB | OPCODE_NMADD, FMT_S) => {
            fused::<Single>(opcode, &d, fp)
        }
        (OPCODE_MADD | OPCODE_MSUB | OPCODE_NMSUB | OPCODE_NMADD, FMT_D) => {
            fused::<Double>(opcode, &d, fp)
        }
        (OPCODE_OP_FP, FMT_S) => op_fp::<Single>(&d, fp, x),
        (OPCODE_OP_FP, FMT_D) => op_fp::<Double>(&d, fp, x),
        _ => Err(IllegalFp),
    }
}

/// Register and function fields of the R and R4 formats.
struct Fields {
    rd: usize,
    rm: u32,
    rs1: usize,
    rs2: usize,
    rs3: usize,
    fmt: u32,
    funct5: u32,
}

impl Fields {
    #[inline]
    fn decode(insn: u32) -> Self {
        Self {
            rd: ((insn >> 7) & 31) as usize,
            rm: (insn >> 12) & 7,
            rs1: ((insn >> 15) & 31) as usize,
            rs2: ((insn >> 20) & 31) as usize,
            rs3: (insn >> 27) as usize,
            fmt: (insn >> 25) & 3,
            funct5: insn >> 27,
        }
    }
}

/// Resolves the instruction's rm field to a rounding mode 0..=4: 5 and 6 are
/// reserved, 7 (DYN) selects `frm`, which is itself invalid at 5..=7 (spec
/// "Floating-Point Control and Status Register", rounding mode encoding).
#[inline]
fn rounding(rm: u32, frm: u32) -> Result<u32, IllegalFp> {
    let rm = if rm == 7 { frm } else { rm };
    if rm <= 4 {
        Ok(rm)
    } else {
        Err(IllegalFp)
    }
}

/// Runs one SoftFloat operation and ORs the exceptions it raised into
/// `fflags`.
#[inline]
fn soft(fp: &mut FpState, op: Op, a: u64, b: u64, c: u64, rm: u32) -> u64 {
    let (result, raised) = softfloat::run(op, a, b, c, rm);
    fp.fflags |= raised;
    result
}

#[inline]
fn set_x(x: &mut [u64; 32], rd: usize, v: u64) {
    if rd != 0 {
        x[rd] = v;
    }
}

/// One of the two formats: where its fields sit, how it lives in a 64-bit
/// f register, and its SoftFloat operations. Raw values are carried in a
/// `u64` (singles zero-extended) so S and D share the code.
trait Precision {
    const FMT: u32;
    const SIGN: u64;
    const EXP: u64;
    const FRAC: u64;
    /// Most significant fraction bit: set for quiet NaNs (IEEE 754-2008 6.2.1).
    const QUIET: u64;
    const CANONICAL_NAN: u64;

    const ADD: Op;
    const SUB: Op;
    const MUL: Op;
    const DIV: Op;
    const SQRT: Op;
    const MUL_ADD: Op;
    const EQ: Op;
    const LT: Op;
    const LE: Op;
    /// To W, WU, L, LU (the rs2 field of FCVT.int.fmt).
    const TO_INT: [Op; 4];
    /// From W, WU, L, LU (the rs2 field of FCVT.fmt.int).
    const FROM_INT: [Op; 4];

    /// Raw value of the operand in register `reg` (unboxed for S).
    fn raw(reg: u64) -> u64;
    /// Register value holding `raw` (boxed for S).
    fn reg(raw: u64) -> u64;
    /// FMV.X.W / FMV.X.D: the register bits, no unboxing; W sign-extends.
    fn move_to_x(reg: u64) -> u64;
    /// FMV.W.X / FMV.D.X: the integer bits, boxed for W.
    fn move_from_x(x: u64) -> u64;

    #[inline]
    fn is_nan(raw: u64) -> bool {
        raw & Self::EXP == Self::EXP && raw & Self::FRAC != 0
    }
    #[inline]
    fn is_snan(raw: u64) -> bool {
        Self::is_nan(raw) && raw & Self::QUIET == 0
    }
}

struct Single;
struct Double;

impl Precision for Single {
    const FMT: u32 = FMT_S;
    const SIGN: u64 = 1 << 31;
    const EXP: u64 = 0xff << 23;
    const FRAC: u64 = (1 << 23) - 1;
    const QUIET: u64 = 1 << 22;
    const CANONICAL_NAN: u64 = CANONICAL_NAN_S as u64;

    const ADD: Op = Op::AddS;
    const SUB: Op = Op::SubS;
    const MUL: Op = Op::MulS;
    const DIV: Op = Op::DivS;
    const SQRT: Op = Op::SqrtS;
    const MUL_ADD: Op = Op::MulAddS;
    const EQ: Op = Op::EqS;
    const LT: Op = Op::LtS;
    const LE: Op = Op::LeS;
    const TO_INT: [Op; 4] = [Op::SToW, Op::SToWu, Op::SToL, Op::SToLu];
    const FROM_INT: [Op; 4] = [Op::WToS, Op::WuToS, Op::LToS, Op::LuToS];

    #[inline]
    fn raw(reg: u64) -> u64 {
        u64::from(unbox_f32(reg))
    }
    #[inline]
    fn reg(raw: u64) -> u64 {
        nan_box(raw as u32)
    }
    #[inline]
    fn move_to_x(reg: u64) -> u64 {
        reg as u32 as i32 as i64 as u64
    }
    #[inline]
    fn move_from_x(x: u64) -> u64 {
        nan_box(x as u32)
    }
}

impl Precision for Double {
    const FMT: u32 = FMT_D;
    const SIGN: u64 = 1 << 63;
    const EXP: u64 = 0x7ff << 52;
    const FRAC: u64 = (1 << 52) - 1;
    const QUIET: u64 = 1 << 51;
    const CANONICAL_NAN: u64 = CANONICAL_NAN_D;

    const ADD: Op = Op::AddD;
    const SUB: Op = Op::SubD;
    const MUL: Op = Op::MulD;
    const DIV: Op = Op::DivD;
    const SQRT: Op = Op::SqrtD;
    const MUL_ADD: Op = Op::MulAddD;
    const EQ: Op = Op::EqD;
    const LT: Op = Op::LtD;
    const LE: Op = Op::LeD;
    const TO_INT: [Op; 4] = [Op::DToW, Op::DToWu, Op::DToL, Op::DToLu];
    const FROM_INT: [Op; 4] = [Op::WToD, Op::WuToD, Op::LToD, Op::LuToD];

    #[inline]
    fn raw(reg: u64) -> u64 {
        reg
    }
    #[inline]
    fn reg(raw: u64) -> u64 {
        raw
    }
    #[inline]
    fn move_to_x(reg: u64) -> u64 {
        reg
    }
    #[inline]
    fn move_from_x(x: u64) -> u64 {
        x
    }
}

/// FMADD/FMSUB/FNMSUB/FNMADD: one rounding of ±(rs1×rs2)±rs3 (spec
/// "Single-Precision Floating-Point Computational Instructions"). The
/// negations are sign flips of the inputs, exact and the way Spike does it;
/// NaN results are canonical whatever their signs. SoftFloat's RISC-V mulAdd
/// raises NV for ∞×0 even when rs3 is a quiet NaN, as the spec requires.
fn fused<P: Precision>(opcode: u32, d: &Fields, fp: &mut FpState) -> Result<(), IllegalFp> {
    let rm = rounding(d.rm, fp.frm)?;
    let a = P::raw(fp.f[d.rs1]);
    let b = P::raw(fp.f[d.rs2]);
    let c = P::raw(fp.f[d.rs3]);
    let (a, c) = match opcode {
        OPCODE_MADD => (a, c),
        OPCODE_MSUB => (a, c ^ P::SIGN),
        OPCODE_NMSUB => (a ^ P::SIGN, c),
        _ => (a ^ P::SIGN, c ^ P::SIGN), // FNMADD
    };
    let r = soft(fp, P::MUL_ADD, a, b, c, rm);
    fp.f[d.rd] = P::reg(r);
    Ok(())
}

fn op_fp<P: Precision>(d: &Fields, fp: &mut FpState, x: &mut [u64; 32]) -> Result<(), IllegalFp> {
    match d.funct5 {
        // FADD, FSUB, FMUL, FDIV
        0x00..=0x03 => {
            let rm = rounding(d.rm, fp.frm)?;
            let op = [P::ADD, P::SUB, P::MUL, P::DIV][d.funct5 as usize];
            let a = P::raw(fp.f[d.rs1]);
            let b = P::raw(fp.f[d.rs2]);
            let r = soft(fp, op, a, b, 0, rm);
            fp.f[d.rd] = P::reg(r);
        }
        // FSQRT
        0x0b if d.rs2 == 0 => {
            let rm = rounding(d.rm, fp.frm)?;
            let r = soft(fp, P::SQRT, P::raw(fp.f[d.rs1]), 0, 0, rm);
            fp.f[d.rd] = P::reg(r);
        }
        // FSGNJ, FSGNJN, FSGNJX: bit operations that never raise flags.
        // Unboxing still applies to singles: only the FMV transfers skip it
        // (spec "NaN Boxing of Narrower Values").
        0x04 if d.rm <= 2 => {
            let a = P::raw(fp.f[d.rs1]);
            let b = P::raw(fp.f[d.rs2]);
            let sign = match d.rm {
                0 => b,
                1 => !b,
                _ => a ^ b,
            } & P::SIGN;
            fp.f[d.rd] = P::reg((a & !P::SIGN) | sign);
        }
        // FMIN, FMAX
        0x05 if d.rm <= 1 => {
            let a = P::raw(fp.f[d.rs1]);
            let b = P::raw(fp.f[d.rs2]);
            let r = min_max::<P>(a, b, d.rm == 1, fp);
            fp.f[d.rd] = P::reg(r);
        }
        // FCVT.S.D (fmt S, rs2 names D) and FCVT.D.S (fmt D, rs2 names S);
        // rs2 naming H or Q, or the same format, is not an F/D instruction.
        0x08 => {
            let (op, src) = match (P::FMT, d.rs2 as u32) {
                (FMT_S, FMT_D) => (Op::DToS, fp.f[d.rs1]),
                (FMT_D, FMT_S) => (Op::SToD, u64::from(unbox_f32(fp.f[d.rs1]))),
                _ => return Err(IllegalFp),
            };
            let rm = rounding(d.rm, fp.frm)?;
            let r = soft(fp, op, src, 0, 0, rm);
            fp.f[d.rd] = P::reg(r);
        }
        // FLE, FLT, FEQ. FEQ is quiet (NV only for signaling NaNs), FLT and
        // FLE are signaling (NV for any NaN): spec "Single-Precision
        // Floating-Point Compare Instructions". SoftFloat's eq/lt/le are
        // exactly those. The rm field is funct3 here, not a rounding mode.
        0x14 if d.rm <= 2 => {
            let op = [P::LE, P::LT, P::EQ][d.rm as usize];
            let r = soft(fp, op, P::raw(fp.f[d.rs1]), P::raw(fp.f[d.rs2]), 0, 0);
            set_x(x, d.rd, r);
        }
        // FCVT.W/WU/L/LU.fmt. SoftFloat's RISC-V specialization saturates as
        // the spec's conversion table says (NaN converts to the largest
        // positive value) and raises NV; NX for inexact in-range results.
        0x18 if d.rs2 <= 3 => {
            let rm = rounding(d.rm, fp.frm)?;
            let r = soft(fp, P::TO_INT[d.rs2], P::raw(fp.f[d.rs1]), 0, 0, rm);
            // 32-bit results are sign-extended, FCVT.WU included (spec
            // "Single-Precision Floating-Point Conversion and Move").
            let r = if d.rs2 <= 1 {
                r as u32 as i32 as i64 as u64
            } else {
                r
            };
            set_x(x, d.rd, r);
        }
        // FCVT.fmt.W/WU/L/LU; the glue takes the low 32 bits for W/WU.
        0x1a if d.rs2 <= 3 => {
            let rm = rounding(d.rm, fp.frm)?;
            let r = soft(fp, P::FROM_INT[d.rs2], x[d.rs1], 0, 0, rm);
            fp.f[d.rd] = P::reg(r);
        }
        // FMV.X.W / FMV.X.D: bit-exact, no unboxing.
        0x1c if d.rs2 == 0 && d.rm == 0 => set_x(x, d.rd, P::move_to_x(fp.f[d.rs1])),
        // FCLASS
        0x1c if d.rs2 == 0 && d.rm == 1 => set_x(x, d.rd, classify::<P>(P::raw(fp.f[d.rs1]))),
        // FMV.W.X / FMV.D.X
        0x1e if d.rs2 == 0 && d.rm == 0 => fp.f[d.rd] = P::move_from_x(x[d.rs1]),
        _ => return Err(IllegalFp),
    }
    Ok(())
}

/// FMIN/FMAX as in version 2.2 of the F extension (IEEE 754-2019
/// minimumNumber/maximumNumber): -0 < +0, a single NaN operand yields the
/// other operand, two NaNs yield the canonical NaN, and a signaling NaN
/// input raises NV even when the result is not a NaN.
fn min_max<P: Precision>(a: u64, b: u64, max: bool, fp: &mut FpState) -> u64 {
    if P::is_snan(a) || P::is_snan(b) {
        fp.fflags |= fflags::NV;
    }
    match (P::is_nan(a), P::is_nan(b)) {
        (true, true) => P::CANONICAL_NAN,
        (true, false) => b,
        (false, true) => a,
        (false, false) => {
            if less::<P>(a, b) != max {
                a
            } else {
                b
            }
        }
    }
}

/// `a < b` for non-NaN values with -0 ordered below +0: sign-magnitude
/// order, which needs no rounding or flags.
#[inline]
fn less<P: Precision>(a: u64, b: u64) -> bool {
    let (neg_a, neg_b) = (a & P::SIGN != 0, b & P::SIGN != 0);
    let (mag_a, mag_b) = (a & !P::SIGN, b & !P::SIGN);
    match (neg_a, neg_b) {
        (true, false) => true,
        (false, true) => false,
        (false, false) => mag_a < mag_b,
        (true, true) => mag_a > mag_b,
    }
}

/// FCLASS: a one-hot mask of the ten classes (spec "Single-Precision
/// Floating-Point Classify Instruction", format of result of FCLASS).
fn classify<P: Precision>(raw: u64) -> u64 {
    let negative = raw & P::SIGN != 0;
    let exp = raw & P::EXP;
    let frac = raw & P::FRAC;
    let bit = if exp == P::EXP {
        match (frac == 0, negative, raw & P::QUIET != 0) {
            (true, true, _) => 0,   // -inf
            (true, false, _) => 7,  // +inf
            (false, _, false) => 8, // signaling NaN
            (false, _, true) => 9,  // quiet NaN
        }
    } else if exp == 0 {
        match (frac == 0, negative) {
            (false, true) => 2,  // negative subnormal
            (true, true) => 3,   // -0
            (true, false) => 4,  // +0
            (false, false) => 5, // positive subnormal
        }
    } else if negative {
        1 // negative normal
    } else {
        6 // positive normal
    };
    1 << bit
}
