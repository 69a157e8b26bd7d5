# csr: machine-level CSRs and the synchronous exceptions taken into M-mode.
# Privileged spec (20211203) chapter 2 (CSR address space, access rules) and
# chapter 3 (machine-level ISA). Runs on one hart, M-mode only.

        .include "macros.inc"
        TEST_ENTRY "csr"

main:
        # a0 = mhartid on entry (boot convention of QEMU virt / -bios none).
        csrr    s0, mhartid
        CHECK_EQ 1, s0, 0
        CHECK_EQR 2, a0, s0
        csrw    mie, zero

# ---- misa (3.1.1): MXL = 2 (XLEN 64) and the RV64GC + S + U letters.
        csrr    s0, misa
        srli    t0, s0, 62
        CHECK_EQ 3, t0, 2
        # A I M F D C ... S U: bits 0 8 12 5 3 2 18 20
        li      t1, (1 << 0) | (1 << 8) | (1 << 12) | (1 << 5) | (1 << 3) | (1 << 2) | (1 << 18) | (1 << 20)
        and     t0, s0, t1
        CHECK_EQR 4, t0, t1
        # misa is WARL and may be read-only: a write of 0 must not trap and
        # cannot change MXL on an RV64-only hart. Write back the original.
        csrw    misa, zero
        csrr    t0, misa
        csrw    misa, s0
        srli    t0, t0, 62
        CHECK_EQ 5, t0, 2
        csrr    t0, misa
        CHECK_EQR 6, t0, s0

# ---- identification CSRs are readable (3.1.2-3.1.5); writes are illegal
# because the address bits [11:10] = 0b11 mark them read-only (2.1).
        csrr    t0, mvendorid
        csrr    t0, marchid
        csrr    t0, mimpid
        TRAP_M 7, csrw mhartid, t0
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 8, t0, CAUSE_ILLEGAL
        # mtval = the faulting instruction bits, or 0 (3.1.16 allows both)
        la      t1, .Ltrap_at_7
        lwu     t1, 0(t1)
        ld      t0, M_TVAL(tp)
        CHECK_EITHER_R 9, t0, t1, zero
        # CSRRS/CSRRC with rs1 = x0 and CSRRSI/CSRRCI with uimm = 0 do not
        # write, so they are legal on a read-only CSR (2.8 / Zicsr).
        csrrs   t0, mhartid, zero
        csrrsi  t0, mhartid, 0
        csrrci  t0, mhartid, 0
        # ... but with rs1 != x0 they do write, even when the value is 0.
        li      s1, 1
        TRAP_M 10, csrrs t0, mhartid, s1
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 11, t0, CAUSE_ILLEGAL
        li      s1, 0
        EXPECT_M .Lro_zero_trapped
        csrrs   t0, mvendorid, s1
        sd      zero, M_RESUME(tp)
        li      t0, 0
        SPEC_EQ 12, t0, 1           # QEMU 7.2 skips the write check for a zero mask
.Lro_zero_trapped:
        # cycle (0xC00) is a read-only user counter
        TRAP_M 13, csrw cycle, zero
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 14, t0, CAUSE_ILLEGAL

# ---- a CSR that does not exist: 0x0C0 is unallocated (2.2, table 2.2).
        TRAP_M 15, csrr t0, 0x0C0
        ld      t0, M_CAUSE(tp)
        CHECK_EQ 16, t0, CAUSE_ILLEGAL
        la      t1, .Ltrap_at_15
        lwu     t1, 0(t1)
        ld      t0, M_TVAL(tp)
        CHECK_EITHER_R 17, t0, t1, zero
        ld      t0, M_EPC(tp)
        CHECK_LABEL 18, t0, .Ltrap_at_15
        # debug-mode-only CSR dcsr (0x7B0) is illegal outside debug mode (2.2)
        TRAP_M 19, csrr t0, 0x7B0

# ---- mstatus (3.1.6): SXL and UXL are 2 on an RV64-only hart, read-only.
        csrr    s0, mstatus
        srli    t0, s0, 32
        andi    t0, t0, 0xf
        CHECK_EQ 20, t0, 0xa        # SXL = 2, UXL = 2
        li      t1, 0xf << 32
        csrc    mstatus, t1
        csrr    t0, mstatus
        srli    t0, t0, 32
        andi    t0, t0, 0xf
        CHECK_EQ 21, t0, 0xa
        # MPP is WARL: S (1), U (0) and M (3) are the implemented modes;
        # 2 is reserved, so writing it must leave a legal value (3.1.6.1).
        li      t1, MSTATUS_MPP
        csrc    mstatus, t1
        li      t1, MSTATUS_MPP_S
        csrs    mstatus, t1
        csrr    t0, mstatus
        CHECK_BITS 22, t0, MSTATUS_MPP, MSTATUS_MPP_S
        li      t1, MSTATUS_MPP
        csrc    mstatus, t1
        csrr    t0, mstatus
        CHECK_BITS 23, t0, MSTATUS_MPP, 0
        li      t1, (2 << 11)
        csrs    mstatus, t1
        csrr    t0, mstatus
        srli    t0, t0, 11
        andi    t0, t0, 3
        li      t1, 2
        beq     t0, t1, .Lmpp_reserved_kept
        j       .Lmpp_ok
