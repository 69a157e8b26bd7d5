//! Block backends: where a virtio-blk device's sectors live. A raw file
//! (the guest's bytes one for one) or a qcow2 image, possibly over a chain
//! of backing images, through the `imago` crate (sync mode, no tokio).
//!
//! A backend is opened once, at VM start, and every problem with the image
//! (unreadable file, corrupt or truncated qcow2 header, missing backing
//! file, unsupported format) is reported then, naming the file. Backing
//! images are only ever opened read-only: guest writes go to the top image.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use imago::format::gate::ImplicitOpenGate;
use imago::qcow2::Qcow2;
use imago::{FormatAccess, FormatDriverBuilder, Storage, StorageOpenOptions};
use nix::fcntl::{fallocate, FallocateFlags};

use crate::lock::{ImageLock, LockError};

/// The first four bytes of every qcow image (`QFI\xfb`).
pub const QCOW_MAGIC: [u8; 4] = *b"QFI\xfb";
/// Largest piece of zeroes written at a time when the host cannot fallocate.
const ZERO_CHUNK: u64 = 128 << 10;

/// How an image file stores the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// The guest's sectors byte for byte.
    Raw,
    /// QEMU copy-on-write v2 or v3, optionally over backing images.
    Qcow2,
}

impl ImageFormat {
    /// The format named `name` (`raw`, `qcow2`: the names `Display` prints).
    pub fn from_name(name: &str) -> Option<ImageFormat> {
        match name {
            "raw" => Some(ImageFormat::Raw),
            "qcow2" => Some(ImageFormat::Qcow2),
            _ => None,
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        })
    }
}

/// An image could not be opened as a disk.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The file could not be opened or inspected.
    #[error("cannot open disk image {path}: {source}")]
    Open {
        /// The image.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is in a format we do not read.
    #[error("disk image {path}: {what} is not supported (use a raw or qcow2 image)")]
    Unsupported {
        /// The image.
        path: PathBuf,
        /// What was found.
        what: String,
    },
    /// Another process uses the image (or a backing image) in a way that
    /// conflicts with this disk.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// imago refused the qcow2 image or one of its backing images.
    #[error("disk image {path}: not a usable qcow2 image: {source}")]
    Qcow2 {
        /// The top image.
        path: PathBuf,
        /// imago's error, which names the backing file when that is the
        /// culprit.
        source: io::Error,
    },
}

/// Storage for a virtio-blk device. Offsets and lengths are in bytes and
/// already checked against [`BlockBackend::size`] by the caller.
pub trait BlockBackend: Send + Sync + fmt::Debug {
    /// Virtual disk size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes `buf` at `offset`.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes every completed write durable in the host file(s).
    fn flush(&self) -> io::Result<()>;
    /// `[offset, offset + len)` reads back as zeroes afterwards; `unmap`
    /// allows freeing the space.
    fn write_zeroes(&self, offset: u64, len: u64, unmap: bool) -> io::Result<()>;
    /// A hint that `[offset, offset + len)` is unused; contents afterwards
    /// are unspecified (virtio 1.2, 5.2.6.2).
    fn discard(&self, offset: u64, len: u64) -> io::Result<()>;
}

/// Reads the first bytes of `path` and names its format. Only the qcow
/// magic is recognised; anything else is raw (as QEMU probes it), except a
/// few formats we know we cannot read, which are refused rather than shown
/// to the guest as raw bytes.
pub fn detect_format(path: &Path) -> Result<ImageFormat, BackendError> {
    let err = |source| BackendError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(err)?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err(e)),
        }
    }
    if got < head.len() {
        return Ok(ImageFormat::Raw);
    }
    let unsupported = match &head {
        m if *m == QCOW_MAGIC => return Ok(ImageFormat::Qcow2),
        b"KDMV" => "a VMDK image",
        b"cone" => "a VHD image",
        b"vhdx" => "a VHDX image",
        _ => return Ok(ImageFormat::Raw),
    };
    Err(BackendError::Unsupported {
        path: path.to_path_buf(),
        what: unsupported.to_string(),
    })
}

/// Opens `path` in `format` (detected from the file when None).
pub fn open(
    path: &Path,
    format: Option<ImageFormat>,
    read_only: bool,
) -> Result<Box<dyn BlockBackend>, BackendError> {
    let format = match format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    tracing::debug!(path = %path.display(), %format, read_only, "opening disk image");
    Ok(match format {
        ImageFormat::Raw => Box::new(RawBackend::open(path, read_only)?),
        ImageFormat::Qcow2 => Box::new(Qcow2Backend::open(path, read_only)?),
    })
}

