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
}

/// Most harts a VM may have.
pub const MAX_CPUS: usize = 8;
/// Least RAM a VM may have.
pub const MIN_MEM: u64 = 16 << 20;
/// Most disks a VM may have: the virtio-mmio slots minus the rng's.
pub const MAX_DISKS: usize = fv_devices::layout::VIRTIO_MMIO_COUNT - 1;
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
        }
    }

    /// The kernel command line to pass.
    pub fn cmdline(&self) -> String {
        let console = if self.virtio_console { "hvc0" } else { "ttyS0" };
        self.append
            .clone()
            .unwrap_or_else(|| format!("console={console}"))
    }
}
