//! NS16550A UART, behaving as QEMU's `hw/char/serial.c` does on the `virt`
//! board (one-byte registers, `reg-shift` 0, no interrupt gating by OUT2).
//!
//! Transmission is instantaneous: THR writes go straight to the output sink
//! (flushed at each newline and shortly after the guest's output pauses), so
//! THRE and TEMT are always set and a THRE interrupt is pending again after
//! each THR write. Host input waits in a bounded backlog and moves into the
//! 16-byte receive FIFO as the guest drains it, which is the flow control a
//! real terminal line lacks but QEMU's character backends have.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use fv_machine::{IrqLine, MmioDevice};

use crate::layout::UART_CLOCK_FREQ;
use crate::mmio;
use crate::timer::DeadlineTimer;

/// Host input bytes held while the receive FIFO is full; input beyond this
/// is refused (the caller keeps it and retries, or drops it).
pub const INPUT_BACKLOG: usize = 64 * 1024;
/// Depth of the 16550A receive FIFO.
const RX_FIFO_LEN: usize = 16;
/// Output without a newline is flushed this long after its first byte.
const FLUSH_DELAY: Duration = Duration::from_millis(5);
/// Upper bound of the character timeout, whatever baud rate the guest set:
/// the host line has no real speed, and a console must stay responsive.
const MAX_RX_TIMEOUT: Duration = Duration::from_millis(10);
/// Divisor 1 gives this many bits per second.
const BAUD_BASE: u64 = UART_CLOCK_FREQ as u64 / 16;

// Register offsets (DLAB-dependent ones named for both meanings).
const RBR_THR_DLL: u8 = 0;
const IER_DLM: u8 = 1;
const IIR_FCR: u8 = 2;
const LCR: u8 = 3;
const MCR: u8 = 4;
const LSR: u8 = 5;
const MSR: u8 = 6;
const SCR: u8 = 7;

const IER_RDI: u8 = 0x01;
const IER_THRI: u8 = 0x02;
const IER_RLSI: u8 = 0x04;

const IIR_NO_INT: u8 = 0x01;
const IIR_THRI: u8 = 0x02;
const IIR_RDI: u8 = 0x04;
const IIR_RLSI: u8 = 0x06;
const IIR_CTI: u8 = 0x0C;
const IIR_FIFO_ENABLED: u8 = 0xC0;

const FCR_FE: u8 = 0x01;
const FCR_RFR: u8 = 0x02;
const FCR_XFR: u8 = 0x04;
/// The FCR bits that stick (FIFO enable, DMA mode, trigger level).
const FCR_STICKY: u8 = 0xC9;

const LCR_DLAB: u8 = 0x80;
const MCR_LOOP: u8 = 0x10;

const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_BI: u8 = 0x10;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;
/// Line status bits that raise the receiver line status interrupt.
const LSR_INT_ANY: u8 = 0x1E;

/// DCD, DSR and CTS asserted: a terminal is attached and ready.
const MSR_IDLE: u8 = 0xB0;

/// A 16550A UART. See the module documentation.
pub struct Uart {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<UartState>,
    irq: Arc<dyn IrqLine>,
    timer: DeadlineTimer,
}

struct UartState {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    fcr: u8,
    divisor: u16,
    /// Latched error bits of LSR (OE, BI), cleared by reading LSR.
    lsr_err: u8,
    /// The receive FIFO (one byte deep, i.e. the RBR, with FIFOs off).
    rx: VecDeque<u8>,
    /// Host input not yet in the FIFO.
    backlog: VecDeque<u8>,
    thr_ipending: bool,
    timeout_ipending: bool,
    timeout_at: Option<Instant>,
    flush_at: Option<Instant>,
    irq_level: bool,
    sink: Box<dyn Write + Send>,
    sink_failed: bool,
    dropped: u64,
}

impl std::fmt::Debug for Uart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("Uart")
            .field("ier", &st.ier)
            .field("lcr", &st.lcr)
            .field("fcr", &st.fcr)
            .field("rx", &st.rx.len())
            .field("backlog", &st.backlog.len())
            .finish_non_exhaustive()
    }
}

