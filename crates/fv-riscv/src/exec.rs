//! Instruction semantics: RV64I, M, A, F/D (through `fv-riscv-fp`), Zicsr,
//! Zifencei, Zba/Zbb/Zbs and the privileged instructions. Compressed
//! instructions arrive here already expanded (see `rvc`).

use std::sync::atomic::{fence, Ordering};

use crate::csr::status;
use crate::hart::{Hart, PRV_M, PRV_S, PRV_U};
use crate::mmu::{prv_index, Access, TLB_SIZE};
use crate::trap::{cause, Trap};

#[inline(always)]
fn rd(i: u32) -> usize {
    ((i >> 7) & 31) as usize
}
#[inline(always)]
fn rs1(i: u32) -> usize {
    ((i >> 15) & 31) as usize
}
#[inline(always)]
fn rs2(i: u32) -> usize {
    ((i >> 20) & 31) as usize
}
#[inline(always)]
fn funct3(i: u32) -> u32 {
    (i >> 12) & 7
}
#[inline(always)]
fn funct7(i: u32) -> u32 {
    i >> 25
}
#[inline(always)]
fn imm_i(i: u32) -> u64 {
    ((i as i32) >> 20) as i64 as u64
}
#[inline(always)]
fn imm_s(i: u32) -> u64 {
    ((((i as i32) >> 25) << 5) as u32 | ((i >> 7) & 0x1f)) as i32 as i64 as u64
}
#[inline(always)]
fn imm_b(i: u32) -> u64 {
    let v = (((i as i32) >> 31) as u32) << 12
        | ((i >> 7) & 1) << 11
        | ((i >> 25) & 0x3f) << 5
        | ((i >> 8) & 0xf) << 1;
    v as i32 as i64 as u64
}
#[inline(always)]
fn imm_u(i: u32) -> u64 {
    (i & 0xffff_f000) as i32 as i64 as u64
}
#[inline(always)]
fn imm_j(i: u32) -> u64 {
    let v = (((i as i32) >> 31) as u32) << 20
        | ((i >> 12) & 0xff) << 12
        | ((i >> 20) & 1) << 11
        | ((i >> 21) & 0x3ff) << 1;
    v as i32 as i64 as u64
}
#[inline(always)]
fn sext32(v: u64) -> u64 {
    v as i32 as i64 as u64
}

fn illegal(insn: u32) -> Trap {
    Trap::new(cause::ILLEGAL_INSN, insn as u64)
}

impl Hart {
    #[inline(always)]
    fn set(&mut self, r: usize, v: u64) {
        if r != 0 {
            self.x[r] = v;
        }
    }

    /// Loads `size` bytes at virtual `va` (zero-extended).
    #[inline]
    pub(crate) fn load(&mut self, va: u64, size: u32) -> Result<u64, Trap> {
        let prv = self.data_prv();
        let vpn = va >> 12;
        let e = self.tlb.sets[prv_index(prv)][Access::Read as usize][(vpn as usize) % TLB_SIZE];
        if e.tag == vpn && (va & 0xfff) + size as u64 <= 0x1000 {
            if let Some(v) = self.plat.ram.load(va.wrapping_add(e.addend), size) {
                return Ok(v);
            }
        }
        self.load_slow(va, size, prv)
    }

    #[cold]
    fn load_slow(&mut self, va: u64, size: u32, prv: u8) -> Result<u64, Trap> {
        if (va & 0xfff) + size as u64 > 0x1000 {
            // Misaligned across a page: byte by byte, each translated.
            let mut v = 0u64;
            for i in 0..size as u64 {
                v |= self.load_slow(va.wrapping_add(i), 1, prv)? << (8 * i);
            }
            return Ok(v);
        }
        let pa = self.translate_fill(va, Access::Read, prv)?;
        if let Some(off) = self.plat.ram.offset_of(pa, size as u64) {
            return self
                .plat
                .ram
                .load(off, size)
                .ok_or(Trap::new(cause::LOAD_ACCESS, va));
        }
        let mut buf = [0u8; 8];
        if self.plat.bus.read(pa, &mut buf[..size as usize]) {
            Ok(u64::from_le_bytes(buf))
        } else {
            Err(Trap::new(cause::LOAD_ACCESS, va))
        }
    }

