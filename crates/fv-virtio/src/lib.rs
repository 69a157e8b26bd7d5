//! Paravirtual I/O: the virtio 1.x MMIO transport and the device models that
//! sit behind it (virtio-blk on a raw or qcow2 image, virtio-net on a TAP
//! interface, virtio-console, virtio-rng).
//!
//! The split follows rust-vmm: a device model implements [`VirtioDevice`]
//! (features, config space, and a [`QueueHandler`] that serves one
//! descriptor chain at a time) and knows nothing of registers; the
//! [`MmioTransport`] decodes the registers, negotiates features, validates
//! the rings the driver sets up and runs each active device's queues on a
//! worker thread of its own, so disk I/O never runs on a hart thread.
//!
//! The guest controls every ring byte. A malformed ring or chain puts the
//! device in DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2); nothing here panics on
//! guest data or touches memory outside guest RAM.
//!
//! It does not own the board (slots, interrupts, device tree: `fv-vmm`).
//! Image formats sit behind [`backend::BlockBackend`]: raw files directly,
//! qcow2 (with backing chains) through the `imago` crate.

pub mod backend;
pub mod block;
pub mod chain;
pub mod console;
pub mod device;
pub mod interrupt;
pub mod lock;
pub mod mmio;
pub mod net;
pub mod rng;
pub mod tap;
mod worker;

pub use backend::{BackendError, BlockBackend, ImageFormat};
pub use block::{Block, BlockConfig, BlockError};
pub use chain::{Chain, ChainError, Segment};
pub use console::Console;
pub use device::{DeviceError, QueueHandler, VirtioDevice};
pub use interrupt::Interrupt;
pub use mmio::MmioTransport;
pub use net::{MacAddr, Net, NetBackend, NetConfig, NetError};
pub use rng::Rng;
pub use worker::Queues;

/// Guest memory as every device sees it (vm-memory, dirty-tracked).
pub use fv_machine::memory::GuestMemory;

/// Device IDs (virtio 1.2, 5).
pub mod device_type {
    /// Network card.
    pub const NET: u32 = 1;
    /// Block device.
    pub const BLOCK: u32 = 2;
    /// Console.
    pub const CONSOLE: u32 = 3;
    /// Entropy source.
    pub const RNG: u32 = 4;
}

/// Feature bits the transport and the queues implement (virtio 1.2, 6).
pub mod features {
    /// Indirect descriptors (`VIRTIO_RING_F_INDIRECT_DESC`).
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    /// `used_event` / `avail_event` suppression (`VIRTIO_RING_F_EVENT_IDX`).
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// Virtio 1.x semantics (`VIRTIO_F_VERSION_1`); required by the MMIO
    /// version 2 transport.
    pub const VERSION_1: u64 = 1 << 32;
}

/// Device status bits (virtio 1.2, 2.1).
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and the device is live.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 0x80;
}

#[cfg(test)]
mod console_tests;
#[cfg(test)]
mod net_tests;
#[cfg(test)]
mod qcow2_tests;
#[cfg(test)]
mod tests;