impl Uart {
    /// A UART in its reset state that interrupts on `irq` and transmits to
    /// `output`.
    pub fn new(irq: Arc<dyn IrqLine>, output: Box<dyn Write + Send>) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            Inner {
                state: Mutex::new(UartState::new(output)),
                irq,
                timer: DeadlineTimer::new(
                    "fv-uart-timer",
                    Arc::new(move || match weak.upgrade() {
                        Some(inner) => {
                            inner.on_timer();
                            true
                        }
                        None => false,
                    }),
                ),
            }
        });
        Self { inner }
    }

    /// Delivers host input (a console thread calls this). Bytes wait in a
    /// backlog of [`INPUT_BACKLOG`] bytes until the guest drains the FIFO;
    /// what does not fit is refused, and the caller decides whether to retry
    /// (the VMM's console does, as flow control) or drop it. Returns how
    /// many bytes were accepted.
    pub fn push_input(&self, bytes: &[u8]) -> usize {
        let mut st = self.inner.lock();
        let room = INPUT_BACKLOG.saturating_sub(st.backlog.len());
        let accepted = bytes.len().min(room);
        st.backlog.extend(&bytes[..accepted]);
        if accepted < bytes.len() {
            let lost = (bytes.len() - accepted) as u64;
            st.dropped += lost;
            tracing::debug!(
                refused = lost,
                total_refused = st.dropped,
                "UART input backlog full ({INPUT_BACKLOG} bytes): input refused"
            );
        }
        let now = Instant::now();
        st.refill(now);
        self.inner.settle(&mut st);
        accepted
    }

    /// Host input bytes refused so far because the backlog was full.
    pub fn dropped_input(&self) -> u64 {
        self.inner.lock().dropped
    }

    /// Flushes the output sink now (e.g. before the VM exits).
    /// True while the guest has the received-data interrupt enabled, i.e. a
    /// driver has the port open and is listening. Host consoles hold input
    /// until then, so bytes typed or piped early are not lost to the
    /// driver's probe and FIFO resets.
    pub fn receiver_listening(&self) -> bool {
        self.inner.lock().ier & IER_RDI != 0
    }

    pub fn flush_output(&self) {
        let mut st = self.inner.lock();
        st.flush_at = None;
        st.flush_sink();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, UartState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drives the interrupt line and arms the timer for the next deadline.
    fn settle(&self, st: &mut UartState) {
        let level = st.interrupt_id() != IIR_NO_INT;
        if level != st.irq_level {
            st.irq_level = level;
            self.irq.set_level(level);
        }
        if let Some(at) = [st.timeout_at, st.flush_at].into_iter().flatten().min() {
            self.timer.arm(at);
        }
    }

    fn on_timer(&self) {
        let mut st = self.lock();
        let now = Instant::now();
        if st.timeout_at.is_some_and(|t| t <= now) {
            st.timeout_at = None;
            if !st.rx.is_empty() {
                st.timeout_ipending = true;
            }
        }
        if st.flush_at.is_some_and(|t| t <= now) {
            st.flush_at = None;
            st.flush_sink();
        }
        self.settle(&mut st);
    }

    fn read_reg(&self, reg: u8) -> u8 {
        let mut st = self.lock();
        let dlab = st.lcr & LCR_DLAB != 0;
        let v = match reg {
            RBR_THR_DLL if dlab => st.divisor as u8,
            RBR_THR_DLL => {
                let now = Instant::now();
                let v = st.rx.pop_front().unwrap_or(0);
                st.timeout_ipending = false;
                st.timeout_at = None;
                st.refill(now);
                if !st.rx.is_empty() && st.fifo_enabled() {
                    st.timeout_at = Some(now + st.rx_timeout());
                }
                v
            }
            IER_DLM if dlab => (st.divisor >> 8) as u8,
            IER_DLM => st.ier,
            IIR_FCR => {
                let id = st.interrupt_id();
                // Reading IIR while it reports THRE clears that interrupt
                // (16550 datasheet; Linux's 8250 driver relies on it).
                if id == IIR_THRI {
                    st.thr_ipending = false;
                }
                id | if st.fifo_enabled() {
                    IIR_FIFO_ENABLED
                } else {
                    0
                }
            }
            LCR => st.lcr,
            MCR => st.mcr,
            LSR => {
                let v = st.lsr();
                st.lsr_err &= !(LSR_OE | LSR_BI);
                v
            }
            MSR => {
                if st.mcr & MCR_LOOP != 0 {
                    // Loopback wires OUT2->DCD, OUT1->RI, RTS->CTS, DTR->DSR.
                    ((st.mcr & 0x0c) << 4) | ((st.mcr & 0x02) << 3) | ((st.mcr & 0x01) << 5)
                } else {
                    MSR_IDLE
                }
            }
            SCR => st.scr,
            _ => 0,
        };
        self.settle(&mut st);
        v
    }

    fn write_reg(&self, reg: u8, v: u8) {
        let mut st = self.lock();
        let dlab = st.lcr & LCR_DLAB != 0;
        let now = Instant::now();
        match reg {
            RBR_THR_DLL if dlab => st.divisor = (st.divisor & 0xff00) | v as u16,
            RBR_THR_DLL => {
                st.transmit(v, now);
                // The byte left at once: THR is empty again.
                st.thr_ipending = true;
            }
            IER_DLM if dlab => st.divisor = (st.divisor & 0x00ff) | (v as u16) << 8,
            IER_DLM => {
                st.ier = v & 0x0f;
                // As QEMU: THR is always empty, so any IER write (re)arms
                // the THRE interrupt.
                st.thr_ipending = true;
            }
            IIR_FCR => st.write_fcr(v, now),
            LCR => st.lcr = v,
            MCR => {
                st.mcr = v & 0x1f;
                // Leaving loopback lets held host input in again.
                st.refill(now);
            }
            LSR | MSR => tracing::debug!(reg, v, "UART: write to read-only register ignored"),
            SCR => st.scr = v,
            _ => {}
        }
        self.settle(&mut st);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.state
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .flush_sink();
    }
}

