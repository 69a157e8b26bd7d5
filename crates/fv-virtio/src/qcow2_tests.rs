//! Block backend tests on images made at test time by `qemu-img` (Debian
//! package qemu-utils): raw and qcow2 through [`BlockBackend`], backing
//! chains, `qemu-img check` / `compare` after our writes, and the images we
//! must refuse at open. Without `qemu-img` each qcow2 test prints a SKIP
//! line and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backend::{self, BackendError, ImageFormat};
use crate::{Block, BlockConfig, BlockError};

const MIB: u64 = 1 << 20;

/// `qemu-img`, or None after printing SKIP.
fn qemu_img(test: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join("qemu-img");
        if p.exists() {
            return Some(p);
        }
    }
    eprintln!("SKIP {test}: qemu-img not found (install the qemu-utils package)");
    None
}

/// Runs `qemu-img ARGS`, returns (success, stdout + stderr).
fn run(qemu_img: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(qemu_img)
        .args(args)
        .output()
        .expect("run qemu-img");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn must(qemu_img: &Path, args: &[&str]) -> String {
    let (ok, out) = run(qemu_img, args);
    assert!(ok, "qemu-img {args:?} failed: {out}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A deterministic, non-zero pattern.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect()
}

/// A 4 MiB base: raw file with `pattern(64 KiB, 7)` at 1 MiB, converted to
/// qcow2. Returns (base.qcow2, the raw bytes it holds).
fn make_base(qi: &Path, dir: &Path) -> (PathBuf, Vec<u8>) {
    let raw = dir.join("base.raw");
    let mut bytes = vec![0u8; (4 * MIB) as usize];
    bytes[MIB as usize..(MIB + 65536) as usize].copy_from_slice(&pattern(65536, 7));
    std::fs::write(&raw, &bytes).expect("write raw base");
    let base = dir.join("base.qcow2");
    must(
        qi,
        &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&base)],
    );
    (base, bytes)
}

/// `qemu-img create` of a qcow2 overlay at `path` over the qcow2 `backing`
/// (a name relative to the overlay's directory, or a path).
fn overlay(qi: &Path, backing: &str, path: &Path) {
    must(
        qi,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            backing,
            "-F",
            "qcow2",
            s(path),
        ],
    );
}

/// The access mode (O_ACCMODE) of every descriptor this process has open on
/// `path`.
fn open_modes(path: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(path).expect("canonicalize");
    let mut modes = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd") {
        let e = e.expect("fd entry");
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        if target != want {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()))
            .unwrap_or_default();
        for line in info.lines() {
            if let Some(v) = line.strip_prefix("flags:") {
                let flags = u32::from_str_radix(v.trim(), 8).expect("octal flags");
                modes.push(flags & 3);
            }
        }
    }
    modes
}

#[test]
fn raw_backend_reads_writes_and_zeroes() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    std::fs::write(&img, vec![0xaau8; 64 * 1024]).unwrap();
    assert_eq!(backend::detect_format(&img).unwrap(), ImageFormat::Raw);
    let b = backend::open(&img, None, false).unwrap();
    assert_eq!(b.size(), 64 * 1024);
    b.write_at(&pattern(4096, 1), 8192).unwrap();
    b.write_zeroes(0, 4096, false).unwrap();
    b.flush().unwrap();
    let mut got = vec![0u8; 4096];
    b.read_at(&mut got, 8192).unwrap();
    assert_eq!(got, pattern(4096, 1));
    b.read_at(&mut got, 0).unwrap();
    assert!(got.iter().all(|&x| x == 0));
    let file = std::fs::read(&img).unwrap();
    assert_eq!(&file[8192..12288], &pattern(4096, 1)[..]);
}