    /// Stores the low `size` bytes of `v` at virtual `va`.
    #[inline]
    pub(crate) fn store(&mut self, va: u64, size: u32, v: u64) -> Result<(), Trap> {
        let prv = self.data_prv();
        let vpn = va >> 12;
        let e = self.tlb.sets[prv_index(prv)][Access::Write as usize][(vpn as usize) % TLB_SIZE];
        if e.tag == vpn
            && (va & 0xfff) + size as u64 <= 0x1000
            && self
                .plat
                .ram
                .store(va.wrapping_add(e.addend), size, v)
                .is_some()
        {
            return Ok(());
        }
        self.store_slow(va, size, v, prv)
    }

    #[cold]
    fn store_slow(&mut self, va: u64, size: u32, v: u64, prv: u8) -> Result<(), Trap> {
        if (va & 0xfff) + size as u64 > 0x1000 {
            // Check both pages before writing anything, so a fault on the
            // second page leaves memory untouched.
            self.translate(va, Access::Write, prv)?;
            self.translate(va.wrapping_add(size as u64 - 1), Access::Write, prv)?;
            for i in 0..size as u64 {
                self.store_slow(va.wrapping_add(i), 1, v >> (8 * i), prv)?;
            }
            return Ok(());
        }
        let pa = self.translate_fill(va, Access::Write, prv)?;
        if let Some(off) = self.plat.ram.offset_of(pa, size as u64) {
            return self
                .plat
                .ram
                .store(off, size, v)
                .ok_or(Trap::new(cause::STORE_ACCESS, va));
        }
        let bytes = v.to_le_bytes();
        if self.plat.bus.write(pa, &bytes[..size as usize]) {
            Ok(())
        } else {
            Err(Trap::new(cause::STORE_ACCESS, va))
        }
    }

    /// Translates an AMO/LR/SC address to a RAM offset (AMOs need RAM:
    /// MMIO and misaligned addresses trap).
    fn amo_offset(&mut self, va: u64, size: u32, access: Access) -> Result<u64, Trap> {
        if va & (size as u64 - 1) != 0 {
            let c = if access == Access::Read {
                cause::LOAD_MISALIGNED
            } else {
                cause::STORE_MISALIGNED
            };
            return Err(Trap::new(c, va));
        }
        let prv = self.data_prv();
        let pa = self.translate_fill(va, access, prv)?;
        self.plat
            .ram
            .offset_of(pa, size as u64)
            .ok_or_else(|| access.access_fault(va))
    }

