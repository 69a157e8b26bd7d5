# sv48: S-mode address translation with four-level page tables.
# Privileged spec (20211203) 4.5 (Sv48), 4.3.1 (the walk), 4.1.11 (satp).
# The core checks of sv39.S again, one level deeper, plus the 512 GiB
# "terapage" and addresses in the upper half of the 48-bit space.
#
# Virtual map (VPN[3] = VA bits 47:39):
#   0x0000_0000_0000_0000  512 GiB identity terapage, RWX (code, data, MMIO)
#   0x0000_0080_0000_0000  -> L2 table:
#       +0x0000_0000 -> L1 -> L0: +0x0000 page_a RW (A = D = 0),
#                                 +0x1000 page_b R, +0x2000 invalid,
#                                 +0x3000 page_u RW U
#                       L1[1]: 2 MiB megapage -> PA 0x8040_0000
#       +0x4000_0000  gigapage alias of PA 0x8000_0000, read-only
#       +0x8000_0000  gigapage whose PPN is not 1 GiB aligned
#   0x0000_0100_0000_0000  terapage whose PPN is not 512 GiB aligned
#   0xffff_8000_0000_0000  terapage alias of PA 0, read-only (upper half)

        .include "macros.inc"
        TEST_ENTRY "sv48"

        .equ PTE_V, 1
        .equ PTE_R, 2
        .equ PTE_W, 4
        .equ PTE_X, 8
        .equ PTE_U, 16
        .equ PTE_G, 32
        .equ PTE_A, 64
        .equ PTE_D, 128
        .equ SATP_SV48, (9 << 60)

        .equ VA_L2,      0x8000000000
        .equ VA_PAGE_A,  VA_L2 + 0x0000
        .equ VA_PAGE_B,  VA_L2 + 0x1000
        .equ VA_INVALID, VA_L2 + 0x2000
        .equ VA_PAGE_U,  VA_L2 + 0x3000
        .equ VA_MEGA,    VA_L2 + 0x200000
        .equ PA_MEGA,    0x80400000
        .equ VA_GIGA_ALIAS, VA_L2 + 0x40000000
        .equ VA_GIGA_BAD, VA_L2 + 0x80000000
        .equ VA_TERA_BAD, 0x10000000000
        .equ VA_HIGH,    0xffff800000000000
        .equ MAGIC_A,    0xaaaa0001
        .equ MAGIC_B,    0xbbbb0002
        .equ MAGIC_U,    0xcccc0003
        .equ MAGIC_MEGA, 0xdddd0004

.macro PTE_LABEL table, index, label, flags
        la      t1, \label
        PTE_REG \table, \index, t1, \flags
.endm
.macro PTE_CONST table, index, pa, flags
        li      t1, \pa
        PTE_REG \table, \index, t1, \flags
.endm
.macro PTE_REG table, index, reg, flags
        srli    t1, \reg, 12
        slli    t1, t1, 10
        ori     t1, t1, \flags
        la      t0, \table
        li      t2, \index * 8
        add     t0, t0, t2
        sd      t1, 0(t0)
.endm

main:
        PMP_OPEN_ALL
        csrw    mie, zero
        csrw    mideleg, zero
        li      t0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
        csrw    medeleg, t0
        la      t0, s_trap_entry
        csrw    stvec, t0
        addi    t0, tp, S_OFF
        csrw    sscratch, t0

        la      t0, pt_start
        la      t1, pt_end
1:      sd      zero, 0(t0)
        addi    t0, t0, 8
        bltu    t0, t1, 1b
        la      t0, page_a
        li      t1, MAGIC_A
        sd      t1, 0(t0)
        la      t0, page_b
        li      t1, MAGIC_B
        sd      t1, 0(t0)
        la      t0, page_u
        li      t1, MAGIC_U
        sd      t1, 0(t0)
        li      t0, PA_MEGA + 0x2468
        li      t1, MAGIC_MEGA
        sd      t1, 0(t0)

        # root (VPN[3])
        PTE_CONST root, 0, 0, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G
        PTE_LABEL root, 1, l2, PTE_V
        PTE_CONST root, 2, 0x80000000, PTE_V | PTE_R | PTE_A
        PTE_CONST root, 256, 0, PTE_V | PTE_R | PTE_A
        # L2 (VPN[2])
        PTE_LABEL l2, 0, l1, PTE_V
        PTE_CONST l2, 1, 0x80000000, PTE_V | PTE_R | PTE_A
        PTE_CONST l2, 2, 0x80200000, PTE_V | PTE_R | PTE_A
        # L1 (VPN[1])
        PTE_LABEL l1, 0, l0, PTE_V
        PTE_CONST l1, 1, PA_MEGA, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
        # L0 (VPN[0])
        PTE_LABEL l0, 0, page_a, PTE_V | PTE_R | PTE_W
        PTE_LABEL l0, 1, page_b, PTE_V | PTE_R | PTE_A
        PTE_LABEL l0, 3, page_u, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D

