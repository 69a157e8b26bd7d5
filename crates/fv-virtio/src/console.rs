//! virtio-console (virtio 1.2, 5.3) with a single port: queue 0 (receiveq)
//! carries host input to the guest, queue 1 (transmitq) guest output to the
//! host. No MULTIPORT, so there are no control queues; the optional
//! VIRTIO_CONSOLE_F_SIZE reports the host terminal's size.
//!
//! Input comes from a host file descriptor (a pipe the VMM's stdin reader
//! writes into), read without blocking when the worker sees it readable.
//! Bytes wait in the descriptor while the driver has no receive buffers; at
//! end of file the device stops reading for good. Output goes to any writer.
//!
//! Input is held until the driver first transmits: Linux offers receive
//! buffers before its port is connected to hvc and discards what arrives in
//! between, and without MULTIPORT there is no PORT_OPEN message to wait for.
//! A console driver writes (the kernel log, a prompt) before it reads.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use crate::chain::Chain;
use crate::device::{DeviceError, QueueHandler, VirtioDevice};
use crate::worker::Queues;
use crate::{device_type, GuestMemory};

/// `VIRTIO_CONSOLE_F_SIZE`: `cols` and `rows` in config space are valid.
pub const F_SIZE: u64 = 1 << 0;

/// Host to guest.
const RECEIVEQ: usize = 0;
/// Guest to host.
const TRANSMITQ: usize = 1;
/// Ring size of both queues.
const QUEUE_SIZE: u16 = 64;
/// Bytes moved per host read or write.
const CHUNK: usize = 4096;

/// The guest's output, shared by every activation of the device.
type Output = Arc<Mutex<Box<dyn Write + Send>>>;

/// The console device.
pub struct Console {
    input: Option<OwnedFd>,
    output: Output,
    size: Option<(u16, u16)>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("input", &self.input)
            .field("size", &self.size)
            .finish()
    }
}

impl Console {
    /// A console reading guest input from `input` (none: the guest never
    /// receives anything) and writing guest output to `output`; `size` is
    /// (columns, rows) of the host terminal, offered with
    /// [`F_SIZE`]. `input` is switched to non-blocking mode, so it should be
    /// a descriptor of the VMM's own (a pipe), not a shared terminal.
    pub fn new(
        input: Option<OwnedFd>,
        output: Box<dyn Write + Send>,
        size: Option<(u16, u16)>,
    ) -> std::io::Result<Console> {
        if let Some(fd) = &input {
            crate::device::set_nonblocking(fd.as_fd())?;
        }
        Ok(Console {
            input,
            output: Arc::new(Mutex::new(output)),
            size,
        })
    }
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u32 {
        device_type::CONSOLE
    }
    fn name(&self) -> String {
        "console".into()
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE, QUEUE_SIZE]
    }
    fn features(&self) -> u64 {
        if self.size.is_some() {
            F_SIZE
        } else {
            0
        }
    }
    /// `struct virtio_console_config { le16 cols; le16 rows; le32
    /// max_nr_ports; le32 emerg_wr; }` (5.3.4): only the size is set.
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let (cols, rows) = self.size.unwrap_or((0, 0));
        let mut config = [0u8; 12];
        config[0..2].copy_from_slice(&cols.to_le_bytes());
        config[2..4].copy_from_slice(&rows.to_le_bytes());
        config[4..8].copy_from_slice(&1u32.to_le_bytes());
        for (i, b) in data.iter_mut().enumerate() {
            *b = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(i))
                .and_then(|o| config.get(o))
                .copied()
                .unwrap_or(0);
        }
    }
    fn activate(&mut self, _acked: u64) -> Result<Box<dyn QueueHandler>, DeviceError> {
        let input = match &self.input {
            Some(fd) => Some(File::from(fd.try_clone().map_err(|_| {
                DeviceError::Request("cannot duplicate the console input")
            })?)),
            None => None,
        };
        Ok(Box::new(ConsolePort {
            input,
            output: Arc::clone(&self.output),
            starved: false,
            connected: false,
            output_failed: false,
        }))
    }
}

