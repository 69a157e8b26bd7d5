//! SiFive test finisher / syscon: the guest's power-off, reboot and
//! test-result register.
//!
//! A write to offset 0 carries a command in bits 15:0 and, for FAIL, an
//! exit code in bits 31:16. Linux's `syscon-poweroff` writes PASS (0x5555)
//! and `syscon-reboot` writes RESET (0x7777).

use std::sync::Arc;

use fv_machine::{ExitReason, MmioDevice, VmControl};

use crate::layout::{SYSCON_FAIL, SYSCON_PASS, SYSCON_RESET};
use crate::mmio;

/// The test finisher. See the module documentation.
pub struct Syscon {
    vm: Arc<VmControl>,
}

impl std::fmt::Debug for Syscon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syscon").finish_non_exhaustive()
    }
}

impl Syscon {
    /// A finisher that stops `vm`.
    pub fn new(vm: Arc<VmControl>) -> Self {
        Self { vm }
    }
}

impl MmioDevice for Syscon {
    fn read(&self, offset: u64, data: &mut [u8]) {
        tracing::debug!(offset, len = data.len(), "syscon read");
        mmio::fill(data, 0);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        // QEMU's sifive_test takes 16- and 32-bit writes.
        let v = match mmio::value_of(data) {
            Some(v) if offset == 0 && matches!(data.len(), 2 | 4) => v as u32,
            _ => {
                tracing::debug!(offset, len = data.len(), "syscon: unexpected write ignored");
                return;
            }
        };
        let reason = match v & 0xffff {
            SYSCON_PASS => ExitReason::TestPass,
            SYSCON_FAIL => ExitReason::TestFail(v >> 16),
            SYSCON_RESET => ExitReason::Reboot,
            _ => {
                tracing::debug!(value = v, "syscon: unknown command ignored");
                return;
            }
        };
        tracing::debug!(?reason, "syscon: guest requests exit");
        self.vm.request_exit(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{rd, wr};
    use fv_machine::CpuIrq;

    fn syscon() -> (Syscon, Arc<VmControl>) {
        let vm = Arc::new(VmControl::new(vec![Arc::new(CpuIrq::new())]));
        (Syscon::new(vm.clone()), vm)
    }

    #[test]
    fn each_command_gives_its_exit_reason() {
        for (value, reason) in [
            (0x5555, ExitReason::TestPass),
            (0x7777, ExitReason::Reboot),
            (0x0042_3333, ExitReason::TestFail(0x42)),
            (0xffff_3333, ExitReason::TestFail(0xffff)),
            (0x3333, ExitReason::TestFail(0)),
        ] {
            let (s, vm) = syscon();
            wr(&s, 0, 4, value);
            assert!(vm.should_stop());
            assert_eq!(vm.exit_reason(), Some(reason), "value {value:#x}");
        }
        let (s, vm) = syscon();
        wr(&s, 0, 2, 0x5555);
        assert_eq!(vm.exit_reason(), Some(ExitReason::TestPass));
    }

    #[test]
    fn other_writes_and_reads_do_nothing() {
        let (s, vm) = syscon();
        wr(&s, 0, 4, 0x1234);
        wr(&s, 4, 4, 0x5555);
        wr(&s, 0, 1, 0x55);
        wr(&s, 0, 8, 0x5555);
        s.write(0, &[0x55, 0x55, 0]);
        assert!(!vm.should_stop());
        assert_eq!(vm.exit_reason(), None);
        assert_eq!(rd(&s, 0, 4), 0);
        assert_eq!(rd(&s, 0x10, 8), 0);
    }
}
