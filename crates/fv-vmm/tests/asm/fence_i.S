# fence_i: self-modifying code. Unprivileged spec 20191213 chapter 3
# (Zifencei): a store to instruction memory becomes visible to this hart's
# instruction fetches after a FENCE.I. Engines that cache decoded or
# translated blocks must drop them here.

        .include "macros.inc"
        TEST_ENTRY "fence_i"

        # addi a0, zero, imm  =  imm << 20 | rd(10) << 7 | 0x13
        .equ ADDI_A0, (10 << 7) | 0x13
        .equ RET, 0x00008067            # jalr zero, 0(ra)

main:
# ---- a routine written into a data buffer, called, rewritten, called.
        la      s0, code_buf
        li      t0, (42 << 20) | ADDI_A0
        sw      t0, 0(s0)
        li      t0, RET
        sw      t0, 4(s0)
        fence.i
        li      a0, 0
        jalr    ra, 0(s0)
        CHECK_EQ 1, a0, 42
        # make it hot (an engine may translate it after many runs)
        li      s1, 1000
1:      jalr    ra, 0(s0)
        addi    s1, s1, -1
        bnez    s1, 1b
        li      t0, (7 << 20) | ADDI_A0
        sw      t0, 0(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK_EQ 2, a0, 7
        # a compressed replacement: c.li a0, 5 ; c.nop
        li      t0, 0x00014515
        sw      t0, 0(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK_EQ 3, a0, 5

# ---- code that patches the instruction just ahead of it, in the same
# straight-line block, on every pass of a loop.
        li      s1, 1
2:      la      t0, .Lpatched
        slli    t1, s1, 20
        li      t2, ADDI_A0
        or      t1, t1, t2
        sw      t1, 0(t0)
        fence.i
.Lpatched:
        addi    a0, zero, 0             # rewritten to addi a0, zero, s1
        CHECK_EQR 4, a0, s1
        addi    s1, s1, 1
        li      t0, 6
        bne     s1, t0, 2b

# ---- a routine that rewrites its own first instruction and fences: the
# first call returns 1, the second 2, the third 3.
        la      s0, code_buf
        la      t0, selfmod_template
        li      t1, 8                   # words to copy
3:      lw      t2, 0(t0)
        sw      t2, 0(s0)
        addi    t0, t0, 4
        addi    s0, s0, 4
        addi    t1, t1, -1
        bnez    t1, 3b
        fence.i
        la      s0, code_buf
        jalr    ra, 0(s0)
        CHECK_EQ 5, a0, 1
        jalr    ra, 0(s0)
        CHECK_EQ 6, a0, 2
        jalr    ra, 0(s0)
        CHECK_EQ 7, a0, 3
        j       pass

# Position-independent; copied to code_buf before it runs.
selfmod_template:
        addi    a0, zero, 1             # the immediate grows by one per call
        auipc   t0, 0                   # t0 = template + 4
        lw      t1, -4(t0)
        li      t2, 1 << 20
        add     t1, t1, t2
        sw      t1, -4(t0)
        fence.i
        ret

        .data
        .balign 4096
code_buf:
        .zero 4096

        TEST_RUNTIME
