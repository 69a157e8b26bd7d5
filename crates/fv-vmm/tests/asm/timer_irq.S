# timer_irq: machine timer and software interrupts from the CLINT.
# Privileged spec (20211203) 3.1.9 (mip/mie, priority order), 3.1.7 (mtvec
# vectored mode), 3.2.1 (mtime/mtimecmp), 3.3.3 (wfi). CLINT layout as on
# QEMU virt: msip at +0x0, mtimecmp at +0x4000, mtime at +0xbff8, 10 MHz.

        .include "macros.inc"
        TEST_ENTRY "timer_irq"

        .equ TICKS_1MS, 10000
        .equ TIMEOUT_TICKS, 20000000     # 2 s of mtime
        .equ VEC_INDEX, 88               # free slots in the M trap area
        .equ VEC_SAVE,  96

# Poll until mip has bit \bit == \val, failing with \code after 2 s of mtime.
# Clobbers t0-t2.
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

.macro SET_MTIMECMP reg
        li      t6, CLINT_MTIMECMP
        sd      \reg, 0(t6)
.endm

main:
        csrw    mie, zero
        csrci   mstatus, MSTATUS_MIE
        li      t0, -1
        SET_MTIMECMP t0

# ---- mtime counts (3.2.1).
        li      s0, CLINT_MTIME
        ld      s1, 0(s0)
        li      t0, 100000
1:      addi    t0, t0, -1
        bnez    t0, 1b
        ld      s2, 0(s0)
        CHECK_NER 1, s1, s2
        CHECK_LEU 2, s1, s2

# ---- MTIP follows mtime >= mtimecmp; it is read-only in mip (3.1.9).
        WAIT_MIP 3, IRQ_MTI, 0
        SET_MTIMECMP zero
        WAIT_MIP 4, IRQ_MTI, 1
        li      t0, 1 << IRQ_MTI
        csrc    mip, t0
        csrr    t1, mip
        CHECK_BITS 5, t1, 1 << IRQ_MTI, 1 << IRQ_MTI
        # pending but mie.MTIE = 0, and then MTIE = 1 with mstatus.MIE = 0:
        # not taken in M
        csrs    mie, t0
        nop
        nop
        ld      t0, M_COUNT(tp)
        CHECK_EQ 6, t0, 0
        # MIE = 1: taken before the next instruction, mepc = that instruction
        EXPECT_M .Lmti_taken
        csrsi   mstatus, MSTATUS_MIE
.Lmti_next:
        li      a0, 7
        j       fail
.Lmti_taken:
        CHECK_MTRAP 8, INTERRUPT_BIT | IRQ_MTI, .Lmti_next
        ld      t0, M_STATUS(tp)        # MPIE = the old MIE, MIE = 0
        CHECK_BITS 10, t0, MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP
        csrr    t0, mstatus             # the handler returned with MIE = 0
        CHECK_BITS 11, t0, MSTATUS_MIE, 0
        li      t0, -1
        SET_MTIMECMP t0
        WAIT_MIP 12, IRQ_MTI, 0

# ---- a timer 1 ms ahead interrupts a busy loop.
        ld      s1, 0(s0)
        li      t0, TICKS_1MS
        add     s1, s1, t0
        SET_MTIMECMP s1
        li      t0, TIMEOUT_TICKS
        add     s2, s1, t0
        EXPECT_M .Lbusy_taken
        csrsi   mstatus, MSTATUS_MIE
.Lbusy:
        ld      t0, 0(s0)
        bltu    t0, s2, .Lbusy
        li      a0, 13                  # no interrupt within 2 s
        j       fail
.Lbusy_taken:
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 14, t0, INTERRUPT_BIT | IRQ_MTI
        ld      t0, 0(s0)
        CHECK_LEU 15, s1, t0            # not before mtimecmp
        li      t0, -1
        SET_MTIMECMP t0

# ---- wfi with mstatus.MIE = 0 still wakes on a pending enabled interrupt
# (3.3.3) and the trap is not taken. wfi may also return early, so loop.
        ld      s3, M_COUNT(tp)
        ld      s1, 0(s0)
        li      t0, TICKS_1MS
        add     s1, s1, t0
        SET_MTIMECMP s1
        li      t0, TIMEOUT_TICKS
        add     s2, s1, t0
.Lwfi_loop:
        wfi
        csrr    t0, mip
        andi    t0, t0, 1 << IRQ_MTI
        bnez    t0, .Lwfi_woke
        ld      t0, 0(s0)
        bltu    t0, s2, .Lwfi_loop
        li      a0, 16
        j       fail
.Lwfi_woke:
        ld      t0, 0(s0)
        CHECK_LEU 17, s1, t0
        ld      t0, M_COUNT(tp)
        CHECK_EQR 18, t0, s3

