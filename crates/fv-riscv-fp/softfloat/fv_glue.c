/* fv-riscv-fp glue: one entry point into SoftFloat with plain integer
 * arguments, so the Rust side needs a single FFI declaration and never
 * touches SoftFloat's thread-local rounding mode and flags directly. */
#include <stdbool.h>
#include <stdint.h>
#include "platform.h"
#include "softfloat.h"

/* RISC-V encodes rm and fflags exactly as SoftFloat numbers its rounding
 * modes and exception flags; execute() relies on that. */
_Static_assert(softfloat_round_near_even == 0 && softfloat_round_minMag == 1 &&
               softfloat_round_min == 2 && softfloat_round_max == 3 &&
               softfloat_round_near_maxMag == 4, "rounding mode numbering");
_Static_assert(softfloat_flag_inexact == 1 && softfloat_flag_underflow == 2 &&
               softfloat_flag_overflow == 4 && softfloat_flag_infinite == 8 &&
               softfloat_flag_invalid == 16, "exception flag numbering");

/* Keep in step with `Op` in src/softfloat.rs. */
enum {
    OP_ADD_S, OP_SUB_S, OP_MUL_S, OP_DIV_S, OP_SQRT_S, OP_MULADD_S,
    OP_EQ_S, OP_LT_S, OP_LE_S,
    OP_S_TO_W, OP_S_TO_WU, OP_S_TO_L, OP_S_TO_LU,
    OP_W_TO_S, OP_WU_TO_S, OP_L_TO_S, OP_LU_TO_S,
    OP_ADD_D, OP_SUB_D, OP_MUL_D, OP_DIV_D, OP_SQRT_D, OP_MULADD_D,
    OP_EQ_D, OP_LT_D, OP_LE_D,
    OP_D_TO_W, OP_D_TO_WU, OP_D_TO_L, OP_D_TO_LU,
    OP_W_TO_D, OP_WU_TO_D, OP_L_TO_D, OP_LU_TO_D,
    OP_S_TO_D, OP_D_TO_S,
};

static inline float32_t s(uint64_t v) { float32_t r = { (uint32_t) v }; return r; }
static inline float64_t d(uint64_t v) { float64_t r = { v }; return r; }

/* Runs `op` on raw operand bits with rounding mode `rm` (0..4), stores the
 * exception flags it raised in *flags and returns the raw result bits
 * (singles and 32-bit integers zero-extended, booleans as 0/1). Unknown ops
 * return 0 with no flags. */
uint64_t fv_softfloat_op(uint32_t op, uint64_t a, uint64_t b, uint64_t c,
                         uint8_t rm, uint8_t *flags)
{
    uint64_t r = 0;
    softfloat_roundingMode = rm;
    softfloat_exceptionFlags = 0;
    switch (op) {
    case OP_ADD_S: r = f32_add(s(a), s(b)).v; break;
    case OP_SUB_S: r = f32_sub(s(a), s(b)).v; break;
    case OP_MUL_S: r = f32_mul(s(a), s(b)).v; break;
    case OP_DIV_S: r = f32_div(s(a), s(b)).v; break;
    case OP_SQRT_S: r = f32_sqrt(s(a)).v; break;
    case OP_MULADD_S: r = f32_mulAdd(s(a), s(b), s(c)).v; break;
    case OP_EQ_S: r = f32_eq(s(a), s(b)); break;
    case OP_LT_S: r = f32_lt(s(a), s(b)); break;
    case OP_LE_S: r = f32_le(s(a), s(b)); break;
    case OP_S_TO_W: r = (uint32_t) f32_to_i32(s(a), rm, true); break;
    case OP_S_TO_WU: r = (uint32_t) f32_to_ui32(s(a), rm, true); break;
    case OP_S_TO_L: r = (uint64_t) f32_to_i64(s(a), rm, true); break;
    case OP_S_TO_LU: r = f32_to_ui64(s(a), rm, true); break;
    case OP_W_TO_S: r = i32_to_f32((int32_t) a).v; break;
    case OP_WU_TO_S: r = ui32_to_f32((uint32_t) a).v; break;
    case OP_L_TO_S: r = i64_to_f32((int64_t) a).v; break;
    case OP_LU_TO_S: r = ui64_to_f32(a).v; break;
    case OP_ADD_D: r = f64_add(d(a), d(b)).v; break;
    case OP_SUB_D: r = f64_sub(d(a), d(b)).v; break;
    case OP_MUL_D: r = f64_mul(d(a), d(b)).v; break;
    case OP_DIV_D: r = f64_div(d(a), d(b)).v; break;
    case OP_SQRT_D: r = f64_sqrt(d(a)).v; break;
    case OP_MULADD_D: r = f64_mulAdd(d(a), d(b), d(c)).v; break;
    case OP_EQ_D: r = f64_eq(d(a), d(b)); break;
    case OP_LT_D: r = f64_lt(d(a), d(b)); break;
    case OP_LE_D: r = f64_le(d(a), d(b)); break;
    case OP_D_TO_W: r = (uint32_t) f64_to_i32(d(a), rm, true); break;
    case OP_D_TO_WU: r = (uint32_t) f64_to_ui32(d(a), rm, true); break;
    case OP_D_TO_L: r = (uint64_t) f64_to_i64(d(a), rm, true); break;
    case OP_D_TO_LU: r = f64_to_ui64(d(a), rm, true); break;
    case OP_W_TO_D: r = i32_to_f64((int32_t) a).v; break;
    case OP_WU_TO_D: r = ui32_to_f64((uint32_t) a).v; break;
    case OP_L_TO_D: r = i64_to_f64((int64_t) a).v; break;
    case OP_LU_TO_D: r = ui64_to_f64(a).v; break;
    case OP_S_TO_D: r = f32_to_f64(s(a)).v; break;
    case OP_D_TO_S: r = f64_to_f32(d(a)).v; break;
    default: break;
    }
    *flags = softfloat_exceptionFlags;
    return r;
}