/// The port's two queues on the worker thread.
struct ConsolePort {
    /// None once input reached end of file (or there never was any).
    input: Option<File>,
    output: Output,
    /// Input may be pending but the driver offered no receive buffer: do
    /// not wait on the input until it notifies the receiveq.
    starved: bool,
    /// The driver has transmitted, so its port is ready for input.
    connected: bool,
    /// The output failed once (logged); later failures are silent.
    output_failed: bool,
}

impl ConsolePort {
    /// Moves pending input into receive buffers until the input would
    /// block, ends, or the buffers run out.
    fn receive(&mut self, queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        if !self.connected {
            return Ok(());
        }
        let mut buf = [0u8; CHUNK];
        while let Some(input) = self.input.as_mut() {
            let Some(chain) = queues.pop(RECEIVEQ)? else {
                // Ask for a notification when buffers come; if some came
                // meanwhile, go on with them (virtio 1.2, 2.7.13).
                if queues.enable_notification(RECEIVEQ)? {
                    continue;
                }
                self.starved = true;
                return Ok(());
            };
            if !chain.readable.is_empty() || chain.writable_len() == 0 {
                return Err(DeviceError::Request(
                    "receiveq buffer is not a device-writable buffer",
                ));
            }
            let room = chain.writable_len().min(CHUNK as u64) as usize;
            match input.read(&mut buf[..room]) {
                Ok(0) => {
                    tracing::debug!("virtio-console: input ended");
                    queues.undo_pop(RECEIVEQ);
                    self.input = None;
                }
                Ok(n) => {
                    tracing::trace!(bytes = n, "virtio-console: input received");
                    chain.write_at(queues.mem(), 0, &buf[..n])?;
                    queues.add_used(RECEIVEQ, chain.head, n as u32)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    queues.undo_pop(RECEIVEQ);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => queues.undo_pop(RECEIVEQ),
                Err(e) => {
                    tracing::warn!("virtio-console: reading input failed, input ends: {e}");
                    queues.undo_pop(RECEIVEQ);
                    self.input = None;
                }
            }
        }
        Ok(())
    }

    /// Writes one transmit chain's bytes to the output.
    fn transmit(&mut self, mem: &GuestMemory, chain: &Chain) -> Result<u32, DeviceError> {
        let mut out = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = [0u8; CHUNK];
        let total = chain.readable_len();
        let mut offset = 0u64;
        while offset < total {
            let n = (total - offset).min(CHUNK as u64) as usize;
            chain.read_at(mem, offset, &mut buf[..n])?;
            offset += n as u64;
            if self.output_failed {
                continue;
            }
            if let Err(e) = out.write_all(&buf[..n]) {
                tracing::warn!("virtio-console: writing output failed, dropping output: {e}");
                self.output_failed = true;
            }
        }
        // The transmitq's buffers are all device-readable: nothing written.
        Ok(0)
    }
}

impl QueueHandler for ConsolePort {
    fn queue_notify(&mut self, queue: usize, queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        match queue {
            RECEIVEQ => {
                // New receive buffers: fill them from input already waiting.
                self.starved = false;
                self.receive(queues)
            }
            TRANSMITQ => {
                let mut sent = false;
                queues.serve_all(TRANSMITQ, |mem, chain| {
                    sent = true;
                    self.transmit(mem, chain)
                })?;
                let flushed = self
                    .output
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .flush();
                if flushed.is_err() && !self.output_failed {
                    tracing::warn!("virtio-console: flushing output failed");
                    self.output_failed = true;
                }
                if sent && !self.connected {
                    tracing::debug!("virtio-console: driver connected, input flows");
                    self.connected = true;
                    self.receive(queues)?;
                }
                Ok(())
            }
            // No such queue: the transport only delivers queues that exist.
            _ => Ok(()),
        }
    }

    fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        self.input.as_ref().map(|f| f.as_fd())
    }

    fn wants_host_event(&self) -> bool {
        self.input.is_some() && self.connected && !self.starved
    }

    fn host_event(&mut self, queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        self.receive(queues)
    }
}
