//! Expected values below follow from the spec's rules and exact arithmetic
//! (worked out in the comments), not from running the implementation.

use super::*;

// Rounding modes (spec rounding mode encoding).
const RNE: u32 = 0;
const RTZ: u32 = 1;
const RDN: u32 = 2;
const RUP: u32 = 3;
const RMM: u32 = 4;
const DYN: u32 = 7;

const S: u32 = 0;
const D: u32 = 1;

// funct5 values of OP-FP (spec RV32F/RV64F/RV32D/RV64D opcode map).
const FADD: u32 = 0b00000;
const FSUB: u32 = 0b00001;
const FMUL: u32 = 0b00010;
const FDIV: u32 = 0b00011;
const FSGNJ: u32 = 0b00100;
const FMINMAX: u32 = 0b00101;
const FCVT_FF: u32 = 0b01000;
const FSQRT: u32 = 0b01011;
const FCMP: u32 = 0b10100;
const FCVT_XF: u32 = 0b11000;
const FCVT_FX: u32 = 0b11010;
const FMV_X_CLASS: u32 = 0b11100;
const FMV_F_X: u32 = 0b11110;

const W: u32 = 0;
const WU: u32 = 1;
const L: u32 = 2;
const LU: u32 = 3;

/// R-type OP-FP: funct5 | fmt | rs2 | rs1 | rm/funct3 | rd | 1010011.
fn r(funct5: u32, fmt: u32, rs2: u32, rs1: u32, rm: u32, rd: u32) -> u32 {
    funct5 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | 0x53
}

/// R4-type: rs3 | fmt | rs2 | rs1 | rm | rd | opcode.
fn r4(opcode: u32, rs3: u32, fmt: u32, rs2: u32, rs1: u32, rm: u32, rd: u32) -> u32 {
    rs3 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | opcode
}

#[test]
fn encoders_match_assembler() {
    // Words from GNU as (rv64gc) for the same instructions.
    assert_eq!(r(FADD, S, 2, 1, RNE, 3), 0x002081d3); // fadd.s f3,f1,f2,rne
    assert_eq!(r(FSUB, D, 2, 1, DYN, 3), 0x0a20f1d3); // fsub.d f3,f1,f2
    assert_eq!(r(FSQRT, S, 0, 1, RUP, 3), 0x5800b1d3); // fsqrt.s f3,f1,rup
    assert_eq!(r(FSGNJ, D, 2, 1, 2, 3), 0x2220a1d3); // fsgnjx.d
    assert_eq!(r(FMINMAX, S, 2, 1, 1, 3), 0x282091d3); // fmax.s
    assert_eq!(r(FCVT_FF, S, D, 1, RTZ, 3), 0x401091d3); // fcvt.s.d rtz
    assert_eq!(r(FCVT_FF, D, S, 1, RNE, 3), 0x420081d3); // fcvt.d.s
    assert_eq!(r(FCMP, D, 2, 1, 2, 5), 0xa220a2d3); // feq.d x5
    assert_eq!(r(FCVT_XF, S, WU, 1, RMM, 5), 0xc010c2d3); // fcvt.wu.s x5,rmm
    assert_eq!(r(FCVT_FX, D, LU, 5, RDN, 3), 0xd232a1d3); // fcvt.d.lu rdn
    assert_eq!(r(FMV_X_CLASS, S, 0, 1, 0, 5), 0xe00082d3); // fmv.x.w
    assert_eq!(r(FMV_X_CLASS, D, 0, 1, 1, 5), 0xe20092d3); // fclass.d
    assert_eq!(r(FMV_F_X, D, 0, 5, 0, 3), 0xf20281d3); // fmv.d.x
    assert_eq!(r4(0x43, 4, S, 2, 1, RNE, 3), 0x202081c3); // fmadd.s
    assert_eq!(r4(0x4f, 4, D, 2, 1, DYN, 3), 0x2220f1cf); // fnmadd.d
    assert_eq!(r4(0x47, 4, S, 2, 1, RNE, 3), 0x202081c7); // fmsub.s
    assert_eq!(r4(0x4b, 4, D, 2, 1, RTZ, 3), 0x222091cb); // fnmsub.d
}

struct Hart {
    fp: FpState,
    x: [u64; 32],
}

impl Hart {
    fn new() -> Self {
        Self {
            fp: FpState::default(),
            x: [0; 32],
        }
    }
    fn run(&mut self, insn: u32) {
        execute(insn, &mut self.fp, &mut self.x).expect("legal instruction");
    }
    /// f3 as a single, asserting it is properly boxed.
    fn f3_s(&self) -> u32 {
        assert_eq!(
            self.fp.f[3] >> 32,
            0xffff_ffff,
            "single result must be NaN-boxed"
        );
        self.fp.f[3] as u32
    }
}

/// f3 = f1 op f2 in single precision; returns (result, fflags).
fn bin_s(funct5: u32, a: u32, b: u32, rm: u32) -> (u32, u32) {
    let mut h = Hart::new();
    h.fp.f[1] = nan_box(a);
    h.fp.f[2] = nan_box(b);
    h.run(r(funct5, S, 2, 1, rm, 3));
    (h.f3_s(), h.fp.fflags)
}

fn bin_d(funct5: u32, a: u64, b: u64, rm: u32) -> (u64, u32) {
    let mut h = Hart::new();
    h.fp.f[1] = a;
    h.fp.f[2] = b;
    h.run(r(funct5, D, 2, 1, rm, 3));
    (h.fp.f[3], h.fp.fflags)
}

/// f3 = fused op (f1, f2, f4).
fn fma_s(opcode: u32, a: u32, b: u32, c: u32, rm: u32) -> (u32, u32) {
    let mut h = Hart::new();
    h.fp.f[1] = nan_box(a);
    h.fp.f[2] = nan_box(b);
    h.fp.f[4] = nan_box(c);
    h.run(r4(opcode, 4, S, 2, 1, rm, 3));
    (h.f3_s(), h.fp.fflags)
}

fn fma_d(opcode: u32, a: u64, b: u64, c: u64, rm: u32) -> (u64, u32) {
    let mut h = Hart::new();
    h.fp.f[1] = a;
    h.fp.f[2] = b;
    h.fp.f[4] = c;
    h.run(r4(opcode, 4, D, 2, 1, rm, 3));
    (h.fp.f[3], h.fp.fflags)
}