/// A raw image file.
#[derive(Debug)]
pub struct RawBackend {
    file: File,
    read_only: bool,
    size: u64,
    _lock: ImageLock,
}

impl RawBackend {
    /// Opens the file, writable unless `read_only`.
    pub fn open(path: &Path, read_only: bool) -> Result<RawBackend, BackendError> {
        let err = |source| BackendError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(err)?;
        let size = file.metadata().map_err(err)?.len();
        let lock = ImageLock::acquire(path, !read_only)?;
        Ok(RawBackend {
            file,
            read_only,
            size,
            _lock: lock,
        })
    }

    fn write_zero_bytes(&self, offset: u64, len: u64) -> io::Result<()> {
        let zeroes = vec![0u8; ZERO_CHUNK.min(len) as usize];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(ZERO_CHUNK) as usize;
            self.file.write_all_at(&zeroes[..n], offset + done)?;
            done += n as u64;
        }
        Ok(())
    }

    fn fallocate(&self, offset: u64, len: u64, punch: bool) -> io::Result<()> {
        let mode = if punch {
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE
        } else {
            FallocateFlags::FALLOC_FL_ZERO_RANGE | FallocateFlags::FALLOC_FL_KEEP_SIZE
        };
        let (Ok(off), Ok(l)) = (i64::try_from(offset), i64::try_from(len)) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        fallocate(self.file.as_raw_fd(), mode, off, l).map_err(io::Error::from)
    }
}

impl BlockBackend for RawBackend {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn flush(&self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data()
    }
    fn write_zeroes(&self, offset: u64, len: u64, unmap: bool) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        match self.fallocate(offset, len, unmap) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!("fallocate failed ({e}); writing zeroes");
                self.write_zero_bytes(offset, len)
            }
        }
    }
    fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        // Punching a hole reads back as zeroes, which virtio allows; discard
        // is a hint, so nothing to do if the host cannot punch.
        if let Err(e) = self.fallocate(offset, len, true) {
            tracing::debug!("discard: fallocate failed ({e}); ignored");
        }
        Ok(())
    }
}

/// Lets a qcow2 image open its backing images (whatever the header names,
/// resolved relative to the image), but only read-only: an implicitly
/// referenced file that asks for write access (a qcow2 external data file)
/// is refused, so nothing but the top image is ever opened writable.
///
/// It also locks every backing image it opens (read-only, forbidding
/// writers: a base must not change under its clones) and keeps the locks.
#[derive(Debug, Default, Clone)]
struct ReadOnlyChainGate {
    locks: Arc<Mutex<Vec<ImageLock>>>,
}

impl ImplicitOpenGate<imago::file::File> for ReadOnlyChainGate {
    fn open_format<F: FormatDriverBuilder<imago::file::File>>(
        &mut self,
        builder: F,
    ) -> io::Result<FormatAccess<imago::file::File>> {
        if builder.get_writable() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "refusing to open an implicitly referenced image writable",
            ));
        }
        let driver = builder.open(self.clone())?;
        Ok(FormatAccess::new(driver))
    }

    fn open_storage(&mut self, opts: StorageOpenOptions) -> io::Result<imago::file::File> {
        if opts.get_writable() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to open {:?} writable (qcow2 external data files are not supported)",
                    opts.get_filename()
                ),
            ));
        }
        tracing::debug!(file = ?opts.get_filename(), "opening backing file read-only");
        if let Some(name) = opts.get_filename() {
            let lock = ImageLock::acquire(name, false).map_err(io::Error::other)?;
            self.locks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(lock);
        }
        imago::file::File::open(opts)
    }
}

