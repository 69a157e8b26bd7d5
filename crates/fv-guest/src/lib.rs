//! fv-guest: fetches, builds and caches ferrovisor's default RISC-V guest.
//!
//! The guest is Debian's riscv64 kernel (`linux-image-riscv64` of a suite, `trixie`
//! by default) as a flat `Image`, and an initramfs made here from the static busybox
//! with an `/init` that either boots to a shell or runs a test mode chosen on the
//! kernel command line (`fv.test=boot|bench`, `fv.modules=1`; with `console=hvc0` it
//! loads the modules and runs on the virtio console; see [`initramfs`]).
//!
//! Packages come from the Debian archive that this machine's apt sources already
//! use, through a private apt configuration (the host's apt state is untouched);
//! the `.deb` files are downloaded and verified here and cached, so later runs need
//! no network. This crate does not boot anything: loaders take [`GuestFiles`].

mod apt;
mod assemble;
mod cache;
mod deb;
mod download;
mod error;
pub mod initramfs;
pub mod kernel;
pub mod sources;

use std::fs;
use std::path::{Path, PathBuf};

pub use apt::{parse_print_uris_line, DebUri, HashKind};
pub use assemble::GUEST_MODULES;
pub use error::{ArchiveContext, FetchError};

use apt::{PrivateApt, ARCH, BUSYBOX_PACKAGE};

/// Where and how to fetch the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Cache root; the guest goes to `<cache_dir>/riscv64-<suite>/`.
    pub cache_dir: PathBuf,
    /// Debian suite to take the riscv64 packages from.
    pub suite: String,
    /// Archive URI to use instead of the one in the machine's apt sources.
    pub apt_uri: Option<String>,
    /// Resolve the packages again (network) and rebuild even if the cache is complete.
    pub refresh: bool,
    /// Show download progress on stderr (a bar on a terminal, plain lines otherwise).
    pub progress: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            cache_dir: default_cache_dir(),
            suite: "trixie".to_string(),
            apt_uri: None,
            refresh: false,
            progress: true,
        }
    }
}

/// A complete guest in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFiles {
    /// The guest directory.
    pub dir: PathBuf,
    /// Flat RISC-V `Image` (load at RAM base + its text_offset).
    pub kernel: PathBuf,
    /// `initramfs.cpio.gz`.
    pub initramfs: PathBuf,
    /// Decompressed virtio/9p/ext4 modules with `load-order`, if the kernel has them as modules.
    pub modules_dir: Option<PathBuf>,
    /// `versions.txt`: suite, package versions, sha256 of the outputs.
    pub versions: PathBuf,
}

/// `$XDG_CACHE_HOME/ferrovisor`, else `$HOME/.cache/ferrovisor` (else a directory
/// under the system temporary directory, when neither is set).
pub fn default_cache_dir() -> PathBuf {
    let non_empty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return xdg.join("ferrovisor");
    }
    if let Some(home) = non_empty("HOME") {
        return home.join(".cache").join("ferrovisor");
    }
    std::env::temp_dir().join("ferrovisor-cache")
}

/// The cached guest for `suite` if it is complete, without any network access.
pub fn cached_guest(cache_dir: &Path, suite: &str) -> Option<GuestFiles> {
    validate_suite(suite).ok()?;
    cache::complete_guest(&cache::guest_dir(cache_dir, suite), suite)
}

/// Returns the cached guest if complete; otherwise fetches the packages (or takes
/// them from the deb cache) and builds it. Outputs appear atomically: a killed run
/// never leaves a cache that [`cached_guest`] reports as complete.
pub fn ensure_guest(opts: &FetchOptions) -> Result<GuestFiles, FetchError> {
    validate_suite(&opts.suite)?;
    if !opts.refresh {
        if let Some(guest) = cached_guest(&opts.cache_dir, &opts.suite) {
            tracing::debug!(dir = %guest.dir.display(), "guest cache complete");
            return Ok(guest);
        }
    }
    let cache_dir = &opts.cache_dir;
    let debs_dir = cache::debs_dir(cache_dir, &opts.suite);
    fs::create_dir_all(&debs_dir).map_err(|e| FetchError::io("creating", &debs_dir, e))?;
    cache::remove_stale(cache_dir, &[&cache::partial_prefix(&opts.suite)]);
    cache::remove_stale(&debs_dir, &["."]);

    let cached = if opts.refresh {
        None
    } else {
        cached_debs(&debs_dir)
    };
    let (kernel_deb, busybox_deb) = match cached {
        Some(debs) => {
            tracing::info!(dir = %debs_dir.display(), "using cached packages");
            debs
        }
        None => fetch_debs(opts, &debs_dir)?,
    };
    if opts.progress {
        eprintln!(
            "fv-guest: building the guest in {}",
            cache::guest_dir(cache_dir, &opts.suite).display()
        );
    }
    assemble::build_guest(cache_dir, &opts.suite, &kernel_deb, &busybox_deb)
}