/// x5 = FCVT.{W,WU,L,LU}.fmt f1.
fn to_int(fmt: u32, kind: u32, reg: u64, rm: u32) -> (u64, u32) {
    let mut h = Hart::new();
    h.fp.f[1] = reg;
    h.run(r(FCVT_XF, fmt, kind, 1, rm, 5));
    (h.x[5], h.fp.fflags)
}

/// f3 = FCVT.fmt.{W,WU,L,LU} x5.
fn from_int(fmt: u32, kind: u32, v: u64, rm: u32) -> (u64, u32) {
    let mut h = Hart::new();
    h.x[5] = v;
    h.run(r(FCVT_FX, fmt, kind, 5, rm, 3));
    (h.fp.f[3], h.fp.fflags)
}

const NX: u32 = fflags::NX;
const UF: u32 = fflags::UF;
const OF: u32 = fflags::OF;
const DZ: u32 = fflags::DZ;
const NV: u32 = fflags::NV;

// Single-precision constants.
const ONE_S: u32 = 0x3f80_0000;
const TWO_S: u32 = 0x4000_0000;
const NEG_ONE_S: u32 = 0xbf80_0000;
const ULP_HALF_S: u32 = 0x3380_0000; // 2^-24: half an ulp of 1.0
const MAX_S: u32 = 0x7f7f_ffff;
const INF_S: u32 = 0x7f80_0000;
const NEG_INF_S: u32 = 0xff80_0000;
const QNAN_S: u32 = 0x7fc0_0000;
const QNAN_PAYLOAD_S: u32 = 0xffc1_2345;
const SNAN_S: u32 = 0x7f80_0001;
const POS_ZERO_S: u32 = 0;
const NEG_ZERO_S: u32 = 0x8000_0000;
const MIN_NORMAL_S: u32 = 0x0080_0000; // 2^-126
const MIN_SUB_S: u32 = 0x0000_0001; // 2^-149

// Double-precision constants.
const ONE_D: u64 = 0x3ff0_0000_0000_0000;
const TWO_D: u64 = 0x4000_0000_0000_0000;
const THREE_D: u64 = 0x4008_0000_0000_0000;
const INF_D: u64 = 0x7ff0_0000_0000_0000;
const NEG_INF_D: u64 = 0xfff0_0000_0000_0000;
const QNAN_D: u64 = 0x7ff8_0000_0000_0000;
const SNAN_D: u64 = 0x7ff0_0000_0000_0001;
const NEG_ZERO_D: u64 = 0x8000_0000_0000_0000;
const MAX_D: u64 = 0x7fef_ffff_ffff_ffff;

#[test]
fn add_sub_mul_exact() {
    assert_eq!(bin_s(FADD, ONE_S, TWO_S, RNE), (0x4040_0000, 0)); // 3.0
    assert_eq!(bin_s(FSUB, ONE_S, TWO_S, RNE), (NEG_ONE_S, 0));
    assert_eq!(bin_s(FMUL, TWO_S, 0x4040_0000, RNE), (0x40c0_0000, 0)); // 6.0
    assert_eq!(bin_d(FADD, ONE_D, TWO_D, RNE), (THREE_D, 0));
    assert_eq!(bin_d(FSUB, ONE_D, THREE_D, RNE), (0xc000_0000_0000_0000, 0)); // -2
    assert_eq!(bin_d(FMUL, TWO_D, THREE_D, RNE), (0x4018_0000_0000_0000, 0)); // 6
                                                                              // x - x is +0 in every mode but RDN, where it is -0 (IEEE 754 6.3).
    assert_eq!(bin_s(FSUB, ONE_S, ONE_S, RNE), (POS_ZERO_S, 0));
    assert_eq!(bin_s(FSUB, ONE_S, ONE_S, RDN), (NEG_ZERO_S, 0));
}

#[test]
fn every_rounding_mode_single() {
    // 1 + 2^-24 lies exactly halfway between 1.0 (even) and 1 + 2^-23.
    let cases = [
        (RNE, ONE_S),
        (RTZ, ONE_S),
        (RDN, ONE_S),
        (RUP, 0x3f80_0001),
        (RMM, 0x3f80_0001),
    ];
    for (rm, want) in cases {
        assert_eq!(bin_s(FADD, ONE_S, ULP_HALF_S, rm), (want, NX), "rm {rm}");
    }
    // Mirrored: -1 - 2^-24.
    let cases = [
        (RNE, NEG_ONE_S),
        (RTZ, NEG_ONE_S),
        (RDN, 0xbf80_0001),
        (RUP, NEG_ONE_S),
        (RMM, 0xbf80_0001),
    ];
    for (rm, want) in cases {
        assert_eq!(
            bin_s(FSUB, NEG_ONE_S, ULP_HALF_S, rm),
            (want, NX),
            "rm {rm}"
        );
    }
}

#[test]
fn every_rounding_mode_double() {
    // 1/3 = 1.0101...b x 2^-2; the 52-bit fraction 0x5555555555555 leaves a
    // remainder of 1/3 ulp, below half: nearest rounds down.
    let third = [
        (RNE, 0x3fd5_5555_5555_5555),
        (RTZ, 0x3fd5_5555_5555_5555),
        (RDN, 0x3fd5_5555_5555_5555),
        (RUP, 0x3fd5_5555_5555_5556),
        (RMM, 0x3fd5_5555_5555_5555),
    ];
    for (rm, want) in third {
        assert_eq!(bin_d(FDIV, ONE_D, THREE_D, rm), (want, NX), "rm {rm}");
    }
    // 1 + 2^-53 is a tie between 1.0 (even) and 1 + 2^-52.
    let half_ulp = 0x3ca0_0000_0000_0000; // 2^-53
    let ties = [
        (RNE, ONE_D),
        (RTZ, ONE_D),
        (RDN, ONE_D),
        (RUP, 0x3ff0_0000_0000_0001),
        (RMM, 0x3ff0_0000_0000_0001),
    ];
    for (rm, want) in ties {
        assert_eq!(bin_d(FADD, ONE_D, half_ulp, rm), (want, NX), "rm {rm}");
    }
}

#[test]
fn dynamic_rounding_uses_frm() {
    let mut h = Hart::new();
    h.fp.frm = RUP;
    h.fp.f[1] = nan_box(ONE_S);
    h.fp.f[2] = nan_box(ULP_HALF_S);
    h.run(r(FADD, S, 2, 1, DYN, 3));
    assert_eq!(h.f3_s(), 0x3f80_0001);
    h.fp.frm = RTZ;
    h.run(r(FADD, S, 2, 1, DYN, 3));
    assert_eq!(h.f3_s(), ONE_S);
}

