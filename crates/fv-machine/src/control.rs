//! VM-wide run control: why the VM stops, and the flag every CPU polls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::irq::CpuIrq;

/// Why a VM stopped running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// The guest powered off (SBI SRST shutdown, syscon power-off).
    PowerOff,
    /// The guest asked for a reboot.
    Reboot,
    /// The test finisher reported PASS.
    TestPass,
    /// The test finisher reported FAIL with this code.
    TestFail(u32),
    /// The engine met state it cannot continue from.
    Fault {
        /// The CPU index.
        cpu: usize,
        /// Program counter at the fault.
        pc: u64,
        /// What went wrong.
        cause: String,
    },
    /// The host asked the VM to stop (e.g. the console escape).
    HostStop,
}

/// Shared between the CPUs and the devices of one VM.
#[derive(Debug)]
pub struct VmControl {
    stop: AtomicBool,
    reason: Mutex<Option<ExitReason>>,
    cpus: Vec<Arc<CpuIrq>>,
}

impl VmControl {
    /// Control for a VM whose CPUs have these interrupt inputs.
    pub fn new(cpus: Vec<Arc<CpuIrq>>) -> Self {
        Self {
            stop: AtomicBool::new(false),
            reason: Mutex::new(None),
            cpus,
        }
    }

    /// The interrupt inputs of every CPU, by index.
    pub fn cpus(&self) -> &[Arc<CpuIrq>] {
        &self.cpus
    }

    /// Asks every CPU to stop. The first reason given wins.
    pub fn request_exit(&self, reason: ExitReason) {
        {
            let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.stop.store(true, Ordering::SeqCst);
        for c in &self.cpus {
            c.kick();
        }
    }

    /// True once an exit was requested.
    #[inline]
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The reason of the first exit request, if any.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_cpus_are_kicked() {
        let cpu = Arc::new(CpuIrq::new());
        let vm = VmControl::new(vec![Arc::clone(&cpu)]);
        assert!(!vm.should_stop());
        vm.request_exit(ExitReason::TestFail(7));
        vm.request_exit(ExitReason::PowerOff);
        assert!(vm.should_stop());
        assert_eq!(vm.exit_reason(), Some(ExitReason::TestFail(7)));
        assert!(cpu.take_attention());
    }
}
