# smp2: two harts (run with 2 CPUs). Hart 1 sleeps in wfi until hart 0 sends
# it a machine software interrupt through the CLINT (msip[1]); then both
# harts add to shared counters, one with amoadd.w and one under an LR/SC
# spinlock, and hart 0 checks the totals.
# Unprivileged spec 20191213 chapter 8 (A: LR/SC, AMOs, aq/rl), chapter 14
# (RVWMO); privileged spec 3.1.9 (MSIP), 3.3.3 (wfi wakes on a pending
# enabled interrupt even with mstatus.MIE = 0).

        .include "macros.inc"
        TEST_ENTRY "smp2"

        .equ ITERATIONS, 10000
        .equ TIMEOUT_TICKS, 300000000    # 30 s of mtime
        # offsets in `shared`; the counters and the lock on their own lines
        .equ H1_READY, 0
        .equ H1_WOKE, 4
        .equ DONE, 8
        .equ BARRIER, 12
        .equ COUNT_AMO, 64
        .equ LOCK, 128
        .equ COUNT_LOCKED, 192

# \reg = deadline (now + TIMEOUT_TICKS). Clobbers t1.
.macro DEADLINE reg
        li      t1, CLINT_MTIME
        ld      \reg, 0(t1)
        li      t1, TIMEOUT_TICKS
        add     \reg, \reg, t1
.endm
# Fail with \code once mtime passes \reg. Clobbers t1.
.macro CHECK_DEADLINE code, reg
        li      t1, CLINT_MTIME
        ld      t1, 0(t1)
        bltu    t1, \reg, .Lok\@
        li      a0, \code
        mv      a1, t1
        mv      a2, \reg
        j       fail
.Lok\@:
.endm

main:
        CHECK_EQ 1, a0, 0
        csrw    mie, zero
        la      s0, shared
        # wait for hart 1 to be ready to sleep
        DEADLINE s1
1:      lw      t0, H1_READY(s0)
        bnez    t0, 2f
        CHECK_DEADLINE 2, s1
        j       1b
2:      # give it 1 ms: it must still be asleep (no msip yet)
        li      t1, CLINT_MTIME
        ld      t2, 0(t1)
        li      t0, 10000
        add     t2, t2, t0
3:      ld      t0, 0(t1)
        bltu    t0, t2, 3b
        fence   rw, rw
        lw      t0, H1_WOKE(s0)
        CHECK_EQ 3, t0, 0
        # wake hart 1: msip of hart 1 is at CLINT + 4
        li      t0, CLINT_MSIP
        li      t1, 1
        sw      t1, 4(t0)
        DEADLINE s1
4:      lw      t0, H1_WOKE(s0)
        bnez    t0, 5f
        CHECK_DEADLINE 4, s1
        j       4b
5:      # our own MSIP was not touched
        csrr    t0, mip
        CHECK_BITS 5, t0, 1 << IRQ_MSI, 0
        jal     ra, worker
        # wait for hart 1 to finish
        DEADLINE s1
6:      lw      t0, DONE(s0)
        bnez    t0, 7f
        CHECK_DEADLINE 6, s1
        j       6b
7:      fence   rw, rw
        lw      t0, COUNT_AMO(s0)
        CHECK_EQ 7, t0, 2 * ITERATIONS
        ld      t0, COUNT_LOCKED(s0)
        CHECK_EQ 8, t0, 2 * ITERATIONS
        lw      t0, LOCK(s0)
        CHECK_EQ 9, t0, 0
        j       pass

secondary:
        csrr    t0, mhartid
        CHECK_EQ 20, t0, 1
        CHECK_EQ 21, a0, 1
        la      s0, shared
        # MSIE enabled, MIE off: wfi wakes, no trap is taken
        li      t0, 1 << IRQ_MSI
        csrw    mie, t0
        csrci   mstatus, MSTATUS_MIE
        li      t0, 1
        fence   rw, rw
        sw      t0, H1_READY(s0)
1:      wfi
        csrr    t0, mip
        andi    t0, t0, 1 << IRQ_MSI
        beqz    t0, 1b
        # clear our msip; MSIP follows it
        li      t0, CLINT_MSIP
        sw      zero, 4(t0)
        DEADLINE s1
2:      csrr    t0, mip
        andi    t0, t0, 1 << IRQ_MSI
        beqz    t0, 3f
        CHECK_DEADLINE 22, s1
        j       2b
3:      ld      t0, M_COUNT(tp)
        CHECK_EQ 23, t0, 0
        li      t0, 1
        fence   rw, rw
        sw      t0, H1_WOKE(s0)
        jal     ra, worker
        fence   rw, rw
        li      t0, 1
        addi    t1, s0, DONE
        amoadd.w zero, t0, (t1)
        j       park

# Both harts: meet at a barrier, then ITERATIONS amoadd.w on COUNT_AMO and
# ITERATIONS increments of COUNT_LOCKED under the LR/SC lock.
worker:
        la      s0, shared
        li      t0, 1
        addi    t1, s0, BARRIER
        amoadd.w zero, t0, (t1)
1:      lw      t0, BARRIER(s0)
        li      t2, 2
        bne     t0, t2, 1b
        addi    s2, s0, COUNT_AMO
        li      s3, ITERATIONS
        li      t0, 1
2:      amoadd.w zero, t0, (s2)
        addi    s3, s3, -1
        bnez    s3, 2b
        addi    s2, s0, LOCK
        li      s3, ITERATIONS
3:      # acquire: test, then LR/SC test-and-set with acquire ordering
        lw      t0, 0(s2)
        bnez    t0, 3b
        lr.w.aq t0, (s2)
        bnez    t0, 3b
        li      t1, 1
        sc.w    t0, t1, (s2)
        bnez    t0, 3b
        ld      t0, COUNT_LOCKED(s0)  # plain read-modify-write, protected;
        li      t1, 16                # held open a while so that an
4:      addi    t1, t1, -1            # unprotected update would be lost
        bnez    t1, 4b
        addi    t0, t0, 1
        sd      t0, COUNT_LOCKED(s0)
        amoswap.w.rl zero, zero, (s2) # release
        addi    s3, s3, -1
        bnez    s3, 3b
        ret

park:
        wfi
        j       park

        .data
        .balign 64
shared: .zero 256

        TEST_RUNTIME
