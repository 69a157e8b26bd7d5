//! Building the guest directory from the two `.deb` files.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::cache::{
    self, CONFIG_FILE, INITRAMFS_FILE, KERNEL_FILE, LOAD_ORDER, MODULES_DIR, VERSIONS_FILE,
};
use crate::deb::{self, Flow};
use crate::download::sha256_hex;
use crate::{initramfs, kernel, FetchError, GuestFiles};

/// Kernel modules for guest devices, in insmod (dependency) order. Debian's riscv64
/// config builds virtio_mmio, virtio_blk, virtio_net, 9p and ext4 as modules, and the
/// deb has no modules.dep (depmod runs at install time), hence the explicit order.
pub const GUEST_MODULES: [&str; 15] = [
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_mmio",
    "virtio_blk",
    "virtio-rng",
    "netfs",
    "9pnet",
    "9pnet_virtio",
    "9p",
    "crc16",
    "mbcache",
    "jbd2",
    "crc32c_generic",
    "ext4",
];

/// What the kernel package provides.
struct KernelParts {
    /// Path of the kernel inside the deb, e.g. `boot/vmlinux-6.12.107+deb13-riscv64`.
    file_in_deb: String,
    release: String,
    bytes: Vec<u8>,
    config: Vec<u8>,
    /// Decompressed modules found, in [`GUEST_MODULES`] order.
    modules: Vec<(String, Vec<u8>)>,
}

/// `name` if `path` is a module file `…/lib/modules/<rel>/…/<name>.ko[.xz|.gz]`.
fn module_name(path: &str) -> Option<(&str, &str)> {
    let in_modules = path.starts_with("lib/modules/") || path.starts_with("usr/lib/modules/");
    if !in_modules {
        return None;
    }
    let file = path.rsplit('/').next()?;
    let (stem, ext) = file.split_once(".ko")?;
    Some((stem, ext))
}

fn extract_kernel(deb_path: &Path) -> Result<KernelParts, FetchError> {
    let mut kernel: Option<(String, Vec<u8>)> = None;
    let mut config: Option<Vec<u8>> = None;
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    deb::for_each_entry(deb_path, "data", |path, entry| {
        if !entry.header().entry_type().is_file() {
            return Ok(Flow::Continue);
        }
        if kernel.is_none()
            && (path.starts_with("boot/vmlinux-") || path.starts_with("boot/vmlinuz-"))
        {
            kernel = Some((path.to_string(), deb::read_entry(deb_path, path, entry)?));
        } else if config.is_none() && path.starts_with("boot/config-") {
            config = Some(deb::read_entry(deb_path, path, entry)?);
        } else if let Some((name, ext)) = module_name(path) {
            if GUEST_MODULES.contains(&name) && !found.iter().any(|(n, _)| n == name) {
                let raw = deb::read_entry(deb_path, path, entry)?;
                let mut ko = Vec::new();
                let res = match ext {
                    "" => {
                        ko = raw;
                        Ok(0)
                    }
                    ".xz" => liblzma::read::XzDecoder::new(raw.as_slice()).read_to_end(&mut ko),
                    ".gz" => flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut ko),
                    other => {
                        tracing::warn!(
                            path,
                            "skipping module with unsupported compression {other}"
                        );
                        return Ok(Flow::Continue);
                    }
                };
                res.map_err(|e| FetchError::BadDeb {
                    path: deb_path.to_path_buf(),
                    reason: format!("decompressing {path}: {e}"),
                })?;
                found.push((name.to_string(), ko));
            }
        }
        let done = kernel.is_some() && config.is_some() && found.len() == GUEST_MODULES.len();
        Ok(if done { Flow::Stop } else { Flow::Continue })
    })?;
    let (file_in_deb, bytes) = kernel.ok_or_else(|| FetchError::BadDeb {
        path: deb_path.to_path_buf(),
        reason: "no /boot/vmlinux-* or /boot/vmlinuz-* in the package".into(),
    })?;
    let config = config.ok_or_else(|| FetchError::BadDeb {
        path: deb_path.to_path_buf(),
        reason: "no /boot/config-* in the package".into(),
    })?;
    let release = file_in_deb
        .trim_start_matches("boot/")
        .get("vmlinux-".len()..)
        .unwrap_or_default()
        .to_string();
    let modules = GUEST_MODULES
        .iter()
        .filter_map(|m| {
            found
                .iter()
                .position(|(n, _)| n == m)
                .map(|i| found.swap_remove(i))
        })
        .collect();
    Ok(KernelParts {
        file_in_deb,
        release,
        bytes,
        config,
        modules,
    })
}