/// Suites become path components and apt arguments: keep them plain.
fn validate_suite(suite: &str) -> Result<(), FetchError> {
    let ok = !suite.is_empty()
        && !suite.starts_with(['.', '-'])
        && suite
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(FetchError::InvalidSuite {
            suite: suite.to_string(),
        })
    }
}

/// Which of the resolved debs is the kernel and which is busybox.
fn split_debs(debs: &[DebUri], kernel_package: Option<&str>) -> Option<(DebUri, DebUri)> {
    let kernel = debs.iter().find(|d| match kernel_package {
        Some(p) => d.filename.starts_with(&format!("{p}_")),
        None => d.filename.starts_with("linux-image-"),
    })?;
    let busybox = debs
        .iter()
        .find(|d| d.filename.starts_with(&format!("{BUSYBOX_PACKAGE}_")))?;
    Some((kernel.clone(), busybox.clone()))
}

/// The debs recorded in `resolved.txt`, if both are present and intact.
fn cached_debs(debs_dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let text = fs::read_to_string(debs_dir.join(cache::RESOLVED_FILE)).ok()?;
    let debs = apt::parse_print_uris(&text).ok()?;
    let (kernel, busybox) = split_debs(&debs, None)?;
    let paths = (
        debs_dir.join(&kernel.filename),
        debs_dir.join(&busybox.filename),
    );
    (download::file_matches(&paths.0, &kernel) && download::file_matches(&paths.1, &busybox))
        .then_some(paths)
}