    /// Executes one (expanded) 32-bit instruction. `self.next_pc` holds the
    /// fall-through pc; control transfers overwrite it.
    #[inline]
    pub(crate) fn execute(&mut self, i: u32) -> Result<(), Trap> {
        let x = |h: &Hart, r: usize| h.x[r];
        match i & 0x7f {
            0x37 => self.set(rd(i), imm_u(i)),                       // LUI
            0x17 => self.set(rd(i), self.pc.wrapping_add(imm_u(i))), // AUIPC
            0x6f => {
                // JAL
                let t = self.pc.wrapping_add(imm_j(i));
                self.set(rd(i), self.next_pc);
                self.next_pc = t;
            }
            0x67 => {
                // JALR
                if funct3(i) != 0 {
                    return Err(illegal(i));
                }
                let t = x(self, rs1(i)).wrapping_add(imm_i(i)) & !1;
                self.set(rd(i), self.next_pc);
                self.next_pc = t;
            }
            0x63 => {
                let a = x(self, rs1(i));
                let b = x(self, rs2(i));
                let taken = match funct3(i) {
                    0 => a == b,
                    1 => a != b,
                    4 => (a as i64) < (b as i64),
                    5 => (a as i64) >= (b as i64),
                    6 => a < b,
                    7 => a >= b,
                    _ => return Err(illegal(i)),
                };
                if taken {
                    self.next_pc = self.pc.wrapping_add(imm_b(i));
                }
            }
            0x03 => {
                let va = x(self, rs1(i)).wrapping_add(imm_i(i));
                let v = match funct3(i) {
                    0 => self.load(va, 1)? as i8 as i64 as u64,
                    1 => self.load(va, 2)? as i16 as i64 as u64,
                    2 => self.load(va, 4)? as i32 as i64 as u64,
                    3 => self.load(va, 8)?,
                    4 => self.load(va, 1)?,
                    5 => self.load(va, 2)?,
                    6 => self.load(va, 4)?,
                    _ => return Err(illegal(i)),
                };
                self.set(rd(i), v);
            }
            0x23 => {
                let va = x(self, rs1(i)).wrapping_add(imm_s(i));
                let v = x(self, rs2(i));
                match funct3(i) {
                    0 => self.store(va, 1, v)?,
                    1 => self.store(va, 2, v)?,
                    2 => self.store(va, 4, v)?,
                    3 => self.store(va, 8, v)?,
                    _ => return Err(illegal(i)),
                }
            }
            0x13 => {
                let a = x(self, rs1(i));
                let imm = imm_i(i);
                let shamt = (imm & 63) as u32;
                let v = match funct3(i) {
                    0 => a.wrapping_add(imm),
                    2 => ((a as i64) < (imm as i64)) as u64,
                    3 => (a < imm) as u64,
                    4 => a ^ imm,
                    6 => a | imm,
                    7 => a & imm,
                    1 => match (i >> 26, i >> 20) {
                        (0x00, _) => a << shamt,
                        (0x12, _) if self.bm() => a & !(1u64 << shamt), // BCLRI
                        (0x1a, _) if self.bm() => a ^ (1u64 << shamt),  // BINVI
                        (0x0a, _) if self.bm() => a | (1u64 << shamt),  // BSETI
                        (_, 0x600) if self.bm() => a.leading_zeros() as u64, // CLZ
                        (_, 0x601) if self.bm() => a.trailing_zeros() as u64, // CTZ
                        (_, 0x602) if self.bm() => a.count_ones() as u64, // CPOP
                        (_, 0x604) if self.bm() => a as i8 as i64 as u64, // SEXT.B
                        (_, 0x605) if self.bm() => a as i16 as i64 as u64, // SEXT.H
                        _ => return Err(illegal(i)),
                    },
                    _ => match (i >> 26, i >> 20) {
                        (0x00, _) => a >> shamt,
                        (0x10, _) => ((a as i64) >> shamt) as u64,
                        (0x12, _) if self.bm() => (a >> shamt) & 1, // BEXTI
                        (0x18, _) if self.bm() => a.rotate_right(shamt), // RORI
                        (_, 0x287) if self.bm() => orc_b(a),        // ORC.B
                        (_, 0x6b8) if self.bm() => a.swap_bytes(),  // REV8
                        _ => return Err(illegal(i)),
                    },
                };
                self.set(rd(i), v);
            }
            0x1b => {
                let a = x(self, rs1(i));
                let shamt = (i >> 20) & 31;
                let v = match (funct3(i), funct7(i)) {
                    (0, _) => sext32(a.wrapping_add(imm_i(i))),
                    (1, 0x00) => sext32(((a as u32) << shamt) as u64),
                    (1, 0x04) | (1, 0x05) if self.bm() => (a & 0xffff_ffff) << ((i >> 20) & 63), // SLLI.UW
                    (1, 0x30) if self.bm() => match (i >> 20) & 31 {
                        0 => (a as u32).leading_zeros() as u64,  // CLZW
                        1 => (a as u32).trailing_zeros() as u64, // CTZW
                        2 => (a as u32).count_ones() as u64,     // CPOPW
                        _ => return Err(illegal(i)),
                    },
                    (5, 0x00) => sext32(((a as u32) >> shamt) as u64),
                    (5, 0x20) => ((a as i32) >> shamt) as i64 as u64,
                    (5, 0x30) if self.bm() => sext32((a as u32).rotate_right(shamt) as u64), // RORIW
                    _ => return Err(illegal(i)),
                };
                self.set(rd(i), v);
            }
            0x33 => {
                let a = x(self, rs1(i));
                let b = x(self, rs2(i));
                let v = match (funct7(i), funct3(i)) {
                    (0x00, 0) => a.wrapping_add(b),
                    (0x20, 0) => a.wrapping_sub(b),
                    (0x00, 1) => a << (b & 63),
                    (0x00, 2) => ((a as i64) < (b as i64)) as u64,
                    (0x00, 3) => (a < b) as u64,
                    (0x00, 4) => a ^ b,
                    (0x00, 5) => a >> (b & 63),
                    (0x20, 5) => ((a as i64) >> (b & 63)) as u64,
                    (0x00, 6) => a | b,
                    (0x00, 7) => a & b,
                    (0x01, f) => mul_div(f, a, b),
                    (0x10, 2) if self.bm() => (a << 1).wrapping_add(b), // SH1ADD
                    (0x10, 4) if self.bm() => (a << 2).wrapping_add(b), // SH2ADD
                    (0x10, 6) if self.bm() => (a << 3).wrapping_add(b), // SH3ADD
                    (0x20, 7) if self.bm() => a & !b,                   // ANDN
                    (0x20, 6) if self.bm() => a | !b,                   // ORN
                    (0x20, 4) if self.bm() => !(a ^ b),                 // XNOR
                    (0x05, 4) if self.bm() => (a as i64).min(b as i64) as u64, // MIN
                    (0x05, 5) if self.bm() => a.min(b),                 // MINU
                    (0x05, 6) if self.bm() => (a as i64).max(b as i64) as u64, // MAX
                    (0x05, 7) if self.bm() => a.max(b),                 // MAXU
                    (0x30, 1) if self.bm() => a.rotate_left((b & 63) as u32), // ROL
                    (0x30, 5) if self.bm() => a.rotate_right((b & 63) as u32), // ROR
                    (0x24, 1) if self.bm() => a & !(1u64 << (b & 63)),  // BCLR
                    (0x24, 5) if self.bm() => (a >> (b & 63)) & 1,      // BEXT
                    (0x34, 1) if self.bm() => a ^ (1u64 << (b & 63)),   // BINV
                    (0x14, 1) if self.bm() => a | (1u64 << (b & 63)),   // BSET
                    _ => return Err(illegal(i)),
                };
                self.set(rd(i), v);
            }
            0x3b => {
                let a = x(self, rs1(i));
                let b = x(self, rs2(i));
                let v = match (funct7(i), funct3(i)) {
                    (0x00, 0) => sext32(a.wrapping_add(b)),
                    (0x20, 0) => sext32(a.wrapping_sub(b)),
                    (0x00, 1) => sext32(((a as u32) << (b & 31)) as u64),
                    (0x00, 5) => sext32(((a as u32) >> (b & 31)) as u64),
                    (0x20, 5) => ((a as i32) >> (b & 31)) as i64 as u64,
                    (0x01, f) => mul_div_w(f, a, b).ok_or_else(|| illegal(i))?,
                    (0x04, 0) if self.bm() => (a & 0xffff_ffff).wrapping_add(b), // ADD.UW
                    (0x10, 2) if self.bm() => ((a & 0xffff_ffff) << 1).wrapping_add(b),
                    (0x10, 4) if self.bm() => ((a & 0xffff_ffff) << 2).wrapping_add(b),
                    (0x10, 6) if self.bm() => ((a & 0xffff_ffff) << 3).wrapping_add(b),
                    (0x04, 4) if self.bm() && rs2(i) == 0 => a & 0xffff, // ZEXT.H
                    (0x30, 1) if self.bm() => {
                        sext32((a as u32).rotate_left((b & 31) as u32) as u64)
                    }
                    (0x30, 5) if self.bm() => {
                        sext32((a as u32).rotate_right((b & 31) as u32) as u64)
                    }
                    _ => return Err(illegal(i)),
                };
                self.set(rd(i), v);
            }
            0x0f => match funct3(i) {
                0 => {
                    // FENCE (and PAUSE, a FENCE hint): order this hart's
                    // accesses against other harts' threads.
                    if self.plat.harts.len() > 1 {
                        fence(Ordering::SeqCst);
                    }
                }
                1 => {
                    // FENCE.I: drop decoded instructions so stores to code
                    // (by this hart, or others before their fences) show.
                    fence(Ordering::SeqCst);
                    self.icache.flush();
                }
                _ => return Err(illegal(i)),
            },
            0x2f => self.exec_amo(i)?,
            0x07 | 0x27 | 0x43 | 0x47 | 0x4b | 0x4f | 0x53 => self.exec_fp(i)?,
            0x73 => self.exec_system(i)?,
            _ => return Err(illegal(i)),
        }
        Ok(())
    }