#[test]
fn overflow() {
    // MAX * 2 overflows: RNE gives +inf, RTZ the largest finite value
    // (IEEE 754 7.4); both raise OF and NX.
    assert_eq!(bin_s(FMUL, MAX_S, TWO_S, RNE), (INF_S, OF | NX));
    assert_eq!(bin_s(FMUL, MAX_S, TWO_S, RTZ), (MAX_S, OF | NX));
    assert_eq!(bin_d(FMUL, MAX_D, TWO_D, RNE), (INF_D, OF | NX));
    assert_eq!(bin_d(FMUL, MAX_D, TWO_D, RDN), (MAX_D, OF | NX));
    assert_eq!(
        bin_d(FMUL, MAX_D | 1 << 63, TWO_D, RDN),
        (NEG_INF_D, OF | NX)
    );
}

#[test]
fn underflow() {
    let half = 0x3f00_0000;
    // 2^-149 * 0.5 = 2^-150: a tie between 0 (even) and 2^-149.
    assert_eq!(bin_s(FMUL, MIN_SUB_S, half, RNE), (0, UF | NX));
    assert_eq!(bin_s(FMUL, MIN_SUB_S, half, RUP), (MIN_SUB_S, UF | NX));
    // An exact subnormal result is not an underflow: UF needs inexactness.
    assert_eq!(bin_s(FMUL, MIN_NORMAL_S, half, RNE), (0x0040_0000, 0));
    // Double: 2^-1074 / 2.
    assert_eq!(bin_d(FDIV, 1, TWO_D, RNE), (0, UF | NX));
}

#[test]
fn tininess_is_detected_after_rounding() {
    // Spec "Floating-Point Control and Status Register": tininess is
    // detected after rounding. 2^-75 * -2^-76 + 2^-126 = 2^-126 (1 - 2^-25)
    // exactly. Rounded to 24 bits with unbounded exponent that is a tie
    // between 2^-126 (1 - 2^-24) and 2^-126; RNE picks 2^-126, not tiny, so
    // only NX. RTZ gives 2^-126 (1 - 2^-24), tiny, so UF too.
    let a = 0x1a00_0000; // 2^-75
    let b = 0x9980_0000; // -2^-76
    assert_eq!(fma_s(0x43, a, b, MIN_NORMAL_S, RNE), (MIN_NORMAL_S, NX));
    assert_eq!(fma_s(0x43, a, b, MIN_NORMAL_S, RTZ), (0x007f_ffff, UF | NX));
}

#[test]
fn divide_and_sqrt() {
    assert_eq!(bin_s(FDIV, ONE_S, POS_ZERO_S, RNE), (INF_S, DZ));
    assert_eq!(bin_s(FDIV, NEG_ONE_S, POS_ZERO_S, RNE), (NEG_INF_S, DZ));
    assert_eq!(bin_s(FDIV, POS_ZERO_S, POS_ZERO_S, RNE), (QNAN_S, NV));
    assert_eq!(bin_d(FDIV, ONE_D, NEG_ZERO_D, RNE), (NEG_INF_D, DZ));
    assert_eq!(bin_d(FDIV, INF_D, INF_D, RNE), (QNAN_D, NV));
    // Single 1/3: fraction 0x2aaaaa with remainder 2/3 ulp, rounds up.
    assert_eq!(bin_s(FDIV, ONE_S, 0x4040_0000, RNE), (0x3eaa_aaab, NX));
    assert_eq!(bin_s(FDIV, ONE_S, 0x4040_0000, RTZ), (0x3eaa_aaaa, NX));

    let sqrt_s = |a: u32, rm: u32| {
        let mut h = Hart::new();
        h.fp.f[1] = nan_box(a);
        h.run(r(FSQRT, S, 0, 1, rm, 3));
        (h.f3_s(), h.fp.fflags)
    };
    assert_eq!(sqrt_s(0x4080_0000, RNE), (TWO_S, 0)); // sqrt 4
                                                      // sqrt 2 = 1.41421356237...; 0x3fb504f3 = 1.41421353816986 is 2.4e-8
                                                      // below, 0x3fb504f4 = 1.41421365737915 is 9.5e-8 above.
    assert_eq!(sqrt_s(TWO_S, RNE), (0x3fb5_04f3, NX));
    assert_eq!(sqrt_s(TWO_S, RUP), (0x3fb5_04f4, NX));
    assert_eq!(sqrt_s(NEG_ZERO_S, RNE), (NEG_ZERO_S, 0));
    assert_eq!(sqrt_s(NEG_ONE_S, RNE), (QNAN_S, NV));
    assert_eq!(sqrt_s(SNAN_S, RNE), (QNAN_S, NV));

    let mut h = Hart::new();
    h.fp.f[1] = 0x4010_0000_0000_0000; // 4.0
    h.run(r(FSQRT, D, 0, 1, RNE, 3));
    assert_eq!((h.fp.f[3], h.fp.fflags), (TWO_D, 0));
    h.fp.f[1] = NEG_INF_D;
    h.run(r(FSQRT, D, 0, 1, RNE, 3));
    assert_eq!((h.fp.f[3], h.fp.fflags), (QNAN_D, NV));
}

#[test]
fn nan_results_are_canonical() {
    // Spec "NaN Generation and Propagation": no payload propagation.
    assert_eq!(bin_s(FADD, QNAN_PAYLOAD_S, ONE_S, RNE), (QNAN_S, 0));
    assert_eq!(bin_s(FMUL, ONE_S, SNAN_S, RNE), (QNAN_S, NV));
    assert_eq!(bin_s(FSUB, INF_S, INF_S, RNE), (QNAN_S, NV));
    assert_eq!(bin_s(FMUL, INF_S, POS_ZERO_S, RNE), (QNAN_S, NV));
    assert_eq!(bin_d(FADD, 0xfff8_0000_dead_beef, ONE_D, RNE), (QNAN_D, 0));
    assert_eq!(bin_d(FDIV, SNAN_D, ONE_D, RNE), (QNAN_D, NV));
}

