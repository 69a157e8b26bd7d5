//! virtio-rng (virtio 1.2, 5.4): fills the driver's buffers from the host's
//! `/dev/urandom` (the kernel's getrandom pool).

use std::fs::File;
use std::io::Read;

use crate::chain::Chain;
use crate::device::{DeviceError, QueueHandler, VirtioDevice};
use crate::{device_type, GuestMemory};

/// Most bytes served per request (the device may return fewer than asked).
const MAX_PER_REQUEST: u64 = 64 << 10;

/// The entropy device.
#[derive(Debug)]
pub struct Rng {
    source: File,
}

impl Rng {
    /// Opens the host's random source.
    pub fn new() -> std::io::Result<Rng> {
        Ok(Rng {
            source: File::open("/dev/urandom")?,
        })
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u32 {
        device_type::RNG
    }
    fn name(&self) -> String {
        "rng".into()
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![64]
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn activate(&mut self, _acked: u64) -> Result<Box<dyn QueueHandler>, DeviceError> {
        let source = self
            .source
            .try_clone()
            .map_err(|_| DeviceError::Request("cannot reopen /dev/urandom"))?;
        Ok(Box::new(RngWorker { source }))
    }
}

struct RngWorker {
    source: File,
}

impl QueueHandler for RngWorker {
    fn handle(
        &mut self,
        _queue: usize,
        mem: &GuestMemory,
        chain: &Chain,
    ) -> Result<u32, DeviceError> {
        let n = chain.writable_len().min(MAX_PER_REQUEST) as usize;
        let mut buf = vec![0u8; n];
        if let Err(e) = self.source.read_exact(&mut buf) {
            tracing::warn!("virtio-rng: host random source failed: {e}");
            return Ok(0);
        }
        chain.write_at(mem, 0, &buf)?;
        Ok(n as u32)
    }
}