# ---- wfi with MIE = 1: the interrupt is taken after the wfi, so mepc
# points at the instruction after it (3.3.3).
        ld      s1, 0(s0)
        li      t0, TICKS_1MS
        add     s1, s1, t0
        SET_MTIMECMP s1
        li      t0, TIMEOUT_TICKS
        add     s2, s1, t0
        EXPECT_M .Lwfi2_taken
        csrsi   mstatus, MSTATUS_MIE
.Lwfi2_loop:
        wfi
.Lwfi2_after:
        ld      t0, 0(s0)
        bltu    t0, s2, .Lwfi2_loop
.Lwfi2_end:
        li      a0, 19
        j       fail
.Lwfi2_taken:
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 20, t0, INTERRUPT_BIT | IRQ_MTI
        # with a wfi that really waits, mepc = .Lwfi2_after; a wfi that
        # returns at once (legal) lets it land anywhere in the loop
        ld      t0, M_EPC(tp)
        la      t1, .Lwfi2_loop
        CHECK_LEU 21, t1, t0
        la      t1, .Lwfi2_end
        CHECK_LEU 22, t0, t1
        li      t0, -1
        SET_MTIMECMP t0
        csrw    mie, zero

# ---- software interrupt to self through msip (CLINT; 3.1.9 MSIP).
        li      s4, CLINT_MSIP
        li      t0, 1
        sw      t0, 0(s4)
        WAIT_MIP 23, IRQ_MSI, 1
        lw      t0, 0(s4)
        CHECK_EQ 24, t0, 1
        li      t0, 1 << IRQ_MSI
        csrs    mie, t0
        EXPECT_M .Lmsi_taken
        csrsi   mstatus, MSTATUS_MIE
.Lmsi_next:
        li      a0, 25
        j       fail
.Lmsi_taken:
        CHECK_MTRAP 26, INTERRUPT_BIT | IRQ_MSI, .Lmsi_next
        sw      zero, 0(s4)
        WAIT_MIP 28, IRQ_MSI, 0

# ---- priority: MSI before MTI when both are pending (3.1.9).
        li      t0, 1
        sw      t0, 0(s4)
        SET_MTIMECMP zero
        WAIT_MIP 29, IRQ_MSI, 1
        WAIT_MIP 30, IRQ_MTI, 1
        li      t0, (1 << IRQ_MSI) | (1 << IRQ_MTI)
        csrw    mie, t0
        EXPECT_M .Lprio1
        csrsi   mstatus, MSTATUS_MIE
        li      a0, 31
        j       fail
.Lprio1:
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 32, t0, INTERRUPT_BIT | IRQ_MSI
        sw      zero, 0(s4)
        WAIT_MIP 33, IRQ_MSI, 0
        EXPECT_M .Lprio2
        csrsi   mstatus, MSTATUS_MIE
        li      a0, 34
        j       fail
.Lprio2:
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 35, t0, INTERRUPT_BIT | IRQ_MTI
        li      t0, -1
        SET_MTIMECMP t0
        WAIT_MIP 36, IRQ_MTI, 0

# ---- vectored mtvec (3.1.7): interrupts go to BASE + 4 * cause,
# exceptions to BASE.
        la      t0, vector_table
        ori     t0, t0, 1
        csrw    mtvec, t0
        li      t0, 1
        sw      t0, 0(s4)
        WAIT_MIP 40, IRQ_MSI, 1
        li      t0, 1 << IRQ_MSI
        csrw    mie, t0
        EXPECT_M .Lvec1
        csrsi   mstatus, MSTATUS_MIE
        li      a0, 41
        j       fail
.Lvec1:
        sw      zero, 0(s4)
        ld      t0, VEC_INDEX(tp)
        CHECK_EQ 42, t0, IRQ_MSI
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 43, t0, INTERRUPT_BIT | IRQ_MSI
        TRAP_M 44, ecall
        ld      t0, VEC_INDEX(tp)
        CHECK_EQ 45, t0, 0
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 46, t0, CAUSE_ECALL_M
        la      t0, m_trap_entry
        csrw    mtvec, t0
        csrw    mie, zero
        j       pass

# Vector table: entry k records k in VEC_INDEX and enters the common handler.
        .balign 256
vector_table:
        .irp k, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
        j       vec_stub_\k
        .endr
        .irp k, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
vec_stub_\k:
        csrrw   t6, mscratch, t6
        sd      t0, VEC_SAVE(t6)
        li      t0, \k
        sd      t0, VEC_INDEX(t6)
        ld      t0, VEC_SAVE(t6)
        csrrw   t6, mscratch, t6
        j       m_trap_entry
        .endr

        TEST_RUNTIME
