//! The on-disk cache: layout, `versions.txt`, and what counts as complete.
//!
//! ```text
//! <cache_dir>/riscv64-<suite>/            a complete guest (only ever created by rename)
//!     Image  initramfs.cpio.gz  config  modules/*.ko  modules/load-order  versions.txt
//! <cache_dir>/debs/<suite>/*.deb           downloaded packages, verified
//! <cache_dir>/debs/<suite>/resolved.txt    what apt resolved (print-uris lines)
//! <cache_dir>/.riscv64-<suite>.partial-*  a build in progress (or killed)
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::GuestFiles;

/// Bumped whenever the built outputs change meaning, so old caches are rebuilt
/// (from the cached debs, without network). 3: `/init` runs on hvc0 with
/// `console=hvc0`, and the initramfs scripts are versioned by
/// [`scripts_digest`] (an edited `/init` rebuilds the cache by itself).
pub(crate) const FORMAT: &str = "3";
pub(crate) const KERNEL_FILE: &str = "Image";
pub(crate) const INITRAMFS_FILE: &str = "initramfs.cpio.gz";
pub(crate) const CONFIG_FILE: &str = "config";
pub(crate) const VERSIONS_FILE: &str = "versions.txt";
pub(crate) const MODULES_DIR: &str = "modules";
pub(crate) const LOAD_ORDER: &str = "load-order";
pub(crate) const RESOLVED_FILE: &str = "resolved.txt";

/// sha256 of the scripts this build puts in the initramfs, recorded in
/// `versions.txt` as `initramfs_scripts`.
pub(crate) fn scripts_digest() -> String {
    use crate::initramfs::{INITTAB, INIT_SCRIPT, PROFILE, RCK_SCRIPT, RCS_SCRIPT};
    let all = [INIT_SCRIPT, INITTAB, RCS_SCRIPT, RCK_SCRIPT, PROFILE].join("\0");
    crate::download::sha256_hex(all.as_bytes())
}

/// Directory of the complete guest for `suite`.
pub(crate) fn guest_dir(cache_dir: &Path, suite: &str) -> PathBuf {
    cache_dir.join(format!("riscv64-{suite}"))
}

/// Directory of the cached `.deb` files for `suite`.
pub(crate) fn debs_dir(cache_dir: &Path, suite: &str) -> PathBuf {
    cache_dir.join("debs").join(suite)
}

/// Prefix of in-progress build directories.
pub(crate) fn partial_prefix(suite: &str) -> String {
    format!(".riscv64-{suite}.partial-")
}

