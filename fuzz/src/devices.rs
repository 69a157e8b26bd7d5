//! Device factories for the fuzz targets. A new device needs a function
//! here (a [`Factory`]) and a three-line target in `fuzz_targets/`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fv_virtio::{Block, BlockConfig, ImageFormat};
use tempfile::{NamedTempFile, TempDir};

use crate::harness::{DeviceUnderTest, Factory};

/// Size of the fuzzed disk.
pub const DISK_SIZE: usize = 64 << 10;
/// GET_ID answer of the fuzzed disk.
pub const SERIAL: &str = "fv-fuzz-disk";

/// Variant bit: the disk is a qcow2 image (else raw).
pub const BLK_QCOW2: u8 = 1;
/// Variant bit: the disk is read-only.
pub const BLK_READ_ONLY: u8 = 2;

/// Where image files go: RAM-backed `/dev/shm` when there is one, so that
/// FLUSH (fsync) costs nothing; one directory per process.
fn scratch() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::Builder::new().prefix("fv-fuzz").tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("fv-fuzz").tempdir()
        };
        dir.expect("scratch directory for disk images")
    })
    .path()
}

/// The raw disk contents: byte k of sector s is `s ^ k` (so that reads of
/// different sectors differ and tests can tell them apart).
pub fn disk_pattern() -> Vec<u8> {
    (0..DISK_SIZE)
        .map(|i| ((i / 512) ^ (i % 512)) as u8)
        .collect()
}

/// An empty 64 KiB qcow2 image made once per process with imago (the format
/// library the device uses), then copied for every run.
fn qcow2_template() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| make_qcow2(&scratch().join("template.qcow2")).expect("qcow2 template"))
}

fn make_qcow2(path: &PathBuf) -> io::Result<Vec<u8>> {
    use imago::qcow2::Qcow2;
    use imago::{FormatCreateBuilder, Storage, StorageOpenOptions};
    std::fs::write(path, b"")?;
    let file =
        imago::file::File::open(StorageOpenOptions::new().filename(path.clone()).write(true))?;
    Qcow2::<imago::file::File>::create_builder(file)
        .size(DISK_SIZE as u64)
        .create()?;
    std::fs::read(path)
}

/// virtio-blk on a fresh 64 KiB image: raw with [`disk_pattern`], or an
/// empty qcow2 ([`BLK_QCOW2`]), optionally read-only ([`BLK_READ_ONLY`]).
pub fn blk(variant: u8) -> DeviceUnderTest {
    let file = NamedTempFile::new_in(scratch()).expect("disk image file");
    let (bytes, format) = if variant & BLK_QCOW2 != 0 {
        (qcow2_template().to_vec(), ImageFormat::Qcow2)
    } else {
        (disk_pattern(), ImageFormat::Raw)
    };
    std::fs::write(file.path(), bytes).expect("write disk image");
    let cfg = BlockConfig {
        path: file.path().to_path_buf(),
        format: Some(format),
        read_only: variant & BLK_READ_ONLY != 0,
        serial: SERIAL.into(),
    };
    let device = Block::open(&cfg, 0).expect("open disk image");
    DeviceUnderTest {
        device: Box::new(device),
        eager_queues: 1,
        keep: Box::new(file),
    }
}

/// The frames waiting on the "wire" of the fuzzed NIC when it starts, for
/// its receive queue: a minimal frame, a full-size one and a jumbo one
/// (more than a small receive buffer holds).
pub fn wire_frames() -> Vec<Vec<u8>> {
    [60usize, 1514, 9000]
        .iter()
        .enumerate()
        .map(|(k, &len)| (0..len).map(|i| (i as u8) ^ (k as u8 * 0x55)).collect())
        .collect()
}

/// virtio-net on one end of a SOCK_SEQPACKET socket pair (frames keep their
/// boundaries, as on a TAP); the other end holds [`wire_frames`] for the
/// receive queue (all of them unless variant bit 1 is set: then none) and
/// swallows what the device transmits. Only the transmit queue (1) must be
/// used on notification: receive buffers wait for frames.
pub fn net(variant: u8) -> DeviceUnderTest {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsFd;
    let (ours, wire) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socket pair for the NIC");
    if variant & 1 == 0 {
        for f in wire_frames() {
            nix::unistd::write(wire.as_fd(), &f).expect("frame onto the wire");
        }
    }
    // The wire end must never block the device's transmit path: make it
    // large enough and drain nothing (the harness is short-lived).
    let _ = nix::sys::socket::setsockopt(&wire, nix::sys::socket::sockopt::RcvBuf, &(1 << 20));
    let backend = fv_virtio::NetBackend::packet_fd(ours).expect("non-blocking packet fd");
    let mac = fv_virtio::MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    let device = fv_virtio::Net::new(fv_virtio::NetConfig { mac }, backend, 0);
    DeviceUnderTest {
        device: Box::new(device),
        eager_queues: 1 << 1,
        keep: Box::new(wire),
    }
}

/// Every factory, by target name (for tools that walk all targets).
pub const TARGETS: &[(&str, Factory)] = &[("virtio_blk_queue", blk), ("virtio_net_queue", net)];