/// Resolves the packages through a private apt and downloads what is not cached.
fn fetch_debs(opts: &FetchOptions, debs_dir: &Path) -> Result<(PathBuf, PathBuf), FetchError> {
    let (uri, origin) = match &opts.apt_uri {
        Some(uri) => (uri.clone(), "FetchOptions::apt_uri".to_string()),
        None => {
            let codename = sources::host_codename();
            let found = sources::find_archive_uri(Path::new("/etc/apt"), codename.as_deref())?;
            (found.uri, found.file.display().to_string())
        }
    };
    if opts.progress {
        eprintln!(
            "fv-guest: resolving riscv64 packages of {} from {uri} (from {origin})",
            opts.suite
        );
    }
    let apt = PrivateApt::new(&uri, &origin, &opts.suite)?;
    apt.update()?;
    let kernel_package = apt.resolve_kernel_package()?;
    tracing::info!(%kernel_package, uri = apt.uri(), "resolved kernel package");
    let busybox_package = format!("{BUSYBOX_PACKAGE}:{ARCH}");
    let resolved = apt.print_uris(&[&kernel_package, &busybox_package])?;
    let (kernel, busybox) =
        split_debs(&resolved, Some(&kernel_package)).ok_or_else(|| FetchError::PrintUris {
            line: format!(
                "expected {kernel_package} and {busybox_package} in: {}",
                resolved
                    .iter()
                    .map(|d| d.filename.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;

    let agent = download::agent();
    for (deb, package) in [
        (&kernel, kernel_package.as_str()),
        (&busybox, busybox_package.as_str()),
    ] {
        let dest = debs_dir.join(&deb.filename);
        if download::file_matches(&dest, deb) {
            tracing::info!(file = %dest.display(), "already downloaded");
            continue;
        }
        if download::is_http(&deb.uri) {
            download::http_download(&agent, deb, debs_dir, opts.progress)?;
        } else {
            // file:, mirror+…, cdrom: and the like: let apt fetch it.
            tracing::info!(uri = %deb.uri, "downloading through apt-get");
            apt.download(&[package], debs_dir)?;
            download::verify(&dest, deb)?;
        }
    }

    // Record what was resolved (print-uris lines), atomically, then drop older debs.
    let line = |d: &DebUri| {
        let hash = d
            .hash
            .as_ref()
            .map(|(k, h)| format!(" {}:{h}", k.name()))
            .unwrap_or_default();
        format!("'{}' {} {}{hash}\n", d.uri, d.filename, d.size)
    };
    let manifest = debs_dir.join(cache::RESOLVED_FILE);
    let tmp = debs_dir.join(format!(".{}.{}", cache::RESOLVED_FILE, std::process::id()));
    fs::write(&tmp, format!("{}{}", line(&kernel), line(&busybox)))
        .and_then(|()| fs::rename(&tmp, &manifest))
        .map_err(|e| FetchError::io("writing", &manifest, e))?;
    if let Ok(entries) = fs::read_dir(debs_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".deb") && name != kernel.filename && name != busybox.filename {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok((
        debs_dir.join(&kernel.filename),
        debs_dir.join(&busybox.filename),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::sha256_hex;

    #[test]
    fn default_cache_dir_ends_in_ferrovisor() {
        assert!(
            default_cache_dir().ends_with("ferrovisor")
                || default_cache_dir().ends_with("ferrovisor-cache")
        );
    }

    #[test]
    fn suites_are_validated() {
        for ok in ["trixie", "sid", "bookworm-backports", "13"] {
            validate_suite(ok).unwrap();
        }
        for bad in ["", "../etc", "a b", "-x", "trixie/main"] {
            assert!(validate_suite(bad).is_err(), "{bad:?}");
        }
        assert!(cached_guest(Path::new("/nonexistent"), "../x").is_none());
    }

    fn deb_uri(filename: &str, data: &[u8]) -> DebUri {
        DebUri {
            uri: format!("http://mirror.example/debian/pool/{filename}"),
            filename: filename.to_string(),
            size: data.len() as u64,
            hash: Some((HashKind::Sha256, sha256_hex(data))),
        }
    }

    #[test]
    fn deb_cache_needs_manifest_and_intact_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert!(cached_debs(d).is_none(), "empty");
        let k = deb_uri("linux-image-6.1.0-9-riscv64_6.1.0-9_riscv64.deb", b"kernel");
        let b = deb_uri("busybox-static_1%3a1.36.1-9_riscv64.deb", b"busybox");
        fs::write(d.join(&k.filename), b"kernel").unwrap();
        fs::write(d.join(&b.filename), b"busybox").unwrap();
        assert!(cached_debs(d).is_none(), "no manifest");
        let manifest = format!(
            "'{}' {} {} SHA256:{}\n'{}' {} {} SHA256:{}\n",
            k.uri,
            k.filename,
            k.size,
            k.hash.as_ref().unwrap().1,
            b.uri,
            b.filename,
            b.size,
            b.hash.as_ref().unwrap().1
        );
        fs::write(d.join(cache::RESOLVED_FILE), manifest).unwrap();
        let (kp, bp) = cached_debs(d).expect("complete deb cache");
        assert_eq!(kp, d.join(&k.filename));
        assert_eq!(bp, d.join(&b.filename));
        fs::write(d.join(&b.filename), b"busyboX").unwrap();
        assert!(cached_debs(d).is_none(), "corrupted deb");
    }

    #[test]
    fn complete_cache_is_returned_without_network() {
        // An unreachable archive URI proves that a complete cache is used as is.
        let tmp = tempfile::tempdir().unwrap();
        let (kdeb, bdeb) = assemble::tests::fake_debs(tmp.path(), &kernel::tests::fake_image(true));
        let cache_dir = tmp.path().join("cache");
        fs::create_dir(&cache_dir).unwrap();
        let built = assemble::build_guest(&cache_dir, "trixie", &kdeb, &bdeb).unwrap();
        let opts = FetchOptions {
            cache_dir: cache_dir.clone(),
            apt_uri: Some("http://127.0.0.1:9/debian".into()),
            progress: false,
            ..FetchOptions::default()
        };
        assert_eq!(ensure_guest(&opts).unwrap(), built);
        // A failed refresh leaves the complete guest in place.
        let refresh = FetchOptions {
            refresh: true,
            ..opts.clone()
        };
        let err = ensure_guest(&refresh).unwrap_err();
        assert_eq!(cached_guest(&cache_dir, "trixie"), Some(built.clone()));
        // An incomplete cache with no debs must go to the network, which fails cleanly.
        fs::remove_file(&built.versions).unwrap();
        let err2 = ensure_guest(&opts).unwrap_err();
        assert!(cached_guest(&cache_dir, "trixie").is_none());
        for e in [err, err2] {
            let msg = e.chain();
            // Without apt's keyring (non-Debian host) it stops before trying the URI.
            let no_apt = matches!(
                e,
                FetchError::MissingKeyring { .. } | FetchError::Spawn { .. }
            );
            assert!(no_apt || msg.contains("127.0.0.1:9"), "{msg}");
            assert!(no_apt || e.is_source_unavailable(), "{msg}");
        }
    }

    #[test]
    fn cached_debs_rebuild_without_network() {
        let tmp = tempfile::tempdir().unwrap();
        let cache_dir = tmp.path().join("cache");
        let debs_dir = cache::debs_dir(&cache_dir, "trixie");
        fs::create_dir_all(&debs_dir).unwrap();
        let (kdeb, bdeb) = assemble::tests::fake_debs(&debs_dir, &kernel::tests::fake_image(false));
        let k = deb_uri(
            &kdeb.file_name().unwrap().to_string_lossy(),
            &fs::read(&kdeb).unwrap(),
        );
        let b = deb_uri(
            &bdeb.file_name().unwrap().to_string_lossy(),
            &fs::read(&bdeb).unwrap(),
        );
        let manifest = format!(
            "'{}' {} {} SHA256:{}\n'{}' {} {} SHA256:{}\n",
            k.uri,
            k.filename,
            k.size,
            k.hash.as_ref().unwrap().1,
            b.uri,
            b.filename,
            b.size,
            b.hash.as_ref().unwrap().1
        );
        fs::write(debs_dir.join(cache::RESOLVED_FILE), manifest).unwrap();
        let opts = FetchOptions {
            cache_dir: cache_dir.clone(),
            apt_uri: Some("http://127.0.0.1:9/debian".into()),
            progress: false,
            ..FetchOptions::default()
        };
        let g = ensure_guest(&opts).unwrap();
        assert_eq!(cached_guest(&cache_dir, "trixie"), Some(g));
    }
}