impl UartState {
    fn new(sink: Box<dyn Write + Send>) -> Self {
        Self {
            ier: 0,
            lcr: 0,
            mcr: 0x08, // OUT2, as QEMU resets it
            scr: 0,
            fcr: 0,
            divisor: 0x0c,
            lsr_err: 0,
            rx: VecDeque::with_capacity(RX_FIFO_LEN),
            backlog: VecDeque::new(),
            thr_ipending: false,
            timeout_ipending: false,
            timeout_at: None,
            flush_at: None,
            irq_level: false,
            sink,
            sink_failed: false,
            dropped: 0,
        }
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_FE != 0
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            RX_FIFO_LEN
        } else {
            1
        }
    }

    fn trigger_level(&self) -> usize {
        match self.fcr >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx.is_empty() { 0 } else { LSR_DR };
        self.lsr_err | dr | LSR_THRE | LSR_TEMT
    }

    /// The IIR interrupt identification, highest priority first (16550
    /// datasheet table 4): line status, character timeout, received data,
    /// THR empty. Modem status never changes here.
    fn interrupt_id(&self) -> u8 {
        let data_ready = !self.rx.is_empty();
        if self.ier & IER_RLSI != 0 && self.lsr_err & LSR_INT_ANY != 0 {
            IIR_RLSI
        } else if self.ier & IER_RDI != 0 && self.timeout_ipending {
            IIR_CTI
        } else if self.ier & IER_RDI != 0
            && data_ready
            && (!self.fifo_enabled() || self.rx.len() >= self.trigger_level())
        {
            IIR_RDI
        } else if self.ier & IER_THRI != 0 && self.thr_ipending {
            IIR_THRI
        } else {
            IIR_NO_INT
        }
    }

    /// Time on the wire of one character at the guest's line settings.
    fn char_time(&self) -> Duration {
        let data = 5 + u64::from(self.lcr & 0x03);
        let parity = u64::from(self.lcr & 0x08 != 0);
        let stop = if self.lcr & 0x04 != 0 { 2 } else { 1 };
        let bits = 1 + data + parity + stop;
        let divisor = u64::from(self.divisor.max(1));
        Duration::from_nanos(bits * 1_000_000_000 * divisor / BAUD_BASE)
    }

    /// The 16550's character timeout: four character times without FIFO
    /// activity while data sits below the trigger level.
    fn rx_timeout(&self) -> Duration {
        (self.char_time() * 4).min(MAX_RX_TIMEOUT)
    }

    /// A byte arriving at the receiver (from the host or by loopback).
    fn receive(&mut self, byte: u8, now: Instant) {
        if self.rx.len() < self.rx_capacity() {
            self.rx.push_back(byte);
        } else if self.fifo_enabled() {
            // Overruns do not overwrite FIFO contents.
            self.lsr_err |= LSR_OE;
        } else {
            self.rx.clear();
            self.rx.push_back(byte);
            self.lsr_err |= LSR_OE;
        }
        if self.fifo_enabled() {
            self.timeout_at = Some(now + self.rx_timeout());
        }
    }

    /// Moves host input into the FIFO while it has room.
    fn refill(&mut self, now: Instant) {
        if self.loopback() {
            return;
        }
        let mut moved = false;
        while self.rx.len() < self.rx_capacity() {
            let Some(b) = self.backlog.pop_front() else {
                break;
            };
            self.rx.push_back(b);
            moved = true;
        }
        if moved && self.fifo_enabled() {
            self.timeout_at = Some(now + self.rx_timeout());
        }
    }

    fn transmit(&mut self, byte: u8, now: Instant) {
        if self.loopback() {
            self.receive(byte, now);
            return;
        }
        if self.sink_failed {
            return;
        }
        if let Err(e) = self.sink.write_all(&[byte]) {
            tracing::warn!("UART output failed, discarding further output: {e}");
            self.sink_failed = true;
            return;
        }
        if byte == b'\n' {
            self.flush_at = None;
            self.flush_sink();
        } else if self.flush_at.is_none() {
            self.flush_at = Some(now + FLUSH_DELAY);
        }
    }

    fn flush_sink(&mut self) {
        if self.sink_failed {
            return;
        }
        if let Err(e) = self.sink.flush() {
            tracing::warn!("UART output flush failed, discarding further output: {e}");
            self.sink_failed = true;
        }
    }

    fn write_fcr(&mut self, v: u8, now: Instant) {
        let mut v = v;
        if v == self.fcr {
            return;
        }
        // Switching the FIFOs on or off empties them.
        if (v ^ self.fcr) & FCR_FE != 0 {
            v |= FCR_RFR | FCR_XFR;
        }
        if v & FCR_RFR != 0 {
            self.rx.clear();
            self.timeout_ipending = false;
            self.timeout_at = None;
        }
        // The transmit FIFO is always empty: nothing to reset for XFR.
        self.fcr = v & FCR_STICKY;
        self.refill(now);
    }
}