#[test]
fn nan_boxing() {
    assert_eq!(nan_box(ONE_S), 0xffff_ffff_3f80_0000);
    assert_eq!(unbox_f32(0xffff_ffff_3f80_0000), ONE_S);
    assert_eq!(unbox_f32(0x0000_0000_3f80_0000), QNAN_S);
    assert_eq!(unbox_f32(0xffff_fffe_3f80_0000), QNAN_S);

    // An improperly boxed operand reads as the canonical (quiet) NaN: no NV.
    let mut h = Hart::new();
    h.fp.f[1] = u64::from(ONE_S);
    h.fp.f[2] = nan_box(ONE_S);
    h.run(r(FADD, S, 2, 1, RNE, 3));
    assert_eq!((h.fp.f[3], h.fp.fflags), (nan_box(QNAN_S), 0));

    // FMV.X.W moves the low 32 bits without checking the box and
    // sign-extends; FMV.W.X boxes (spec "Single-Precision Floating-Point
    // Conversion and Move Instructions").
    let mut h = Hart::new();
    h.fp.f[1] = 0x1234_5678_8765_4321;
    h.run(r(FMV_X_CLASS, S, 0, 1, 0, 5));
    assert_eq!(h.x[5], 0xffff_ffff_8765_4321);
    h.fp.f[1] = 0xffff_ffff_7f80_0001; // sNaN moves untouched, no flags
    h.run(r(FMV_X_CLASS, S, 0, 1, 0, 5));
    assert_eq!(h.x[5], 0x7f80_0001);
    h.x[6] = 0xdead_beef_7f80_0001;
    h.run(r(FMV_F_X, S, 0, 6, 0, 3));
    assert_eq!(h.fp.f[3], 0xffff_ffff_7f80_0001);
    assert_eq!(h.fp.fflags, 0);

    // FCLASS.S of an unboxed value sees the canonical quiet NaN.
    h.fp.f[1] = 0;
    h.run(r(FMV_X_CLASS, S, 0, 1, 1, 5));
    assert_eq!(h.x[5], 1 << 9);
}

#[test]
fn fmv_double_is_bit_exact() {
    let mut h = Hart::new();
    h.x[5] = SNAN_D | 1 << 63 | 0xabc;
    h.run(r(FMV_F_X, D, 0, 5, 0, 3));
    assert_eq!(h.fp.f[3], h.x[5]);
    h.run(r(FMV_X_CLASS, D, 0, 3, 0, 6));
    assert_eq!(h.x[6], h.x[5]);
    assert_eq!(h.fp.fflags, 0);
}

#[test]
fn sign_injection() {
    // FSGNJ (funct3 0) takes rs2's sign, FSGNJN its inverse, FSGNJX the xor.
    let sgnj = |fmt: u32, f3: u32, a: u64, b: u64| {
        let mut h = Hart::new();
        h.fp.f[1] = a;
        h.fp.f[2] = b;
        h.run(r(FSGNJ, fmt, 2, 1, f3, 3));
        assert_eq!(h.fp.fflags, 0, "sign injection never raises flags");
        h.fp.f[3]
    };
    let (one, neg_one) = (nan_box(ONE_S), nan_box(NEG_ONE_S));
    assert_eq!(sgnj(S, 0, one, neg_one), neg_one);
    assert_eq!(sgnj(S, 1, one, neg_one), one);
    assert_eq!(sgnj(S, 2, neg_one, neg_one), one);
    assert_eq!(sgnj(S, 2, neg_one, one), neg_one);
    // Signaling NaNs pass through with only the sign changed, no NV.
    assert_eq!(
        sgnj(S, 1, nan_box(SNAN_S), nan_box(SNAN_S)),
        nan_box(SNAN_S | 1 << 31)
    );
    assert_eq!(sgnj(D, 0, SNAN_D, NEG_ONE_S_D), SNAN_D | 1 << 63);
    assert_eq!(sgnj(D, 1, ONE_D, ONE_D), ONE_D | 1 << 63);
    assert_eq!(sgnj(D, 2, ONE_D | 1 << 63, ONE_D | 1 << 63), ONE_D);
    // An unboxed single operand is the canonical NaN, then gets the sign.
    assert_eq!(
        sgnj(S, 0, u64::from(ONE_S), neg_one),
        nan_box(QNAN_S | 1 << 31)
    );
}
const NEG_ONE_S_D: u64 = 0xbff0_0000_0000_0000;

#[test]
fn min_max() {
    const MIN: u32 = 0;
    const MAX: u32 = 1;
    let s = |f3: u32, a: u32, b: u32| {
        let mut h = Hart::new();
        h.fp.f[1] = nan_box(a);
        h.fp.f[2] = nan_box(b);
        h.run(r(FMINMAX, S, 2, 1, f3, 3));
        (h.f3_s(), h.fp.fflags)
    };
    // -0.0 < +0.0 for FMIN/FMAX, in either operand order.
    assert_eq!(s(MIN, POS_ZERO_S, NEG_ZERO_S), (NEG_ZERO_S, 0));
    assert_eq!(s(MIN, NEG_ZERO_S, POS_ZERO_S), (NEG_ZERO_S, 0));
    assert_eq!(s(MAX, NEG_ZERO_S, POS_ZERO_S), (POS_ZERO_S, 0));
    assert_eq!(s(MAX, POS_ZERO_S, NEG_ZERO_S), (POS_ZERO_S, 0));
    assert_eq!(s(MIN, NEG_ONE_S, TWO_S), (NEG_ONE_S, 0));
    assert_eq!(s(MAX, NEG_ONE_S, TWO_S), (TWO_S, 0));
    assert_eq!(s(MIN, NEG_INF_S, 0xc000_0000), (NEG_INF_S, 0));
    assert_eq!(s(MAX, 0xc040_0000, 0xc000_0000), (0xc000_0000, 0)); // max(-3,-2)
                                                                    // One NaN: the other operand; NV only if it was signaling.
    assert_eq!(s(MIN, QNAN_PAYLOAD_S, ONE_S), (ONE_S, 0));
    assert_eq!(s(MAX, ONE_S, QNAN_S), (ONE_S, 0));
    assert_eq!(s(MIN, SNAN_S, ONE_S), (ONE_S, NV));
    assert_eq!(s(MAX, TWO_S, SNAN_S), (TWO_S, NV));
    // Two NaNs: the canonical NaN.
    assert_eq!(s(MIN, QNAN_PAYLOAD_S, QNAN_PAYLOAD_S), (QNAN_S, 0));
    assert_eq!(s(MAX, SNAN_S, QNAN_PAYLOAD_S), (QNAN_S, NV));

    let d = |f3: u32, a: u64, b: u64| {
        let mut h = Hart::new();
        h.fp.f[1] = a;
        h.fp.f[2] = b;
        h.run(r(FMINMAX, D, 2, 1, f3, 3));
        (h.fp.f[3], h.fp.fflags)
    };
    assert_eq!(d(MIN, 0, NEG_ZERO_D), (NEG_ZERO_D, 0));
    assert_eq!(d(MAX, NEG_ZERO_D, 0), (0, 0));
    assert_eq!(d(MAX, ONE_D, THREE_D), (THREE_D, 0));
    assert_eq!(d(MIN, SNAN_D, THREE_D), (THREE_D, NV));
    assert_eq!(d(MIN, SNAN_D, SNAN_D), (QNAN_D, NV));
    assert_eq!(d(MAX, QNAN_D | 5, QNAN_D), (QNAN_D, 0));
}

