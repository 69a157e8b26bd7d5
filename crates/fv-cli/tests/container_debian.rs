//! A real distribution in a container: a Debian `minbase` root filesystem
//! made by `debootstrap` from the machine's own apt mirror (read from its
//! apt sources, as the guest fetch does), imported as an image and run.
//! The rootfs is built once and cached as a tarball under
//! `${XDG_CACHE_HOME:-~/.cache}/ferrovisor/test-rootfs/`. Needs root and
//! debootstrap; skips with `SKIP:` otherwise.

#[path = "container_common.rs"]
mod container_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use container_common::*;

/// The cached rootfs tarball of the host's Debian release, built on first
/// use; None (after printing SKIP) if it cannot be had.
fn debian_rootfs(env: &Env) -> Option<PathBuf> {
    let Some(debootstrap) = ["/usr/sbin/debootstrap", "/sbin/debootstrap"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("SKIP: debootstrap not installed (package debootstrap)");
        return None;
    };
    let Some(codename) = fv_guest::sources::host_codename() else {
        eprintln!("SKIP: no VERSION_CODENAME in /etc/os-release: not a Debian host");
        return None;
    };
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("ferrovisor/test-rootfs");
    let tarball = cache.join(format!("debian-{codename}-minbase.tar"));
    if tarball.exists() {
        return Some(tarball);
    }
    let mirror = match fv_guest::sources::find_archive_uri(Path::new("/etc/apt"), Some(&codename)) {
        Ok(m) => m.uri,
        Err(e) => {
            eprintln!("SKIP: no Debian mirror in the apt sources: {e}");
            return None;
        }
    };
    std::fs::create_dir_all(&cache).expect("mkdir cache");
    let target = env.dir.path().join("debootstrap");
    eprintln!(
        "building a Debian {codename} minbase rootfs with debootstrap from {mirror} (cached in {})",
        cache.display()
    );
    let out = run_bounded(
        Command::new(debootstrap)
            .args(["--variant=minbase", &codename])
            .arg(&target)
            .arg(&mirror),
        Duration::from_secs(1200),
    );
    assert_eq!(out.code, 0, "debootstrap: {out}");
    let partial = tarball.with_extension("tar.partial");
    let out = run_bounded(
        Command::new("tar")
            .arg("-C")
            .arg(&target)
            .args(["--numeric-owner", "-cf"])
            .arg(&partial)
            .arg("."),
        TIMEOUT,
    );
    assert_eq!(out.code, 0, "tar: {out}");
    std::fs::rename(&partial, &tarball).expect("rename tarball");
    Some(tarball)
}

#[test]
fn debian_rootfs_runs_with_its_own_tools_and_isolation() {
    let Some(env) = Env::new("deb") else { return };
    let Some(tarball) = debian_rootfs(&env) else {
        return;
    };
    env.import(&tarball, "debian");
    let script = "set -e; . /etc/os-release; echo ID=$ID; \
                  echo PID1=$(tr '\\0' ' ' < /proc/1/cmdline); \
                  dpkg-query -W -f='${Status}\\n' coreutils; \
                  apt-get check >/dev/null && echo APT-OK; \
                  echo HOST=$(hostname); id -u; \
                  echo MOUNTS=$(cut -d' ' -f2 /proc/mounts | sort | tr '\\n' ' ')";
    let name = env.id("d");
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "--name",
        &name,
        "--hostname",
        "deb-box",
        "debian",
        "--",
        "/bin/bash",
        "-c",
        script,
    ]);
    assert_eq!(out.code, 0, "{out}");
    let s = &out.stdout;
    assert!(s.contains("ID=debian"), "{out}");
    assert!(s.contains("PID1=/bin/bash -c"), "{out}");
    assert!(s.contains("install ok installed"), "{out}");
    assert!(s.contains("APT-OK"), "{out}");
    assert!(s.contains("HOST=deb-box"), "{out}");
    assert!(s.lines().any(|l| l.trim() == "0"), "{out}");
    let mounts = s
        .lines()
        .find_map(|l| l.strip_prefix("MOUNTS="))
        .unwrap_or_default();
    // Only the container's own mounts: no host paths such as the test's
    // scratch dir or the host's /boot, /home, /work.
    for m in mounts.split_whitespace() {
        assert!(
            ["/", "/proc", "/sys", "/dev", "/run", "/tmp"]
                .iter()
                .any(|p| m == *p || m.starts_with(&format!("{p}/"))),
            "unexpected mount {m} in {mounts}"
        );
    }
    // Exit status of a Debian tool propagates.
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "debian",
        "--",
        "dpkg",
        "-s",
        "no-such-package",
    ]);
    assert_eq!(out.code, 1, "{out}");
}
