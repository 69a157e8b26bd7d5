//! System tests for virtio-blk: the Debian guest's own virtio_mmio and
//! virtio_blk drivers (loaded by the initramfs with `fv.modules=1`) see the
//! disks given with `--disk`, in order, mount an ext4 image made on the host
//! with `mke2fs -d`, write through to a writable disk (read back on the host
//! with `debugfs`) and cannot write to a read-only one.
//!
//! A qcow2 overlay over a qcow2 base (made with `qemu-img`) is mounted and
//! written by the guest; the base stays byte for byte the same and
//! `qemu-img check` finds the overlay clean.
//!
//! Needs `mke2fs` and `debugfs` (Debian package e2fsprogs), `qemu-img`
//! (qemu-utils) for the qcow2 test and the default guest (`fv guest
//! fetch`); without them each test prints a SKIP line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;

use support::{fv, guest_available, run_with_timeout};

const LIMIT: Duration = Duration::from_secs(600);

/// The path of an e2fsprogs tool, or None (after printing SKIP).
fn e2fs_tool(test: &str, name: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    eprintln!("SKIP {test}: {name} not found (install the e2fsprogs package)");
    None
}

/// `mke2fs -t ext4 -d DIR img SIZE` with `files` in DIR.
fn make_ext4(mke2fs: &Path, img: &Path, files: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in files {
        std::fs::write(dir.path().join(name), data).expect("write fixture file");
    }
    let out = Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(dir.path())
        .arg(img)
        .arg("8M")
        .output()
        .expect("run mke2fs");
    assert!(
        out.status.success(),
        "mke2fs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two disks: vda an ext4 image given read-only, vdb a writable one. The
/// guest mounts vda and prints its marker, fails to write to it, writes a
/// file on vdb; the host reads that file back.
#[test]
fn guest_mounts_disks_in_order_and_read_only_rejects_writes() {
    let test = "guest_mounts_disks_in_order_and_read_only_rejects_writes";
    let (Some(mke2fs), Some(debugfs)) = (e2fs_tool(test, "mke2fs"), e2fs_tool(test, "debugfs"))
    else {
        return;
    };
    if !guest_available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ro_img = dir.path().join("first.img");
    let rw_img = dir.path().join("second.img");
    make_ext4(&mke2fs, &ro_img, &[("fv-marker", "FV-MARKER-FIRST-DISK\n")]);
    make_ext4(
        &mke2fs,
        &rw_img,
        &[("fv-marker", "FV-MARKER-SECOND-DISK\n")],
    );
    let ro_before = std::fs::read(&ro_img).expect("read image");

    // The console echoes each command, so every marker the test looks for
    // is computed in the guest and never appears in the command itself.
    let script = "\
ls /dev/vd* | sed 's/^/FV-DEV=/'
sed 's/^/FV-VDA-RO=/' /sys/block/vda/ro
sed 's/^/FV-VDB-RO=/' /sys/block/vdb/ro
mount -o ro /dev/vda /mnt && echo FV-VDA-$((1+1))-MOUNTED && cat /mnt/fv-marker && umount /mnt
dd if=/dev/zero of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null || echo FV-VDA-WRITE-$((2+2))-REJECTED
mount /dev/vdb /mnt && cat /mnt/fv-marker && echo from-the-guest > /mnt/guest-file && sync && umount /mnt && echo FV-VDB-$((3+3))-WRITTEN
poweroff
";
    let ro_arg = format!("{},ro", ro_img.display());
    let rw_arg = format!("{},format=raw", rw_img.display());
    let (code, out, err) = run_with_timeout(
        &[
            "run",
            "--append",
            "console=ttyS0 fv.modules=1",
            "--disk",
            &ro_arg,
            "--disk",
            &rw_arg,
        ],
        Some(script.as_bytes().to_vec()),
        LIMIT,
    );
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(0), "guest did not power off cleanly:\n{all}");
    assert!(out.contains("FV-GUEST-MODULES-LOADED"), "modules:\n{all}");
    for needle in [
        "FV-DEV=/dev/vda",
        "FV-DEV=/dev/vdb",
        "FV-VDA-RO=1",
        "FV-VDB-RO=0",
        "FV-VDA-2-MOUNTED",
        "FV-MARKER-FIRST-DISK",
        "FV-VDA-WRITE-4-REJECTED",
        "FV-MARKER-SECOND-DISK",
        "FV-VDB-6-WRITTEN",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{all}");
    }
    // Disks in order: vda is the first --disk.
    let first = out.find("FV-MARKER-FIRST-DISK").unwrap_or(0);
    let second = out.find("FV-MARKER-SECOND-DISK").unwrap_or(0);
    assert!(first < second, "vda shows the first disk:\n{all}");

    assert_eq!(
        std::fs::read(&ro_img).expect("read image"),
        ro_before,
        "the read-only image changed"
    );
    assert_eq!(
        debugfs_cat(&debugfs, &rw_img, "/guest-file"),
        "from-the-guest\n",
        "the host reads the guest's file back"
    );
}

/// `qemu-img`, or None (after printing SKIP).
/// `PATH` inside the ext4 image `img`, read with debugfs (stderr on
/// failure goes into the panic).
fn debugfs_cat(debugfs: &Path, img: &Path, path: &str) -> String {
    let got = Command::new(debugfs)
        .args(["-R", &format!("cat {path}")])
        .arg(img)
        .output()
        .expect("run debugfs");
    assert!(
        got.status.success(),
        "debugfs: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    String::from_utf8_lossy(&got.stdout).into_owned()
}

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

fn qemu_img_ok(qemu_img: &Path, args: &[&std::ffi::OsStr]) {
    let out = Command::new(qemu_img)
        .args(args)
        .output()
        .expect("run qemu-img");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A linked clone: vm1.qcow2 over base.qcow2 (an ext4 filesystem made with
/// `mke2fs -d`, converted with `qemu-img`), given without `format=` so the
/// format is detected. The guest reads the base's file and writes its own;
/// the base's bytes do not change, the overlay checks clean and holds the
/// guest's file.
#[test]
fn guest_writes_to_qcow2_overlay_and_base_stays_unchanged() {
    let test = "guest_writes_to_qcow2_overlay_and_base_stays_unchanged";
    let (Some(mke2fs), Some(debugfs), Some(qi)) = (
        e2fs_tool(test, "mke2fs"),
        e2fs_tool(test, "debugfs"),
        qemu_img(test),
    ) else {
        return;
    };
    if !guest_available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("base.raw");
    let base = dir.path().join("base.qcow2");
    let vm1 = dir.path().join("vm1.qcow2");
    make_ext4(&mke2fs, &raw, &[("fv-marker", "FV-MARKER-QCOW2-BASE\n")]);
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    qemu_img_ok(
        &qi,
        &[
            os("convert"),
            os("-f"),
            os("raw"),
            os("-O"),
            os("qcow2"),
            raw.as_os_str(),
            base.as_os_str(),
        ],
    );
    qemu_img_ok(
        &qi,
        &[
            os("create"),
            os("-q"),
            os("-f"),
            os("qcow2"),
            os("-b"),
            os("base.qcow2"),
            os("-F"),
            os("qcow2"),
            vm1.as_os_str(),
        ],
    );
    let base_before = std::fs::read(&base).expect("read base");

    let script = "\
mount /dev/vda /mnt && cat /mnt/fv-marker && echo from-the-qcow2-guest > /mnt/guest-file && sync && umount /mnt && echo FV-QCOW2-$((4+5))-WRITTEN
poweroff
";
    let disk = vm1.display().to_string();
    let (code, out, err) = run_with_timeout(
        &[
            "run",
            "--append",
            "console=ttyS0 fv.modules=1",
            "--disk",
            &disk,
        ],
        Some(script.as_bytes().to_vec()),
        LIMIT,
    );
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(0), "guest did not power off cleanly:\n{all}");
    for needle in ["FV-MARKER-QCOW2-BASE", "FV-QCOW2-9-WRITTEN"] {
        assert!(out.contains(needle), "missing {needle}:\n{all}");
    }
    assert!(
        std::fs::read(&base).expect("read base") == base_before,
        "the base image changed"
    );
    qemu_img_ok(&qi, &[os("check"), os("-q"), vm1.as_os_str()]);
    // Flatten the overlay to raw and read the guest's file back.
    let flat = dir.path().join("flat.raw");
    qemu_img_ok(
        &qi,
        &[
            os("convert"),
            os("-O"),
            os("raw"),
            vm1.as_os_str(),
            flat.as_os_str(),
        ],
    );
    assert_eq!(
        debugfs_cat(&debugfs, &flat, "/guest-file"),
        "from-the-qcow2-guest\n",
        "the host reads the guest's file back"
    );
}

/// Images that cannot be used stop `fv run` with status 2 before any guest
/// runs, naming the file: a truncated qcow2, a qcow2 whose backing file is
/// gone, an unsupported format.
#[test]
fn bad_disk_images_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = dir.path().join("kernel");
    std::fs::write(&kernel, vec![0u8; 4096]).expect("write kernel");
    let stub = dir.path().join("stub.qcow2");
    let mut q = b"QFI\xfb\0\0\0\x03".to_vec();
    q.resize(64, 0);
    std::fs::write(&stub, &q).expect("write stub");
    let vmdk = dir.path().join("disk.vmdk");
    let mut v = b"KDMV".to_vec();
    v.resize(4096, 0);
    std::fs::write(&vmdk, &v).expect("write vmdk");
    let mut cases = vec![(stub, "stub.qcow2"), (vmdk, "disk.vmdk")];
    if let Some(qi) = qemu_img("bad_disk_images_exit_2_naming_the_file (backing case)") {
        let base = dir.path().join("gone-base.qcow2");
        let vm1 = dir.path().join("orphan.qcow2");
        let os = std::ffi::OsStr::new;
        qemu_img_ok(
            &qi,
            &[
                os("create"),
                os("-q"),
                os("-f"),
                os("qcow2"),
                base.as_os_str(),
                os("1M"),
            ],
        );
        qemu_img_ok(
            &qi,
            &[
                os("create"),
                os("-q"),
                os("-f"),
                os("qcow2"),
                os("-b"),
                base.as_os_str(),
                os("-F"),
                os("qcow2"),
                vm1.as_os_str(),
            ],
        );
        std::fs::remove_file(&base).expect("remove base");
        cases.push((vm1, "gone-base.qcow2"));
    }
    for (img, needle) in cases {
        let out = fv()
            .arg("run")
            .arg("--kernel")
            .arg(&kernel)
            .arg("--disk")
            .arg(&img)
            .output()
            .expect("run fv");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", img.display());
        assert!(err.contains(needle), "{}: {err}", img.display());
    }
}

/// Bad `--disk` values stop `fv run` with status 2 and a message naming
/// the value, before any guest runs.
#[test]
fn bad_disk_arguments_exit_2_naming_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("disk.img");
    std::fs::write(&img, vec![0u8; 4096]).expect("write image");
    let img = img.display().to_string();
    let missing = dir.path().join("missing.img").display().to_string();
    let qcow9 = format!("{img},format=qcow9");
    let bad_opt = format!("{img},rw=maybe");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![missing.clone()], "missing.img"),
        (vec![qcow9.clone()], "format=qcow9"),
        (vec![bad_opt.clone()], "rw=maybe"),
        (vec![img.clone(); 8], "too many disks"),
    ];
    for (disks, needle) in cases {
        let mut args = vec!["run".to_string(), "--kernel".into(), img.clone()];
        for d in &disks {
            args.push("--disk".into());
            args.push(d.clone());
        }
        let out = fv().args(&args).output().expect("run fv");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{disks:?}: {err}");
        assert!(err.contains(needle), "{disks:?}: {err}");
        assert!(err.contains("--disk"), "{disks:?}: {err}");
    }
}