    #[inline(always)]
    fn bm(&self) -> bool {
        self.plat.isa.bitmanip
    }

    fn exec_amo(&mut self, i: u32) -> Result<(), Trap> {
        let size = match funct3(i) {
            2 => 4,
            3 => 8,
            _ => return Err(illegal(i)),
        };
        let va = self.x[rs1(i)];
        let src = self.x[rs2(i)];
        let f5 = i >> 27;
        // Decode before touching memory: a reserved funct5 is an illegal
        // instruction whatever the address (privileged spec 3.1.15 priority).
        if (AMO_FUNCT5 >> f5) & 1 == 0 {
            return Err(illegal(i));
        }
        let ram = std::sync::Arc::clone(&self.plat.ram);
        let sc = Ordering::SeqCst;
        let v: u64 = match f5 {
            0b00010 => {
                // LR
                if rs2(i) != 0 {
                    return Err(illegal(i));
                }
                let off = self.amo_offset(va, size, Access::Read)?;
                let v = if size == 4 {
                    ram.atomic_u32(off).map(|a| a.load(sc) as u64)
                } else {
                    ram.atomic_u64(off).map(|a| a.load(sc))
                }
                .ok_or(Trap::new(cause::LOAD_ACCESS, va))?;
                self.reservation = Some((off, v, size));
                if size == 4 {
                    v as i32 as i64 as u64
                } else {
                    v
                }
            }
            0b00011 => {
                // SC: succeeds if the reservation covers this address and the
                // word still holds the value LR saw (compare-and-swap, as
                // QEMU implements it).
                let off = self.amo_offset(va, size, Access::Write)?;
                let ok = match self.reservation.take() {
                    Some((roff, old, rsize)) if roff == off && rsize == size => {
                        if size == 4 {
                            ram.atomic_u32(off).is_some_and(|a| {
                                a.compare_exchange(old as u32, src as u32, sc, sc).is_ok()
                            })
                        } else {
                            ram.atomic_u64(off)
                                .is_some_and(|a| a.compare_exchange(old, src, sc, sc).is_ok())
                        }
                    }
                    _ => false,
                };
                (!ok) as u64
            }
            _ => {
                let off = self.amo_offset(va, size, Access::Write)?;
                if size == 4 {
                    let a = ram
                        .atomic_u32(off)
                        .ok_or(Trap::new(cause::STORE_ACCESS, va))?;
                    let s = src as u32;
                    let old = match f5 {
                        0b00001 => a.swap(s, sc),
                        0b00000 => a.fetch_add(s, sc),
                        0b00100 => a.fetch_xor(s, sc),
                        0b01100 => a.fetch_and(s, sc),
                        0b01000 => a.fetch_or(s, sc),
                        0b10000 => fetch_update32(a, |v| (v as i32).min(s as i32) as u32),
                        0b10100 => fetch_update32(a, |v| (v as i32).max(s as i32) as u32),
                        0b11000 => a.fetch_min(s, sc),
                        0b11100 => a.fetch_max(s, sc),
                        _ => return Err(illegal(i)),
                    };
                    old as i32 as i64 as u64
                } else {
                    let a = ram
                        .atomic_u64(off)
                        .ok_or(Trap::new(cause::STORE_ACCESS, va))?;
                    match f5 {
                        0b00001 => a.swap(src, sc),
                        0b00000 => a.fetch_add(src, sc),
                        0b00100 => a.fetch_xor(src, sc),
                        0b01100 => a.fetch_and(src, sc),
                        0b01000 => a.fetch_or(src, sc),
                        0b10000 => fetch_update64(a, |v| (v as i64).min(src as i64) as u64),
                        0b10100 => fetch_update64(a, |v| (v as i64).max(src as i64) as u64),
                        0b11000 => a.fetch_min(src, sc),
                        0b11100 => a.fetch_max(src, sc),
                        _ => return Err(illegal(i)),
                    }
                }
            }
        };
        self.set(rd(i), v);
        Ok(())
    }