.Lmpp_reserved_kept:
        SPEC_EQ 24, t0, 3           # QEMU 7.2 keeps the reserved value 2
.Lmpp_ok:
        li      t1, MSTATUS_MPP     # leave MPP = M for the mret tests below
        csrs    mstatus, t1

# ---- mscratch (3.1.14) round trip and the six Zicsr forms (Zicsr chapter).
        li      s1, 0x0123456789abcdef
        csrrw   s2, mscratch, s1    # s2 = old value = the trap area (tp)
        CHECK_EQR 25, s2, tp
        csrr    t0, mscratch
        CHECK_EQR 26, t0, s1
        li      t1, 0xf0
        csrrc   t0, mscratch, t1    # clear bits 7:4, returns the old value
        CHECK_EQR 27, t0, s1
        csrr    t0, mscratch
        li      t1, 0x0123456789abcd0f
        CHECK_EQR 28, t0, t1
        csrrsi  t0, mscratch, 0x10
        csrrci  t0, mscratch, 0x0f
        csrr    t0, mscratch
        li      t1, 0x0123456789abcd10
        CHECK_EQR 29, t0, t1
        csrrwi  t0, mscratch, 31
        csrr    t0, mscratch
        CHECK_EQ 30, t0, 31
        csrw    mscratch, tp        # the trap handler needs it back

# ---- mepc (3.1.14): bit 0 always reads 0; bit 1 is writable with C.
        csrr    s1, mepc
        li      t1, 0x80000003
        csrw    mepc, t1
        csrr    t0, mepc
        csrw    mepc, s1
        SPEC_EQ 31, t0, 0x80000002  # QEMU 7.2 stores bit 0 (masks it on mret)
        # mtvec (3.1.7): MODE 0 (direct) and 1 (vectored) are legal;
        # BASE is 4-byte aligned.
        csrr    s1, mtvec
        la      t1, m_trap_entry
        ori     t1, t1, 1
        csrw    mtvec, t1
        csrr    t0, mtvec
        CHECK_EQR 32, t0, t1
        csrw    mtvec, s1
        csrr    t0, mtvec
        CHECK_EQR 33, t0, s1

# ---- ecall from M (3.3.1): mcause 11, mepc = the ecall, mtval = 0; the
# trap stacks MIE into MPIE, clears MIE and sets MPP = M (3.1.6.1).
        csrci   mstatus, MSTATUS_MIE
        TRAP_M 34, ecall
        CHECK_MTRAP 35, CAUSE_ECALL_M, .Ltrap_at_34
        ld      t0, M_TVAL(tp)
        CHECK_EQ 37, t0, 0
        ld      t0, M_STATUS(tp)
        CHECK_BITS 38, t0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE, MSTATUS_MPP
        csrsi   mstatus, MSTATUS_MIE    # mie = 0: no interrupt can be taken
        TRAP_M 39, ecall
        ld      t0, M_STATUS(tp)
        CHECK_BITS 40, t0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE, MSTATUS_MPP | MSTATUS_MPIE
        # mret restored MIE from MPIE, set MPIE = 1 and MPP = U (least
        # privileged mode, 3.3.2)
        csrr    t0, mstatus
        CHECK_BITS 41, t0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE, MSTATUS_MPIE | MSTATUS_MIE
        csrci   mstatus, MSTATUS_MIE

# ---- an mret that returns to M still sets MPIE = 1 and MPP = U (3.3.2).
        MRET_TO 3, .Lafter_mret_m
.Lafter_mret_m:
        csrr    t0, mstatus
        CHECK_BITS 42, t0, MSTATUS_MPP | MSTATUS_MPIE, MSTATUS_MPIE

# ---- ebreak (3.3.1): mcause 3, mepc = the ebreak, mtval = pc or 0 (3.1.16).
        TRAP_M 43, ebreak
        CHECK_MTRAP 44, CAUSE_BREAKPOINT, .Ltrap_at_43
        la      t1, .Ltrap_at_43
        ld      t0, M_TVAL(tp)
        CHECK_EITHER_R 46, t0, t1, zero

# ---- illegal instruction: OP major opcode with funct7 = 0x7f is reserved in
# RV64GC (+ Zb*). mtval = the instruction bits or 0 (3.1.16).
        TRAP_M 47, .word 0xfe000033
        CHECK_MTRAP 48, CAUSE_ILLEGAL, .Ltrap_at_47
        ld      t0, M_TVAL(tp)
        CHECK_EITHER 50, t0, 0xfe000033, 0
        # the all-zero 16-bit parcel is defined illegal (C extension, 16.1)
        TRAP_M 51, .half 0, 0
        CHECK_MTRAP 52, CAUSE_ILLEGAL, .Ltrap_at_51
        ld      t0, M_TVAL(tp)
        CHECK_EQ 54, t0, 0
        # (A misaligned load may be emulated or trap with cause 4; both are
        # legal, unpriv 2.6, so it is not checked.)

        # mcause is WARL but must hold any implemented exception code (3.1.15)
        csrw    mcause, zero
        li      t1, CAUSE_STORE_PAGE
        csrw    mcause, t1
        csrr    t0, mcause
        CHECK_EQ 55, t0, CAUSE_STORE_PAGE
        csrw    mtval, t1
        csrr    t0, mtval
        CHECK_EQ 56, t0, CAUSE_STORE_PAGE
        j       pass

        TEST_RUNTIME
