//! virtio-blk (virtio 1.2, 5.2) on a raw or qcow2 image (see
//! [`crate::backend`]): read, write, flush, get-id, discard and
//! write-zeroes, optionally read-only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{self, BackendError, BlockBackend, ImageFormat};
use crate::chain::Chain;
use crate::device::{DeviceError, QueueHandler, VirtioDevice};
use crate::{device_type, GuestMemory};

/// Bytes per sector: virtio-blk addresses the disk in 512-byte units.
pub const SECTOR_SIZE: u64 = 512;
/// Queue size offered to the driver.
const QUEUE_SIZE: u16 = 256;
/// Largest piece copied through the bounce buffer at a time.
const CHUNK: usize = 128 << 10;
/// Longest serial (`VIRTIO_BLK_ID_BYTES`).
pub const ID_BYTES: usize = 20;
/// Discard / write-zeroes limits advertised in the config space.
const MAX_DISCARD_SECTORS: u32 = 1 << 22;
const MAX_DISCARD_SEG: u32 = 32;

/// Feature bits (virtio 1.2, 5.2.3).
mod feature {
    pub const RO: u64 = 1 << 5;
    pub const FLUSH: u64 = 1 << 9;
    pub const DISCARD: u64 = 1 << 13;
    pub const WRITE_ZEROES: u64 = 1 << 14;
}

/// Request types (virtio 1.2, 5.2.6).
mod req {
    pub const IN: u32 = 0;
    pub const OUT: u32 = 1;
    pub const FLUSH: u32 = 4;
    pub const GET_ID: u32 = 8;
    pub const DISCARD: u32 = 11;
    pub const WRITE_ZEROES: u32 = 13;
}

/// Request status byte.
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;

/// `VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP`.
const WZ_UNMAP: u32 = 1;

/// A disk image could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The image could not be opened in its format.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The image is smaller than one sector.
    #[error("disk image {path} is smaller than one 512-byte sector")]
    TooSmall {
        /// The image.
        path: PathBuf,
    },
}

/// How to present an image.
#[derive(Debug, Clone)]
pub struct BlockConfig {
    /// The image file.
    pub path: PathBuf,
    /// Its format; None detects it from the file's first bytes.
    pub format: Option<ImageFormat>,
    /// Open read-only and offer `VIRTIO_BLK_F_RO`.
    pub read_only: bool,
    /// Serial number for GET_ID (at most 20 bytes are used).
    pub serial: String,
}

/// A virtio-blk device on an image.
#[derive(Debug)]
pub struct Block {
    name: String,
    disk: Arc<dyn BlockBackend>,
    read_only: bool,
    serial: String,
    /// Size in sectors.
    capacity: u64,
}

impl Block {
    /// Opens the image; `index` names the device in logs (`blk0`).
    pub fn open(cfg: &BlockConfig, index: usize) -> Result<Block, BlockError> {
        let disk: Arc<dyn BlockBackend> =
            Arc::from(backend::open(&cfg.path, cfg.format, cfg.read_only)?);
        let capacity = disk.size() / SECTOR_SIZE;
        if capacity == 0 {
            return Err(BlockError::TooSmall {
                path: cfg.path.clone(),
            });
        }
        Ok(Block {
            name: format!("blk{index}"),
            disk,
            read_only: cfg.read_only,
            serial: cfg.serial.clone(),
            capacity,
        })
    }

    /// Size in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The config space (struct virtio_blk_config, virtio 1.2, 5.2.4) up to
    /// the write-zeroes fields.
    fn config(&self) -> [u8; 64] {
        let mut c = [0u8; 64];
        c[0..8].copy_from_slice(&self.capacity.to_le_bytes());
        // seg_max stays 0 (feature not offered); blk_size 512 is implied.
        c[36..40].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
        c[40..44].copy_from_slice(&MAX_DISCARD_SEG.to_le_bytes());
        // discard_sector_alignment: one 4 KiB page.
        c[44..48].copy_from_slice(&8u32.to_le_bytes());
        c[48..52].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
        c[52..56].copy_from_slice(&MAX_DISCARD_SEG.to_le_bytes());
        c[56] = 1; // write_zeroes_may_unmap
        c
    }
}

/// The serial of a disk: the image's file name, cut to 20 bytes.
pub fn default_serial(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = String::new();
    for ch in name.chars() {
        if s.len() + ch.len_utf8() > ID_BYTES {
            break;
        }
        s.push(ch);
    }
    s
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        device_type::BLOCK
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }
    fn features(&self) -> u64 {
        if self.read_only {
            feature::RO | feature::FLUSH
        } else {
            feature::FLUSH | feature::DISCARD | feature::WRITE_ZEROES
        }
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let c = self.config();
        for (k, b) in data.iter_mut().enumerate() {
            *b = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(k))
                .and_then(|o| c.get(o).copied())
                .unwrap_or(0);
        }
    }
    fn activate(&mut self, _acked: u64) -> Result<Box<dyn QueueHandler>, DeviceError> {
        Ok(Box::new(BlockWorker {
            disk: Arc::clone(&self.disk),
            read_only: self.read_only,
            serial: self.serial.clone(),
            capacity: self.capacity,
            buf: vec![0; CHUNK],
        }))
    }
}

/// The block device's half on the worker thread.
struct BlockWorker {
    disk: Arc<dyn BlockBackend>,
    read_only: bool,
    serial: String,
    capacity: u64,
    buf: Vec<u8>,
}

/// A request failed in a way the status byte reports.
enum Fail {
    Io,
    Unsupported,
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        tracing::warn!("virtio-blk I/O error: {e}");
        Fail::Io
    }
}

