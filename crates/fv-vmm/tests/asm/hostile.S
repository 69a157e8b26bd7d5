# hostile: a guest that misbehaves on purpose, in M-mode with 128 MiB of RAM.
# Jumps, loads and stores to addresses with no memory or device behind them
# must raise access faults (privileged spec 3.1.15 causes 1, 5, 7; 3.6 PMAs:
# accesses that fail are access-fault exceptions, and the hart continues),
# never stop or crash the machine; with C the hart has no misaligned fetch
# through jalr (unprivileged 2.5: the target's bit 0 is cleared, and 16-bit
# alignment is enough with IALIGN = 16); all-zero and all-one words are
# illegal instructions (unprivileged 1.5); and 1 MiB written to the
# UART without waiting for THRE completes.

        .include "macros.inc"
        TEST_ENTRY "hostile"

        .equ RAM_END,   0x88000000      # 0x8000_0000 + 128 MiB
        .equ HOLE_LOW,  0x09000000      # nothing between the platform bus and the PLIC
        .equ HOLE_UART, 0x10000800      # past the UART's 0x100-byte window, before virtio

# Jump to \target with jalr: the fetch there must fault with cause 1,
# mepc = mtval = \target; the jalr itself retired (ra = the next label).
.macro FETCH_FAULT code, target
        li      s0, \target
        EXPECT_M_TO_M .Lback\@
        jalr    ra, 0(s0)
.Lret\@:
        sd      zero, M_RESUME(tp)
        li      a0, \code
        li      a1, 0
        li      a2, 0
        j       fail
.Lback\@:
        ld      t5, M_CAUSE(tp)
        CHECK_EQ \code, t5, CAUSE_FETCH_ACCESS
        ld      t5, M_EPC(tp)
        CHECK_EQR \code + 1, t5, s0
        ld      t5, M_TVAL(tp)
        CHECK_EQR \code + 2, t5, s0
        CHECK_LABEL \code + 3, ra, .Lret\@
.endm

# One load or store \insn (with address register s0 = \addr) that must trap
# with \cause and mtval = \addr, leaving rd (s1) alone.
.macro ACCESS_FAULT code, cause, addr, insn:vararg
        li      s0, \addr
        li      s1, 0x1234
        TRAP_M  \code, \insn
        ld      t5, M_CAUSE(tp)
        CHECK_EQ \code + 1, t5, \cause
        ld      t5, M_EPC(tp)
        CHECK_LABEL \code + 2, t5, .Ltrap_at_\code
        ld      t5, M_TVAL(tp)
        CHECK_EQR \code + 3, t5, s0
        CHECK_EQ \code + 4, s1, 0x1234
.endm

main:
# ---- instruction fetch from nowhere: low memory, the hole below the PLIC,
# the first byte past RAM.
        FETCH_FAULT 1, 0x0
        FETCH_FAULT 5, HOLE_LOW
        FETCH_FAULT 9, RAM_END

# ---- loads and stores into MMIO holes and past the end of RAM.
        ACCESS_FAULT 20, CAUSE_LOAD_ACCESS,  HOLE_LOW,  lw s1, 0(s0)
        ACCESS_FAULT 25, CAUSE_LOAD_ACCESS,  HOLE_UART, lb s1, 0(s0)
        ACCESS_FAULT 30, CAUSE_STORE_ACCESS, HOLE_LOW,  sd s1, 0(s0)
        ACCESS_FAULT 35, CAUSE_STORE_ACCESS, HOLE_UART, sb s1, 0(s0)
        ACCESS_FAULT 40, CAUSE_LOAD_ACCESS,  RAM_END,   ld s1, 0(s0)
        ACCESS_FAULT 45, CAUSE_LOAD_ACCESS,  RAM_END + 0x100000, lbu s1, 0(s0)
        ACCESS_FAULT 50, CAUSE_STORE_ACCESS, RAM_END,   sw s1, 0(s0)
        ACCESS_FAULT 55, CAUSE_LOAD_ACCESS,  0x0,       ld s1, 0(s0)
        # The last doubleword of RAM is there.
        li      s0, RAM_END - 8
        ld      s1, 0(s0)

# ---- an AMO into a hole: store/AMO access fault (cause 7). QEMU 7.2
# reports a load access fault (5): a soft check for that value only.
        li      s0, HOLE_LOW
        li      s1, 0x1234
        TRAP_M  60, amoadd.w s1, s1, (s0)
        ld      t5, M_CAUSE(tp)
        li      t6, CAUSE_LOAD_ACCESS
        bne     t5, t6, 3f
        SPEC_EQ 61, t5, CAUSE_STORE_ACCESS
        j       4f
3:      CHECK_EQ 61, t5, CAUSE_STORE_ACCESS
4:      ld      t5, M_EPC(tp)
        CHECK_LABEL 62, t5, .Ltrap_at_60
        ld      t5, M_TVAL(tp)
        CHECK_EQR 63, t5, s0
        CHECK_EQ 64, s1, 0x1234

# ---- jalr to an odd address: bit 0 is cleared, no trap; with C a 32-bit
# instruction at a 2-byte boundary is a fine target.
        la      s0, odd_landing
        addi    s0, s0, 1
        li      s1, 0
        jalr    ra, 0(s0)
        j       1f
        .balign 4
        .2byte  0x0001                  # c.nop, puts the next word at 2 mod 4
odd_landing:
        .4byte  0x00548493              # addi s1, s1, 5
        ret
        .2byte  0x0001                  # c.nop: back to 4-byte alignment (.balign
                                        # cannot pad 2 bytes under norvc)
1:      CHECK_EQ 70, s1, 5
        andi    t0, s0, 3
        CHECK_EQ 71, t0, 3              # odd_landing + 1 was 3 mod 4

# ---- all-zero and all-one instruction words: illegal instruction; mtval
# is the instruction bits or zero (privileged 3.1.16).
        TRAP_M  80, .4byte 0x00000000
        ld      t5, M_CAUSE(tp)
        CHECK_EQ 81, t5, CAUSE_ILLEGAL
        ld      t5, M_EPC(tp)
        CHECK_LABEL 82, t5, .Ltrap_at_80
        ld      t5, M_TVAL(tp)
        CHECK_EQ 83, t5, 0
        TRAP_M  85, .4byte 0xffffffff
        ld      t5, M_CAUSE(tp)
        CHECK_EQ 86, t5, CAUSE_ILLEGAL
        ld      t5, M_EPC(tp)
        CHECK_LABEL 87, t5, .Ltrap_at_85
        ld      t5, M_TVAL(tp)
        CHECK_EITHER 88, t5, 0xffffffff, 0

# ---- 1 MiB to the UART transmit register without polling LSR.THRE. NUL
# bytes, so that the flood leaves no visible text in the logs.
        li      t4, UART_BASE
        li      t0, 1 << 20
2:      sb      zero, 0(t4)
        addi    t0, t0, -1
        bnez    t0, 2b
        # The UART still works afterwards (pass prints through it).
        li      a3, '\n'
        jal     ra, uart_putc

        j       pass

        TEST_RUNTIME