fn extract_busybox(deb_path: &Path) -> Result<Vec<u8>, FetchError> {
    let mut busybox = None;
    deb::for_each_entry(deb_path, "data", |path, entry| {
        if entry.header().entry_type().is_file()
            && (path == "bin/busybox" || path == "usr/bin/busybox")
        {
            busybox = Some(deb::read_entry(deb_path, path, entry)?);
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    busybox.ok_or_else(|| FetchError::BadDeb {
        path: deb_path.to_path_buf(),
        reason: "no /bin/busybox or /usr/bin/busybox in the package".into(),
    })
}

/// Writes `data` to `path` and flushes it to disk, so that a renamed directory
/// never holds truncated files after a crash.
fn write_synced(path: &Path, data: &[u8]) -> Result<(), FetchError> {
    let mut f = File::create(path).map_err(|e| FetchError::io("creating", path, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| FetchError::io("writing", path, e))
}

/// Builds the guest from the debs into a fresh directory under `cache_dir` and
/// renames it to its final place; a killed build leaves only a `.partial-*` directory.
pub(crate) fn build_guest(
    cache_dir: &Path,
    suite: &str,
    kernel_deb: &Path,
    busybox_deb: &Path,
) -> Result<GuestFiles, FetchError> {
    let kernel_control = deb::read_control(kernel_deb)?;
    let busybox_control = deb::read_control(busybox_deb)?;
    tracing::info!(
        kernel = %kernel_control.package,
        version = %kernel_control.version,
        busybox = %busybox_control.version,
        "building guest"
    );
    let parts = extract_kernel(kernel_deb)?;
    let source_name = format!("{}:/{}", kernel_deb.display(), parts.file_in_deb);
    let (image, header, format) = kernel::to_flat_image(parts.bytes, &source_name)?;
    let busybox = extract_busybox(busybox_deb)?;
    let initramfs = initramfs::build_initramfs(&busybox, &parts.modules)?;

    let staging = tempfile::Builder::new()
        .prefix(&cache::partial_prefix(suite))
        .tempdir_in(cache_dir)
        .map_err(|e| FetchError::io("creating a build directory in", cache_dir, e))?;
    let dir = staging.path();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| FetchError::io("setting permissions of", dir, e))?;
    write_synced(&dir.join(KERNEL_FILE), &image)?;
    write_synced(&dir.join(INITRAMFS_FILE), &initramfs)?;
    write_synced(&dir.join(CONFIG_FILE), &parts.config)?;
    if !parts.modules.is_empty() {
        let mdir = dir.join(MODULES_DIR);
        fs::create_dir(&mdir).map_err(|e| FetchError::io("creating", &mdir, e))?;
        let mut order = String::new();
        for (name, ko) in &parts.modules {
            write_synced(&mdir.join(format!("{name}.ko")), ko)?;
            order.push_str(name);
            order.push('\n');
        }
        write_synced(&mdir.join(LOAD_ORDER), order.as_bytes())?;
    }
    let module_names: Vec<&str> = parts.modules.iter().map(|(n, _)| n.as_str()).collect();
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut versions = format!(
        "fv_guest_format={format_version}\n\
         suite={suite}\n\
         arch=riscv64\n\
         kernel_package={kpkg}\n\
         kernel_package_version={kver}\n\
         kernel_release={release}\n\
         kernel_file_in_deb=/{kfile}\n\
         kernel_file_format={kformat}\n\
         image_text_offset={text_offset:#x}\n\
         image_size_field={image_size}\n\
         busybox_package={bpkg}\n\
         busybox_version={bver}\n\
         modules={modules}\n\
         kernel_deb={kdeb}\n\
         busybox_deb={bdeb}\n\
         initramfs_scripts={scripts}\n",
        format_version = cache::FORMAT,
        scripts = cache::scripts_digest(),
        kpkg = kernel_control.package,
        kver = kernel_control.version,
        release = parts.release,
        kfile = parts.file_in_deb,
        kformat = format.name(),
        text_offset = header.text_offset,
        image_size = header.image_size,
        bpkg = busybox_control.package,
        bver = busybox_control.version,
        modules = module_names.join(" "),
        kdeb = file_name(kernel_deb),
        bdeb = file_name(busybox_deb),
    );
    for (name, data) in [
        (KERNEL_FILE, &image),
        (INITRAMFS_FILE, &initramfs),
        (CONFIG_FILE, &parts.config),
    ] {
        versions.push_str(&format!(
            "size.{name}={}\nsha256.{name}={}\n",
            data.len(),
            sha256_hex(data)
        ));
    }
    // versions.txt last: a directory is only complete with it.
    write_synced(&dir.join(VERSIONS_FILE), versions.as_bytes())?;
    install(staging, &cache::guest_dir(cache_dir, suite), suite)
}

/// Moves the finished build to `dest`, replacing an older guest there.
fn install(staging: tempfile::TempDir, dest: &Path, suite: &str) -> Result<GuestFiles, FetchError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let mut old: Option<PathBuf> = None;
    if dest.exists() {
        let aside = parent.join(format!(
            "{}old-{}",
            cache::partial_prefix(suite),
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&aside);
        fs::rename(dest, &aside)
            .map_err(|e| FetchError::io("moving aside the old guest", dest, e))?;
        old = Some(aside);
    }
    if let Err(e) = fs::rename(staging.path(), dest) {
        // Another process may have installed a guest at the same moment.
        if let Some(g) = cache::complete_guest(dest, suite) {
            tracing::debug!("another process installed the guest first");
            return Ok(g);
        }
        return Err(FetchError::io("installing the guest as", dest, e));
    }
    let _ = staging.keep();
    if let Some(old) = old {
        let _ = fs::remove_dir_all(old);
    }
    // Make the rename itself durable.
    if let Ok(d) = File::open(parent) {
        let _ = d.sync_all();
    }
    cache::complete_guest(dest, suite).ok_or_else(|| {
        FetchError::io(
            "checking the installed guest in",
            dest,
            std::io::Error::other("freshly built guest is incomplete"),
        )
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::deb::tests::make_deb;
    use crate::kernel::tests::fake_image;

    /// Writes a fake kernel deb and busybox deb into `dir`.
    pub(crate) fn fake_debs(dir: &Path, image: &[u8]) -> (PathBuf, PathBuf) {
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(b"\x7fELF-virtio_blk").unwrap();
        let ko_xz = xz.finish().unwrap();
        let kdeb = dir.join("linux-image-6.1.0-9-riscv64_6.1.0-9_riscv64.deb");
        make_deb(
            &kdeb,
            "Package: linux-image-6.1.0-9-riscv64\nVersion: 6.1.0-9\n",
            &[
                ("boot/vmlinux-6.1.0-9-riscv64", image),
                ("boot/config-6.1.0-9-riscv64", b"CONFIG_VIRTIO=y\n"),
                (
                    "usr/lib/modules/6.1.0-9-riscv64/kernel/drivers/block/virtio_blk.ko.xz",
                    &ko_xz,
                ),
                (
                    "usr/lib/modules/6.1.0-9-riscv64/kernel/fs/ext4/ext4.ko",
                    b"\x7fELF-ext4",
                ),
                (
                    "usr/lib/modules/6.1.0-9-riscv64/kernel/drivers/other.ko.xz",
                    &ko_xz,
                ),
            ],
        );
        let bdeb = dir.join("busybox-static_1%3a1.36.1-9_riscv64.deb");
        make_deb(
            &bdeb,
            "Package: busybox-static\nVersion: 1:1.36.1-9\n",
            &[("usr/bin/busybox", b"\x7fELF-busybox")],
        );
        (kdeb, bdeb)
    }

    #[test]
    fn builds_complete_guest_from_debs() {
        let tmp = tempfile::tempdir().unwrap();
        let (kdeb, bdeb) = fake_debs(tmp.path(), &fake_image(true));
        let cache_dir = tmp.path().join("cache");
        fs::create_dir(&cache_dir).unwrap();
        let g = build_guest(&cache_dir, "trixie", &kdeb, &bdeb).unwrap();
        assert_eq!(g.dir, cache_dir.join("riscv64-trixie"));
        assert_eq!(fs::read(&g.kernel).unwrap(), fake_image(true));
        let mdir = g.modules_dir.clone().expect("modules");
        assert_eq!(
            fs::read_to_string(mdir.join("load-order")).unwrap(),
            "virtio_blk\next4\n"
        );
        assert_eq!(
            fs::read(mdir.join("virtio_blk.ko")).unwrap(),
            b"\x7fELF-virtio_blk"
        );
        let versions = fs::read_to_string(&g.versions).unwrap();
        for needle in [
            "kernel_package=linux-image-6.1.0-9-riscv64",
            "kernel_release=6.1.0-9-riscv64",
            "busybox_version=1:1.36.1-9",
            "image_text_offset=0x200000",
            "kernel_file_format=image-efi",
            "sha256.Image=",
        ] {
            assert!(versions.contains(needle), "{needle} in {versions}");
        }
        let first = fs::read(&g.initramfs).unwrap();
        // Rebuilding replaces the guest and gives identical bytes.
        let g2 = build_guest(&cache_dir, "trixie", &kdeb, &bdeb).unwrap();
        assert_eq!(fs::read(&g2.initramfs).unwrap(), first);
        let leftovers: Vec<_> = fs::read_dir(&cache_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("riscv64-trixie")]);
    }

    #[test]
    fn rejects_kernel_that_is_not_an_image() {
        let tmp = tempfile::tempdir().unwrap();
        let (kdeb, bdeb) = fake_debs(
            tmp.path(),
            b"\x7fELF not an image, padded out to more than 64 bytes ..........",
        );
        let cache_dir = tmp.path().join("cache");
        fs::create_dir(&cache_dir).unwrap();
        let err = build_guest(&cache_dir, "trixie", &kdeb, &bdeb).unwrap_err();
        assert!(matches!(err, FetchError::NotRiscvImage { .. }), "{err}");
        assert!(
            err.to_string().contains("boot/vmlinux-6.1.0-9-riscv64"),
            "{err}"
        );
        assert!(cache::complete_guest(&cache::guest_dir(&cache_dir, "trixie"), "trixie").is_none());
        assert_eq!(
            fs::read_dir(&cache_dir).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn module_paths() {
        assert_eq!(
            module_name("usr/lib/modules/6.1/kernel/fs/ext4/ext4.ko.xz"),
            Some(("ext4", ".xz"))
        );
        assert_eq!(
            module_name("lib/modules/6.1/kernel/x/virtio-rng.ko"),
            Some(("virtio-rng", ""))
        );
        assert_eq!(module_name("usr/share/doc/ext4.ko.xz"), None);
    }
}
