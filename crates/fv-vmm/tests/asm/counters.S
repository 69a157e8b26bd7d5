# counters: the Zicntr counters cycle, time and instret and their access
# control. Unprivileged spec 20191213 chapter 10 (Zicntr); privileged spec
# (20211203) 3.1.10 (mcycle/minstret), 3.1.11 (mcounteren), 4.1.5
# (scounteren), 3.2.1 (time is a read-only shadow of mtime).

        .include "macros.inc"
        TEST_ENTRY "counters"

main:
        PMP_OPEN_ALL
        csrw    medeleg, zero
        csrw    mie, zero

# ---- readable in M; they count.
        csrr    s0, cycle
        csrr    s1, instret
        li      t0, 1000
1:      addi    t0, t0, -1
        bnez    t0, 1b
        csrr    s2, cycle
        csrr    s3, instret
        CHECK_LEU 1, s0, s2
        CHECK_NER 2, s0, s2
        # 2000 instructions retired in the loop (QEMU without -icount reports
        # host ticks here, which also pass)
        sub     t0, s3, s1
        li      t1, 2000
        CHECK_LEU 3, t1, t0
        csrr    t0, mcycle
        CHECK_LEU 4, s2, t0
        csrr    t0, minstret
        CHECK_LEU 5, s3, t0

# ---- time = mtime (3.2.1): sandwiched between two reads of mtime.
        li      s4, CLINT_MTIME
        ld      s0, 0(s4)
        csrr    s1, time
        ld      s2, 0(s4)
        CHECK_LEU 6, s0, s1
        CHECK_LEU 7, s1, s2
        # and it advances
        li      t0, 100000
1:      addi    t0, t0, -1
        bnez    t0, 1b
        csrr    s3, time
        CHECK_NER 8, s1, s3
        CHECK_LEU 9, s1, s3

# ---- minstret is writable in M (3.1.10).
        csrw    minstret, zero
        csrr    t0, minstret
        li      t1, 100000
        CHECK_LEU 10, t0, t1
        # mcounteren is WARL; CY, TM, IR are implemented (Linux needs TM)
        li      t0, 7
        csrw    mcounteren, t0
        csrr    t1, mcounteren
        CHECK_BITS 11, t1, 7, 7
        csrw    scounteren, t0
        csrr    t1, scounteren
        CHECK_BITS 12, t1, 7, 7

# ---- mcounteren = 0: U and S reads are illegal instructions (3.1.11).
        csrw    mcounteren, zero
        csrw    scounteren, zero
        MRET_TO 0, u_part1
u_part1:
        TRAP_M 20, csrr t0, cycle
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 21, t0, CAUSE_ILLEGAL
        la      t1, .Ltrap_at_20
        lwu     t1, 0(t1)
        ld      t0, M_TVAL(tp)
        CHECK_EITHER_R 22, t0, t1, zero
        TRAP_M 23, csrr t0, time
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 24, t0, CAUSE_ILLEGAL
        TRAP_M 25, csrr t0, instret
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 26, t0, CAUSE_ILLEGAL
        GOTO_M m_part2
m_part2:
        MRET_TO 1, s_part2
s_part2:
        TRAP_M 27, csrr t0, cycle
        TRAP_M 28, csrr t0, time
        TRAP_M 29, csrr t0, instret
        GOTO_M m_part3

# ---- mcounteren = 7, scounteren = 0: S reads, U still traps (4.1.5).
m_part3:
        li      t0, 7
        csrw    mcounteren, t0
        MRET_TO 1, s_part3
s_part3:
        csrr    t0, cycle
        csrr    t1, time
        csrr    t2, instret
        CHECK_NER 30, t1, zero
        TRAP_M 31, csrr t0, hpmcounter3   # mcounteren.HPM3 = 0
        li      t0, 0
        csrw    sstatus, zero
        li      t0, MSTATUS_SPP
        csrc    sstatus, t0
        la      t0, u_part3
        csrw    sepc, t0
        sret
u_part3:
        TRAP_M 32, csrr t0, cycle
        TRAP_M 33, csrr t0, time
        GOTO_M m_part4

# ---- scounteren.TM only: U reads time; cycle still traps.
m_part4:
        li      t0, 2
        csrw    scounteren, t0
        MRET_TO 0, u_part4
u_part4:
        csrr    s1, time
        li      t0, CLINT_MTIME
        ld      t1, 0(t0)
        CHECK_LEU 34, s1, t1
        TRAP_M 35, csrr t0, cycle
        TRAP_M 36, csrr t0, instret
        GOTO_M m_part5

# ---- time follows a write of mtime (CLINT mtime is read-write).
m_part5:
        li      s4, CLINT_MTIME
        li      t0, 0x100000000
        sd      t0, 0(s4)
        ld      t1, 0(s4)           # the CLINT took the write ...
        CHECK_LEU 39, t0, t1
        csrr    t1, time            # ... and the time CSR follows it
        CHECK_LEU 40, t0, t1
        li      t2, 0x100000000 + 10000000
        CHECK_LEU 41, t1, t2        # and not far past it (< 1 s)
        j       pass

        TEST_RUNTIME