# ---- satp (4.1.11): Sv48 is accepted and reads back.
        la      s0, root
        srli    s0, s0, 12
        li      t0, SATP_SV48
        or      s0, s0, t0
        csrw    satp, s0
        csrr    t0, satp
        CHECK_EQR 1, t0, s0
        sfence.vma
        MRET_TO 1, s_main

s_main:
        # code, data and the UART all run through the identity terapage
# ---- 4 KiB page through four levels, hardware A/D update.
        li      s1, VA_PAGE_A
        ld      t0, 0(s1)
        CHECK_EQ 10, t0, MAGIC_A
        la      s2, l0
        ld      t0, 0(s2)
        CHECK_BITS 11, t0, PTE_A | PTE_D, PTE_A
        li      t1, 0x5a5a
        sd      t1, 8(s1)
        ld      t0, 0(s2)
        CHECK_BITS 12, t0, PTE_A | PTE_D, PTE_A | PTE_D
        la      t2, page_a
        ld      t0, 8(t2)
        CHECK_EQ 13, t0, 0x5a5a

# ---- permission and validity faults with stval = VA.
        li      s1, VA_PAGE_B
        ld      t0, 0(s1)
        CHECK_EQ 15, t0, MAGIC_B
        TRAP_S 16, sd t0, 0x18(s1)
        CHECK_STRAP 17, CAUSE_STORE_PAGE, .Ltrap_at_16
        ld      t0, S_TVAL(tp)
        li      t1, VA_PAGE_B + 0x18
        CHECK_EQR 19, t0, t1
        li      s1, VA_INVALID
        TRAP_S 20, ld t0, 0(s1)
        CHECK_STRAP 21, CAUSE_LOAD_PAGE, .Ltrap_at_20
        ld      t0, S_TVAL(tp)
        CHECK_EQR 23, t0, s1
        EXPECT_S .Lfetch_fault
        jalr    ra, 0(s1)
        li      a0, 24
        j       fail
.Lfetch_fault:
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 25, t0, CAUSE_FETCH_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 26, t0, s1
        # bits 63:48 must equal bit 47 (4.5.1)
        li      s1, 0x0001000000000000
        TRAP_S 27, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 28, t0, CAUSE_LOAD_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 29, t0, s1

# ---- U page from S and SUM.
        li      s1, VA_PAGE_U
        TRAP_S 30, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 31, t0, CAUSE_LOAD_PAGE
        li      t0, MSTATUS_SUM
        csrs    sstatus, t0
        ld      t0, 0(s1)
        CHECK_EQ 32, t0, MAGIC_U
        li      t0, MSTATUS_SUM
        csrc    sstatus, t0

# ---- sfence.vma after a PTE change.
        li      s1, VA_PAGE_B
        ld      t0, 0(s1)
        CHECK_EQ 40, t0, MAGIC_B
        la      t1, page_u
        PTE_REG l0, 1, t1, PTE_V | PTE_R | PTE_A
        sfence.vma s1, zero
        ld      t0, 0(s1)
        CHECK_EQ 41, t0, MAGIC_U

# ---- superpages: mega, giga, tera (upper half); misaligned ones fault.
        li      s1, VA_MEGA + 0x2468
        ld      t0, 0(s1)
        CHECK_EQ 50, t0, MAGIC_MEGA
        la      t1, page_a
        li      t2, 0x80000000
        sub     t1, t1, t2
        li      s1, VA_GIGA_ALIAS
        add     s1, s1, t1
        ld      t0, 0(s1)
        CHECK_EQ 51, t0, MAGIC_A
        TRAP_S 52, sd t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 53, t0, CAUSE_STORE_PAGE
        la      t1, page_a
        li      s1, VA_HIGH
        add     s1, s1, t1
        ld      t0, 0(s1)
        CHECK_EQ 54, t0, MAGIC_A
        TRAP_S 55, sd t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 56, t0, CAUSE_STORE_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 57, t0, s1
        li      s1, VA_GIGA_BAD
        TRAP_S 58, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 59, t0, CAUSE_LOAD_PAGE
        li      s1, VA_TERA_BAD + 0x80
        TRAP_S 60, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 61, t0, CAUSE_LOAD_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 62, t0, s1

        j       pass

        .data
        .balign 4096
page_a: .zero 4096
page_b: .zero 4096
page_u: .zero 4096

        .bss
        .balign 4096
pt_start:
root:   .zero 4096
l2:     .zero 4096
l1:     .zero 4096
l0:     .zero 4096
pt_end:

        TEST_RUNTIME
