//! The decoded-instruction cache: for each guest-physical RAM page that
//! instructions were fetched from, the expanded 32-bit form of the
//! instruction at every halfword. It spares the interpreter re-reading and
//! re-expanding instructions (RVC expansion alone was 14% of boot time).
//!
//! Like a real non-coherent instruction cache, it is invalidated by FENCE.I
//! (local, or remote through SBI RFENCE) and not by ordinary stores: the
//! ISA requires software to execute FENCE.I before running modified code
//! (unprivileged spec, "Zifencei"), and Linux does so for every code change
//! (module loading, text patching, and mapping a page executable).

use std::collections::HashMap;

/// Halfword slots per 4 KiB page.
const SLOTS: usize = 2048;
/// Drop everything beyond this many cached pages (64 MiB of decoded code).
const MAX_PAGES: usize = 8192;

/// A slot that was never decoded.
pub(crate) const EMPTY: u32 = 0;

pub(crate) struct ICache {
    index: HashMap<u64, usize>,
    pages: Vec<Box<[u32; SLOTS]>>,
    /// The page the last fetch used (fast path): its RAM page number and
    /// index in `pages`.
    cur_key: u64,
    cur_idx: usize,
}

impl ICache {
    pub fn new() -> Self {
        Self {
            index: HashMap::new(),
            pages: Vec::new(),
            cur_key: u64::MAX,
            cur_idx: 0,
        }
    }

    /// Forgets every decoded instruction.
    pub fn flush(&mut self) {
        self.index.clear();
        self.pages.clear();
        self.cur_key = u64::MAX;
    }

    /// The cached entry for RAM offset `off` (EMPTY if none).
    #[inline(always)]
    pub fn get(&mut self, off: u64) -> u32 {
        let key = off >> 12;
        if key != self.cur_key {
            self.select(key);
        }
        self.pages[self.cur_idx][((off & 0xfff) >> 1) as usize]
    }

    /// Stores `entry` for RAM offset `off` (the page was selected by `get`).
    #[inline(always)]
    pub fn put(&mut self, off: u64, entry: u32) {
        debug_assert_eq!(off >> 12, self.cur_key);
        self.pages[self.cur_idx][((off & 0xfff) >> 1) as usize] = entry;
    }

    #[cold]
    fn select(&mut self, key: u64) {
        if let Some(&i) = self.index.get(&key) {
            self.cur_key = key;
            self.cur_idx = i;
            return;
        }
        if self.pages.len() >= MAX_PAGES {
            self.flush();
        }
        self.pages.push(Box::new([EMPTY; SLOTS]));
        let i = self.pages.len() - 1;
        self.index.insert(key, i);
        self.cur_key = key;
        self.cur_idx = i;
    }
}

/// Packs an instruction for the cache: 32-bit encodings (low bits 0b11) as
/// they are; expanded compressed ones with bit 0 cleared, so the length is
/// recoverable and no valid entry equals EMPTY.
#[inline(always)]
pub(crate) fn pack(insn32: u32, compressed: bool) -> u32 {
    if compressed {
        insn32 & !1
    } else {
        insn32
    }
}

/// Unpacks an entry: (32-bit instruction, length in bytes).
#[inline(always)]
pub(crate) fn unpack(entry: u32) -> (u32, u64) {
    if entry & 1 != 0 {
        (entry, 4)
    } else {
        (entry | 1, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trip_and_flush() {
        assert_eq!(unpack(pack(0x00b5_0533, false)), (0x00b5_0533, 4));
        assert_eq!(unpack(pack(0x00b5_0533, true)), (0x00b5_0533, 2));
        assert_ne!(pack(0x0000_0003, true), EMPTY); // lb zero, 0(zero)
        let mut c = ICache::new();
        assert_eq!(c.get(0x1002), EMPTY);
        c.put(0x1002, 0x13);
        assert_eq!(c.get(0x5000), EMPTY);
        assert_eq!(c.get(0x1002), 0x13);
        c.flush();
        assert_eq!(c.get(0x1002), EMPTY);
    }
}
