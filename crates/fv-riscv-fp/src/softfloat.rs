//! The one call into the vendored Berkeley SoftFloat (see
//! `softfloat/README.md`): operands and results as raw bits, the rounding
//! mode as RISC-V encodes it, the raised exceptions as `fflags` bits.

/// SoftFloat operations, numbered as the enum in `softfloat/fv_glue.c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Op {
    AddS,
    SubS,
    MulS,
    DivS,
    SqrtS,
    MulAddS,
    EqS,
    LtS,
    LeS,
    SToW,
    SToWu,
    SToL,
    SToLu,
    WToS,
    WuToS,
    LToS,
    LuToS,
    AddD,
    SubD,
    MulD,
    DivD,
    SqrtD,
    MulAddD,
    EqD,
    LtD,
    LeD,
    DToW,
    DToWu,
    DToL,
    DToLu,
    WToD,
    WuToD,
    LToD,
    LuToD,
    SToD,
    DToS,
}

extern "C" {
    fn fv_softfloat_op(op: u32, a: u64, b: u64, c: u64, rm: u8, flags: *mut u8) -> u64;
}

/// Runs `op` with rounding mode `rm` (RISC-V encoding, 0..=4; SoftFloat
/// numbers its modes the same way, checked in the glue). Returns the raw
/// result (singles and 32-bit integers zero-extended, booleans 0/1) and the
/// exceptions raised, as `fflags` bits (same numbering as SoftFloat's).
#[inline]
pub(crate) fn run(op: Op, a: u64, b: u64, c: u64, rm: u32) -> (u64, u32) {
    debug_assert!(
        rm <= 4,
        "rounding mode must be resolved before calling SoftFloat"
    );
    let mut flags = 0u8;
    // SAFETY: `fv_softfloat_op` takes only integers by value and one pointer,
    // which points to a live local u8 it writes once; it reads and writes no
    // other memory of ours (only SoftFloat's own thread-local state), and
    // every `op` value is one of its enum's cases.
    let result = unsafe { fv_softfloat_op(op as u32, a, b, c, rm as u8, &mut flags) };
    (result, u32::from(flags))
}