    fn exec_fp(&mut self, i: u32) -> Result<(), Trap> {
        if self.mstatus & status::FS == 0 {
            return Err(illegal(i));
        }
        match i & 0x7f {
            0x07 => {
                let va = self.x[rs1(i)].wrapping_add(imm_i(i));
                let v = match funct3(i) {
                    2 => fv_riscv_fp::nan_box(self.load(va, 4)? as u32),
                    3 => self.load(va, 8)?,
                    _ => return Err(illegal(i)),
                };
                self.fp.f[rd(i)] = v;
            }
            0x27 => {
                let va = self.x[rs1(i)].wrapping_add(imm_s(i));
                let v = self.fp.f[rs2(i)];
                match funct3(i) {
                    2 => self.store(va, 4, v)?,
                    3 => self.store(va, 8, v)?,
                    _ => return Err(illegal(i)),
                }
                return Ok(());
            }
            _ => {
                fv_riscv_fp::execute(i, &mut self.fp, &mut self.x).map_err(|_| illegal(i))?;
            }
        }
        self.mark_fs_dirty();
        Ok(())
    }

    fn exec_system(&mut self, i: u32) -> Result<(), Trap> {
        let f3 = funct3(i);
        if f3 == 0 {
            return match i {
                0x0000_0073 => Err(Trap::new(
                    match self.prv {
                        PRV_U => cause::ECALL_U,
                        PRV_S => cause::ECALL_S,
                        _ => cause::ECALL_M,
                    },
                    0,
                )),
                0x0010_0073 => Err(Trap::new(cause::BREAKPOINT, self.pc)),
                0x1020_0073 => self.sret(i),
                0x3020_0073 => self.mret(i),
                0x1050_0073 => {
                    // WFI (privileged spec 3.3.3): TW traps it below M; from
                    // U-mode it is always illegal here.
                    if self.prv == PRV_U || (self.prv == PRV_S && self.mstatus & status::TW != 0) {
                        return Err(illegal(i));
                    }
                    self.wfi = true;
                    self.end_batch = true;
                    Ok(())
                }
                _ if funct7(i) == 0x09 && rd(i) == 0 => {
                    // SFENCE.VMA: the TLB holds no ASIDs, flush it all.
                    if self.tvm_trapped() {
                        return Err(illegal(i));
                    }
                    self.tlb.flush();
                    Ok(())
                }
                _ => Err(illegal(i)),
            };
        }
        if f3 == 4 {
            // Not a Zicsr form (reserved; the H extension's HLV/HSV live here).
            return Err(illegal(i));
        }
        let addr = (i >> 20) as u16;
        let src = if f3 & 4 != 0 {
            rs1(i) as u64 // uimm
        } else {
            self.x[rs1(i)]
        };
        let r = rd(i);
        let write_only = f3 & 3 == 1 && r == 0;
        let no_write = f3 & 3 != 1 && rs1(i) == 0;
        let old = if write_only {
            // CSRRW with rd = x0 does not read (no read side effects), but
            // still checks access.
            0
        } else {
            self.csr_read(addr).map_err(|_| illegal(i))?
        };
        if !no_write {
            let new = match f3 & 3 {
                1 => src,
                2 => old | src,
                _ => old & !src,
            };
            self.csr_write(addr, new).map_err(|_| illegal(i))?;
        }
        self.set(r, old);
        Ok(())
    }