/// A big-endian integer of the qcow2 header.
fn be(head: &[u8], off: usize, len: usize) -> u64 {
    head.get(off..off + len)
        .map(|b| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        .unwrap_or(0)
}

/// Checks the structures imago's allocator relies on before a qcow2 image
/// is opened writable: the L1 and refcount tables lie inside the file, and
/// the refcount table's first entry (which covers the header itself, so is
/// set in every valid image) points inside the file.
///
/// Deviation from plain imago use: imago 0.2.6 recurses without end (stack
/// overflow, an abort) when it has to allocate on an image whose refcount
/// table entry 0 is empty, e.g. a truncated file. Those images are refused
/// here; read-only images (and backing files) never allocate.
fn check_writable_qcow2(path: &Path) -> io::Result<()> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let mut head = [0u8; 72];
    f.read_exact_at(&mut head, 0)
        .map_err(|_| bad("truncated header"))?;
    let cluster_bits = be(&head, 20, 4);
    if !(9..=21).contains(&cluster_bits) {
        return Err(bad("cluster size out of range"));
    }
    let cluster = 1u64 << cluster_bits;
    let inside = |off: u64, len: u64| {
        off % cluster == 0 && off.checked_add(len).is_some_and(|end| end <= file_len)
    };
    let l1_off = be(&head, 40, 8);
    let l1_len = be(&head, 36, 4) * 8;
    if l1_len > 0 && !inside(l1_off, l1_len) {
        return Err(bad(
            "L1 table outside the file (truncated or corrupt image)",
        ));
    }
    let rt_off = be(&head, 48, 8);
    let rt_len = be(&head, 56, 4) * cluster;
    if rt_len == 0 || !inside(rt_off, rt_len) {
        return Err(bad(
            "refcount table outside the file (truncated or corrupt image)",
        ));
    }
    let mut first = [0u8; 8];
    f.read_exact_at(&mut first, rt_off)?;
    let rb0 = u64::from_be_bytes(first) & !(cluster - 1) & ((1 << 56) - 1);
    if rb0 == 0 || !inside(rb0, cluster) {
        return Err(bad(
            "first refcount block missing or outside the file (corrupt image)",
        ));
    }
    Ok(())
}

/// A qcow2 image through imago.
pub struct Qcow2Backend {
    /// Requests share the image; discard needs it alone (it may drop
    /// mappings other requests hold), hence the lock. One worker thread
    /// serves a disk, so it is never contended in practice.
    image: RwLock<FormatAccess<imago::file::File>>,
    read_only: bool,
    /// The top image's lock, then the backing images'.
    _locks: Vec<ImageLock>,
}

impl fmt::Debug for Qcow2Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qcow2Backend")
            .field("size", &self.image().size())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Qcow2Backend {
    /// Opens the image (writable unless `read_only`) and its backing chain
    /// (always read-only).
    pub fn open(path: &Path, read_only: bool) -> Result<Qcow2Backend, BackendError> {
        let err = |source| BackendError::Qcow2 {
            path: path.to_path_buf(),
            source,
        };
        // Open the top file ourselves so a missing or unreadable image gets
        // the same error as a raw one.
        let opts = StorageOpenOptions::new().filename(path).write(!read_only);
        let file = imago::file::File::open(opts).map_err(|source| BackendError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let top_lock = ImageLock::acquire(path, !read_only)?;
        if !read_only {
            check_writable_qcow2(path).map_err(err)?;
        }
        let gate = ReadOnlyChainGate::default();
        let qcow2 = Qcow2::<imago::file::File>::builder(file)
            .write(!read_only)
            .open(gate.clone())
            .map_err(err)?;
        let mut locks = vec![top_lock];
        locks.append(&mut gate.locks.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(Qcow2Backend {
            image: RwLock::new(FormatAccess::new(qcow2)),
            read_only,
            _locks: locks,
        })
    }
}

impl Qcow2Backend {
    fn image(&self) -> std::sync::RwLockReadGuard<'_, FormatAccess<imago::file::File>> {
        // A panic while holding the lock cannot leave imago's state half
        // updated in a way a later request could not handle: take it anyway.
        self.image.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl BlockBackend for Qcow2Backend {
    fn size(&self) -> u64 {
        self.image().size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.image().read(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.image().write(buf, offset)
    }
    fn flush(&self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        // Metadata caches to the file, then the file to the disk.
        let image = self.image();
        image.flush()?;
        image.sync()
    }
    fn write_zeroes(&self, offset: u64, len: u64, _unmap: bool) -> io::Result<()> {
        // Zero clusters (qcow2 v3) or written zeroes; never exposes the
        // backing image's data.
        self.image().write_zeroes(offset, len)
    }
    fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        if self.read_only || len == 0 {
            return Ok(());
        }
        // Frees the overlay's clusters; the range may then read as zeroes
        // or as the backing image's data, which virtio allows (1.2,
        // 5.2.6.2). A hint: failures are logged, not reported.
        let mut image = self.image.write().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = image.discard_to_any(offset, len) {
            tracing::debug!("qcow2 discard failed ({e}); ignored");
        }
        Ok(())
    }
}
