/* Platform configuration for the vendored Berkeley SoftFloat 3e subset.
 * Written for fv-riscv-fp; it replaces the build/<target>/platform.h files
 * of the upstream tree, so all build options sit here rather than in
 * build.rs. Every source file includes it first. */
#ifndef FV_SOFTFLOAT_PLATFORM_H
#define FV_SOFTFLOAT_PLATFORM_H

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LITTLEENDIAN 1
#endif

/* The options upstream's 64-bit builds use. */
#define SOFTFLOAT_FAST_INT64 1
#define SOFTFLOAT_FAST_DIV32TO16 1
#define SOFTFLOAT_FAST_DIV64TO32 1
#define INLINE_LEVEL 5

/* Rounding mode and exception flags are per thread, so harts running on
 * different threads cannot see each other's state. */
#define THREAD_LOCAL _Thread_local

/* Static inline: every translation unit gets its own copy of the inline
 * primitives, so no external definition is needed whatever the optimiser
 * decides (plain C99 `inline` needs one). */
#define INLINE static inline

#define SOFTFLOAT_BUILTIN_CLZ 1
#if defined(__SIZEOF_INT128__)
#define SOFTFLOAT_INTRINSIC_INT128 1
#endif
#include "opts-GCC.h"

#endif