#[test]
fn compares() {
    const FLE: u32 = 0;
    const FLT: u32 = 1;
    const FEQ: u32 = 2;
    let s = |f3: u32, a: u32, b: u32| {
        let mut h = Hart::new();
        h.fp.f[1] = nan_box(a);
        h.fp.f[2] = nan_box(b);
        h.x[5] = 0xdead;
        h.run(r(FCMP, S, 2, 1, f3, 5));
        (h.x[5], h.fp.fflags)
    };
    assert_eq!(s(FLT, ONE_S, TWO_S), (1, 0));
    assert_eq!(s(FLT, TWO_S, ONE_S), (0, 0));
    assert_eq!(s(FLE, ONE_S, ONE_S), (1, 0));
    // -0 == +0 for comparisons.
    assert_eq!(s(FEQ, NEG_ZERO_S, POS_ZERO_S), (1, 0));
    assert_eq!(s(FLT, NEG_ZERO_S, POS_ZERO_S), (0, 0));
    assert_eq!(s(FLE, POS_ZERO_S, NEG_ZERO_S), (1, 0));
    // FEQ is quiet: NV only for signaling NaNs.
    assert_eq!(s(FEQ, QNAN_S, ONE_S), (0, 0));
    assert_eq!(s(FEQ, QNAN_S, QNAN_S), (0, 0));
    assert_eq!(s(FEQ, SNAN_S, ONE_S), (0, NV));
    // FLT/FLE are signaling: NV for any NaN.
    assert_eq!(s(FLT, QNAN_S, ONE_S), (0, NV));
    assert_eq!(s(FLE, ONE_S, QNAN_S), (0, NV));
    assert_eq!(s(FLE, SNAN_S, ONE_S), (0, NV));

    let d = |f3: u32, a: u64, b: u64| {
        let mut h = Hart::new();
        h.fp.f[1] = a;
        h.fp.f[2] = b;
        h.run(r(FCMP, D, 2, 1, f3, 5));
        (h.x[5], h.fp.fflags)
    };
    assert_eq!(d(FEQ, THREE_D, THREE_D), (1, 0));
    assert_eq!(d(FLT, NEG_INF_D, THREE_D), (1, 0));
    assert_eq!(d(FEQ, QNAN_D, QNAN_D), (0, 0));
    assert_eq!(d(FEQ, SNAN_D, ONE_D), (0, NV));
    assert_eq!(d(FLE, QNAN_D, ONE_D), (0, NV));
}

#[test]
fn integer_results_never_write_x0() {
    let mut h = Hart::new();
    h.fp.f[1] = nan_box(ONE_S);
    h.run(r(FCMP, S, 1, 1, 2, 0)); // feq.s x0, f1, f1
    h.run(r(FCVT_XF, S, W, 1, RNE, 0));
    h.run(r(FMV_X_CLASS, S, 0, 1, 0, 0));
    h.run(r(FMV_X_CLASS, S, 0, 1, 1, 0));
    assert_eq!(h.x[0], 0);
}

#[test]
fn convert_to_int_rounding() {
    let two_and_half = 0x4020_0000; // 2.5
    let neg = 0xc020_0000; // -2.5
    let cases = [
        (RNE, 2u64, (-2i64) as u64),
        (RTZ, 2, (-2i64) as u64),
        (RDN, 2, (-3i64) as u64),
        (RUP, 3, (-2i64) as u64),
        (RMM, 3, (-3i64) as u64),
    ];
    for (rm, pos, negv) in cases {
        assert_eq!(
            to_int(S, W, nan_box(two_and_half), rm),
            (pos, NX),
            "rm {rm}"
        );
        assert_eq!(to_int(S, L, nan_box(neg), rm), (negv, NX), "rm {rm}");
    }
    // -0.5 rounds to 0 toward zero: in range for unsigned, so NX not NV.
    assert_eq!(to_int(S, WU, nan_box(0xbf00_0000), RTZ), (0, NX));
    // ...but to -1 downward: out of range, NV and 0.
    assert_eq!(to_int(S, WU, nan_box(0xbf00_0000), RDN), (0, NV));
}