/// A disk image another VM (or qemu) is writing is refused with status 2
/// and a message naming it, as is the same image given twice.
#[test]
fn disk_in_use_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = dir.path().join("kernel");
    std::fs::write(&kernel, vec![0u8; 4096]).expect("write kernel");
    let img = dir.path().join("busy.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).expect("write image");
    let run = |disks: &[&std::path::Path]| {
        let mut cmd = fv();
        cmd.arg("run").arg("--kernel").arg(&kernel);
        for d in disks {
            cmd.arg("--disk").arg(d);
        }
        cmd.output().expect("run fv")
    };
    let out = run(&[&img, &img]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "same image twice: {err}");
    assert!(err.contains("busy.img") && err.contains("in use"), "{err}");

    let Ok(mut holder) = std::process::Command::new("qemu-io")
        .args(["-f", "raw"])
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("SKIP disk_in_use_is_refused_naming_the_file (qemu part): qemu-io not installed");
        return;
    };
    // qemu-io takes its locks right after it starts; wait until they show.
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&img).expect("stat"));
    let start = std::time::Instant::now();
    while !std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .contains(&format!(":{ino} "))
    {
        assert!(
            start.elapsed().as_secs() < 20,
            "qemu-io never locked the image"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = run(&[&img]);
    drop(holder.stdin.take());
    let _ = holder.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "image qemu-io writes: {err}");
    assert!(err.contains("busy.img") && err.contains("in use"), "{err}");
}
