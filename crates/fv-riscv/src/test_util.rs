//! A small machine for unit tests: RAM at 0x8000_0000, no devices.

use std::sync::Arc;

use fv_machine::{CpuIrq, GuestClock, GuestRam, MmioBus, VmControl};

use crate::hart::{hsm, BootMode, Hart, HartShared, IsaConfig, Platform};

pub const RAM_BASE: u64 = 0x8000_0000;

pub struct TestMachine {
    pub plat: Arc<Platform>,
}

impl TestMachine {
    pub fn new(harts: usize) -> Self {
        Self::with_mode(harts, BootMode::BareMetal)
    }

    pub fn with_mode(harts: usize, mode: BootMode) -> Self {
        let ram = Arc::new(GuestRam::new(RAM_BASE, 16 << 20).unwrap());
        let irqs: Vec<Arc<CpuIrq>> = (0..harts).map(|_| Arc::new(CpuIrq::new())).collect();
        let control = Arc::new(VmControl::new(irqs.clone()));
        let shared = irqs
            .into_iter()
            .map(|i| Arc::new(HartShared::new(i, hsm::STARTED)))
            .collect();
        let plat = Arc::new(Platform {
            ram,
            bus: Arc::new(MmioBus::new()),
            clock: GuestClock::new(10_000_000),
            control,
            harts: shared,
            mode,
            isa: IsaConfig {
                max_satp_mode: crate::mmu::SATP_SV57,
                ..IsaConfig::default()
            },
            console: None,
        });
        Self { plat }
    }

    pub fn hart(&self, id: usize) -> Hart {
        Hart::new(id, Arc::clone(&self.plat), RAM_BASE)
    }

    pub fn write64(&self, pa: u64, v: u64) {
        self.plat.ram.write_slice(pa, &v.to_le_bytes()).unwrap();
    }

    pub fn read64(&self, pa: u64) -> u64 {
        let mut b = [0u8; 8];
        self.plat.ram.read_slice(pa, &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    /// Writes 32-bit instruction words at `pa`.
    pub fn code(&self, pa: u64, words: &[u32]) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.plat.ram.write_slice(pa, &bytes).unwrap();
    }
}

impl TestMachine {
    /// Writes 16-bit (compressed) instruction parcels at `pa`.
    pub fn code16(&self, pa: u64, halves: &[u16]) {
        let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
        self.plat.ram.write_slice(pa, &bytes).unwrap();
    }

    /// A hart at `RAM_BASE` in M-mode with the given registers preset.
    pub fn hart_with(&self, regs: &[(usize, u64)]) -> Hart {
        let mut h = self.hart(0);
        for &(r, v) in regs {
            h.x[r] = v;
        }
        h
    }
}
