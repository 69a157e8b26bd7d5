//! Fetches (first time) or reuses (later) the default guest and checks its outputs.
//!
//! Cache: `$FV_GUEST_CACHE` if set, else the default cache dir; archive:
//! `$FV_GUEST_APT_URI` if set, else the machine's apt sources. Needs the network
//! the first time; when the archive cannot be reached it prints a SKIP line with
//! the reason instead of failing.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use fv_guest::{cached_guest, default_cache_dir, ensure_guest, FetchOptions};

/// Printed straight to stderr so that it shows even though the test passes
/// (libtest captures only the print macros).
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn cpio_names(gz: &[u8]) -> Vec<(String, u32)> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .expect("initramfs is gzip");
    let mut rest: &[u8] = &raw;
    let mut names = Vec::new();
    loop {
        let reader = cpio::newc::Reader::new(rest).expect("cpio newc entry");
        if reader.entry().is_trailer() {
            return names;
        }
        names.push((reader.entry().name().to_string(), reader.entry().mode()));
        rest = reader.finish().expect("cpio entry data");
    }
}

#[test]
fn default_guest_is_fetched_built_and_cached() {
    let cache_dir = std::env::var_os("FV_GUEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(default_cache_dir);
    let opts = FetchOptions {
        cache_dir: cache_dir.clone(),
        apt_uri: std::env::var("FV_GUEST_APT_URI").ok(),
        ..FetchOptions::default()
    };
    let was_cached = cached_guest(&cache_dir, &opts.suite).is_some();
    let started = Instant::now();
    let guest = match ensure_guest(&opts) {
        Ok(g) => g,
        Err(e) if e.is_source_unavailable() => {
            say(&format!(
                "SKIP default_guest_is_fetched_built_and_cached: no guest in {} and the Debian archive is unavailable: {}",
                cache_dir.display(),
                e.chain()
            ));
            return;
        }
        Err(e) => panic!("ensure_guest failed: {}", e.chain()),
    };
    say(&format!(
        "fv-guest: guest in {} ({}, {:.1} s)",
        guest.dir.display(),
        if was_cached {
            "cached"
        } else {
            "fetched and built"
        },
        started.elapsed().as_secs_f64()
    ));

    // Kernel: a flat RISC-V Image.
    let image = fs::read(&guest.kernel).unwrap();
    let header = fv_guest::kernel::image_header(&image, "Image").expect("RISC-V Image");
    assert_eq!(header.text_offset, 0x20_0000);
    assert!(image.len() > 1 << 20);

    // Initramfs: the files /init needs.
    let names = cpio_names(&fs::read(&guest.initramfs).unwrap());
    for want in [
        "init",
        "etc/inittab",
        "dev/console",
        "bin/busybox",
        "bin/sh",
        "lib/modules/load-order",
    ] {
        assert!(
            names.iter().any(|(n, _)| n == want),
            "{want} missing from initramfs"
        );
    }
    let console = names.iter().find(|(n, _)| n == "dev/console").unwrap();
    assert_eq!(
        console.1 & 0o170_000,
        0o020_000,
        "/dev/console is a char device"
    );

    // Modules and versions.
    let modules = guest.modules_dir.as_ref().expect("virtio modules");
    let order = fs::read_to_string(modules.join("load-order")).unwrap();
    for m in ["virtio_mmio", "virtio_blk", "virtio_net", "ext4"] {
        assert!(order.lines().any(|l| l == m), "{m} not in load-order");
        assert!(modules.join(format!("{m}.ko")).is_file());
    }
    let versions = fs::read_to_string(&guest.versions).unwrap();
    assert!(versions.contains("suite=trixie"), "{versions}");
    assert!(
        versions.contains("kernel_package=linux-image-"),
        "{versions}"
    );
    assert!(versions.contains("busybox_version="), "{versions}");

    // A complete cache is used as is: with an unreachable archive it is still returned,
    // untouched.
    let before = fs::metadata(&guest.kernel).unwrap().modified().unwrap();
    let again = ensure_guest(&FetchOptions {
        apt_uri: Some("http://127.0.0.1:9/unreachable".into()),
        ..opts
    })
    .expect("complete cache returned without network");
    assert_eq!(again, guest);
    assert_eq!(
        fs::metadata(&guest.kernel).unwrap().modified().unwrap(),
        before
    );
}