    fn mret(&mut self, i: u32) -> Result<(), Trap> {
        if self.prv != PRV_M {
            return Err(illegal(i));
        }
        let s = self.mstatus;
        let mpp = ((s & status::MPP) >> status::MPP_SHIFT) as u8;
        let mut n = s & !(status::MIE | status::MPP);
        if s & status::MPIE != 0 {
            n |= status::MIE;
        }
        n |= status::MPIE;
        if mpp != PRV_M {
            n &= !status::MPRV;
        }
        if n & (status::MPRV) != s & status::MPRV || mpp != self.prv {
            self.tlb.flush();
        }
        self.mstatus = n;
        self.set_prv(mpp);
        self.next_pc = self.mepc;
        self.reservation = None;
        self.end_batch = true;
        Ok(())
    }

    fn sret(&mut self, i: u32) -> Result<(), Trap> {
        if self.prv < PRV_S || (self.prv == PRV_S && self.mstatus & status::TSR != 0) {
            return Err(illegal(i));
        }
        let s = self.mstatus;
        let spp = if s & status::SPP != 0 { PRV_S } else { PRV_U };
        let mut n = s & !(status::SIE | status::SPP | status::MPRV);
        if s & status::SPIE != 0 {
            n |= status::SIE;
        }
        n |= status::SPIE;
        if n & status::MPRV != s & status::MPRV {
            self.tlb.flush();
        }
        self.mstatus = n;
        self.set_prv(spp);
        self.next_pc = self.sepc;
        self.reservation = None;
        self.end_batch = true;
        Ok(())
    }
}

