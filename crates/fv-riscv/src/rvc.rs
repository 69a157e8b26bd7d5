//! The C extension: each 16-bit instruction expands to the 32-bit instruction
//! it stands for (unprivileged spec, "C" chapter, RVC instruction set
//! listings), so the interpreter has one execution path.

#[inline]
fn bits(x: u32, hi: u32, lo: u32) -> u32 {
    (x >> lo) & ((1 << (hi - lo + 1)) - 1)
}
#[inline]
fn bit(x: u32, b: u32) -> u32 {
    (x >> b) & 1
}

fn itype(imm: i32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
    ((imm as u32 & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
fn stype(imm: i32, rs2: u32, rs1: u32, f3: u32, op: u32) -> u32 {
    let imm = imm as u32;
    (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | op
}
fn btype(imm: i32, rs2: u32, rs1: u32, f3: u32) -> u32 {
    let i = imm as u32;
    (bit(i, 12) << 31)
        | (bits(i, 10, 5) << 25)
        | (rs2 << 20)
        | (rs1 << 15)
        | (f3 << 12)
        | (bits(i, 4, 1) << 8)
        | (bit(i, 11) << 7)
        | 0x63
}
fn jtype(imm: i32, rd: u32) -> u32 {
    let i = imm as u32;
    (bit(i, 20) << 31)
        | (bits(i, 10, 1) << 21)
        | (bit(i, 11) << 20)
        | (bits(i, 19, 12) << 12)
        | (rd << 7)
        | 0x6f
}
fn rtype(f7: u32, rs2: u32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
    (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
/// Sign-extends the low `width` bits of `v`.
fn sext(v: u32, width: u32) -> i32 {
    ((v << (32 - width)) as i32) >> (32 - width)
}

const LOAD: u32 = 0x03;
const LOAD_FP: u32 = 0x07;
const OP_IMM: u32 = 0x13;
const OP_IMM_32: u32 = 0x1b;
const STORE: u32 = 0x23;
const STORE_FP: u32 = 0x27;
const OP: u32 = 0x33;
const OP_32: u32 = 0x3b;
const LUI: u32 = 0x37;
const JALR: u32 = 0x67;

/// Expands a 16-bit instruction (low two bits != 0b11) into its 32-bit
/// equivalent; None for reserved or illegal encodings (including all zeros).
pub fn expand(c: u16) -> Option<u32> {
    let c = c as u32;
    let op = c & 3;
    let f3 = bits(c, 15, 13);
    let rd = bits(c, 11, 7);
    let rs2 = bits(c, 6, 2);
    let rdp = bits(c, 4, 2) + 8; // rd' / rs2'
    let rs1p = bits(c, 9, 7) + 8; // rs1' / rd'
    let imm6 = sext((bit(c, 12) << 5) | bits(c, 6, 2), 6);
    Some(match (op, f3) {
        // Quadrant 0
        (0, 0b000) => {
            // C.ADDI4SPN
            let imm = (bits(c, 12, 11) << 4)
                | (bits(c, 10, 7) << 6)
                | (bit(c, 6) << 2)
                | (bit(c, 5) << 3);
            if imm == 0 {
                return None;
            }
            itype(imm as i32, 2, 0, rdp, OP_IMM)
        }
        (0, 0b001) => itype(ld_imm(c) as i32, rs1p, 3, rdp, LOAD_FP), // C.FLD
        (0, 0b010) => itype(lw_imm(c) as i32, rs1p, 2, rdp, LOAD),    // C.LW
        (0, 0b011) => itype(ld_imm(c) as i32, rs1p, 3, rdp, LOAD),    // C.LD
        (0, 0b101) => stype(ld_imm(c) as i32, rdp, rs1p, 3, STORE_FP), // C.FSD
        (0, 0b110) => stype(lw_imm(c) as i32, rdp, rs1p, 2, STORE),   // C.SW
        (0, 0b111) => stype(ld_imm(c) as i32, rdp, rs1p, 3, STORE),   // C.SD
        // Quadrant 1
        (1, 0b000) => itype(imm6, rd, 0, rd, OP_IMM), // C.ADDI / C.NOP
        (1, 0b001) => {
            // C.ADDIW (RV64); rd = 0 is reserved
            if rd == 0 {
                return None;
            }
            itype(imm6, rd, 0, rd, OP_IMM_32)
        }
        (1, 0b010) => itype(imm6, 0, 0, rd, OP_IMM), // C.LI
        (1, 0b011) => {
            if rd == 2 {
                // C.ADDI16SP
                let imm = sext(
                    (bit(c, 12) << 9)
                        | (bit(c, 6) << 4)
                        | (bit(c, 5) << 6)
                        | (bits(c, 4, 3) << 7)
                        | (bit(c, 2) << 5),
                    10,
                );
                if imm == 0 {
                    return None;
                }
                itype(imm, 2, 0, 2, OP_IMM)
            } else {
                // C.LUI
                if imm6 == 0 {
                    return None;
                }
                ((imm6 as u32) << 12) | (rd << 7) | LUI
            }
        }
        (1, 0b100) => {
            let shamt = (bit(c, 12) << 5) | bits(c, 6, 2);
            match bits(c, 11, 10) {
                0b00 => itype(shamt as i32, rs1p, 5, rs1p, OP_IMM), // C.SRLI
                0b01 => itype((shamt | 0x400) as i32, rs1p, 5, rs1p, OP_IMM), // C.SRAI
                0b10 => itype(imm6, rs1p, 7, rs1p, OP_IMM),         // C.ANDI
                _ => match (bit(c, 12), bits(c, 6, 5)) {
                    (0, 0b00) => rtype(0x20, rdp, rs1p, 0, rs1p, OP), // C.SUB
                    (0, 0b01) => rtype(0, rdp, rs1p, 4, rs1p, OP),    // C.XOR
                    (0, 0b10) => rtype(0, rdp, rs1p, 6, rs1p, OP),    // C.OR
                    (0, 0b11) => rtype(0, rdp, rs1p, 7, rs1p, OP),    // C.AND
                    (1, 0b00) => rtype(0x20, rdp, rs1p, 0, rs1p, OP_32), // C.SUBW
                    (1, 0b01) => rtype(0, rdp, rs1p, 0, rs1p, OP_32), // C.ADDW
                    _ => return None,
                },
            }
        }
        (1, 0b101) => jtype(cj_imm(c), 0),          // C.J
        (1, 0b110) => btype(cb_imm(c), 0, rs1p, 0), // C.BEQZ
        (1, 0b111) => btype(cb_imm(c), 0, rs1p, 1), // C.BNEZ
        // Quadrant 2
        (2, 0b000) => itype(
            ((bit(c, 12) << 5) | bits(c, 6, 2)) as i32,
            rd,
            1,
            rd,
            OP_IMM,
        ), // C.SLLI
        (2, 0b001) => itype(ldsp_imm(c) as i32, 2, 3, rd, LOAD_FP), // C.FLDSP
        (2, 0b010) => {
            // C.LWSP
            if rd == 0 {
                return None;
            }
            let imm = (bit(c, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6);
            itype(imm as i32, 2, 2, rd, LOAD)
        }
        (2, 0b011) => {
            // C.LDSP
            if rd == 0 {
                return None;
            }
            itype(ldsp_imm(c) as i32, 2, 3, rd, LOAD)
        }
        (2, 0b100) => match (bit(c, 12), rd, rs2) {
            (0, 0, 0) => return None,                  // C.JR with rs1 = 0: reserved
            (0, _, 0) => itype(0, rd, 0, 0, JALR),     // C.JR
            (0, _, _) => rtype(0, rs2, 0, 0, rd, OP),  // C.MV
            (1, 0, 0) => 0x0010_0073,                  // C.EBREAK
            (1, _, 0) => itype(0, rd, 0, 1, JALR),     // C.JALR
            (_, _, _) => rtype(0, rs2, rd, 0, rd, OP), // C.ADD
        },
        (2, 0b101) => stype(sdsp_imm(c) as i32, rs2, 2, 3, STORE_FP), // C.FSDSP
        (2, 0b110) => {
            // C.SWSP
            let imm = (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6);
            stype(imm as i32, rs2, 2, 2, STORE)
        }
        (2, 0b111) => stype(sdsp_imm(c) as i32, rs2, 2, 3, STORE), // C.SDSP
        _ => return None,
    })
}

/// C.LW / C.SW offset: uimm[5:3] = c[12:10], uimm[2] = c[6], uimm[6] = c[5].
fn lw_imm(c: u32) -> u32 {
    (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6)
}
/// C.LD / C.SD / C.FLD / C.FSD offset: uimm[5:3] = c[12:10], uimm[7:6] = c[6:5].
fn ld_imm(c: u32) -> u32 {
    (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6)
}
/// C.LDSP / C.FLDSP offset: uimm[5] = c[12], uimm[4:3] = c[6:5], uimm[8:6] = c[4:2].
fn ldsp_imm(c: u32) -> u32 {
    (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6)
}
/// C.SDSP / C.FSDSP offset: uimm[5:3] = c[12:10], uimm[8:6] = c[9:7].
fn sdsp_imm(c: u32) -> u32 {
    (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6)
}
/// C.J offset: imm[11|4|9:8|10|6|7|3:1|5] = c[12|11|10:9|8|7|6|5:3|2].
fn cj_imm(c: u32) -> i32 {
    let v = (bit(c, 12) << 11)
        | (bit(c, 11) << 4)
        | (bits(c, 10, 9) << 8)
        | (bit(c, 8) << 10)
        | (bit(c, 7) << 6)
        | (bit(c, 6) << 7)
        | (bits(c, 5, 3) << 1)
        | (bit(c, 2) << 5);
    sext(v, 12)
}
/// C.BEQZ / C.BNEZ offset: imm[8|4:3] = c[12|11:10], imm[7:6|2:1|5] = c[6:5|4:3|2].
fn cb_imm(c: u32) -> i32 {
    let v = (bit(c, 12) << 8)
        | (bits(c, 11, 10) << 3)
        | (bits(c, 6, 5) << 6)
        | (bits(c, 4, 3) << 1)
        | (bit(c, 2) << 5);
    sext(v, 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected 32-bit encodings below were produced by hand from the spec's
    // expansion table and cross-checked with riscv64-linux-gnu-as/objdump
    // encodings of the equivalent instructions.
    #[test]
    fn expands_common_instructions() {
        // c.addi4spn s0, sp, 16 -> addi s0, sp, 16
        assert_eq!(expand(0x0800), Some(0x0101_0413));
        // c.li a0, -1 -> addi a0, zero, -1
        assert_eq!(expand(0x557d), Some(0xfff0_0513));
        // c.mv a0, a1 -> add a0, zero, a1
        assert_eq!(expand(0x852e), Some(0x00b0_0533));
        // c.add a0, a1 -> add a0, a0, a1
        assert_eq!(expand(0x952e), Some(0x00b5_0533));
        // c.jr ra -> jalr zero, 0(ra)
        assert_eq!(expand(0x8082), Some(0x0000_8067));
        // c.ebreak
        assert_eq!(expand(0x9002), Some(0x0010_0073));
        // c.ld a0, 8(a1) -> ld a0, 8(a1)
        assert_eq!(expand(0x6588), Some(0x0085_b503));
        // c.sdsp ra, 8(sp) -> sd ra, 8(sp)
        assert_eq!(expand(0xe406), Some(0x0011_3423));
        // c.ldsp ra, 8(sp) -> ld ra, 8(sp)
        assert_eq!(expand(0x60a2), Some(0x0081_3083));
        // c.addi16sp sp, -64 -> addi sp, sp, -64
        assert_eq!(expand(0x7139), Some(0xfc01_0113));
        // c.lui a0, 0x1 -> lui a0, 0x1
        assert_eq!(expand(0x6505), Some(0x0000_1537));
        // c.srai a0, 3 -> srai a0, a0, 3
        assert_eq!(expand(0x850d), Some(0x4035_5513));
        // c.subw a0, a1 -> subw a0, a0, a1
        assert_eq!(expand(0x9d0d), Some(0x40b5_053b));
        // c.addiw a0, 1 -> addiw a0, a0, 1
        assert_eq!(expand(0x2505), Some(0x0015_051b));
        // c.swsp a0, 12(sp) -> sw a0, 12(sp)
        assert_eq!(expand(0xc62a), Some(0x00a1_2623));
        // c.lwsp a0, 12(sp) -> lw a0, 12(sp)
        assert_eq!(expand(0x4532), Some(0x00c1_2503));
    }

    #[test]
    fn jumps_and_branches_round_trip_offsets() {
        // c.j -2 (0xbffd) -> jal zero, -2
        assert_eq!(expand(0xbffd), Some(jtype(-2, 0)));
        // c.beqz a0, 8 -> beq a0, zero, 8
        assert_eq!(expand(0xc501), Some(btype(8, 0, 10, 0)));
        // c.bnez a5, -4 (0xfff5) -> bne a5, zero, -4
        assert_eq!(expand(0xfff5), Some(btype(-4, 0, 15, 1)));
    }

    #[test]
    fn reserved_encodings_are_illegal() {
        assert_eq!(expand(0x0000), None); // all zeros
        assert_eq!(expand(0x8002), None); // c.jr zero
        assert_eq!(expand(0x4002), None); // c.lwsp zero
        assert_eq!(expand(0x6101), None); // c.addi16sp 0
        assert_eq!(expand(0x2001), None); // c.addiw zero
        assert_eq!(expand(0x9c41), None); // reserved ALU op (funct2=11, bit12=1, 10)
    }
}
