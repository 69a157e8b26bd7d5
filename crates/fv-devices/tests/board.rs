//! The devices wired as the `virt` board wires them, driven through the
//! MMIO bus at the addresses of `layout`: UART input reaches the hart
//! through the PLIC, and the syscon stops the VM.

use std::io::Write;
use std::sync::{Arc, Mutex};

use fv_devices::layout;
use fv_devices::{Clint, GoldfishRtc, Plic, Syscon, Uart};
use fv_machine::{CpuIrq, ExitReason, GuestClock, MmioBus, VmControl};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read32(bus: &MmioBus, addr: u64) -> u32 {
    let mut b = [0u8; 4];
    assert!(bus.read(addr, &mut b), "nothing at {addr:#x}");
    u32::from_le_bytes(b)
}

fn write32(bus: &MmioBus, addr: u64, v: u32) {
    assert!(bus.write(addr, &v.to_le_bytes()), "nothing at {addr:#x}");
}

#[test]
fn uart_input_reaches_the_s_mode_context_and_syscon_powers_off() {
    let cpus: Vec<_> = (0..2).map(|_| Arc::new(CpuIrq::new())).collect();
    let vm = Arc::new(VmControl::new(cpus.clone()));
    let plic = Arc::new(Plic::new(cpus.clone()));
    let sink = Sink::default();
    let uart = Arc::new(Uart::new(
        plic.irq_line(layout::UART0_IRQ),
        Box::new(sink.clone()),
    ));
    let rtc = Arc::new(GoldfishRtc::new(plic.irq_line(layout::RTC_IRQ)));
    let clint = Arc::new(Clint::new(
        cpus.clone(),
        GuestClock::new(layout::TIMEBASE_FREQ),
    ));

    let mut bus = MmioBus::new();
    bus.insert(layout::UART0.base, layout::UART0.size, uart.clone())
        .unwrap();
    bus.insert(layout::RTC.base, layout::RTC.size, rtc).unwrap();
    bus.insert(layout::CLINT.base, layout::CLINT.size, clint)
        .unwrap();
    bus.insert(layout::PLIC.base, layout::PLIC.size, plic.clone())
        .unwrap();
    bus.insert(
        layout::TEST.base,
        layout::TEST.size,
        Arc::new(Syscon::new(vm.clone())),
    )
    .unwrap();

    let uart_base = layout::UART0.base;
    let plic_base = layout::PLIC.base;
    // Hart 1's S-mode context is 3.
    let ctx = 3u64;
    write32(&bus, plic_base + 4 * u64::from(layout::UART0_IRQ), 1);
    write32(
        &bus,
        plic_base + 0x2000 + 0x80 * ctx,
        1 << layout::UART0_IRQ,
    );
    write32(&bus, plic_base + 0x20_0000 + 0x1000 * ctx, 0);
    assert!(bus.write(uart_base + 1, &[0x01])); // IER: received data

    uart.push_input(b"k");
    assert_eq!(cpus[1].lines(), 1 << 9, "SEIP on hart 1");
    assert_eq!(cpus[0].lines(), 0);
    let claim = plic_base + 0x20_0004 + 0x1000 * ctx;
    assert_eq!(read32(&bus, claim), layout::UART0_IRQ);
    let mut b = [0u8; 1];
    assert!(bus.read(uart_base, &mut b));
    assert_eq!(b[0], b'k');
    write32(&bus, claim, layout::UART0_IRQ);
    assert_eq!(cpus[1].lines(), 0);

    for &c in b"bye\n" {
        assert!(bus.write(uart_base, &[c]));
    }
    assert_eq!(&*sink.0.lock().unwrap(), b"bye\n");

    // mtime ticks, and the RTC shows a plausible date (after 2020).
    let mut t = [0u8; 8];
    assert!(bus.read(layout::CLINT.base + 0xbff8, &mut t));
    let rtc_lo = read32(&bus, layout::RTC.base);
    let rtc_hi = read32(&bus, layout::RTC.base + 4);
    let secs = (u64::from(rtc_hi) << 32 | u64::from(rtc_lo)) / 1_000_000_000;
    assert!(secs > 1_577_836_800);

    write32(&bus, layout::TEST.base, layout::SYSCON_PASS);
    assert_eq!(vm.exit_reason(), Some(ExitReason::TestPass));
}
