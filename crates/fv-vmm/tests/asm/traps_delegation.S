# traps_delegation: privilege changes through mret/sret, environment calls
# from each mode, exception delegation (medeleg) and interrupt delegation
# (mideleg) of the supervisor software interrupt.
# Privileged spec (20211203): 3.1.6.1 (privilege stack), 3.1.8 (medeleg /
# mideleg), 3.1.9 (mip/mie), 3.3.1-3.3.2 (ecall, mret/sret), 4.1.1 (sstatus),
# 4.1.3 (sip/sie). No paging (satp = Bare); one hart.

        .include "macros.inc"
        TEST_ENTRY "traps_delegation"

main:
        PMP_OPEN_ALL
        csrw    medeleg, zero
        csrw    mideleg, zero
        csrw    mie, zero
        csrw    satp, zero
        la      t0, s_trap_entry
        csrw    stvec, t0
        addi    t0, tp, S_OFF
        csrw    sscratch, t0

# ---- 1. U-mode via mret with MPP = U; ecall from U is cause 8 (3.3.1).
        MRET_TO 0, u_part1
u_part1:
        TRAP_M 1, ecall
        CHECK_MTRAP 2, CAUSE_ECALL_U, .Ltrap_at_1
        ld      t0, M_TVAL(tp)
        CHECK_EQ 4, t0, 0
        ld      t0, M_STATUS(tp)    # the trap recorded the previous mode
        CHECK_BITS 5, t0, MSTATUS_MPP, 0
        # M-level and S-level CSRs are not accessible from U (2.1)
        TRAP_M 6, csrr t0, mstatus
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 7, t0, CAUSE_ILLEGAL
        TRAP_M 8, csrr t0, sstatus
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 9, t0, CAUSE_ILLEGAL
        # xRET above the current privilege is illegal (3.3.2)
        TRAP_M 10, mret
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 11, t0, CAUSE_ILLEGAL
        TRAP_M 12, sret
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 13, t0, CAUSE_ILLEGAL
        GOTO_M m_part2

# ---- 2. S-mode via mret with MPP = S; ecall from S is cause 9.
m_part2:
        MRET_TO 1, s_part2
s_part2:
        TRAP_M 20, ecall
        CHECK_MTRAP 21, CAUSE_ECALL_S, .Ltrap_at_20
        ld      t0, M_STATUS(tp)
        CHECK_BITS 23, t0, MSTATUS_MPP, MSTATUS_MPP_S
        TRAP_M 24, csrr t0, mstatus
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 25, t0, CAUSE_ILLEGAL
        TRAP_M 26, mret
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 27, t0, CAUSE_ILLEGAL
        # sstatus is a view of mstatus (4.1.1): SUM set from S shows in M
        li      t0, MSTATUS_SUM
        csrs    sstatus, t0
        csrr    t0, sstatus
        CHECK_BITS 28, t0, MSTATUS_SUM, MSTATUS_SUM
        # ... and the M-only fields (MPP, MIE, MPIE) do not show in sstatus
        CHECK_BITS 29, t0, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE, 0
        GOTO_M m_part3

m_part3:
        csrr    t0, mstatus
        CHECK_BITS 30, t0, MSTATUS_SUM, MSTATUS_SUM
        li      t0, MSTATUS_SUM
        csrc    mstatus, t0

# ---- 3. TSR, TVM, TW trap S-mode sret, satp access, wfi (3.1.6.5).
        li      t0, MSTATUS_TSR | MSTATUS_TVM | MSTATUS_TW
        csrs    mstatus, t0
        MRET_TO 1, s_part3
s_part3:
        TRAP_M 31, sret
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 32, t0, CAUSE_ILLEGAL
        TRAP_M 33, csrr t0, satp
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 34, t0, CAUSE_ILLEGAL
        TRAP_M 35, sfence.vma
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 36, t0, CAUSE_ILLEGAL
        # no interrupt can wake this wfi, so TW must turn it into a trap
        TRAP_M 37, wfi
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 38, t0, CAUSE_ILLEGAL
        GOTO_M m_part4

m_part4:
        li      t0, MSTATUS_TSR | MSTATUS_TVM | MSTATUS_TW
        csrc    mstatus, t0

# ---- 4. medeleg: ecall from U and illegal instructions go to S (3.1.8).
        li      t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ILLEGAL)
        csrw    medeleg, t0
        csrr    t1, medeleg
        CHECK_EQR 40, t1, t0
        # Even when delegated, a trap never goes to a less privileged mode:
        # an illegal instruction in M still traps into M (3.1.8).
        TRAP_M 41, .word 0xfe000033
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 42, t0, CAUSE_ILLEGAL
        MRET_TO 1, s_part4
s_part4:
        # sret to U with SPIE = 1: U runs with SIE = 1, SPIE = 1 (3.3.2)
        li      t0, MSTATUS_SPP
        csrc    sstatus, t0
        li      t0, MSTATUS_SPIE
        csrs    sstatus, t0
        csrci   sstatus, MSTATUS_SIE
        la      t0, u_part4
        csrw    sepc, t0
        sret
