# sv39: S-mode address translation with three-level page tables.
# Privileged spec (20211203) 4.3 (Sv32 walk, which Sv39 follows), 4.4 (Sv39),
# 4.1.1 (SUM, MXR), 4.1.11 (satp), 4.2.1 (sfence.vma), 3.1.6.3 (MPRV).
# Page faults are delegated to S, so the S handler records scause/sepc/stval.
#
# Virtual map built below (VPN[2] = VA bits 38:30):
#   0x0_8000_0000  1 GiB identity gigapage, RWX (code, data, page tables)
#   0x0_c000_0000  1 GiB gigapage alias of 0x8000_0000, read-only
#   0x1_0000_0000  gigapage whose PPN is not 1 GiB aligned (reserved: fault)
#   0x0_4000_0000  -> L1 table:
#       0x4000_0000 -> L0 table, 4 KiB pages:
#           +0x0000 page_a  RW,  A = 0, D = 0   (hardware A/D update)
#           +0x1000 page_b  R
#           +0x2000 xonly   X only              (MXR)
#           +0x3000 page_u  RW, U               (SUM)
#           +0x4000 invalid (V = 0)
#           +0x5000 page_a, later page_b        (sfence.vma)
#           +0x6000 W without R                 (reserved encoding)
#           +0x7000 page_a  RW, A = 1, D = 0
#           +0x8000 non-leaf PTE at the last level
#       0x4020_0000 2 MiB megapage -> PA 0x8040_0000, RW
#       0x4040_0000 megapage whose PPN is not 2 MiB aligned

        .include "macros.inc"
        TEST_ENTRY "sv39"

        .equ PTE_V, 1
        .equ PTE_R, 2
        .equ PTE_W, 4
        .equ PTE_X, 8
        .equ PTE_U, 16
        .equ PTE_G, 32
        .equ PTE_A, 64
        .equ PTE_D, 128
        .equ SATP_SV39, (8 << 60)

        .equ VA_L0,      0x40000000
        .equ VA_PAGE_A,  VA_L0 + 0x0000
        .equ VA_PAGE_B,  VA_L0 + 0x1000
        .equ VA_XONLY,   VA_L0 + 0x2000
        .equ VA_PAGE_U,  VA_L0 + 0x3000
        .equ VA_INVALID, VA_L0 + 0x4000
        .equ VA_SWITCH,  VA_L0 + 0x5000
        .equ VA_WNOR,    VA_L0 + 0x6000
        .equ VA_AD2,     VA_L0 + 0x7000
        .equ VA_NONLEAF, VA_L0 + 0x8000
        .equ VA_MEGA,    0x40200000
        .equ PA_MEGA,    0x80400000
        .equ VA_MEGA_BAD, 0x40400000
        .equ VA_GIGA_ALIAS, 0xc0000000
        .equ VA_GIGA_BAD, 0x100000000
        .equ MAGIC_A,    0xaaaa0001
        .equ MAGIC_B,    0xbbbb0002
        .equ MAGIC_U,    0xcccc0003
        .equ MAGIC_MEGA, 0xdddd0004

# PTE for the physical address of \label (or register \reg) into \table[\index].
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
        sd      t1, (\index * 8)(t0)
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

        # zero the tables (RAM starts zeroed, but do not depend on it)
        la      t0, pt_start
        la      t1, pt_end
1:      sd      zero, 0(t0)
        addi    t0, t0, 8
        bltu    t0, t1, 1b
        # test data
        la      t0, page_a
        li      t1, MAGIC_A
        sd      t1, 0(t0)
        la      t0, page_b
        li      t1, MAGIC_B
        sd      t1, 0(t0)
        la      t0, page_u
        li      t1, MAGIC_U
        sd      t1, 0(t0)
        li      t0, PA_MEGA + 0x1238
        li      t1, MAGIC_MEGA
        sd      t1, 0(t0)

        # root (VPN[2])
        PTE_CONST root, 2, 0x80000000, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G
        PTE_CONST root, 3, 0x80000000, PTE_V | PTE_R | PTE_A
        PTE_CONST root, 4, 0x80200000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
        PTE_LABEL root, 1, l1, PTE_V
        # L1 (VPN[1])
        PTE_LABEL l1, 0, l0, PTE_V
        PTE_CONST l1, 1, PA_MEGA, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
        PTE_CONST l1, 2, PA_MEGA + 0x1000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
        # L0 (VPN[0])
        PTE_LABEL l0, 0, page_a, PTE_V | PTE_R | PTE_W
        PTE_LABEL l0, 1, page_b, PTE_V | PTE_R | PTE_A
        PTE_LABEL l0, 2, xonly, PTE_V | PTE_X | PTE_A
        PTE_LABEL l0, 3, page_u, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
        PTE_LABEL l0, 5, page_a, PTE_V | PTE_R | PTE_A
        PTE_LABEL l0, 6, page_a, PTE_V | PTE_W | PTE_A | PTE_D
        PTE_LABEL l0, 7, page_a, PTE_V | PTE_R | PTE_W | PTE_A
        PTE_LABEL l0, 8, l0, PTE_V

