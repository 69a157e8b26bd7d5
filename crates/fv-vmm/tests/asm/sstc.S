# sstc: the Sstc extension, a supervisor timer compare register.
# Sstc 1.0 (privileged spec 20211203 + the Sstc chapter): stimecmp (CSR
# 0x14D) raises STIP while time >= stimecmp, when menvcfg.STCE (bit 63) = 1;
# below M, stimecmp needs STCE = 1 and mcounteren.TM = 1, else it is an
# illegal instruction. menvcfg is privileged spec 3.1.18.
# Guarded: a hart without menvcfg or whose STCE does not stick passes with a
# note on the UART, since Sstc is optional.

        .include "macros.inc"
        TEST_ENTRY "sstc"

        .equ CSR_MENVCFG, 0x30a
        .equ CSR_STIMECMP, 0x14d
        .equ TICKS_1MS, 10000
        .equ TIMEOUT_TICKS, 20000000

.macro WAIT_MIP code, bit, val
        li      t2, CLINT_MTIME
        ld      t2, 0(t2)
        li      t0, TIMEOUT_TICKS
        add     t2, t2, t0
.Lpoll\@:
        csrr    t0, mip
        srli    t0, t0, \bit
        andi    t0, t0, 1
        li      t1, \val
        beq     t0, t1, .Ldone\@
        li      t1, CLINT_MTIME
        ld      t1, 0(t1)
        bltu    t1, t2, .Lpoll\@
        li      a0, \code
        mv      a1, t0
        li      a2, \val
        j       fail
.Ldone\@:
.endm

main:
        PMP_OPEN_ALL
        csrw    mie, zero
        csrw    medeleg, zero
        csrw    mideleg, zero
        csrci   mstatus, MSTATUS_MIE
        la      t0, s_trap_entry
        csrw    stvec, t0
        addi    t0, tp, S_OFF
        csrw    sscratch, t0

# ---- is Sstc there?
        EXPECT_M .Lno_sstc
        csrr    t0, CSR_MENVCFG
        sd      zero, M_RESUME(tp)
        li      t1, 1 << 63
        csrs    CSR_MENVCFG, t1
        csrr    t0, CSR_MENVCFG
        bgez    t0, .Lno_sstc
        # QEMU 7.2 with sstc=off lets STCE stick without stimecmp: probe it
        EXPECT_M .Lno_sstc
        csrr    t0, CSR_STIMECMP
        sd      zero, M_RESUME(tp)
        j       .Lhave_sstc
.Lno_sstc:
        la      a3, msg_skip
        jal     ra, uart_puts
        j       pass

.Lhave_sstc:
# ---- STIP follows time >= stimecmp and is read-only in mip.
        li      t0, -1
        csrw    CSR_STIMECMP, t0
        csrr    t1, CSR_STIMECMP
        CHECK_EQR 1, t1, t0
        WAIT_MIP 2, IRQ_STI, 0
        li      t0, 1 << IRQ_STI
        csrs    mip, t0             # ignored: STIP is stimecmp's now
        csrr    t1, mip
        CHECK_BITS 3, t1, 1 << IRQ_STI, 0
        csrw    CSR_STIMECMP, zero
        WAIT_MIP 4, IRQ_STI, 1
        li      t0, 1 << IRQ_STI
        csrc    mip, t0
        csrr    t1, mip
        CHECK_BITS 5, t1, 1 << IRQ_STI, 1 << IRQ_STI
        li      t0, -1
        csrw    CSR_STIMECMP, t0
        WAIT_MIP 6, IRQ_STI, 0

# ---- access rules below M: mcounteren.TM = 0 -> illegal.
        csrw    mcounteren, zero
        MRET_TO 1, s_part1
s_part1:
        TRAP_M 10, csrr t0, CSR_STIMECMP
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 11, t0, CAUSE_ILLEGAL
        GOTO_M m_part2
m_part2:
        # STCE = 0 -> illegal even with TM = 1
        li      t0, 2
        csrw    mcounteren, t0
        li      t1, 1 << 63
        csrc    CSR_MENVCFG, t1
        MRET_TO 1, s_part2
s_part2:
        TRAP_M 12, csrr t0, CSR_STIMECMP
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 13, t0, CAUSE_ILLEGAL
        GOTO_M m_part3

# ---- S programs its own timer: delegated STI, scause = interrupt 5.
m_part3:
        li      t1, 1 << 63
        csrs    CSR_MENVCFG, t1
        li      t0, 1 << IRQ_STI
        csrw    mideleg, t0
        MRET_TO 1, s_part3
s_part3:
        li      t0, 1 << IRQ_STI
        csrs    sie, t0
        csrr    s1, time
        li      t0, TICKS_1MS
        add     s1, s1, t0
        csrw    CSR_STIMECMP, s1
        li      t0, TIMEOUT_TICKS
        add     s2, s1, t0
        EXPECT_S .Lsti_taken
        csrsi   sstatus, MSTATUS_SIE
.Lsti_wait:
        csrr    t0, time
        bltu    t0, s2, .Lsti_wait
        li      a0, 20
        j       fail
.Lsti_taken:
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 21, t0, INTERRUPT_BIT | IRQ_STI
        csrr    t0, time
        CHECK_LEU 22, s1, t0
        csrr    t0, sip
        CHECK_BITS 23, t0, 1 << IRQ_STI, 1 << IRQ_STI
        # a new compare value in the future clears STIP
        li      t0, -1
        csrw    CSR_STIMECMP, t0
        csrr    t0, sip
        andi    t0, t0, 1 << IRQ_STI
        beqz    t0, 1f
        csrr    t0, sip             # allow one read of latency
        CHECK_BITS 24, t0, 1 << IRQ_STI, 0
1:
        j       pass

        .section .rodata
msg_skip:
        .asciz "NOTE sstc: Sstc not offered (menvcfg.STCE does not stick or no stimecmp), skipped\n"
        .text

        TEST_RUNTIME
