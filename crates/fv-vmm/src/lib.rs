//! The VMM: turns a [`VmConfig`] into a running `virt` board (guest RAM,
//! devices, device tree, kernel and initrd, one thread per hart) and reports
//! why it stopped. It owns the host side of the console.
//!
//! It does not know instruction semantics (`fv-riscv`) or device registers
//! (`fv-devices`); the CLI and the API are thin layers over [`run_vm`].

mod config;
mod console;
pub mod fdt;
pub mod loader;
mod vm;

pub use config::{
    BiosMode, ConsoleBuffer, ConsoleConfig, DiskConfig, DiskFormat, MacAddr, NicConfig,
    RebootAction, VmConfig, DEFAULT_NAME, MAX_CPUS, MAX_DISKS, MAX_MEM, MIN_MEM,
};
pub use fv_machine::ExitReason;
pub use vm::{run_vm, validate};

/// Why a VM could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// The configuration is invalid; the message names the argument.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Load(#[from] loader::LoadError),
    #[error(transparent)]
    Memory(#[from] fv_machine::MemoryError),
    #[error(transparent)]
    Bus(#[from] fv_machine::BusError),
    #[error(transparent)]
    Fdt(#[from] fdt::FdtError),
    #[error("console: {0}")]
    Console(std::io::Error),
    #[error(transparent)]
    Disk(#[from] fv_virtio::BlockError),
    /// A network card's backend could not be set up; `arg` is how the
    /// card was given (`tap=NAME`).
    #[error("--net {arg}: {source}")]
    Net {
        arg: String,
        source: fv_virtio::NetError,
    },
    #[error("virtio-rng: cannot open the host's random source: {0}")]
    Rng(std::io::Error),
    #[error("cannot start a hart thread: {0}")]
    Thread(std::io::Error),
}

impl VmmError {
    /// True when the error is the user's input (bad argument or file), as
    /// opposed to a host failure.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            VmmError::Config(_) | VmmError::Load(_) | VmmError::Disk(_) | VmmError::Net { .. }
        )
    }
}