#[test]
fn qcow2_is_detected_and_reads_writes_clean() {
    let test = "qcow2_is_detected_and_reads_writes_clean";
    let Some(qi) = qemu_img(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.qcow2");
    must(&qi, &["create", "-q", "-f", "qcow2", s(&img), "4M"]);
    assert_eq!(backend::detect_format(&img).unwrap(), ImageFormat::Qcow2);

    let b = backend::open(&img, None, false).unwrap();
    assert_eq!(b.size(), 4 * MIB);
    let mut got = vec![0xffu8; 8192];
    b.read_at(&mut got, 0).unwrap();
    assert!(got.iter().all(|&x| x == 0), "fresh image reads zeroes");
    // Unaligned to clusters, spanning two of them.
    let data = pattern(100 * 1024, 3);
    let at = 2 * MIB - 4096 + 512;
    b.write_at(&data, at).unwrap();
    b.write_zeroes(3 * MIB, 65536, true).unwrap();
    b.flush().unwrap();
    let mut back = vec![0u8; data.len()];
    b.read_at(&mut back, at).unwrap();
    assert_eq!(back, data);
    drop(b);

    must(&qi, &["check", "-q", s(&img)]);
    let mut expect = vec![0u8; (4 * MIB) as usize];
    expect[at as usize..at as usize + data.len()].copy_from_slice(&data);
    let raw = dir.path().join("expect.raw");
    std::fs::write(&raw, &expect).unwrap();
    must(
        &qi,
        &[
            "compare",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            s(&img),
            s(&raw),
        ],
    );

    // Through the device, the capacity is the virtual size.
    let blk = Block::open(
        &BlockConfig {
            path: img.clone(),
            format: Some(ImageFormat::Qcow2),
            read_only: true,
            serial: "q".into(),
        },
        0,
    )
    .unwrap();
    assert_eq!(blk.capacity(), 4 * MIB / 512);
}

#[test]
fn qcow2_overlay_reads_base_and_writes_only_the_overlay() {
    let test = "qcow2_overlay_reads_base_and_writes_only_the_overlay";
    let Some(qi) = qemu_img(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (base, mut expect) = make_base(&qi, dir.path());
    let vm1 = dir.path().join("vm1.qcow2");
    // Relative backing name, as users usually write it.
    overlay(&qi, "base.qcow2", &vm1);
    let base_before = std::fs::read(&base).unwrap();

    let b = backend::open(&vm1, None, false).unwrap();
    assert_eq!(b.size(), 4 * MIB);
    // The backing file is open, and only for reading (O_RDONLY == 0).
    let modes = open_modes(&base);
    assert!(!modes.is_empty(), "the base is open");
    assert!(modes.iter().all(|&m| m == 0), "base open modes {modes:?}");
    assert!(open_modes(&vm1).contains(&2), "the overlay is open O_RDWR");

    let mut got = vec![0u8; 65536];
    b.read_at(&mut got, MIB).unwrap();
    assert_eq!(got, pattern(65536, 7), "base data through the overlay");
    // Overwrite part of the base's data (copy-on-write of a partial
    // cluster) and write fresh data elsewhere.
    let w1 = pattern(1000, 9);
    b.write_at(&w1, MIB + 4096 + 17).unwrap();
    let w2 = pattern(8192, 11);
    b.write_at(&w2, 3 * MIB).unwrap();
    b.flush().unwrap();
    b.read_at(&mut got, MIB).unwrap();
    expect[(MIB + 4096 + 17) as usize..(MIB + 4096 + 17) as usize + w1.len()].copy_from_slice(&w1);
    expect[(3 * MIB) as usize..(3 * MIB) as usize + w2.len()].copy_from_slice(&w2);
    assert_eq!(got[..], expect[MIB as usize..(MIB + 65536) as usize]);
    drop(b);

    assert_eq!(
        std::fs::read(&base).unwrap(),
        base_before,
        "the base changed"
    );
    must(&qi, &["check", "-q", s(&vm1)]);
    must(&qi, &["check", "-q", s(&base)]);
    let raw = dir.path().join("expect.raw");
    std::fs::write(&raw, &expect).unwrap();
    must(
        &qi,
        &[
            "compare",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            s(&vm1),
            s(&raw),
        ],
    );
}

#[test]
fn qcow2_chain_of_three_reads_through() {
    let test = "qcow2_chain_of_three_reads_through";
    let Some(qi) = qemu_img(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = make_base(&qi, dir.path());
    let mid = dir.path().join("mid.qcow2");
    let top = dir.path().join("top.qcow2");
    overlay(&qi, s(&base), &mid);
    // A write into the middle layer with qemu-io is not available in
    // qemu-utils everywhere; rebase-free: write through our backend.
    {
        let m = backend::open(&mid, Some(ImageFormat::Qcow2), false).unwrap();
        m.write_at(&pattern(512, 5), 2 * MIB).unwrap();
        m.flush().unwrap();
    }
    overlay(&qi, s(&mid), &top);
    let t = backend::open(&top, None, true).unwrap();
    let mut got = vec![0u8; 512];
    t.read_at(&mut got, 2 * MIB).unwrap();
    assert_eq!(got, pattern(512, 5), "middle layer");
    t.read_at(&mut got, MIB).unwrap();
    assert_eq!(got[..], pattern(65536, 7)[..512], "base layer");
    assert!(
        t.write_at(&got, 0).is_err(),
        "a read-only image refuses writes"
    );
}

fn open_err(path: &Path, format: Option<ImageFormat>) -> String {
    match backend::open(path, format, false) {
        Ok(b) => panic!("{} opened: {b:?}", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn qcow2_missing_backing_file_is_an_error_naming_it() {
    let test = "qcow2_missing_backing_file_is_an_error_naming_it";
    let Some(qi) = qemu_img(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = make_base(&qi, dir.path());
    let vm1 = dir.path().join("vm1.qcow2");
    overlay(&qi, s(&base), &vm1);
    std::fs::remove_file(&base).unwrap();
    let msg = open_err(&vm1, None);
    assert!(msg.contains("vm1.qcow2"), "{msg}");
    assert!(msg.contains("base.qcow2"), "{msg}");
}

#[test]
fn corrupt_truncated_and_unknown_images_are_refused() {
    let test = "corrupt_truncated_and_unknown_images_are_refused";
    let dir = tempfile::tempdir().unwrap();

    // Formats we cannot read are not shown to the guest as raw bytes.
    let vmdk = dir.path().join("disk.vmdk");
    let mut v = b"KDMV".to_vec();
    v.resize(4096, 0);
    std::fs::write(&vmdk, &v).unwrap();
    assert!(matches!(
        backend::open(&vmdk, None, false),
        Err(BackendError::Unsupported { .. })
    ));
    assert!(open_err(&vmdk, None).contains("disk.vmdk"));

    // Only the magic: a truncated header.
    let stub = dir.path().join("stub.qcow2");
    let mut q = b"QFI\xfb\0\0\0\x03".to_vec();
    q.resize(20, 0);
    std::fs::write(&stub, &q).unwrap();
    assert!(open_err(&stub, None).contains("stub.qcow2"));
    // A raw file forced to qcow2.
    let raw = dir.path().join("plain.img");
    std::fs::write(&raw, vec![0u8; 4096]).unwrap();
    assert!(open_err(&raw, Some(ImageFormat::Qcow2)).contains("plain.img"));
    // Missing file.
    let missing = dir.path().join("missing.qcow2");
    assert!(open_err(&missing, None).contains("missing.qcow2"));

    let Some(qi) = qemu_img(test) else { return };
    let good = dir.path().join("good.qcow2");
    must(&qi, &["create", "-q", "-f", "qcow2", s(&good), "4M"]);
    let bytes = std::fs::read(&good).unwrap();

    // Truncated after the header: the L1 and refcount tables are gone.
    let cut = dir.path().join("cut.qcow2");
    std::fs::write(&cut, &bytes[..512]).unwrap();
    let cut_before = std::fs::read(&cut).unwrap();
    // (imago 0.2.6 overflows its stack allocating on such an image; we
    // refuse it at open.)
    assert!(open_err(&cut, None).contains("cut.qcow2"));
    // Read-only it opens (nothing is allocated) and reads do not panic.
    if let Ok(b) = backend::open(&cut, None, true) {
        let mut buf = vec![0u8; 512];
        let _ = b.read_at(&mut buf, 0);
    }
    // The refcount table present but its first entry cleared: the same
    // imago recursion, refused.
    let rb0 = dir.path().join("rb0.qcow2");
    let mut b0 = bytes.clone();
    let rt = u64::from_be_bytes(bytes[48..56].try_into().unwrap()) as usize;
    b0[rt..rt + 8].fill(0);
    std::fs::write(&rb0, &b0).unwrap();
    assert!(open_err(&rb0, None).contains("rb0.qcow2"));
    assert_eq!(
        std::fs::read(&rb0).unwrap(),
        b0,
        "a refused image is untouched"
    );

    // Header fields out of range: cluster_bits (offset 20), the L1 table
    // offset (offset 40) and the refcount table offset (offset 48).
    for (name, off, val) in [
        ("bits.qcow2", 20usize, vec![0u8, 0, 0, 63]),
        (
            "l1.qcow2",
            40,
            vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
        ),
        (
            "rc.qcow2",
            48,
            vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
        ),
        ("size.qcow2", 24, vec![0xff; 8]),
    ] {
        let p = dir.path().join(name);
        let mut b = bytes.clone();
        b[off..off + val.len()].copy_from_slice(&val);
        std::fs::write(&p, &b).unwrap();
        match backend::open(&p, None, false) {
            Err(e) => assert!(e.to_string().contains(name), "{e}"),
            Ok(d) => {
                let mut buf = vec![0u8; 512];
                let _ = d.read_at(&mut buf, 0);
                let _ = d.write_at(&buf, 0);
                let _ = d.flush();
            }
        }
    }
    assert_eq!(
        std::fs::read(&cut).unwrap(),
        cut_before,
        "a refused image is untouched"
    );

    // Through the device: the error names the file.
    let err = Block::open(
        &BlockConfig {
            path: stub.clone(),
            format: None,
            read_only: false,
            serial: "x".into(),
        },
        0,
    )
    .unwrap_err();
    assert!(matches!(err, BlockError::Backend(_)));
    assert!(err.to_string().contains("stub.qcow2"), "{err}");
}

/// A linked clone locks its base: two clones may share it, but nothing may
/// open it for writing (neither fv nor qemu-io) while a clone is open, and
/// the clone itself can be opened writable only once.
#[test]
fn clones_share_a_locked_base_that_nobody_may_write() {
    let test = "clones_share_a_locked_base_that_nobody_may_write";
    let Some(qi) = qemu_img(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = make_base(&qi, dir.path());
    let clone = |name: &str| {
        let p = dir.path().join(name);
        overlay(&qi, "base.qcow2", &p);
        p
    };
    let (vm1, vm2) = (clone("vm1.qcow2"), clone("vm2.qcow2"));
    let b1 = backend::open(&vm1, None, false).unwrap();
    let b2 = backend::open(&vm2, None, false).expect("a second clone shares the base");
    assert!(
        backend::open(&base, None, true).is_ok(),
        "a read-only user shares it too"
    );
    let e = backend::open(&base, None, false).unwrap_err();
    assert!(matches!(e, BackendError::Locked(_)), "{e}");
    assert!(e.to_string().contains(s(&base)), "{e}");
    let e = backend::open(&vm1, None, false).unwrap_err();
    assert!(
        matches!(e, BackendError::Locked(_)),
        "second writer of vm1: {e}"
    );
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write 0 512", s(&base)])
        .output();
    if let Ok(out) = out {
        assert!(
            !out.status.success(),
            "qemu-io wrote the base of open clones"
        );
    }
    drop((b1, b2));
    // Released when the clones close (retried: see acquire_after_release).
    drop(crate::lock::tests::acquire_after_release(&base, true));
}

/// Discard on a qcow2 overlay frees the overlay's clusters: the range is no
/// longer allocated data in the top image (`qemu-img map`), reads back as
/// the base's bytes (zeroes here), and the image stays consistent.
#[test]
fn qcow2_discard_frees_overlay_clusters() {
    let test = "qcow2_discard_frees_overlay_clusters";
    let Some(qi) = qemu_img(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_base, _) = make_base(&qi, dir.path());
    let vm1 = dir.path().join("vm1.qcow2");
    overlay(&qi, "base.qcow2", &vm1);
    let top_data_at = |off: u64| -> bool {
        let out = must(&qi, &["map", "-U", "-f", "qcow2", "--output=json", s(&vm1)]);
        // One JSON object per line: {"start": .., "length": .., "depth": .., "data": ..}
        out.lines().any(|l| {
            let num = |k: &str| {
                l.split(&format!("\"{k}\": "))
                    .nth(1)
                    .and_then(|r| r.split([',', '}']).next())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            let (Some(start), Some(len), Some(depth)) = (num("start"), num("length"), num("depth"))
            else {
                return false;
            };
            start <= off && off < start + len && depth == 0 && l.contains("\"data\": true")
        })
    };
    let b = backend::open(&vm1, None, false).unwrap();
    b.write_at(&pattern(256 << 10, 3), 2 * MIB).unwrap();
    b.flush().unwrap();
    assert!(
        top_data_at(2 * MIB + 4096),
        "written range is allocated in the overlay"
    );
    b.discard(2 * MIB, 256 << 10).unwrap();
    b.flush().unwrap();
    let mut got = vec![1u8; 256 << 10];
    b.read_at(&mut got, 2 * MIB).unwrap();
    assert!(
        got.iter().all(|&x| x == 0),
        "discarded range reads as the base (zeroes)"
    );
    drop(b);
    assert!(
        !top_data_at(2 * MIB + 4096),
        "discarded clusters still allocated"
    );
    must(&qi, &["check", "-q", s(&vm1)]);
}