/// The defined A-extension funct5 values (LR, SC, the nine AMOs), as a set.
const AMO_FUNCT5: u32 = (1 << 0b00000)
    | (1 << 0b00001)
    | (1 << 0b00010)
    | (1 << 0b00011)
    | (1 << 0b00100)
    | (1 << 0b01000)
    | (1 << 0b01100)
    | (1 << 0b10000)
    | (1 << 0b10100)
    | (1 << 0b11000)
    | (1 << 0b11100);

fn fetch_update32(a: &std::sync::atomic::AtomicU32, f: impl Fn(u32) -> u32) -> u32 {
    let sc = Ordering::SeqCst;
    match a.fetch_update(sc, sc, |v| Some(f(v))) {
        Ok(v) | Err(v) => v,
    }
}
fn fetch_update64(a: &std::sync::atomic::AtomicU64, f: impl Fn(u64) -> u64) -> u64 {
    let sc = Ordering::SeqCst;
    match a.fetch_update(sc, sc, |v| Some(f(v))) {
        Ok(v) | Err(v) => v,
    }
}

/// ORC.B: each byte becomes 0xff if non-zero, else 0x00.
fn orc_b(a: u64) -> u64 {
    let mut r = 0;
    for k in 0..8 {
        if (a >> (8 * k)) & 0xff != 0 {
            r |= 0xff << (8 * k);
        }
    }
    r
}

/// RV64M on full registers (unprivileged spec, "M" chapter): division by
/// zero and signed overflow have defined results, no trap.
fn mul_div(f3: u32, a: u64, b: u64) -> u64 {
    match f3 {
        0 => a.wrapping_mul(b),
        1 => (((a as i64 as i128) * (b as i64 as i128)) >> 64) as u64,
        2 => (((a as i64 as i128) * (b as u128 as i128)) >> 64) as u64,
        3 => (((a as u128) * (b as u128)) >> 64) as u64,
        4 => {
            if b == 0 {
                u64::MAX
            } else {
                (a as i64).wrapping_div(b as i64) as u64
            }
        }
        5 => a.checked_div(b).unwrap_or(u64::MAX),
        6 => {
            if b == 0 {
                a
            } else {
                (a as i64).wrapping_rem(b as i64) as u64
            }
        }
        _ => a.checked_rem(b).unwrap_or(a),
    }
}