#[test]
fn convert_to_int_saturation() {
    // Spec table "Domains of float-to-integer conversions and behavior for
    // invalid inputs": out of range or -inf saturates toward the nearer end,
    // NaN and +inf give the largest value, all with NV (and no NX).
    let sext = |v: i32| v as i64 as u64;
    let two_31 = 0x41e0_0000_0000_0000; // 2^31
    let neg_two_31 = 0xc1e0_0000_0000_0000; // -2^31
    let neg_two_31_minus_1 = 0xc1e0_0000_0020_0000; // -2^31 - 1
    let two_32 = 0x41f0_0000_0000_0000;
    let u32_max = 0x41ef_ffff_ffe0_0000; // 2^32 - 1
    let two_63 = 0x43e0_0000_0000_0000;
    let neg_two_63 = 0xc3e0_0000_0000_0000;
    let two_64 = 0x43f0_0000_0000_0000;
    let below_two_64 = 0x43ef_ffff_ffff_ffff; // 2^64 - 2^11

    // W: [-2^31, 2^31 - 1].
    assert_eq!(to_int(D, W, two_31, RNE), (sext(i32::MAX), NV));
    assert_eq!(to_int(D, W, two_31 - (1 << 22), RNE), (sext(i32::MAX), 0)); // 2^31 - 1
    assert_eq!(to_int(D, W, neg_two_31, RNE), (sext(i32::MIN), 0));
    assert_eq!(to_int(D, W, neg_two_31_minus_1, RNE), (sext(i32::MIN), NV));
    assert_eq!(to_int(D, W, INF_D, RNE), (sext(i32::MAX), NV));
    assert_eq!(to_int(D, W, NEG_INF_D, RNE), (sext(i32::MIN), NV));
    assert_eq!(to_int(D, W, QNAN_D, RNE), (sext(i32::MAX), NV));
    assert_eq!(to_int(D, W, SNAN_D | 1 << 63, RNE), (sext(i32::MAX), NV));
    // -2^31 - 0.5 rounds into range toward zero, out of range downward.
    let neg_two_31_minus_half = 0xc1e0_0000_0010_0000;
    assert_eq!(
        to_int(D, W, neg_two_31_minus_half, RTZ),
        (sext(i32::MIN), NX)
    );
    assert_eq!(
        to_int(D, W, neg_two_31_minus_half, RDN),
        (sext(i32::MIN), NV)
    );
    assert_eq!(
        to_int(S, W, nan_box(0x4f00_0000), RNE),
        (sext(i32::MAX), NV)
    ); // 2^31
    assert_eq!(to_int(S, W, nan_box(0xcf00_0000), RNE), (sext(i32::MIN), 0)); // -2^31
    assert_eq!(to_int(S, W, nan_box(NEG_INF_S), RNE), (sext(i32::MIN), NV));
    assert_eq!(to_int(S, W, nan_box(QNAN_S), RNE), (sext(i32::MAX), NV));

    // WU: [0, 2^32 - 1], the 32-bit result sign-extended.
    assert_eq!(to_int(D, WU, u32_max, RNE), (u64::MAX, 0));
    assert_eq!(to_int(D, WU, two_31, RNE), (0xffff_ffff_8000_0000, 0));
    assert_eq!(to_int(D, WU, two_32, RNE), (u64::MAX, NV));
    assert_eq!(to_int(D, WU, NEG_ONE_S_D, RNE), (0, NV));
    assert_eq!(to_int(D, WU, NEG_INF_D, RNE), (0, NV));
    assert_eq!(to_int(D, WU, INF_D, RNE), (u64::MAX, NV));
    assert_eq!(to_int(D, WU, QNAN_D, RNE), (u64::MAX, NV));
    assert_eq!(to_int(S, WU, nan_box(0x4f80_0000), RNE), (u64::MAX, NV)); // 2^32
    assert_eq!(to_int(S, WU, nan_box(SNAN_S), RNE), (u64::MAX, NV));

    // L: [-2^63, 2^63 - 1].
    assert_eq!(to_int(D, L, two_63, RNE), (i64::MAX as u64, NV));
    assert_eq!(to_int(D, L, neg_two_63, RNE), (i64::MIN as u64, 0));
    assert_eq!(to_int(D, L, NEG_INF_D, RNE), (i64::MIN as u64, NV));
    assert_eq!(to_int(D, L, INF_D, RNE), (i64::MAX as u64, NV));
    assert_eq!(to_int(D, L, QNAN_D, RNE), (i64::MAX as u64, NV));
    assert_eq!(
        to_int(S, L, nan_box(0x5f00_0000), RNE),
        (i64::MAX as u64, NV)
    ); // 2^63
    assert_eq!(
        to_int(S, L, nan_box(0xdf00_0000), RNE),
        (i64::MIN as u64, 0)
    ); // -2^63

    // LU: [0, 2^64 - 1].
    assert_eq!(to_int(D, LU, below_two_64, RNE), (0xffff_ffff_ffff_f800, 0));
    assert_eq!(to_int(D, LU, two_64, RNE), (u64::MAX, NV));
    assert_eq!(to_int(D, LU, NEG_ONE_S_D, RNE), (0, NV));
    assert_eq!(to_int(D, LU, NEG_INF_D, RNE), (0, NV));
    assert_eq!(to_int(D, LU, INF_D, RNE), (u64::MAX, NV));
    assert_eq!(to_int(D, LU, QNAN_D, RNE), (u64::MAX, NV));
    assert_eq!(to_int(S, LU, nan_box(0x5f80_0000), RNE), (u64::MAX, NV)); // 2^64
    assert_eq!(to_int(S, LU, nan_box(NEG_ZERO_S), RNE), (0, 0));
}

#[test]
fn convert_from_int() {
    // 2^24 + 1 needs 25 bits: a tie between 2^24 (even) and 2^24 + 2.
    let v = (1 << 24) + 1;
    assert_eq!(from_int(S, W, v, RNE), (nan_box(0x4b80_0000), NX));
    assert_eq!(from_int(S, W, v, RUP), (nan_box(0x4b80_0001), NX));
    assert_eq!(from_int(S, W, v, RMM), (nan_box(0x4b80_0001), NX));
    // W/WU read only the low 32 bits of the register.
    assert_eq!(
        from_int(S, W, 0x0000_0001_ffff_ffff, RNE),
        (nan_box(NEG_ONE_S), 0)
    );
    assert_eq!(
        from_int(S, WU, 0xffff_ffff_0000_0002, RNE),
        (nan_box(TWO_S), 0)
    );
    // 2^32 - 1 as a single rounds to 2^32 at nearest, 2^32 - 2^8 toward zero.
    assert_eq!(
        from_int(S, WU, 0xffff_ffff, RNE),
        (nan_box(0x4f80_0000), NX)
    );
    assert_eq!(
        from_int(S, WU, 0xffff_ffff, RTZ),
        (nan_box(0x4f7f_ffff), NX)
    );
    assert_eq!(
        from_int(S, L, i64::MIN as u64, RNE),
        (nan_box(0xdf00_0000), 0)
    );
    assert_eq!(from_int(S, LU, u64::MAX, RNE), (nan_box(0x5f80_0000), NX));
    // Every 32-bit integer is exact in double.
    assert_eq!(from_int(D, W, 0xffff_ffff, RNE), (NEG_ONE_S_D, 0));
    assert_eq!(
        from_int(D, WU, 0xffff_ffff, RNE),
        (0x41ef_ffff_ffe0_0000, 0)
    );
    assert_eq!(
        from_int(D, L, i64::MIN as u64, RNE),
        (0xc3e0_0000_0000_0000, 0)
    );
    assert_eq!(from_int(D, L, 3, RNE), (THREE_D, 0));
    // 2^64 - 1 rounds to 2^64 at nearest, 2^64 - 2^11 toward zero.
    assert_eq!(from_int(D, LU, u64::MAX, RNE), (0x43f0_0000_0000_0000, NX));
    assert_eq!(from_int(D, LU, u64::MAX, RTZ), (0x43ef_ffff_ffff_ffff, NX));
    assert_eq!(from_int(D, LU, 0, RNE), (0, 0));
}

