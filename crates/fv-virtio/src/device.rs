//! The transport-agnostic device model: what every virtio device provides.

use std::os::fd::BorrowedFd;

use crate::chain::{Chain, ChainError};
use crate::worker::Queues;
use crate::GuestMemory;

/// A device failure that leaves it needing a reset (virtio 1.2, 2.1.2).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The driver offered a malformed descriptor chain.
    #[error("invalid descriptor chain: {0}")]
    Chain(#[from] ChainError),
    /// The driver's rings could not be read or written.
    #[error("virtqueue error: {0:?}")]
    Queue(virtio_queue::Error),
    /// A request was malformed in a way the device cannot report in-band.
    #[error("malformed request: {0}")]
    Request(&'static str),
    /// Guest memory named by a validated chain could not be accessed.
    #[error("guest memory: {0}")]
    Memory(#[from] vm_memory::GuestMemoryError),
}

impl From<virtio_queue::Error> for DeviceError {
    fn from(e: virtio_queue::Error) -> Self {
        DeviceError::Queue(e)
    }
}

/// A virtio device model. The transport owns it, reads its config space on
/// the hart threads and, when the driver sets DRIVER_OK, asks it for a
/// [`QueueHandler`] that runs on the device's worker thread.
pub trait VirtioDevice: Send {
    /// The virtio device ID ([`crate::device_type`]).
    fn device_type(&self) -> u32;
    /// A short name for logs and the worker thread (`blk0`, `rng`).
    fn name(&self) -> String;
    /// Maximum size of each queue (powers of two); the length is the number
    /// of queues.
    fn queue_max_sizes(&self) -> Vec<u16>;
    /// Device-specific feature bits; the transport adds the ring and version
    /// features it implements itself.
    fn features(&self) -> u64;
    /// Reads the device-specific config space; bytes past its end read 0.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes the device-specific config space (ignored by default).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// Starts the device with the negotiated features; the handler serves
    /// its queues until the driver resets the device.
    fn activate(&mut self, acked_features: u64) -> Result<Box<dyn QueueHandler>, DeviceError>;
}

/// Serves an active device's queues on its worker thread.
///
/// Request/response devices (block, rng) implement only [`handle`]: the
/// default [`queue_notify`] serves every available chain with it. Devices
/// with host-side input (net, console) also name a host file descriptor
/// ([`host_fd`]); the worker waits on it while [`wants_host_event`] says so
/// and calls [`host_event`] when it is readable or hung up. A device must
/// stop wanting events it cannot make progress on (no receive buffers, input
/// at end of file), or the worker would spin.
///
/// [`handle`]: QueueHandler::handle
/// [`queue_notify`]: QueueHandler::queue_notify
/// [`host_fd`]: QueueHandler::host_fd
/// [`wants_host_event`]: QueueHandler::wants_host_event
/// [`host_event`]: QueueHandler::host_event
pub trait QueueHandler: Send {
    /// Handles `chain`, taken from queue `queue`; returns how many bytes the
    /// device wrote into the chain's device-writable buffers (the used
    /// element's `len`). Errors put the device in DEVICE_NEEDS_RESET.
    fn handle(
        &mut self,
        _queue: usize,
        _mem: &GuestMemory,
        _chain: &Chain,
    ) -> Result<u32, DeviceError> {
        Err(DeviceError::Request(
            "the device serves this queue on its own",
        ))
    }

    /// The driver notified `queue`. By default every available chain is
    /// served with [`handle`](QueueHandler::handle).
    fn queue_notify(&mut self, queue: usize, queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        queues.serve_all(queue, |mem, chain| self.handle(queue, mem, chain))
    }

    /// A host file descriptor whose readability is an event for the device
    /// (a TAP device, console input).
    fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Whether the worker should wait on [`host_fd`](QueueHandler::host_fd)
    /// now.
    fn wants_host_event(&self) -> bool {
        true
    }

    /// [`host_fd`](QueueHandler::host_fd) is readable or hung up.
    fn host_event(&mut self, _queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        Ok(())
    }
}

/// Puts a host descriptor a device polls ([`QueueHandler::host_fd`]) in
/// non-blocking mode, so a handler reads what is there and returns.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