/// RV64M word forms; results sign-extended from 32 bits.
fn mul_div_w(f3: u32, a: u64, b: u64) -> Option<u64> {
    let (a32, b32) = (a as i32, b as i32);
    let v: i32 = match f3 {
        0 => a32.wrapping_mul(b32),
        4 => {
            if b32 == 0 {
                -1
            } else {
                a32.wrapping_div(b32)
            }
        }
        5 => (a as u32).checked_div(b as u32).unwrap_or(u32::MAX) as i32,
        6 => {
            if b32 == 0 {
                a32
            } else {
                a32.wrapping_rem(b32)
            }
        }
        7 => (a as u32).checked_rem(b as u32).unwrap_or(a as u32) as i32,
        _ => return None,
    };
    Some(v as i64 as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediates_decode() {
        // addi a0, a0, -1
        assert_eq!(imm_i(0xfff5_0513), u64::MAX);
        // sd ra, 8(sp)
        assert_eq!(imm_s(0x0011_3423), 8);
        // sw a0, -4(sp): 0xfea12e23
        assert_eq!(imm_s(0xfea1_2e23), (-4i64) as u64);
        // beq a0, zero, 8 -> 0x00050463
        assert_eq!(imm_b(0x0005_0463), 8);
        // bne a5, zero, -4 -> 0xfe079ee3
        assert_eq!(imm_b(0xfe07_9ee3), (-4i64) as u64);
        // jal zero, -2 -> 0xfffff06f
        assert_eq!(imm_j(0xffff_f06f), (-2i64) as u64);
        // lui a0, 0x80000 -> sign-extended
        assert_eq!(imm_u(0x8000_0537), 0xffff_ffff_8000_0000);
    }

    #[test]
    fn m_extension_edge_cases() {
        let min = i64::MIN as u64;
        assert_eq!(mul_div(4, 7, 0), u64::MAX); // div by 0
        assert_eq!(mul_div(5, 7, 0), u64::MAX); // divu by 0
        assert_eq!(mul_div(6, 7, 0), 7); // rem by 0
        assert_eq!(mul_div(7, 7, 0), 7); // remu by 0
        assert_eq!(mul_div(4, min, u64::MAX), min); // overflow
        assert_eq!(mul_div(6, min, u64::MAX), 0);
        assert_eq!(mul_div(4, (-7i64) as u64, 2), (-3i64) as u64); // rounds toward zero
        assert_eq!(mul_div(6, (-7i64) as u64, 2), (-1i64) as u64); // sign of dividend
        assert_eq!(mul_div(1, u64::MAX, u64::MAX), 0); // mulh(-1,-1)
        assert_eq!(mul_div(3, u64::MAX, u64::MAX), u64::MAX - 1); // mulhu
        assert_eq!(mul_div(2, u64::MAX, u64::MAX), u64::MAX); // mulhsu(-1, 2^64-1)
        assert_eq!(
            mul_div_w(4, 0x8000_0000, u64::MAX),
            Some(0xffff_ffff_8000_0000)
        );
        assert_eq!(mul_div_w(5, 5, 0), Some(u64::MAX));
        assert_eq!(mul_div_w(7, 0xffff_ffff_0000_0005, 0), Some(5));
        assert_eq!(mul_div_w(0, 0x1_0000_0002, 0x8000_0000), Some(0));
    }

    #[test]
    fn orc_b_bytes() {
        assert_eq!(orc_b(0x0001_0000_ff00_0100), 0x00ff_0000_ff00_ff00);
    }
}
