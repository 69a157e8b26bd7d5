//! `fv run` refuses bad input with exit status 2 and a message naming the
//! argument and value, without panicking.

use std::process::Command;

fn fv(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fv"))
        .args(args)
        .env("FV_LOG", "off")
        .output()
        .expect("run fv");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "fv panicked: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

fn tmp_file(name: &str, data: &[u8]) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    std::fs::write(&p, data).unwrap();
    let s = p.display().to_string();
    (d, s)
}

#[test]
fn missing_kernel_file() {
    let (code, err) = fv(&["run", "--kernel", "/nonexistent/Image", "--console", "none"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/Image"), "{err}");
}

#[test]
fn kernel_that_is_not_an_image() {
    let (_d, k) = tmp_file("notakernel", &[0x42; 4096]);
    let (code, err) = fv(&["run", "--kernel", &k, "--console", "none"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a riscv64 Linux Image"), "{err}");
    assert!(err.contains("notakernel"), "{err}");
}

#[test]
fn bad_mem_values() {
    let (_d, k) = tmp_file("k", &[0; 64]);
    for (mem, needle) in [
        ("lots", "--mem"),
        ("1M", "--mem"),
        ("0", "--mem"),
        ("9999T", "--mem"),
    ] {
        let (code, err) = fv(&["run", "--kernel", &k, "--mem", mem, "--console", "none"]);
        assert_eq!(code, 2, "--mem {mem}: {err}");
        assert!(err.contains(needle), "--mem {mem}: {err}");
    }
}

#[test]
fn bad_cpu_counts() {
    let (_d, k) = tmp_file("k", &[0; 64]);
    for cpus in ["0", "9", "-1", "two"] {
        let (code, err) = fv(&["run", "--kernel", &k, "--cpus", cpus, "--console", "none"]);
        assert_eq!(code, 2, "--cpus {cpus}: {err}");
        assert!(err.contains("cpus"), "--cpus {cpus}: {err}");
    }
}

#[test]
fn bad_console_and_bios() {
    let (_d, k) = tmp_file("k", &[0; 64]);
    let (code, err) = fv(&["run", "--kernel", &k, "--console", "serial"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--console 'serial'"), "{err}");
    for bad in ["virtio,serial", "virtiofs", "virtio,file="] {
        let (code, err) = fv(&["run", "--kernel", &k, "--console", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains(&format!("--console '{bad}'")), "{err}");
    }
    let (code, err) = fv(&["run", "--kernel", &k, "--bios", "/some/fw.bin"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--bios"), "{err}");
}

#[test]
fn initrd_that_does_not_fit() {
    // A valid Image header, and an initrd larger than the 16 MiB of RAM.
    let mut img = vec![0u8; 4096];
    img[8..16].copy_from_slice(&0x20_0000u64.to_le_bytes());
    img[16..24].copy_from_slice(&0x1_0000u64.to_le_bytes());
    img[56..60].copy_from_slice(b"RSC\x05");
    let (_d1, k) = tmp_file("Image", &img);
    let (_d2, i) = tmp_file("big-initrd", &vec![0u8; 20 << 20]);
    let (code, err) = fv(&[
        "run",
        "--kernel",
        &k,
        "--initrd",
        &i,
        "--mem",
        "16M",
        "--console",
        "none",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("big-initrd") && err.contains("does not fit"),
        "{err}"
    );
    // Missing initrd names the file.
    let (code, err) = fv(&[
        "run",
        "--kernel",
        &k,
        "--initrd",
        "/no/such/initrd",
        "--console",
        "none",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/no/such/initrd"), "{err}");
}

#[test]
fn virtio_devices_must_fit_the_slots() {
    // Seven disks fill the slots with the rng; the console needs one more.
    let (d, k) = tmp_file("k", &[0; 64]);
    let disk = d.path().join("disk.img");
    std::fs::write(&disk, [0u8; 512]).unwrap();
    let disk = disk.display().to_string();
    let mut args = vec!["run", "--kernel", &k, "--console", "virtio,none"];
    for _ in 0..7 {
        args.extend(["--disk", &disk]);
    }
    let (code, err) = fv(&args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("7 disks, 0 network cards and --console virtio")
            && err.contains("9 virtio-mmio slots")
            && err.contains("the board has 8"),
        "{err}"
    );
}