/// `key=value` lines.
pub(crate) fn parse_versions(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The guest in `dir` if it is complete: a `versions.txt` of the current format for
/// `suite`, and every output present with the size recorded there.
pub(crate) fn complete_guest(dir: &Path, suite: &str) -> Option<GuestFiles> {
    let versions = dir.join(VERSIONS_FILE);
    let map = parse_versions(&fs::read_to_string(&versions).ok()?);
    if map.get("fv_guest_format").map(String::as_str) != Some(FORMAT)
        || map.get("suite").map(String::as_str) != Some(suite)
        || map.get("initramfs_scripts") != Some(&scripts_digest())
    {
        return None;
    }
    for file in [KERNEL_FILE, INITRAMFS_FILE, CONFIG_FILE] {
        let want: u64 = map.get(&format!("size.{file}"))?.parse().ok()?;
        map.get(&format!("sha256.{file}"))?;
        let meta = fs::metadata(dir.join(file)).ok()?;
        if !meta.is_file() || meta.len() != want || want == 0 {
            return None;
        }
    }
    let modules_dir = dir.join(MODULES_DIR);
    let modules_listed = map.get("modules").is_some_and(|m| !m.is_empty());
    let modules_dir = if modules_listed {
        let order = fs::read_to_string(modules_dir.join(LOAD_ORDER)).ok()?;
        for name in order.lines() {
            if !modules_dir.join(format!("{name}.ko")).is_file() {
                return None;
            }
        }
        Some(modules_dir)
    } else {
        None
    };
    Some(GuestFiles {
        dir: dir.to_path_buf(),
        kernel: dir.join(KERNEL_FILE),
        initramfs: dir.join(INITRAMFS_FILE),
        modules_dir,
        versions,
    })
}

/// Removes leftovers of killed runs (build dirs, replaced guests, partial
/// downloads) older than a day, so that a run still in progress elsewhere is left alone.
pub(crate) fn remove_stale(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let day = Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > day);
        if old {
            let path = entry.path();
            tracing::debug!(path = %path.display(), "removing stale leftover");
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_complete(dir: &Path) {
        fs::create_dir_all(dir.join(MODULES_DIR)).unwrap();
        fs::write(dir.join(KERNEL_FILE), b"kernel").unwrap();
        fs::write(dir.join(INITRAMFS_FILE), b"initramfs").unwrap();
        fs::write(dir.join(CONFIG_FILE), b"CONFIG_X=y\n").unwrap();
        fs::write(dir.join(MODULES_DIR).join("virtio_blk.ko"), b"ko").unwrap();
        fs::write(dir.join(MODULES_DIR).join(LOAD_ORDER), b"virtio_blk\n").unwrap();
        fs::write(
            dir.join(VERSIONS_FILE),
            format!(
                "fv_guest_format={FORMAT}\nsuite=trixie\nmodules=virtio_blk\n\
                 initramfs_scripts={}\n\
                 size.Image=6\nsha256.Image=00\nsize.initramfs.cpio.gz=9\nsha256.initramfs.cpio.gz=00\n\
                 size.config=11\nsha256.config=00\n",
                scripts_digest()
            ),
        )
        .unwrap();
    }

    #[test]
    fn complete_cache_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = guest_dir(tmp.path(), "trixie");
        write_complete(&dir);
        let g = complete_guest(&dir, "trixie").expect("complete");
        assert_eq!(g.kernel, dir.join("Image"));
        assert_eq!(g.modules_dir, Some(dir.join("modules")));
        assert!(complete_guest(&dir, "sid").is_none(), "other suite");
    }

    #[test]
    fn incomplete_caches_are_not_reported() {
        type Breaker = fn(&Path);
        let breakers: [(&str, Breaker); 7] = [
            ("no versions.txt", |d| {
                fs::remove_file(d.join(VERSIONS_FILE)).unwrap()
            }),
            ("no Image", |d| {
                fs::remove_file(d.join(KERNEL_FILE)).unwrap()
            }),
            ("truncated initramfs", |d| {
                fs::write(d.join(INITRAMFS_FILE), b"init").unwrap()
            }),
            ("missing module", |d| {
                fs::remove_file(d.join(MODULES_DIR).join("virtio_blk.ko")).unwrap()
            }),
            ("old format", |d| {
                let t = fs::read_to_string(d.join(VERSIONS_FILE)).unwrap();
                let t = t.replace(&format!("fv_guest_format={FORMAT}"), "fv_guest_format=0");
                fs::write(d.join(VERSIONS_FILE), t).unwrap()
            }),
            ("other initramfs scripts", |d| {
                let t = fs::read_to_string(d.join(VERSIONS_FILE)).unwrap();
                let t = t.replace(&scripts_digest(), "0000");
                fs::write(d.join(VERSIONS_FILE), t).unwrap()
            }),
            ("versions without sizes", |d| {
                fs::write(
                    d.join(VERSIONS_FILE),
                    format!("fv_guest_format={FORMAT}\nsuite=trixie\n"),
                )
                .unwrap()
            }),
        ];
        for (what, breaker) in breakers {
            let tmp = tempfile::tempdir().unwrap();
            let dir = guest_dir(tmp.path(), "trixie");
            write_complete(&dir);
            breaker(&dir);
            assert!(complete_guest(&dir, "trixie").is_none(), "{what}");
        }
        let tmp = tempfile::tempdir().unwrap();
        assert!(complete_guest(&tmp.path().join("nothing"), "trixie").is_none());
    }

    #[test]
    fn stale_leftovers_only_when_old() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join(".riscv64-trixie.partial-abc");
        fs::create_dir(&fresh).unwrap();
        remove_stale(tmp.path(), &[&partial_prefix("trixie")]);
        assert!(fresh.exists(), "a build in progress is not touched");
    }
}
