//! What a VM is made of: the same struct the CLI and (later) the REST API
//! fill in.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Who runs before the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BiosMode {
    /// No firmware in the guest: the hypervisor answers SBI calls and the
    /// kernel (a riscv64 Linux `Image` or ELF) starts in S-mode.
    Sbi,
    /// `-bios none`: the kernel file (ELF or raw binary) starts in M-mode on
    /// every hart, as QEMU does.
    None,
}

/// What to do when the guest asks for a reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RebootAction {
    /// Stop and report [`fv_machine::ExitReason::Reboot`].
    Exit,
    /// Reset the machine and boot again.
    Restart,
}

/// An in-memory console sink, for tests and embedding.
#[derive(Debug, Clone, Default)]
pub struct ConsoleBuffer(Arc<Mutex<Vec<u8>>>);

impl ConsoleBuffer {
    /// Everything the guest wrote so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(crate) fn append(&self, data: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
    }
}

impl std::io::Write for ConsoleBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the guest console goes.
#[derive(Debug, Clone)]
pub enum ConsoleConfig {
    /// The terminal: raw mode on a TTY (Ctrl-A x quits), a byte stream
    /// otherwise.
    Stdio,
    /// Discarded output, no input.
    None,
    /// Output appended to a file, no input.
    File(PathBuf),
    /// Output kept in memory, optional scripted input.
    Buffer(ConsoleBuffer),
}

/// How a disk image is stored (the block layer's own type).
pub use fv_virtio::ImageFormat as DiskFormat;

/// A virtio-blk disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskConfig {
    /// The image file.
    pub path: PathBuf,
    /// The guest may not write (`VIRTIO_BLK_F_RO`; writes fail with IOERR).
    pub read_only: bool,
    /// The image's format; None detects it from the file when the VM
    /// starts (qcow2 by its magic, raw otherwise).
    pub format: Option<DiskFormat>,
}

/// A virtio-net card on a host TAP interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicConfig {
    /// The TAP interface: attached to if it exists, else created (which
    /// needs CAP_NET_ADMIN) for the VM's lifetime.
    pub tap: String,
    /// The guest's MAC address; None derives one from the VM name
    /// ([`VmConfig::nic_mac`]).
    pub mac: Option<MacAddr>,
}

/// A MAC address (the virtio layer's type).
pub use fv_virtio::MacAddr;

/// A VM definition.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Kernel command line; None means `console=ttyS0` (`console=hvc0`
    /// with the virtio console).
    pub append: Option<String>,
    pub mem_bytes: u64,
    pub cpus: usize,
    pub bios: BiosMode,
    pub console: ConsoleConfig,
    pub on_reboot: RebootAction,
    /// Disks in order: the guest sees `/dev/vda`, `/dev/vdb`, ...
    pub disks: Vec<DiskConfig>,
    /// The guest console is virtio-console (`hvc0`) and `console` says
    /// where it goes; the UART stays on the board, its output only logged.
    pub virtio_console: bool,
    /// The VM's name (logs, default MAC addresses).
    pub name: String,
    /// Network cards in order: the guest sees `eth0`, `eth1`, ...
    pub nics: Vec<NicConfig>,
}

/// Most harts a VM may have.
pub const MAX_CPUS: usize = 8;
/// Least RAM a VM may have.
pub const MIN_MEM: u64 = 16 << 20;
/// Most disks a VM may have: the virtio-mmio slots minus the rng's.
pub const MAX_DISKS: usize = fv_devices::layout::VIRTIO_MMIO_COUNT - 1;
/// The name of a VM that was given none.
pub const DEFAULT_NAME: &str = "fv";
/// Most RAM a VM may have (the `virt` RAM window below the PCIe high MMIO).
pub const MAX_MEM: u64 = 512 << 30;

impl VmConfig {
    /// Defaults: 512 MiB, 1 hart, SBI boot, console on stdio, exit on reboot.
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        Self {
            kernel: kernel.into(),
            initrd: None,
            append: None,
            mem_bytes: 512 << 20,
            cpus: 1,
            bios: BiosMode::Sbi,
            console: ConsoleConfig::Stdio,
            on_reboot: RebootAction::Exit,
            disks: Vec::new(),
            virtio_console: false,
            name: DEFAULT_NAME.to_string(),
            nics: Vec::new(),
        }
    }

    /// The MAC address of NIC `index`: the one configured, else
    /// `52:54:00` + three bytes of a hash of "NAME/INDEX", so a VM keeps
    /// its addresses from run to run and VMs with different names differ.
    pub fn nic_mac(&self, index: usize) -> MacAddr {
        self.nics
            .get(index)
            .and_then(|n| n.mac)
            .unwrap_or_else(|| MacAddr::from_seed(format!("{}/{index}", self.name).as_bytes()))
    }

    /// The kernel command line to pass.
    pub fn cmdline(&self) -> String {
        let console = if self.virtio_console { "hvc0" } else { "ttyS0" };
        self.append
            .clone()
            .unwrap_or_else(|| format!("console={console}"))
    }
}

#[cfg(test)]
mod nic_tests {
    use super::*;

    fn nic(tap: &str, mac: Option<MacAddr>) -> NicConfig {
        NicConfig {
            tap: tap.into(),
            mac,
        }
    }

    #[test]
    fn default_macs_follow_the_vm_name() {
        let mut a = VmConfig::new("k");
        a.name = "web1".into();
        a.nics = vec![nic("tap0", None), nic("tap1", None)];
        let mut b = a.clone();
        assert_eq!(a.nic_mac(0), b.nic_mac(0), "same name, same MAC");
        assert_ne!(a.nic_mac(0), a.nic_mac(1), "cards differ");
        assert_eq!(a.nic_mac(0).0[..3], [0x52, 0x54, 0x00]);
        b.name = "web2".into();
        assert_ne!(a.nic_mac(0), b.nic_mac(0), "names differ");
        let given = MacAddr([0x52, 0x54, 0, 1, 2, 3]);
        a.nics[1].mac = Some(given);
        assert_eq!(a.nic_mac(1), given);
    }

    #[test]
    fn validation_counts_every_virtio_slot_and_checks_interface_names() {
        let mut cfg = VmConfig::new("k");
        let disk = DiskConfig {
            path: "d".into(),
            read_only: false,
            format: None,
        };
        cfg.disks = vec![disk; 6];
        cfg.nics = vec![nic("tap0", None)];
        assert!(crate::validate(&cfg).is_ok(), "6 disks + 1 NIC + rng = 8");
        cfg.nics.push(nic("tap1", None));
        let e = crate::validate(&cfg).unwrap_err().to_string();
        assert!(e.contains("9 virtio-mmio slots"), "{e}");
        cfg.disks.clear();
        cfg.nics = vec![nic("a-name-too-long-0", None)];
        let e = crate::validate(&cfg).unwrap_err().to_string();
        assert!(e.contains("--net tap=a-name-too-long-0"), "{e}");
        cfg.nics = vec![nic("tap0", None), nic("tap0", None)];
        let e = crate::validate(&cfg).unwrap_err().to_string();
        assert!(e.contains("--net tap=tap0") && e.contains("twice"), "{e}");
        cfg.nics.clear();
        cfg.name.clear();
        let e = crate::validate(&cfg).unwrap_err().to_string();
        assert!(e.contains("--name"), "{e}");
    }
}
