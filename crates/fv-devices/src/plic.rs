//! SiFive PLIC with [`PLIC_NDEV`] level-triggered sources and two contexts
//! per hart: context `2h` is hart `h`'s M-mode (drives `mip.MEIP`, bit 11),
//! `2h + 1` its S-mode (drives `mip.SEIP`, bit 9).
//!
//! Each source has a gateway: a high line makes the source pending unless
//! it is claimed and not yet completed; completion re-arms the gateway, and
//! a line still high pends again. A line that drops before its claim
//! withdraws the request (as QEMU's PLIC does), so the guest rarely sees a
//! spurious claim of 0. Every state change recomputes and drives all
//! context outputs.

use std::sync::{Arc, Mutex, MutexGuard};

use fv_machine::{CpuIrq, IrqLine, MmioDevice};

use crate::layout::PLIC_NDEV;
use crate::mmio;

/// `mip.MEIP`.
pub const MIP_MEIP: u64 = 1 << 11;
/// `mip.SEIP`.
pub const MIP_SEIP: u64 = 1 << 9;

const PRIORITY_BASE: u64 = 0x0;
const PENDING_BASE: u64 = 0x1000;
const ENABLE_BASE: u64 = 0x2000;
const ENABLE_STRIDE: u64 = 0x80;
const CONTEXT_BASE: u64 = 0x20_0000;
const CONTEXT_STRIDE: u64 = 0x1000;
/// Priorities and thresholds are 3 bits (7 levels above "never").
const PRIORITY_MASK: u32 = 7;

/// Bits of the source set as 32-bit words.
const WORDS: usize = (PLIC_NDEV as usize + 1).div_ceil(32);

/// A SiFive PLIC. See the module documentation.
pub struct Plic {
    state: Mutex<PlicState>,
    cpus: Vec<Arc<CpuIrq>>,
}

struct PlicState {
    priority: [u32; PLIC_NDEV as usize + 1],
    /// Line levels, as driven by the sources.
    level: [u32; WORDS],
    pending: [u32; WORDS],
    /// Claimed and not yet completed.
    claimed: [u32; WORDS],
    /// Per context.
    enable: Vec<[u32; WORDS]>,
    threshold: Vec<u32>,
}

fn bit(source: u32) -> (usize, u32) {
    ((source / 32) as usize, 1 << (source % 32))
}

/// The bits of word `w` that name real sources (not 0, not above NDEV).
fn valid_mask(w: usize) -> u32 {
    let first = w as u32 * 32;
    let n = (PLIC_NDEV + 1).saturating_sub(first).min(32);
    let m = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    if w == 0 {
        m & !1
    } else {
        m
    }
}

impl PlicState {
    /// The best interrupt for `ctx`: highest priority above the threshold
    /// among pending and enabled sources, lowest ID on ties.
    fn best(&self, ctx: usize) -> Option<u32> {
        let threshold = self.threshold[ctx];
        let mut best: Option<(u32, u32)> = None;
        for w in 0..WORDS {
            let mut bits = self.pending[w] & self.enable[ctx][w];
            while bits != 0 {
                let src = w as u32 * 32 + bits.trailing_zeros();
                bits &= bits - 1;
                let prio = self.priority[src as usize];
                if prio > threshold && best.is_none_or(|(p, _)| prio > p) {
                    best = Some((prio, src));
                }
            }
        }
        best.map(|(_, src)| src)
    }
}

impl std::fmt::Debug for Plic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Plic")
            .field("harts", &self.cpus.len())
            .field("pending", &st.pending)
            .field("claimed", &st.claimed)
            .finish_non_exhaustive()
    }
}

impl Plic {
    /// A PLIC whose contexts drive the external interrupt bits of `cpus`
    /// (hart `h` is `cpus[h]`).
    pub fn new(cpus: Vec<Arc<CpuIrq>>) -> Self {
        let contexts = cpus.len() * 2;
        Self {
            state: Mutex::new(PlicState {
                priority: [0; PLIC_NDEV as usize + 1],
                level: [0; WORDS],
                pending: [0; WORDS],
                claimed: [0; WORDS],
                enable: vec![[0; WORDS]; contexts],
                threshold: vec![0; contexts],
            }),
            cpus,
        }
    }

    /// The interrupt line of `source` (1..=[`PLIC_NDEV`]), for a device to
    /// drive. Lines of other numbers are logged and do nothing.
    pub fn irq_line(self: &Arc<Self>, source: u32) -> Arc<dyn IrqLine> {
        if !(1..=PLIC_NDEV).contains(&source) {
            tracing::warn!(source, "PLIC: no such source; its line is not connected");
        }
        Arc::new(PlicSource {
            plic: Arc::clone(self),
            source,
        })
    }