# ---- satp (4.1.11): Sv39 is accepted; a write with an unsupported MODE
# (13, reserved) has no effect at all.
        la      s0, root
        srli    s0, s0, 12
        li      t0, SATP_SV39
        or      s0, s0, t0
        csrw    satp, s0
        csrr    t0, satp
        CHECK_EQR 1, t0, s0
        li      t1, (13 << 60) | 0x1234
        csrw    satp, t1
        csrr    t0, satp
        CHECK_EQR 2, t0, s0
        sfence.vma

# ---- MPRV (3.1.6.3): M-mode loads translate as MPP's mode when MPRV = 1.
        li      t0, MSTATUS_MPP
        csrc    mstatus, t0
        li      t0, MSTATUS_MPP_S | MSTATUS_MPRV
        csrs    mstatus, t0
        li      t2, VA_MEGA + 0x1238
        ld      t1, 0(t2)
        li      t0, MSTATUS_MPRV
        csrc    mstatus, t0
        CHECK_EQ 3, t1, MAGIC_MEGA

        MRET_TO 1, s_main

s_main:
# ---- a 4 KiB page and hardware A/D update (4.3.1 step 7; QEMU and our
# engine set A and D in hardware rather than faulting).
        li      s1, VA_PAGE_A
        ld      t0, 0(s1)
        CHECK_EQ 10, t0, MAGIC_A
        la      s2, l0
        ld      t0, 0(s2)           # the PTE, through the identity map
        CHECK_BITS 11, t0, PTE_A | PTE_D, PTE_A
        li      t1, 0x5a5a
        sd      t1, 8(s1)
        ld      t0, 0(s2)
        CHECK_BITS 12, t0, PTE_A | PTE_D, PTE_A | PTE_D
        la      t2, page_a
        ld      t0, 8(t2)           # the store landed in page_a
        CHECK_EQ 13, t0, 0x5a5a
        # same for a page that already has A: a store sets D
        li      t2, VA_AD2
        sd      t1, 16(t2)
        ld      t0, (7 * 8)(s2)
        CHECK_BITS 14, t0, PTE_A | PTE_D, PTE_A | PTE_D

