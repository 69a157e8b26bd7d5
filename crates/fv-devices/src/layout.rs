//! The memory map and interrupt numbers of the `virt` board (QEMU 7.2's
//! `-M virt`), one table for building the board and its device tree.

/// One device window on the MMIO bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioRegion {
    /// Device tree node name (without the unit address).
    pub name: &'static str,
    /// Guest-physical base.
    pub base: u64,
    /// Window size in bytes.
    pub size: u64,
    /// PLIC source number, if the device interrupts through the PLIC.
    pub irq: Option<u32>,
    /// Device tree `compatible` strings, most specific first.
    pub compatible: &'static [&'static str],
}

/// Guest RAM starts here.
pub const RAM_BASE: u64 = 0x8000_0000;
/// `timebase-frequency`: ticks per second of `mtime` and the `time` CSR.
pub const TIMEBASE_FREQ: u64 = 10_000_000;
/// The UART's input clock (`clock-frequency` of the serial node).
pub const UART_CLOCK_FREQ: u32 = 3_686_400;

/// PLIC source of the UART.
pub const UART0_IRQ: u32 = 10;
/// PLIC source of the RTC.
pub const RTC_IRQ: u32 = 11;
/// Number of PLIC interrupt sources (`riscv,ndev`); sources are 1..=this.
pub const PLIC_NDEV: u32 = 95;

/// SiFive test finisher command: pass (also `syscon-poweroff`'s value).
pub const SYSCON_PASS: u32 = 0x5555;
/// SiFive test finisher command: fail, exit code in bits 31:16.
pub const SYSCON_FAIL: u32 = 0x3333;
/// SiFive test finisher command: reset (`syscon-reboot`'s value).
pub const SYSCON_RESET: u32 = 0x7777;

/// NS16550A UART.
pub const UART0: MmioRegion = MmioRegion {
    name: "serial",
    base: 0x1000_0000,
    size: 0x100,
    irq: Some(UART0_IRQ),
    compatible: &["ns16550a"],
};

/// Goldfish RTC.
pub const RTC: MmioRegion = MmioRegion {
    name: "rtc",
    base: 0x10_1000,
    size: 0x1000,
    irq: Some(RTC_IRQ),
    compatible: &["google,goldfish-rtc"],
};

/// SiFive test finisher / syscon (power-off and reboot).
pub const TEST: MmioRegion = MmioRegion {
    name: "test",
    base: 0x10_0000,
    size: 0x1000,
    irq: None,
    compatible: &["sifive,test1", "sifive,test0", "syscon"],
};

/// CLINT: MSWI + MTIMER.
pub const CLINT: MmioRegion = MmioRegion {
    name: "clint",
    base: 0x200_0000,
    size: 0x1_0000,
    irq: None,
    compatible: &["sifive,clint0", "riscv,clint0"],
};

/// PLIC.
pub const PLIC: MmioRegion = MmioRegion {
    name: "plic",
    base: 0xC00_0000,
    size: 0x60_0000,
    irq: None,
    compatible: &["sifive,plic-1.0.0", "riscv,plic0"],
};

/// Number of virtio-mmio slots.
pub const VIRTIO_MMIO_COUNT: usize = 8;

/// Virtio-mmio slot `i` (0-based): base `0x1000_1000 + 0x1000 * i`, PLIC
/// source `i + 1`.
pub const fn virtio_mmio(i: usize) -> MmioRegion {
    MmioRegion {
        name: "virtio_mmio",
        base: 0x1000_1000 + 0x1000 * i as u64,
        size: 0x1000,
        irq: Some(1 + i as u32),
        compatible: &["virtio,mmio"],
    }
}

/// All virtio-mmio slots, slot 0 first.
pub const VIRTIO_MMIO: [MmioRegion; VIRTIO_MMIO_COUNT] = {
    let mut slots = [virtio_mmio(0); VIRTIO_MMIO_COUNT];
    let mut i = 1;
    while i < VIRTIO_MMIO_COUNT {
        slots[i] = virtio_mmio(i);
        i += 1;
    }
    slots
};

/// The fixed platform devices (without virtio-mmio slots).
pub const PLATFORM: [MmioRegion; 5] = [TEST, RTC, CLINT, PLIC, UART0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_overlap_and_irqs_are_distinct() {
        let all: Vec<MmioRegion> = PLATFORM.iter().chain(VIRTIO_MMIO.iter()).copied().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    a.base + a.size <= b.base || b.base + b.size <= a.base,
                    "{a:?} overlaps {b:?}"
                );
                if a.irq.is_some() {
                    assert_ne!(a.irq, b.irq, "{} and {} share an irq", a.name, b.name);
                }
            }
            if let Some(irq) = a.irq {
                assert!((1..=PLIC_NDEV).contains(&irq));
            }
        }
        assert_eq!(VIRTIO_MMIO[7].base, 0x1000_8000);
        assert_eq!(VIRTIO_MMIO[7].irq, Some(8));
        assert_eq!(VIRTIO_MMIO[0].irq, Some(1));
    }
}
