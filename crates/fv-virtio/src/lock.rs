//! Image locking: two VMs writing one disk image corrupt it, and a base
//! image changing under its linked clones corrupts them all. Every image fv
//! opens is locked for as long as a disk uses it, with the same open file
//! description (OFD) byte locks QEMU's file-posix driver takes, so fv and
//! QEMU (and `qemu-img`, `qemu-io`) see each other's use of an image:
//!
//! - byte 100 + p, shared: "I use permission p" (p = 0 consistent read,
//!   1 write);
//! - byte 200 + p, shared: "nobody else may use permission p".
//!
//! A writable disk holds 100, 101 and 201 (it reads, writes and lets nobody
//! else write); a read-only disk or a backing image holds 100 and 201 (its
//! contents must not change under the guest). Opening fails when another
//! process holds a byte that conflicts: 201 when we want to write, 101 when
//! we forbid writing. A hand-written module because no crate implements
//! QEMU's lock protocol; the fcntl calls go through `nix`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;

const PERM_BASE: i64 = 100;
const SHARED_BASE: i64 = 200;
const PERM_CONSISTENT_READ: i64 = 0;
const PERM_WRITE: i64 = 1;

/// Why an image could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process uses the image in a way that conflicts with ours.
    #[error(
        "disk image {path} is in use: another process {what} (is another VM or qemu using it?)"
    )]
    InUse {
        /// The image.
        path: PathBuf,
        /// What the other process does.
        what: &'static str,
    },
    /// The lock calls themselves failed.
    #[error("cannot lock disk image {path}: {source}")]
    Io {
        /// The image.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Held locks on one image; dropping it (closing its file) releases them.
#[derive(Debug)]
pub struct ImageLock {
    _file: File,
}

fn flock(kind: libc::c_short, byte: i64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers; all-zero is a valid
    // value, and every field the kernel reads is set below.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l.l_start = byte;
    l.l_len = 1;
    l.l_pid = 0;
    l
}

impl ImageLock {
    /// Locks `path` for a disk that writes it (`write`) or only reads it.
    pub fn acquire(path: &Path, write: bool) -> Result<ImageLock, LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Read locks need only read access; a separate open file
        // description keeps the locks apart from the one doing I/O.
        let file = File::open(path).map_err(io_err)?;
        let mut held = vec![PERM_BASE + PERM_CONSISTENT_READ, SHARED_BASE + PERM_WRITE];
        if write {
            held.push(PERM_BASE + PERM_WRITE);
        }
        for byte in held {
            let l = flock(libc::F_RDLCK as libc::c_short, byte);
            match fcntl(file.as_raw_fd(), FcntlArg::F_OFD_SETLK(&l)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {
                    // Someone holds the byte exclusively: only a foreign
                    // tool does that, and it means "in use".
                    return Err(LockError::InUse {
                        path: path.to_path_buf(),
                        what: "holds it exclusively",
                    });
                }
                Err(e) => return Err(io_err(io::Error::from(e))),
            }
        }
        // Locks first, then the check (as QEMU does), so of two processes
        // racing for the image at least one sees the other.
        let mut checks = vec![(
            PERM_BASE + PERM_WRITE,
            "writes it and this disk forbids other writers",
        )];
        if write {
            checks.push((SHARED_BASE + PERM_WRITE, "forbids writing it"));
        }
        for (byte, what) in checks {
            let mut l = flock(libc::F_WRLCK as libc::c_short, byte);
            fcntl(file.as_raw_fd(), FcntlArg::F_OFD_GETLK(&mut l))
                .map_err(|e| io_err(io::Error::from(e)))?;
            if l.l_type != libc::F_UNLCK as libc::c_short {
                return Err(LockError::InUse {
                    path: path.to_path_buf(),
                    what,
                });
            }
        }
        Ok(ImageLock { _file: file })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Acquires a lock that a just-dropped `ImageLock` released. Other test
    /// threads spawn processes: a child shares our open file descriptions
    /// between fork and exec (where O_CLOEXEC closes them), so a released
    /// lock can outlive our close by that window. Retry briefly.
    pub(crate) fn acquire_after_release(path: &Path, write: bool) -> ImageLock {
        let start = std::time::Instant::now();
        loop {
            match ImageLock::acquire(path, write) {
                Ok(l) => return l,
                Err(e) if start.elapsed().as_secs() >= 5 => panic!("{e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }

    fn image() -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(1 << 20).unwrap();
        f
    }

    #[test]
    fn two_writers_conflict_and_the_message_names_the_file() {
        let f = image();
        let _a = ImageLock::acquire(f.path(), true).unwrap();
        let e = ImageLock::acquire(f.path(), true).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LockError::InUse { .. }), "{msg}");
        assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    }

    #[test]
    fn readers_share_but_exclude_writers_both_ways() {
        let f = image();
        let r1 = ImageLock::acquire(f.path(), false).unwrap();
        let _r2 = ImageLock::acquire(f.path(), false).unwrap();
        assert!(
            ImageLock::acquire(f.path(), true).is_err(),
            "writer while read"
        );
        drop(r1);
        drop(_r2);
        let w = acquire_after_release(f.path(), true);
        assert!(
            ImageLock::acquire(f.path(), false).is_err(),
            "reader while written"
        );
        drop(w);
        // Released on drop: free for anyone again.
        acquire_after_release(f.path(), true);
    }

    /// QEMU's tools honour our locks: `qemu-io` cannot open an image for
    /// writing while fv has it open read-only or writable, and reads it
    /// (sharing) while fv only reads.
    #[test]
    fn qemu_io_sees_our_locks() {
        let Ok(out) = std::process::Command::new("qemu-io")
            .arg("--version")
            .output()
        else {
            eprintln!("SKIP qemu_io_sees_our_locks: qemu-io not installed (qemu-utils)");
            return;
        };
        assert!(out.status.success());
        let f = image();
        let qemu_write = || {
            std::process::Command::new("qemu-io")
                .args(["-f", "raw", "-c", "write 0 512"])
                .arg(f.path())
                .output()
                .unwrap()
        };
        let lock = ImageLock::acquire(f.path(), true).unwrap();
        let out = qemu_write();
        assert!(!out.status.success(), "qemu-io wrote an image fv writes");
        assert!(String::from_utf8_lossy(&out.stderr).contains("lock"));
        drop(lock);
        let _ro = acquire_after_release(f.path(), false);
        assert!(
            !qemu_write().status.success(),
            "qemu-io wrote a disk fv reads"
        );
        let read = std::process::Command::new("qemu-io")
            .args(["-r", "-f", "raw", "-c", "read 0 512"])
            .arg(f.path())
            .output()
            .unwrap();
        assert!(
            read.status.success(),
            "{}",
            String::from_utf8_lossy(&read.stderr)
        );
    }

    /// The other way round: fv refuses an image `qemu-io` has open for
    /// writing, naming the file.
    #[test]
    fn we_see_qemu_io_locks() {
        use std::process::{Command, Stdio};
        if Command::new("qemu-io").arg("--version").output().is_err() {
            eprintln!("SKIP we_see_qemu_io_locks: qemu-io not installed (qemu-utils)");
            return;
        }
        let f = image();
        let mut child = Command::new("qemu-io")
            .args(["-f", "raw"])
            .arg(f.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // qemu-io holds the image until its stdin closes; wait for its locks.
        let start = std::time::Instant::now();
        let err = loop {
            match ImageLock::acquire(f.path(), true) {
                Err(e) => break e,
                Ok(l) => drop(l),
            }
            assert!(
                start.elapsed().as_secs() < 20,
                "qemu-io never locked the image"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(err.to_string().contains("in use"), "{err}");
        assert!(
            ImageLock::acquire(f.path(), false).is_err(),
            "read-only while qemu writes"
        );
        drop(child.stdin.take());
        child.wait().unwrap();
        acquire_after_release(f.path(), true);
    }
}
