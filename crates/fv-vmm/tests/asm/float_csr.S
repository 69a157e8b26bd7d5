# float_csr: the floating-point CSRs and mstatus.FS.
# Unprivileged spec 20191213 11.2 (fcsr = frm << 5 | fflags; bits 31:8 read
# zero; a reserved frm makes dynamic-rounding instructions illegal), 11.3
# (NaN boxing), 12 (D); privileged spec (20211203) 3.1.6.6 (FS: Off makes
# every FP instruction and fcsr access illegal; writes make it Dirty; SD).

        .include "macros.inc"
        TEST_ENTRY "float_csr"

        .equ NX, 0x01
        .equ UF, 0x02
        .equ OF, 0x04
        .equ DZ, 0x08
        .equ NV, 0x10
        .equ ONE_D, 0x3ff0000000000000
        .equ THREE_D, 0x4008000000000000
        .equ CANON_NAN_D, 0x7ff8000000000000
        .equ CANON_NAN_S, 0x7fc00000
        .equ SD_BIT, (1 << 63)

.macro SET_FS value
        li      t6, MSTATUS_FS
        csrc    mstatus, t6
        li      t6, \value
        csrs    mstatus, t6
.endm

main:
# ---- misa has F and D.
        csrr    t0, misa
        CHECK_BITS 1, t0, (1 << 5) | (1 << 3), (1 << 5) | (1 << 3)

# ---- FS = Off: FP instructions and fcsr are illegal (3.1.6.6).
        SET_FS 0
        csrr    t0, mstatus
        CHECK_BITS 2, t0, MSTATUS_FS | SD_BIT, 0
        TRAP_M 3, fadd.d f1, f2, f3
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 4, t0, CAUSE_ILLEGAL
        TRAP_M 5, csrr t0, fcsr
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 6, t0, CAUSE_ILLEGAL
        TRAP_M 7, fmv.x.d t0, f1
        TRAP_M 8, fld f1, 0(sp)
        TRAP_M 9, csrw frm, zero
        TRAP_M 10, fsd f1, 0(sp)

# ---- Initial -> Dirty on an FP register write; SD summarises (3.1.6.6).
        SET_FS MSTATUS_FS_INITIAL
        li      t0, ONE_D
        fmv.d.x f1, t0
        csrr    t0, mstatus
        CHECK_BITS 11, t0, MSTATUS_FS | SD_BIT, MSTATUS_FS_DIRTY | SD_BIT
        # Clean -> Dirty on an fcsr write
        SET_FS MSTATUS_FS_CLEAN
        csrr    t0, mstatus
        CHECK_BITS 12, t0, MSTATUS_FS | SD_BIT, MSTATUS_FS_CLEAN
        csrw    fcsr, zero
        csrr    t0, mstatus
        CHECK_BITS 13, t0, MSTATUS_FS | SD_BIT, MSTATUS_FS_DIRTY | SD_BIT

# ---- fcsr = frm[7:5] | fflags[4:0] (11.2); bits 31:8 read as zero.
        li      t0, 0xffffffff
        csrw    fcsr, t0
        csrr    t0, fcsr
        CHECK_EQ 20, t0, 0xff
        csrr    t0, frm
        CHECK_EQ 21, t0, 7
        csrr    t0, fflags
        CHECK_EQ 22, t0, 0x1f
        csrwi   frm, 3
        csrr    t0, fcsr
        CHECK_EQ 23, t0, 0x7f
        csrrci  t1, fflags, 0x1b        # returns the old flags
        CHECK_EQ 24, t1, 0x1f
        csrr    t0, fcsr
        CHECK_EQ 25, t0, 0x64
        csrwi   fflags, 0
        csrr    t0, fcsr
        CHECK_EQ 26, t0, 0x60
        csrw    fcsr, zero

# ---- the flags accrue from arithmetic (11.2, table 11.2).
        li      t0, ONE_D
        fmv.d.x f1, t0                  # 1.0
        fmv.d.x f2, zero                # 0.0
        li      t0, THREE_D
        fmv.d.x f3, t0                  # 3.0
        fdiv.d  f4, f1, f2              # 1/0 = +inf, DZ
        csrrw   t0, fflags, zero
        CHECK_EQ 30, t0, DZ
        fdiv.d  f4, f2, f2              # 0/0 = canonical NaN, NV
        csrrw   t0, fflags, zero
        CHECK_EQ 31, t0, NV
        fmv.x.d t0, f4
        CHECK_EQ 32, t0, CANON_NAN_D
        fdiv.d  f4, f1, f3              # 1/3 inexact
        csrrw   t0, fflags, zero
        CHECK_EQ 33, t0, NX
        li      t0, 0x7fefffffffffffff  # DBL_MAX * 3 overflows
        fmv.d.x f5, t0
        fmul.d  f4, f5, f3
        csrrw   t0, fflags, zero
        CHECK_EQ 34, t0, OF | NX
        li      t0, 0x0010000000000001  # tiny * tiny underflows
        fmv.d.x f5, t0
        fmul.d  f4, f5, f5
        csrrw   t0, fflags, zero
        CHECK_EQ 35, t0, UF | NX
        fneg.d  f6, f1                  # sqrt(-1): NV
        fsqrt.d f4, f6
        csrrw   t0, fflags, zero
        CHECK_EQ 36, t0, NV
        # flags accumulate until cleared
        fdiv.d  f4, f1, f2
        fdiv.d  f4, f1, f3
        csrr    t0, fflags
        CHECK_EQ 37, t0, DZ | NX
        csrw    fflags, zero

# ---- dynamic rounding reads frm (11.2); a reserved frm is illegal.
        li      t0, 0x4004000000000000  # 2.5
        fmv.d.x f7, t0
        csrwi   frm, 0                  # RNE
        fcvt.w.d t0, f7
        CHECK_EQ 40, t0, 2
        csrwi   frm, 3                  # RUP
        fcvt.w.d t0, f7
        CHECK_EQ 41, t0, 3
        csrwi   frm, 2                  # RDN
        fcvt.w.d t0, f7
        CHECK_EQ 42, t0, 2
        csrwi   frm, 4                  # RMM
        fcvt.w.d t0, f7
        CHECK_EQ 43, t0, 3
        fcvt.w.d t0, f7, rtz            # a static mode ignores frm
        CHECK_EQ 44, t0, 2
        csrwi   frm, 5                  # reserved
        TRAP_M 45, fadd.d f4, f1, f1
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 46, t0, CAUSE_ILLEGAL
        fadd.d  f4, f1, f1, rne         # static rounding still works
        csrwi   frm, 0
        csrw    fflags, zero

# ---- NaN boxing of singles in 64-bit registers (11.3, 12.2).
        li      t0, 0x40000000          # 2.0f
        fmv.w.x f8, t0
        fmv.x.d t1, f8
        li      t2, 0xffffffff40000000
        CHECK_EQR 50, t1, t2
        fmv.d.x f9, t0                  # not boxed: read as canonical NaN
        fadd.s  f10, f9, f8
        fmv.x.d t1, f10
        li      t2, 0xffffffff7fc00000
        CHECK_EQR 51, t1, t2
        fmv.x.w t1, f9                  # fmv.x.w moves the low bits as they are
        CHECK_EQ 52, t1, 0x40000000
        # NaN to int saturates to the maximum, NV
        csrw    fflags, zero
        fcvt.w.s t1, f9
        li      t2, 0x7fffffff
        CHECK_EQR 53, t1, t2
        csrr    t0, fflags
        CHECK_EQ 54, t0, NV
        j       pass

        TEST_RUNTIME