    /// Drives `source`'s line (what [`Plic::irq_line`]'s lines call).
    pub fn set_level(&self, source: u32, level: bool) {
        if !(1..=PLIC_NDEV).contains(&source) {
            return;
        }
        let mut st = self.lock();
        let (w, m) = bit(source);
        if (st.level[w] & m != 0) == level {
            return;
        }
        if level {
            st.level[w] |= m;
        } else {
            st.level[w] &= !m;
        }
        if st.claimed[w] & m == 0 {
            if level {
                st.pending[w] |= m;
            } else {
                st.pending[w] &= !m;
            }
        }
        self.drive(&st);
    }

    fn lock(&self) -> MutexGuard<'_, PlicState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn contexts(&self) -> usize {
        self.cpus.len() * 2
    }

    /// Recomputes every context's output and drives its `mip` bit.
    fn drive(&self, st: &PlicState) {
        for (h, cpu) in self.cpus.iter().enumerate() {
            cpu.set(MIP_MEIP, st.best(2 * h).is_some());
            cpu.set(MIP_SEIP, st.best(2 * h + 1).is_some());
        }
    }

    fn claim(&self, ctx: usize) -> u32 {
        let mut st = self.lock();
        let Some(src) = st.best(ctx) else { return 0 };
        let (w, m) = bit(src);
        st.pending[w] &= !m;
        st.claimed[w] |= m;
        self.drive(&st);
        src
    }

    fn complete(&self, ctx: usize, source: u32) {
        if !(1..=PLIC_NDEV).contains(&source) {
            tracing::debug!(ctx, source, "PLIC: completion of a non-existent source");
            return;
        }
        let mut st = self.lock();
        let (w, m) = bit(source);
        // PLIC spec: a completion for a source not enabled for the context
        // is silently ignored (Linux enables a masked source around its EOI).
        if st.enable[ctx][w] & m == 0 || st.claimed[w] & m == 0 {
            tracing::debug!(ctx, source, "PLIC: completion ignored");
            return;
        }
        st.claimed[w] &= !m;
        if st.level[w] & m != 0 {
            st.pending[w] |= m;
        }
        self.drive(&st);
    }

    fn read32(&self, offset: u64) -> Option<u32> {
        match offset {
            PRIORITY_BASE..PENDING_BASE => {
                let src = usize::try_from((offset - PRIORITY_BASE) / 4).ok()?;
                self.lock().priority.get(src).copied()
            }
            PENDING_BASE..ENABLE_BASE => {
                let w = usize::try_from((offset - PENDING_BASE) / 4).ok()?;
                self.lock().pending.get(w).copied()
            }
            ENABLE_BASE..CONTEXT_BASE => {
                let (ctx, w) = self.enable_word(offset)?;
                Some(self.lock().enable[ctx][w])
            }
            _ => {
                let (ctx, reg) = self.context_reg(offset)?;
                match reg {
                    0 => Some(self.lock().threshold[ctx]),
                    4 => Some(self.claim(ctx)),
                    _ => None,
                }
            }
        }
    }

    fn write32(&self, offset: u64, v: u32) -> Option<()> {
        match offset {
            PRIORITY_BASE..PENDING_BASE => {
                let src = usize::try_from((offset - PRIORITY_BASE) / 4).ok()?;
                if src == 0 {
                    return None;
                }
                let mut st = self.lock();
                *st.priority.get_mut(src)? = v & PRIORITY_MASK;
                self.drive(&st);
            }
            ENABLE_BASE..CONTEXT_BASE => {
                let (ctx, w) = self.enable_word(offset)?;
                let mut st = self.lock();
                st.enable[ctx][w] = v & valid_mask(w);
                self.drive(&st);
            }
            CONTEXT_BASE.. => {
                let (ctx, reg) = self.context_reg(offset)?;
                match reg {
                    0 => {
                        let mut st = self.lock();
                        st.threshold[ctx] = v & PRIORITY_MASK;
                        self.drive(&st);
                    }
                    4 => self.complete(ctx, v),
                    _ => return None,
                }
            }
            // Pending bits are read-only.
            _ => return None,
        }
        Some(())
    }

    fn enable_word(&self, offset: u64) -> Option<(usize, usize)> {
        let rel = offset - ENABLE_BASE;
        let ctx = usize::try_from(rel / ENABLE_STRIDE).ok()?;
        let w = usize::try_from(rel % ENABLE_STRIDE / 4).ok()?;
        (ctx < self.contexts() && w < WORDS).then_some((ctx, w))
    }

    fn context_reg(&self, offset: u64) -> Option<(usize, u64)> {
        let rel = offset.checked_sub(CONTEXT_BASE)?;
        let ctx = usize::try_from(rel / CONTEXT_STRIDE).ok()?;
        (ctx < self.contexts()).then_some((ctx, rel % CONTEXT_STRIDE))
    }
}