u_part4:
        ld      s0, M_COUNT(tp)
        TRAP_S 43, ecall
        CHECK_STRAP 44, CAUSE_ECALL_U, .Ltrap_at_43
        ld      t0, S_TVAL(tp)
        CHECK_EQ 46, t0, 0
        # trap into S: SPP = U, SPIE = old SIE (1), SIE = 0 (4.1.1)
        ld      t0, S_STATUS(tp)
        CHECK_BITS 47, t0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE
        # M saw nothing
        ld      t0, M_COUNT(tp)
        CHECK_EQR 48, t0, s0
        # a delegated illegal instruction: scause 2, stval = bits or 0
        TRAP_S 49, csrr t0, mstatus
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 50, t0, CAUSE_ILLEGAL
        la      t1, .Ltrap_at_49
        lwu     t1, 0(t1)
        ld      t0, S_TVAL(tp)
        CHECK_EITHER_R 51, t0, t1, zero
        ld      t0, M_COUNT(tp)
        CHECK_EQR 52, t0, s0
        # back to S through the S handler
        EXPECT_S_TO_S s_part4b
        ecall
s_part4b:
        # after sret: SPP = U (least privileged), SPIE = 1 (3.3.2)
        csrr    t0, sstatus
        CHECK_BITS 53, t0, MSTATUS_SPP | MSTATUS_SPIE, MSTATUS_SPIE
        # ecall from S is not delegated: M takes it, cause 9
        TRAP_M 54, ecall
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 55, t0, CAUSE_ECALL_S
        # ebreak is not delegated either
        csrci   sstatus, MSTATUS_SIE
        GOTO_M m_part5

# ---- 5. Supervisor software interrupt.
m_part5:
        csrw    medeleg, zero
        # (a) not delegated: SSIP pending + mie.SSIE traps into M as soon as
        # the hart is in S, whatever mstatus.MIE (3.1.6.1: interrupts for a
        # higher mode are always enabled in a lower mode).
        csrci   mstatus, MSTATUS_MIE
        li      t0, 1 << IRQ_SSI
        csrs    mip, t0
        csrr    t1, mip
        CHECK_BITS 60, t1, 1 << IRQ_SSI, 1 << IRQ_SSI
        csrs    mie, t0
        EXPECT_M_TO_M m_part5b
        MRET_TO 1, s_part5a
s_part5a:
        li      a0, 61              # the interrupt did not come
        j       fail
m_part5b:
        CHECK_MTRAP 62, INTERRUPT_BIT | IRQ_SSI, s_part5a
        li      t0, 1 << IRQ_SSI
        csrc    mip, t0
        csrc    mie, t0
        # (b) delegated through mideleg: S sees it in sip/sie and takes it
        # with scause = interrupt 1 (4.1.3, 4.1.9).
        li      t0, 1 << IRQ_SSI
        csrw    mideleg, t0
        csrr    t1, mideleg
        CHECK_BITS 64, t1, 1 << IRQ_SSI, 1 << IRQ_SSI
        MRET_TO 1, s_part5
s_part5:
        ld      s0, M_COUNT(tp)
        csrci   sstatus, MSTATUS_SIE
        li      t0, 1 << IRQ_SSI
        csrs    sie, t0
        csrr    t1, sie
        CHECK_BITS 65, t1, 1 << IRQ_SSI, 1 << IRQ_SSI
        csrs    sip, t0             # S may set its own software interrupt
        csrr    t1, sip
        CHECK_BITS 66, t1, 1 << IRQ_SSI, 1 << IRQ_SSI
        # pending and enabled in sie, but SIE = 0 in S: nothing happens
        nop
        nop
        ld      t0, S_COUNT(tp)
        mv      s1, t0
        # setting SIE takes it before the next instruction
        EXPECT_S .Lssi_taken
        csrsi   sstatus, MSTATUS_SIE
.Lssi_next:
        li      a0, 67
        j       fail
.Lssi_taken:
        CHECK_STRAP 68, INTERRUPT_BIT | IRQ_SSI, .Lssi_next
        ld      t0, S_STATUS(tp)
        CHECK_BITS 70, t0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE
        # the handler returned with SIE = 0; the interrupt is still pending
        csrr    t0, sstatus
        CHECK_BITS 71, t0, MSTATUS_SIE, 0
        # (c) in U the S-level interrupt is enabled whatever SIE (4.1.1):
        # sret to U takes it at once, with sepc = the first U instruction.
        li      t0, MSTATUS_SPP | MSTATUS_SPIE
        csrc    sstatus, t0
        la      t0, u_part5
        csrw    sepc, t0
        EXPECT_S_TO_S s_part5c
        sret
u_part5:
        li      a0, 72
        j       fail
s_part5c:
        CHECK_STRAP 73, INTERRUPT_BIT | IRQ_SSI, u_part5
        ld      t0, S_STATUS(tp)
        CHECK_BITS 75, t0, MSTATUS_SPP, 0
        li      t0, 1 << IRQ_SSI
        csrc    sip, t0
        csrr    t1, sip
        CHECK_BITS 76, t1, 1 << IRQ_SSI, 0
        # M took none of these
        ld      t0, M_COUNT(tp)
        CHECK_EQR 77, t0, s0
        # M sees the same bit in mip (sip is a view of mip)
        GOTO_M m_part6
m_part6:
        csrr    t1, mip
        CHECK_BITS 78, t1, 1 << IRQ_SSI, 0
        # sie.SSIE is mie.SSIE
        csrr    t1, mie
        CHECK_BITS 79, t1, 1 << IRQ_SSI, 1 << IRQ_SSI
        csrw    mie, zero
        csrw    mideleg, zero
        j       pass

        TEST_RUNTIME