#[test]
fn convert_between_formats() {
    let s_from_d = |v: u64, rm: u32| {
        let mut h = Hart::new();
        h.fp.f[1] = v;
        h.run(r(FCVT_FF, S, D, 1, rm, 3));
        (h.f3_s(), h.fp.fflags)
    };
    let d_from_s = |v: u64| {
        let mut h = Hart::new();
        h.fp.f[1] = v;
        h.run(r(FCVT_FF, D, S, 1, RNE, 3));
        (h.fp.f[3], h.fp.fflags)
    };
    let third_d = 0x3fd5_5555_5555_5555;
    assert_eq!(s_from_d(third_d, RNE), (0x3eaa_aaab, NX));
    assert_eq!(s_from_d(third_d, RTZ), (0x3eaa_aaaa, NX));
    assert_eq!(s_from_d(THREE_D, RNE), (0x4040_0000, 0));
    assert_eq!(s_from_d(MAX_D, RNE), (INF_S, OF | NX));
    assert_eq!(s_from_d(MAX_D, RTZ), (MAX_S, OF | NX));
    assert_eq!(s_from_d(1, RNE), (0, UF | NX)); // 2^-1074 -> 0
    assert_eq!(s_from_d(NEG_ZERO_D, RNE), (NEG_ZERO_S, 0));
    assert_eq!(s_from_d(0xfff8_0000_1234_5678, RNE), (QNAN_S, 0));
    assert_eq!(s_from_d(SNAN_D, RNE), (QNAN_S, NV));

    assert_eq!(d_from_s(nan_box(0x3fc0_0000)), (0x3ff8_0000_0000_0000, 0)); // 1.5
    assert_eq!(d_from_s(nan_box(MIN_SUB_S)), (0x36a0_0000_0000_0000, 0)); // 2^-149
    assert_eq!(d_from_s(nan_box(NEG_INF_S)), (NEG_INF_D, 0));
    assert_eq!(d_from_s(nan_box(QNAN_PAYLOAD_S)), (QNAN_D, 0));
    assert_eq!(d_from_s(nan_box(SNAN_S)), (QNAN_D, NV));
    assert_eq!(d_from_s(u64::from(ONE_S)), (QNAN_D, 0)); // not boxed
}

#[test]
fn fused_multiply_add_rounds_once() {
    // (1 + 2^-23)(1 - 2^-23) = 1 - 2^-46 exactly. Fused with -1 that gives
    // -2^-46 with no rounding at all; FMUL then FADD would round the product
    // to 1.0 first and give 0.
    let a = 0x3f80_0001;
    let b = 0x3f7f_fffe;
    let two_m46 = 0x2880_0000; // 2^-46: biased exponent 81
    assert_eq!(fma_s(0x43, a, b, NEG_ONE_S, RNE), (two_m46 | 1 << 31, 0)); // fmadd
    assert_eq!(fma_s(0x47, a, b, ONE_S, RNE), (two_m46 | 1 << 31, 0)); // fmsub
    assert_eq!(fma_s(0x4b, a, b, ONE_S, RNE), (two_m46, 0)); // fnmsub: -(ab)+c
    assert_eq!(fma_s(0x4f, a, b, NEG_ONE_S, RNE), (two_m46, 0)); // fnmadd: -(ab)-c
    let (p, f) = bin_s(FMUL, a, b, RNE);
    assert_eq!((p, f), (ONE_S, NX));
    assert_eq!(bin_s(FADD, p, NEG_ONE_S, RNE), (POS_ZERO_S, 0));

    // Double: (1 + 2^-52)(1 - 2^-52) - 1 = -2^-104 (biased exponent 919).
    let a = 0x3ff0_0000_0000_0001;
    let b = 0x3fef_ffff_ffff_fffe;
    let two_m104 = 0x3970_0000_0000_0000;
    assert_eq!(fma_d(0x43, a, b, NEG_ONE_S_D, RNE), (two_m104 | 1 << 63, 0));
    assert_eq!(fma_d(0x47, a, b, ONE_D, RNE), (two_m104 | 1 << 63, 0));
    assert_eq!(fma_d(0x4b, a, b, ONE_D, RNE), (two_m104, 0));
    assert_eq!(fma_d(0x4f, a, b, NEG_ONE_S_D, RNE), (two_m104, 0));

    // Rounding of the single rounding: 1*1 + 2^-24 is a tie.
    assert_eq!(
        fma_s(0x43, ONE_S, ONE_S, ULP_HALF_S, RUP),
        (0x3f80_0001, NX)
    );
    assert_eq!(fma_s(0x43, ONE_S, ONE_S, ULP_HALF_S, RNE), (ONE_S, NX));
}

#[test]
fn fused_multiply_add_invalid() {
    // Spec: FMA of inf * 0 raises NV even when the addend is a quiet NaN.
    assert_eq!(fma_s(0x43, INF_S, POS_ZERO_S, QNAN_S, RNE), (QNAN_S, NV));
    assert_eq!(fma_d(0x4f, 0, NEG_INF_D, QNAN_D, RNE), (QNAN_D, NV));
    // inf - inf.
    assert_eq!(fma_s(0x43, INF_S, ONE_S, NEG_INF_S, RNE), (QNAN_S, NV));
    // Quiet NaN addend alone: canonical NaN, no flags; signaling: NV.
    assert_eq!(fma_s(0x43, ONE_S, ONE_S, QNAN_PAYLOAD_S, RNE), (QNAN_S, 0));
    assert_eq!(fma_d(0x47, ONE_D, ONE_D, SNAN_D, RNE), (QNAN_D, NV));
    // Signed zeros: (-0)(1) + (-0) = -0; (+0)(1) + (-0) = +0 at nearest.
    assert_eq!(
        fma_s(0x43, NEG_ZERO_S, ONE_S, NEG_ZERO_S, RNE),
        (NEG_ZERO_S, 0)
    );
    assert_eq!(
        fma_s(0x43, POS_ZERO_S, ONE_S, NEG_ZERO_S, RNE),
        (POS_ZERO_S, 0)
    );
    assert_eq!(
        fma_s(0x43, POS_ZERO_S, ONE_S, NEG_ZERO_S, RDN),
        (NEG_ZERO_S, 0)
    );
}