struct PlicSource {
    plic: Arc<Plic>,
    source: u32,
}

impl IrqLine for PlicSource {
    fn set_level(&self, level: bool) {
        self.plic.set_level(self.source, level);
    }
}

impl MmioDevice for Plic {
    fn read(&self, offset: u64, data: &mut [u8]) {
        let v = if data.len() == 4 && offset & 3 == 0 {
            self.read32(offset)
        } else {
            None
        };
        if v.is_none() {
            tracing::debug!(offset, len = data.len(), "PLIC: unexpected read");
        }
        mmio::fill(data, u64::from(v.unwrap_or(0)));
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let done = match mmio::value_of(data) {
            Some(v) if data.len() == 4 && offset & 3 == 0 => self.write32(offset, v as u32),
            _ => None,
        };
        if done.is_none() {
            tracing::debug!(offset, len = data.len(), "PLIC: unexpected write ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{rd, wr};

    fn plic(harts: usize) -> (Arc<Plic>, Vec<Arc<CpuIrq>>) {
        let cpus: Vec<_> = (0..harts).map(|_| Arc::new(CpuIrq::new())).collect();
        (Arc::new(Plic::new(cpus.clone())), cpus)
    }

    fn priority(p: &Plic, src: u64, v: u64) {
        wr(p, 4 * src, 4, v);
    }
    fn enable(p: &Plic, ctx: u64, src: u64) {
        let off = ENABLE_BASE + ENABLE_STRIDE * ctx + 4 * (src / 32);
        let old = rd(p, off, 4);
        wr(p, off, 4, old | 1 << (src % 32));
    }
    fn threshold(p: &Plic, ctx: u64, v: u64) {
        wr(p, CONTEXT_BASE + CONTEXT_STRIDE * ctx, 4, v);
    }
    fn claim(p: &Plic, ctx: u64) -> u64 {
        rd(p, CONTEXT_BASE + CONTEXT_STRIDE * ctx + 4, 4)
    }
    fn complete(p: &Plic, ctx: u64, src: u64) {
        wr(p, CONTEXT_BASE + CONTEXT_STRIDE * ctx + 4, 4, src);
    }

    #[test]
    fn priority_threshold_and_enable_gate_the_s_mode_output() {
        let (p, cpus) = plic(1);
        let uart = p.irq_line(10);
        uart.set_level(true);
        assert_eq!(rd(&*p, PENDING_BASE, 4), 1 << 10);
        assert_eq!(cpus[0].lines(), 0, "priority 0 never interrupts");
        priority(&p, 10, 1);
        assert_eq!(cpus[0].lines(), 0, "not enabled");
        enable(&p, 1, 10);
        assert_eq!(cpus[0].lines(), MIP_SEIP);
        threshold(&p, 1, 1);
        assert_eq!(cpus[0].lines(), 0, "priority must exceed the threshold");
        assert_eq!(claim(&p, 1), 0);
        threshold(&p, 1, 0);
        assert_eq!(cpus[0].lines(), MIP_SEIP);
        uart.set_level(false);
        assert_eq!(cpus[0].lines(), 0, "request withdrawn before claim");
        // Registers read back, masked to their width.
        priority(&p, 10, 0xff);
        assert_eq!(rd(&*p, 40, 4), 7);
        assert_eq!(rd(&*p, ENABLE_BASE + ENABLE_STRIDE, 4), 1 << 10);
    }

    #[test]
    fn claim_takes_highest_priority_then_lowest_id_and_clears_pending() {
        let (p, cpus) = plic(1);
        for (src, prio) in [(3, 2), (5, 4), (7, 4), (40, 1)] {
            priority(&p, src, prio);
            enable(&p, 1, src);
            p.irq_line(src as u32).set_level(true);
        }
        assert_eq!(rd(&*p, PENDING_BASE + 4, 4), 1 << 8, "source 40");
        assert_eq!(claim(&p, 1), 5);
        assert_eq!(rd(&*p, PENDING_BASE, 4) & (1 << 5), 0);
        assert_eq!(claim(&p, 1), 7);
        assert_eq!(claim(&p, 1), 3);
        assert_eq!(cpus[0].lines(), MIP_SEIP, "40 still pending");
        assert_eq!(claim(&p, 1), 40);
        assert_eq!(cpus[0].lines(), 0);
        assert_eq!(claim(&p, 1), 0);
    }

    #[test]
    fn claimed_source_is_not_resignalled_until_completed() {
        let (p, cpus) = plic(1);
        let line = p.irq_line(1);
        priority(&p, 1, 1);
        enable(&p, 1, 1);
        line.set_level(true);
        assert_eq!(claim(&p, 1), 1);
        assert_eq!(cpus[0].lines(), 0);
        // Still high, and even toggled: the gateway holds it back.
        line.set_level(false);
        line.set_level(true);
        assert_eq!(cpus[0].lines(), 0);
        assert_eq!(claim(&p, 1), 0);
        // A completion of the wrong ID or from a context without the
        // source enabled changes nothing.
        complete(&p, 1, 2);
        complete(&p, 0, 1);
        assert_eq!(cpus[0].lines(), 0);
        complete(&p, 1, 1);
        assert_eq!(cpus[0].lines(), MIP_SEIP, "line still high: pends again");
        assert_eq!(claim(&p, 1), 1);
        line.set_level(false);
        complete(&p, 1, 1);
        assert_eq!(cpus[0].lines(), 0, "line low at completion: quiet");
        assert_eq!(rd(&*p, PENDING_BASE, 4), 0);
    }

    #[test]
    fn m_and_s_contexts_drive_bits_11_and_9_of_each_hart() {
        let (p, cpus) = plic(2);
        priority(&p, 11, 3);
        enable(&p, 0, 11); // hart 0 M
        enable(&p, 3, 11); // hart 1 S
        p.irq_line(11).set_level(true);
        assert_eq!(cpus[0].lines(), MIP_MEIP);
        assert_eq!(cpus[1].lines(), MIP_SEIP);
        assert!(cpus[1].take_attention(), "hart 1 is woken");
        // A claim by hart 1's S context takes it from hart 0 too.
        assert_eq!(claim(&p, 3), 11);
        assert_eq!(cpus[0].lines(), 0);
        assert_eq!(cpus[1].lines(), 0);
        assert_eq!(claim(&p, 0), 0);
        complete(&p, 3, 11);
        assert_eq!(cpus[0].lines(), MIP_MEIP);
        assert_eq!(cpus[1].lines(), MIP_SEIP);
        threshold(&p, 0, 7);
        assert_eq!(cpus[0].lines(), 0);
        assert_eq!(cpus[1].lines(), MIP_SEIP);
    }

    #[test]
    fn out_of_range_and_odd_accesses_are_harmless() {
        let (p, cpus) = plic(1);
        // Source 0 and sources above NDEV do not exist.
        priority(&p, 0, 5);
        assert_eq!(rd(&*p, 0, 4), 0);
        assert_eq!(rd(&*p, 4 * 200, 4), 0);
        wr(&*p, ENABLE_BASE + ENABLE_STRIDE, 4, u64::from(u32::MAX));
        assert_eq!(
            rd(&*p, ENABLE_BASE + ENABLE_STRIDE, 4),
            u64::from(u32::MAX - 1)
        );
        wr(&*p, ENABLE_BASE + ENABLE_STRIDE + 8, 4, u64::from(u32::MAX));
        assert_eq!(
            rd(&*p, ENABLE_BASE + ENABLE_STRIDE + 8, 4),
            u64::from(valid_mask(2)),
            "only sources up to NDEV"
        );
        // Context 2 does not exist with one hart.
        assert_eq!(claim(&p, 2), 0);
        threshold(&p, 2, 1);
        assert_eq!(rd(&*p, CONTEXT_BASE + 2 * CONTEXT_STRIDE, 4), 0);
        // Pending is read-only; widths other than 32 bits are ignored.
        wr(&*p, PENDING_BASE, 4, 0xffff);
        assert_eq!(rd(&*p, PENDING_BASE, 4), 0);
        wr(&*p, 40, 8, 3);
        wr(&*p, 41, 4, 3);
        assert_eq!(rd(&*p, 40, 4), 0);
        assert_eq!(rd(&*p, 40, 8), 0);
        p.irq_line(0).set_level(true);
        p.irq_line(PLIC_NDEV + 1).set_level(true);
        complete(&p, 1, 1000);
        assert_eq!(cpus[0].lines(), 0);
        assert_eq!(rd(&*p, 0x5f_fffc, 4), 0);
    }

    #[test]
    fn lines_from_many_threads_are_all_delivered() {
        let (p, cpus) = plic(1);
        for src in 1..=8 {
            priority(&p, src, 1);
            enable(&p, 1, src);
        }
        let threads: Vec<_> = (1..=8)
            .map(|src| {
                let line = p.irq_line(src);
                std::thread::spawn(move || line.set_level(true))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cpus[0].lines(), MIP_SEIP);
        let mut got: Vec<u64> = (0..8).map(|_| claim(&p, 1)).collect();
        got.sort_unstable();
        assert_eq!(got, (1..=8).collect::<Vec<_>>());
        assert_eq!(cpus[0].lines(), 0);
    }
}