impl MmioDevice for Uart {
    fn read(&self, offset: u64, data: &mut [u8]) {
        if offset >= 8 || mmio::value_of(data).is_none() {
            tracing::debug!(offset, len = data.len(), "UART: unexpected read");
            data.fill(0);
            return;
        }
        let v = self.inner.read_reg(offset as u8);
        mmio::fill(data, u64::from(v));
    }

    fn write(&self, offset: u64, data: &[u8]) {
        match mmio::value_of(data) {
            Some(v) if offset < 8 => self.inner.write_reg(offset as u8, v as u8),
            _ => tracing::debug!(offset, len = data.len(), "UART: unexpected write ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{rd, wr, LineRecorder, SharedSink};

    fn uart() -> (Uart, Arc<LineRecorder>, SharedSink) {
        let line = Arc::new(LineRecorder::default());
        let sink = SharedSink::default();
        let u = Uart::new(line.clone(), Box::new(sink.clone()));
        (u, line, sink)
    }

    fn reg(u: &Uart, r: u8) -> u8 {
        rd(u, u64::from(r), 1) as u8
    }

    fn set(u: &Uart, r: u8, v: u8) {
        wr(u, u64::from(r), 1, u64::from(v));
    }

    fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        cond()
    }

    #[test]
    fn thr_bytes_reach_the_sink_and_newline_flushes() {
        let (u, _, sink) = uart();
        for &b in b"hi\n" {
            set(&u, RBR_THR_DLL, b);
        }
        assert_eq!(&*sink.bytes.lock().unwrap(), b"hi\n");
        assert_eq!(&*sink.flushed.lock().unwrap(), b"hi\n");
    }

    #[test]
    fn output_without_newline_is_flushed_after_a_pause() {
        let (u, _, sink) = uart();
        set(&u, RBR_THR_DLL, b'#');
        set(&u, RBR_THR_DLL, b' ');
        assert!(wait_for(|| &*sink.flushed.lock().unwrap() == b"# "));
    }

    #[test]
    fn reset_state_and_line_status_bits() {
        let (u, line, _) = uart();
        assert_eq!(reg(&u, LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(reg(&u, IIR_FCR), IIR_NO_INT);
        assert_eq!(reg(&u, MSR), MSR_IDLE);
        u.push_input(b"a");
        assert_eq!(reg(&u, LSR), LSR_DR | LSR_THRE | LSR_TEMT);
        assert_eq!(reg(&u, RBR_THR_DLL), b'a');
        assert_eq!(reg(&u, LSR) & LSR_DR, 0);
        // Reading an empty RBR gives 0.
        assert_eq!(reg(&u, RBR_THR_DLL), 0);
        assert!(!line.level(), "no interrupt enabled, line stays low");
    }

    #[test]
    fn dlab_switches_rbr_ier_to_divisor_latch() {
        let (u, _, sink) = uart();
        set(&u, LCR, 0x83);
        set(&u, RBR_THR_DLL, 0x02);
        set(&u, IER_DLM, 0x01);
        assert_eq!(reg(&u, RBR_THR_DLL), 0x02);
        assert_eq!(reg(&u, IER_DLM), 0x01);
        assert!(
            sink.bytes.lock().unwrap().is_empty(),
            "DLL write is not output"
        );
        set(&u, LCR, 0x03);
        assert_eq!(reg(&u, LCR), 0x03);
        assert_eq!(reg(&u, IER_DLM), 0, "IER untouched by the DLM write");
        set(&u, IER_DLM, 0xff);
        assert_eq!(reg(&u, IER_DLM), 0x0f, "IER keeps only its four bits");
        set(&u, LCR, 0x83);
        assert_eq!(reg(&u, IER_DLM), 0x01, "divisor survives");
    }

    #[test]
    fn received_data_interrupt_follows_data_ready() {
        let (u, line, _) = uart();
        set(&u, IER_DLM, IER_RDI);
        assert!(!line.level());
        u.push_input(b"xy");
        assert!(line.level());
        assert_eq!(reg(&u, IIR_FCR), IIR_RDI);
        assert_eq!(reg(&u, RBR_THR_DLL), b'x');
        // Without FIFOs the RBR holds one byte; the next one moves in.
        assert!(line.level());
        assert_eq!(reg(&u, RBR_THR_DLL), b'y');
        assert!(!line.level());
        assert_eq!(reg(&u, IIR_FCR), IIR_NO_INT);
    }

    #[test]
    fn thre_interrupt_pends_after_enable_and_thr_write_until_iir_read() {
        let (u, line, _) = uart();
        set(&u, IER_DLM, IER_THRI);
        assert!(line.level(), "enabling ETBEI with THR empty interrupts");
        assert_eq!(reg(&u, IIR_FCR), IIR_THRI);
        assert!(!line.level(), "reading IIR cleared the THRE interrupt");
        assert_eq!(reg(&u, IIR_FCR), IIR_NO_INT);
        set(&u, RBR_THR_DLL, b'!');
        assert!(line.level(), "THR write: THR empties again at once");
        set(&u, IER_DLM, 0);
        assert!(!line.level());
        assert_eq!(line.rises(), 2);
    }

    #[test]
    fn iir_reports_highest_priority_first() {
        let (u, line, _) = uart();
        set(&u, LCR, 0x03);
        set(&u, MCR, MCR_LOOP);
        set(&u, IER_DLM, IER_RDI | IER_THRI | IER_RLSI);
        // Two loopback bytes without FIFOs: the second overruns.
        set(&u, RBR_THR_DLL, b'1');
        set(&u, RBR_THR_DLL, b'2');
        assert_eq!(reg(&u, IIR_FCR), IIR_RLSI);
        assert_eq!(reg(&u, LSR) & LSR_OE, LSR_OE);
        assert_eq!(reg(&u, LSR) & LSR_OE, 0, "reading LSR clears OE");
        assert_eq!(reg(&u, IIR_FCR), IIR_RDI);
        assert_eq!(reg(&u, RBR_THR_DLL), b'2', "overrun replaced the RBR");
        assert_eq!(reg(&u, IIR_FCR), IIR_THRI);
        assert_eq!(reg(&u, IIR_FCR), IIR_NO_INT);
        assert!(!line.level());
    }

    #[test]
    fn fifo_trigger_level_and_character_timeout() {
        let (u, line, _) = uart();
        set(&u, IIR_FCR, 0x80 | FCR_FE); // trigger at 8 bytes
        assert_eq!(reg(&u, IIR_FCR) & IIR_FIFO_ENABLED, IIR_FIFO_ENABLED);
        set(&u, IER_DLM, IER_RDI);
        u.push_input(b"abc");
        // Below the trigger level: no received-data interrupt (the timeout
        // may already have fired), but the character timeout follows
        // within a few character times.
        assert_ne!(reg(&u, IIR_FCR) & 0x0f, IIR_RDI);
        assert!(wait_for(|| line.level()));
        assert_eq!(reg(&u, IIR_FCR), IIR_FIFO_ENABLED | IIR_CTI);
        for &b in b"abc" {
            assert_eq!(reg(&u, RBR_THR_DLL), b);
        }
        assert!(!line.level());
        // At the trigger level the interrupt is immediate.
        u.push_input(b"0123456789");
        assert!(line.level());
        assert_eq!(reg(&u, IIR_FCR), IIR_FIFO_ENABLED | IIR_RDI);
        let mut got = Vec::new();
        while reg(&u, LSR) & LSR_DR != 0 {
            got.push(reg(&u, RBR_THR_DLL));
        }
        assert_eq!(got, b"0123456789");
        assert!(!line.level());
    }

    #[test]
    fn fifo_reset_empties_receiver() {
        let (u, _, _) = uart();
        set(&u, IIR_FCR, FCR_FE);
        u.push_input(b"abc");
        set(&u, IIR_FCR, FCR_FE | FCR_RFR);
        assert_eq!(reg(&u, LSR) & LSR_DR, 0);
    }

    #[test]
    fn loopback_echoes_to_receiver_and_holds_host_input() {
        let (u, _, sink) = uart();
        set(&u, MCR, MCR_LOOP | 0x0A); // loop, OUT2, RTS
        assert_eq!(reg(&u, MSR) & 0xf0, 0x90, "OUT2->DCD, RTS->CTS");
        u.push_input(b"h");
        assert_eq!(reg(&u, LSR) & LSR_DR, 0, "host input held in loopback");
        set(&u, RBR_THR_DLL, b'z');
        assert_eq!(reg(&u, RBR_THR_DLL), b'z');
        assert!(sink.bytes.lock().unwrap().is_empty());
        set(&u, MCR, 0x08);
        assert_eq!(reg(&u, RBR_THR_DLL), b'h');
    }

    #[test]
    fn flooding_input_is_bounded() {
        let (u, _, _) = uart();
        let big = vec![b'x'; INPUT_BACKLOG + 1000];
        let accepted = u.push_input(&big);
        assert_eq!(accepted, INPUT_BACKLOG);
        assert_eq!(u.dropped_input(), 1000);
        // One byte moved on into the RBR, freeing one backlog slot.
        assert_eq!(u.push_input(b"m"), 1);
        assert_eq!(u.push_input(b"more"), 0);
        assert_eq!(u.dropped_input(), 1004);
        // Draining makes room again.
        assert_eq!(reg(&u, RBR_THR_DLL), b'x');
        assert_eq!(u.push_input(b"more"), 1);
    }

    #[test]
    fn scratch_register_and_odd_accesses() {
        let (u, _, _) = uart();
        set(&u, SCR, 0x5a);
        assert_eq!(reg(&u, SCR), 0x5a);
        // Wider accesses use the low byte, as QEMU's serial_mm does.
        wr(&u, u64::from(SCR), 4, 0x1234_56a5);
        assert_eq!(rd(&u, u64::from(SCR), 4), 0xa5);
        // Outside the eight registers, or odd widths: ignored, reads 0.
        wr(&u, 0x10, 1, 0xff);
        assert_eq!(rd(&u, 0x10, 1), 0);
        u.write(u64::from(SCR), &[1, 2, 3]);
        let mut b = [0xffu8; 3];
        u.read(u64::from(SCR), &mut b);
        assert_eq!(b, [0, 0, 0]);
        assert_eq!(reg(&u, SCR), 0xa5);
    }
}