impl From<crate::chain::ChainError> for Fail {
    fn from(_: crate::chain::ChainError) -> Self {
        Fail::Io
    }
}

impl BlockWorker {
    /// Byte offset of `sector` if `[sector, sector + bytes)` lies inside the
    /// disk.
    fn range(&self, sector: u64, bytes: u64) -> Result<u64, Fail> {
        let start = sector.checked_mul(SECTOR_SIZE).ok_or(Fail::Io)?;
        let end = start.checked_add(bytes).ok_or(Fail::Io)?;
        if end > self.capacity * SECTOR_SIZE {
            return Err(Fail::Io);
        }
        Ok(start)
    }

    /// Runs one request; returns the bytes written before the status byte.
    fn serve(
        &mut self,
        mem: &GuestMemory,
        chain: &Chain,
        kind: u32,
        sector: u64,
        data_in: u64,
    ) -> Result<u64, Fail> {
        match kind {
            req::IN => {
                let pos = self.range(sector, data_in)?;
                let mut done = 0u64;
                while done < data_in {
                    let n = (data_in - done).min(CHUNK as u64) as usize;
                    self.disk.read_at(&mut self.buf[..n], pos + done)?;
                    chain.write_at(mem, done, &self.buf[..n])?;
                    done += n as u64;
                }
                Ok(data_in)
            }
            req::OUT => {
                if self.read_only {
                    return Err(Fail::Io);
                }
                let len = chain.readable_len().saturating_sub(16);
                let pos = self.range(sector, len)?;
                let mut done = 0u64;
                while done < len {
                    let n = (len - done).min(CHUNK as u64) as usize;
                    chain.read_at(mem, 16 + done, &mut self.buf[..n])?;
                    self.disk.write_at(&self.buf[..n], pos + done)?;
                    done += n as u64;
                }
                Ok(0)
            }
            req::FLUSH => {
                // A completed flush means the data is on the host's disk.
                if !self.read_only {
                    self.disk.flush()?;
                }
                Ok(0)
            }
            req::GET_ID => {
                let mut id = [0u8; ID_BYTES];
                let s = self.serial.as_bytes();
                let n = s.len().min(ID_BYTES);
                id[..n].copy_from_slice(&s[..n]);
                let len = (data_in as usize).min(ID_BYTES);
                chain.write_at(mem, 0, &id[..len])?;
                Ok(len as u64)
            }
            req::DISCARD | req::WRITE_ZEROES => {
                if self.read_only {
                    return Err(Fail::Io);
                }
                let len = chain.readable_len().saturating_sub(16);
                if len == 0 || len % 16 != 0 || len / 16 > u64::from(MAX_DISCARD_SEG) {
                    return Err(Fail::Unsupported);
                }
                for k in 0..len / 16 {
                    let mut seg = [0u8; 16];
                    chain.read_at(mem, 16 + 16 * k, &mut seg)?;
                    let (s, n, flags) = le_segment(&seg);
                    if n > MAX_DISCARD_SECTORS {
                        return Err(Fail::Io);
                    }
                    let pos = self.range(s, u64::from(n) * SECTOR_SIZE)?;
                    let bytes = u64::from(n) * SECTOR_SIZE;
                    if kind == req::DISCARD {
                        self.disk.discard(pos, bytes)?;
                    } else {
                        self.disk.write_zeroes(pos, bytes, flags & WZ_UNMAP != 0)?;
                    }
                }
                Ok(0)
            }
            _ => Err(Fail::Unsupported),
        }
    }
}

/// struct virtio_blk_discard_write_zeroes: sector, num_sectors, flags.
fn le_segment(b: &[u8; 16]) -> (u64, u32, u32) {
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[0..8]);
    let mut n = [0u8; 4];
    n.copy_from_slice(&b[8..12]);
    let mut f = [0u8; 4];
    f.copy_from_slice(&b[12..16]);
    (
        u64::from_le_bytes(s),
        u32::from_le_bytes(n),
        u32::from_le_bytes(f),
    )
}

impl QueueHandler for BlockWorker {
    fn handle(
        &mut self,
        _queue: usize,
        mem: &GuestMemory,
        chain: &Chain,
    ) -> Result<u32, DeviceError> {
        // virtio 1.2, 5.2.6: a 16-byte header the device reads, data, and a
        // status byte the device writes last.
        let wlen = chain.writable_len();
        if wlen == 0 {
            return Err(DeviceError::Request(
                "virtio-blk request without a status byte",
            ));
        }
        let status_off = wlen - 1;
        let status = if chain.readable_len() < 16 {
            Err(Fail::Io)
        } else {
            let mut hdr = [0u8; 16];
            chain.read_at(mem, 0, &mut hdr)?;
            let mut t = [0u8; 4];
            t.copy_from_slice(&hdr[0..4]);
            let mut s = [0u8; 8];
            s.copy_from_slice(&hdr[8..16]);
            self.serve(
                mem,
                chain,
                u32::from_le_bytes(t),
                u64::from_le_bytes(s),
                status_off,
            )
        };
        let (code, written) = match status {
            Ok(n) => (S_OK, n),
            Err(Fail::Io) => (S_IOERR, 0),
            Err(Fail::Unsupported) => (S_UNSUPP, 0),
        };
        chain.write_at(mem, status_off, &[code])?;
        // Used length: data written plus the status byte; the chain is at
        // most 4 GiB, so this fits.
        Ok(u32::try_from(written + 1).unwrap_or(u32::MAX))
    }
}