#[test]
fn classify_all_ten_classes() {
    let s = |v: u32| {
        let mut h = Hart::new();
        h.fp.f[1] = nan_box(v);
        h.run(r(FMV_X_CLASS, S, 0, 1, 1, 5));
        assert_eq!(h.fp.fflags, 0);
        h.x[5]
    };
    assert_eq!(s(NEG_INF_S), 1 << 0);
    assert_eq!(s(NEG_ONE_S), 1 << 1);
    assert_eq!(s(0x8000_0001), 1 << 2); // negative subnormal
    assert_eq!(s(NEG_ZERO_S), 1 << 3);
    assert_eq!(s(POS_ZERO_S), 1 << 4);
    assert_eq!(s(0x007f_ffff), 1 << 5); // positive subnormal
    assert_eq!(s(MIN_NORMAL_S), 1 << 6);
    assert_eq!(s(INF_S), 1 << 7);
    assert_eq!(s(SNAN_S), 1 << 8);
    assert_eq!(s(0xffbf_ffff), 1 << 8); // negative sNaN
    assert_eq!(s(QNAN_S), 1 << 9);
    assert_eq!(s(QNAN_PAYLOAD_S), 1 << 9);

    let d = |v: u64| {
        let mut h = Hart::new();
        h.fp.f[1] = v;
        h.run(r(FMV_X_CLASS, D, 0, 1, 1, 5));
        h.x[5]
    };
    assert_eq!(d(NEG_INF_D), 1 << 0);
    assert_eq!(d(0xc000_0000_0000_0000), 1 << 1);
    assert_eq!(d(0x800f_ffff_ffff_ffff), 1 << 2);
    assert_eq!(d(NEG_ZERO_D), 1 << 3);
    assert_eq!(d(0), 1 << 4);
    assert_eq!(d(1), 1 << 5);
    assert_eq!(d(MAX_D), 1 << 6);
    assert_eq!(d(INF_D), 1 << 7);
    assert_eq!(d(SNAN_D), 1 << 8);
    assert_eq!(d(QNAN_D), 1 << 9);
}

#[test]
fn flags_accumulate() {
    let mut h = Hart::new();
    h.fp.fflags = DZ;
    h.fp.f[1] = nan_box(ONE_S);
    h.fp.f[2] = nan_box(ULP_HALF_S);
    h.run(r(FADD, S, 2, 1, RNE, 3));
    assert_eq!(h.fp.fflags, DZ | NX);
    // An exact operation keeps what was there.
    h.run(r(FADD, S, 1, 1, RNE, 3));
    assert_eq!(h.fp.fflags, DZ | NX);
}

#[test]
fn illegal_instructions_change_nothing() {
    let illegal = |insn: u32, frm: u32| {
        let mut h = Hart::new();
        h.fp.frm = frm;
        h.fp.f[1] = nan_box(ONE_S);
        h.fp.f[2] = nan_box(SNAN_S);
        h.x[5] = 7;
        let before = (h.fp.clone(), h.x);
        assert_eq!(
            execute(insn, &mut h.fp, &mut h.x),
            Err(IllegalFp),
            "{insn:#010x}"
        );
        assert_eq!((h.fp, h.x), before, "{insn:#010x} modified state");
    };
    // Reserved rounding modes, static and dynamic.
    illegal(r(FADD, S, 2, 1, 5, 3), RNE);
    illegal(r(FMUL, D, 2, 1, 6, 3), RNE);
    for frm in 5..=7 {
        illegal(r(FADD, S, 2, 1, DYN, 3), frm);
        illegal(r4(0x43, 2, D, 2, 1, DYN, 3), frm);
        illegal(r(FCVT_XF, S, W, 1, DYN, 5), frm);
        illegal(r(FCVT_FX, D, L, 5, DYN, 3), frm);
        illegal(r(FCVT_FF, S, D, 1, DYN, 3), frm);
        illegal(r(FSQRT, D, 0, 1, DYN, 3), frm);
    }
    illegal(r4(0x4f, 2, S, 2, 1, 5, 3), RNE);
    // H and Q formats.
    illegal(r(FADD, 2, 2, 1, RNE, 3), RNE);
    illegal(r(FADD, 3, 2, 1, RNE, 3), RNE);
    illegal(r4(0x43, 2, 3, 2, 1, RNE, 3), RNE);
    // Reserved funct3 for rm-less instructions.
    illegal(r(FSGNJ, S, 2, 1, 3, 3), RNE);
    illegal(r(FMINMAX, D, 2, 1, 2, 3), RNE);
    illegal(r(FCMP, S, 2, 1, 3, 5), RNE);
    illegal(r(FMV_X_CLASS, S, 0, 1, 2, 5), RNE);
    illegal(r(FMV_F_X, D, 0, 5, 1, 3), RNE);
    // Reserved rs2 values.
    illegal(r(FSQRT, S, 1, 1, RNE, 3), RNE);
    illegal(r(FCVT_XF, D, 4, 1, RNE, 5), RNE);
    illegal(r(FCVT_FX, S, 5, 5, RNE, 3), RNE);
    illegal(r(FCVT_FF, S, S, 1, RNE, 3), RNE); // fcvt.s.s
    illegal(r(FCVT_FF, D, D, 1, RNE, 3), RNE);
    illegal(r(FCVT_FF, S, 2, 1, RNE, 3), RNE); // fcvt.s.h (Zfh)
    illegal(r(FMV_X_CLASS, D, 1, 1, 0, 5), RNE);
    illegal(r(FMV_F_X, S, 1, 5, 0, 3), RNE); // fli.s (Zfa)
                                             // Unused funct5 values and other opcodes.
    for funct5 in [0b00110, 0b00111, 0b01001, 0b10000, 0b11111] {
        illegal(r(funct5, S, 2, 1, RNE, 3), RNE);
    }
    illegal(0x0000_0013, RNE); // addi x0, x0, 0
    illegal(0x0000_2087, RNE); // flw is the caller's
}