# ---- store to a read-only page: store/AMO page fault, stval = VA (4.3.1).
        li      s1, VA_PAGE_B
        ld      t0, 0(s1)
        CHECK_EQ 15, t0, MAGIC_B
        TRAP_S 16, sd t0, 0x10(s1)
        CHECK_STRAP 17, CAUSE_STORE_PAGE, .Ltrap_at_16
        ld      t0, S_TVAL(tp)
        li      t1, VA_PAGE_B + 0x10
        CHECK_EQR 19, t0, t1
        TRAP_S 20, amoadd.w t0, t1, (s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 21, t0, CAUSE_STORE_PAGE

# ---- invalid PTE: load page fault, and instruction page fault with
# sepc = stval = the target.
        li      s1, VA_INVALID
        TRAP_S 22, ld t0, 8(s1)
        CHECK_STRAP 23, CAUSE_LOAD_PAGE, .Ltrap_at_22
        ld      t0, S_TVAL(tp)
        li      t1, VA_INVALID + 8
        CHECK_EQR 25, t0, t1
        EXPECT_S .Lfetch_fault
        jalr    ra, 0(s1)
        li      a0, 26
        j       fail
.Lfetch_fault:
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 27, t0, CAUSE_FETCH_PAGE
        ld      t0, S_EPC(tp)
        CHECK_EQR 28, t0, s1
        ld      t0, S_TVAL(tp)
        CHECK_EQR 29, t0, s1
        # W without R is reserved: page fault (4.3.1 step 5)
        li      s1, VA_WNOR
        TRAP_S 30, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 31, t0, CAUSE_LOAD_PAGE
        TRAP_S 32, sd t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 33, t0, CAUSE_STORE_PAGE
        # a pointer PTE at the last level: page fault (4.3.1 step 4)
        li      s1, VA_NONLEAF
        TRAP_S 34, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 35, t0, CAUSE_LOAD_PAGE
        # a non-canonical address: bits 63:39 must equal bit 38 (4.4.1)
        li      s1, 0x0000008000000000
        TRAP_S 36, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 37, t0, CAUSE_LOAD_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 38, t0, s1

# ---- execute-only page and MXR (4.1.1.2 / 4.3.1).
        li      s1, VA_XONLY
        li      a0, 0
        jalr    ra, 0(s1)           # fetch is allowed
        CHECK_EQ 40, a0, 0x55
        TRAP_S 41, lwu t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 42, t0, CAUSE_LOAD_PAGE
        li      t0, MSTATUS_MXR
        csrs    sstatus, t0
        lwu     t0, 0(s1)           # now readable: the first instruction
        la      t1, xonly
        lwu     t1, 0(t1)
        CHECK_EQR 43, t0, t1
        TRAP_S 44, sw t0, 0(s1)     # MXR does not make it writable
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 45, t0, CAUSE_STORE_PAGE
        li      t0, MSTATUS_MXR
        csrc    sstatus, t0

# ---- U page from S: faults unless SUM; never executable from S (4.1.1.2).
        li      s1, VA_PAGE_U
        TRAP_S 46, ld t0, 0(s1)
        CHECK_STRAP 47, CAUSE_LOAD_PAGE, .Ltrap_at_46
        TRAP_S 49, sd t0, 8(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 50, t0, CAUSE_STORE_PAGE
        li      t0, MSTATUS_SUM
        csrs    sstatus, t0
        ld      t0, 0(s1)
        CHECK_EQ 51, t0, MAGIC_U
        li      t1, 77
        sd      t1, 8(s1)
        ld      t0, 8(s1)
        CHECK_EQ 52, t0, 77
        EXPECT_S .Lu_fetch_fault
        jalr    ra, 0(s1)
        li      a0, 53
        j       fail
.Lu_fetch_fault:
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 54, t0, CAUSE_FETCH_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 55, t0, s1
        li      t0, MSTATUS_SUM
        csrc    sstatus, t0

# ---- sfence.vma after changing a PTE (4.2.1).
        li      s1, VA_SWITCH
        ld      t0, 0(s1)           # fills the TLB with page_a
        CHECK_EQ 60, t0, MAGIC_A
        la      t1, page_b
        PTE_REG l0, 5, t1, PTE_V | PTE_R | PTE_A
        sfence.vma s1, zero         # this address, all address spaces
        ld      t0, 0(s1)
        CHECK_EQ 61, t0, MAGIC_B
        la      t1, page_a
        PTE_REG l0, 5, t1, PTE_V | PTE_R | PTE_A
        sfence.vma                  # everything
        ld      t0, 0(s1)
        CHECK_EQ 62, t0, MAGIC_A
        # invalidate it: the next access faults
        la      t0, l0
        sd      zero, (5 * 8)(t0)
        sfence.vma s1, zero
        TRAP_S 63, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 64, t0, CAUSE_LOAD_PAGE

# ---- superpages (4.3.1 step 6, 4.4.1).
        li      s1, VA_MEGA + 0x1238
        ld      t0, 0(s1)
        CHECK_EQ 70, t0, MAGIC_MEGA
        li      s1, VA_GIGA_ALIAS
        la      t1, page_b
        li      t2, 0x80000000
        sub     t1, t1, t2
        add     s1, s1, t1          # page_b through the alias
        ld      t0, 0(s1)
        CHECK_EQ 71, t0, MAGIC_B
        TRAP_S 72, sd t0, 0(s1)     # the alias is read-only
        CHECK_STRAP 73, CAUSE_STORE_PAGE, .Ltrap_at_72
        ld      t0, S_TVAL(tp)
        CHECK_EQR 75, t0, s1
        # misaligned superpages are reserved: page fault
        li      s1, VA_MEGA_BAD
        TRAP_S 76, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 77, t0, CAUSE_LOAD_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 78, t0, s1
        li      s1, VA_GIGA_BAD + 0x40
        TRAP_S 79, ld t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 80, t0, CAUSE_LOAD_PAGE
        ld      t0, S_TVAL(tp)
        CHECK_EQR 81, t0, s1
        TRAP_S 82, sd t0, 0(s1)
        ld      t0, S_CAUSE(tp)
        CHECK_EQ 83, t0, CAUSE_STORE_PAGE

        j       pass

# ---- the execute-only page: a tiny function
        .text
        .balign 4096
xonly:
        li      a0, 0x55
        ret
        .balign 4096

        .data
        .balign 4096
page_a: .zero 4096
page_b: .zero 4096
page_u: .zero 4096

        .bss
        .balign 4096
pt_start:
root:   .zero 4096
l1:     .zero 4096
l0:     .zero 4096
pt_end:

        TEST_RUNTIME
