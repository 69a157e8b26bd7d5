//! The privileged-call seam (youki's `Syscall`): every call that needs
//! privileges or changes the process's kernel state goes through
//! [`Syscall`], so the container logic is unit-tested with
//! [`RecordingSyscall`] and runs for real with [`LinuxSyscall`].

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};

use crate::caps::CapabilitySets;

/// A privileged call failed; names the call and what it acted on.
#[derive(Debug, thiserror::Error)]
#[error("{call} {target}: {source}")]
pub struct SyscallError {
    /// The call, e.g. `mount` or `pivot_root`.
    pub call: &'static str,
    /// The path, value or flags the call acted on.
    pub target: String,
    /// The kernel's answer.
    #[source]
    pub source: io::Error,
}

impl SyscallError {
    pub fn new(
        call: &'static str,
        target: impl Into<String>,
        source: impl Into<io::Error>,
    ) -> Self {
        SyscallError {
            call,
            target: target.into(),
            source: source.into(),
        }
    }

    /// The errno behind the failure, if there is one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

pub type Result<T> = std::result::Result<T, SyscallError>;

/// One resource limit (`setrlimit`), by its Linux resource number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// Every privileged call the runtime makes.
pub trait Syscall {
    fn unshare(&self, flags: CloneFlags) -> Result<()>;
    /// Joins the namespace at `path` (e.g. `/proc/123/ns/net`).
    fn setns(&self, path: &Path, nstype: CloneFlags) -> Result<()>;
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()>;
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()>;
    fn chdir(&self, path: &Path) -> Result<()>;
    fn sethostname(&self, name: &str) -> Result<()>;
    fn setdomainname(&self, name: &str) -> Result<()>;
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> Result<()>;
    fn mkdir_all(&self, path: &Path) -> Result<()>;
    /// Creates an empty file (a bind-mount target) if it does not exist.
    fn touch(&self, path: &Path) -> Result<()>;
    /// Writes a kernel control file: cgroup knobs, `uid_map`, `oom_score_adj`.
    fn write_file(&self, path: &Path, contents: &str) -> Result<()>;
    fn remove_dir(&self, path: &Path) -> Result<()>;
    fn set_rlimit(&self, limit: Rlimit) -> Result<()>;
    fn set_no_new_privs(&self) -> Result<()>;
    fn set_keep_caps(&self, keep: bool) -> Result<()>;
    /// Drops from the bounding set everything not in `caps.bounding`.
    fn drop_bounding_caps(&self, caps: &CapabilitySets) -> Result<()>;
    /// Sets effective, permitted, inheritable (capset) and ambient sets.
    fn set_caps(&self, caps: &CapabilitySets) -> Result<()>;
    fn set_ids(&self, uid: u32, gid: u32, additional_gids: &[u32]) -> Result<()>;
    /// Brings a network interface up (`lo` in a fresh net namespace).
    fn link_up(&self, name: &str) -> Result<()>;
}

/// The real calls, through `nix` (and `libc` where nix has no wrapper).
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

fn show(p: &Path) -> String {
    p.display().to_string()
}

impl Syscall for LinuxSyscall {
    fn unshare(&self, flags: CloneFlags) -> Result<()> {
        nix::sched::unshare(flags)
            .map_err(|e| SyscallError::new("unshare", format!("{flags:?}"), e))
    }

    fn setns(&self, path: &Path, nstype: CloneFlags) -> Result<()> {
        let f = fs::File::open(path).map_err(|e| SyscallError::new("open", show(path), e))?;
        nix::sched::setns(f.as_fd(), nstype).map_err(|e| SyscallError::new("setns", show(path), e))
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            SyscallError::new(
                "mount",
                format!(
                    "{} on {} (type {}, {flags:?})",
                    source.map(show).unwrap_or_else(|| "none".into()),
                    show(target),
                    fstype.unwrap_or("none")
                ),
                e,
            )
        })
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<()> {
        nix::mount::umount2(target, flags)
            .map_err(|e| SyscallError::new("umount2", show(target), e))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
            .map_err(|e| SyscallError::new("pivot_root", show(new_root), e))
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        nix::unistd::chdir(path).map_err(|e| SyscallError::new("chdir", show(path), e))
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        nix::unistd::sethostname(name).map_err(|e| SyscallError::new("sethostname", name, e))
    }

    fn setdomainname(&self, name: &str) -> Result<()> {
        // SAFETY: the pointer and length describe `name`'s bytes, which live
        // across the call; the kernel only reads them.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        if rc != 0 {
            return Err(SyscallError::new(
                "setdomainname",
                name,
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<()> {
        nix::sys::stat::mknod(path, kind, perm, dev)
            .map_err(|e| SyscallError::new("mknod", show(path), e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| SyscallError::new("symlink", show(link), e))
    }

    fn mkdir_all(&self, path: &Path) -> Result<()> {
        fs::create_dir_all(path).map_err(|e| SyscallError::new("mkdir", show(path), e))
    }

    fn touch(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            self.mkdir_all(parent)?;
        }
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| SyscallError::new("create", show(path), e))
    }

    fn write_file(&self, path: &Path, contents: &str) -> Result<()> {
        fs::write(path, contents)
            .map_err(|e| SyscallError::new("write", format!("{:?} to {}", contents, show(path)), e))
    }

    fn remove_dir(&self, path: &Path) -> Result<()> {
        fs::remove_dir(path).map_err(|e| SyscallError::new("rmdir", show(path), e))
    }

    fn set_rlimit(&self, limit: Rlimit) -> Result<()> {
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: `value` is a valid rlimit that lives across the call; a null
        // old-limit pointer is allowed; pid 0 means this process.
        let rc = unsafe { libc::prlimit(0, limit.resource as _, &value, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(SyscallError::new(
                "setrlimit",
                format!(
                    "{} to {}/{}",
                    crate::init::rlimit_name(limit.resource),
                    limit.soft,
                    limit.hard
                ),
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    fn set_no_new_privs(&self) -> Result<()> {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| SyscallError::new("prctl", "PR_SET_NO_NEW_PRIVS", e))
    }

    fn set_keep_caps(&self, keep: bool) -> Result<()> {
        nix::sys::prctl::set_keepcaps(keep)
            .map_err(|e| SyscallError::new("prctl", "PR_SET_KEEPCAPS", e))
    }

    fn drop_bounding_caps(&self, caps: &CapabilitySets) -> Result<()> {
        for cap in 0..=crate::caps::last_cap() {
            if caps.bounding & (1u64 << cap) != 0 {
                continue;
            }
            // SAFETY: PR_CAPBSET_DROP takes the capability number as its only
            // argument; no memory is passed.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                let err = io::Error::last_os_error();
                // Capabilities newer than this kernel do not exist to drop.
                if err.raw_os_error() == Some(libc::EINVAL) {
                    continue;
                }
                return Err(SyscallError::new(
                    "prctl",
                    format!("PR_CAPBSET_DROP {cap}"),
                    err,
                ));
            }
        }
        Ok(())
    }

    fn set_caps(&self, caps: &CapabilitySets) -> Result<()> {
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        for (i, d) in data.iter_mut().enumerate() {
            let shift = 32 * i;
            d.effective = (caps.effective >> shift) as u32;
            d.permitted = (caps.permitted >> shift) as u32;
            d.inheritable = (caps.inheritable >> shift) as u32;
        }
        // SAFETY: header and data are the v3 layout the kernel expects (one
        // header, two data words), valid and exclusively borrowed for the call.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_mut_ptr()) };
        if rc != 0 {
            return Err(SyscallError::new(
                "capset",
                format!(
                    "effective {:#x} permitted {:#x}",
                    caps.effective, caps.permitted
                ),
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL passes no memory.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        if rc != 0 {
            return Err(SyscallError::new(
                "prctl",
                "PR_CAP_AMBIENT_CLEAR_ALL",
                io::Error::last_os_error(),
            ));
        }
        for cap in 0..64u64 {
            if caps.ambient & (1 << cap) == 0 {
                continue;
            }
            // SAFETY: PR_CAP_AMBIENT_RAISE takes the capability number; no memory.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            if rc != 0 {
                // As runc: a capability that cannot be ambient (not in the
                // inheritable set, as in `runc spec`'s template) is a warning.
                tracing::warn!(
                    cap,
                    "cannot raise ambient capability: {}",
                    io::Error::last_os_error()
                );
            }
        }
        Ok(())
    }

    fn set_ids(&self, uid: u32, gid: u32, additional_gids: &[u32]) -> Result<()> {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        let groups: Vec<Gid> = additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
        // setgroups is refused in a user namespace whose setgroups file says
        // "deny"; an empty list is then the only sensible state anyway.
        if let Err(e) = setgroups(&groups) {
            if !groups.is_empty() {
                return Err(SyscallError::new(
                    "setgroups",
                    format!("{additional_gids:?}"),
                    e,
                ));
            }
        }
        let g = Gid::from_raw(gid);
        setresgid(g, g, g).map_err(|e| SyscallError::new("setresgid", gid.to_string(), e))?;
        let u = Uid::from_raw(uid);
        setresuid(u, u, u).map_err(|e| SyscallError::new("setresuid", uid.to_string(), e))
    }

    fn link_up(&self, name: &str) -> Result<()> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        use std::os::fd::AsRawFd;
        let sock = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| SyscallError::new("socket", "AF_INET for link up", e))?;
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        let bytes = name.as_bytes();
        if bytes.len() >= req.ifr_name.len() {
            return Err(SyscallError::new(
                "link up",
                name,
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes the
        // flags into `req`, which is valid and exclusively borrowed.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
        if rc != 0 {
            return Err(SyscallError::new(
                "SIOCGIFFLAGS",
                name,
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: after SIOCGIFFLAGS the flags member of the union is the live one.
        unsafe {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        // SAFETY: as above; SIOCSIFFLAGS reads the name and flags from `req`.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) };
        if rc != 0 {
            return Err(SyscallError::new(
                "SIOCSIFFLAGS",
                name,
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// A call as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Unshare(CloneFlags),
    Setns(PathBuf, CloneFlags),
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount2(PathBuf, MntFlags),
    PivotRoot(PathBuf, PathBuf),
    Chdir(PathBuf),
    Sethostname(String),
    Setdomainname(String),
    Mknod(PathBuf, SFlag, Mode, u64),
    Symlink(PathBuf, PathBuf),
    MkdirAll(PathBuf),
    Touch(PathBuf),
    WriteFile(PathBuf, String),
    RemoveDir(PathBuf),
    SetRlimit(Rlimit),
    SetNoNewPrivs,
    SetKeepCaps(bool),
    DropBoundingCaps(u64),
    SetCaps(CapabilitySets),
    SetIds(u32, u32, Vec<u32>),
    LinkUp(String),
}

/// A fake that records every call and succeeds, or fails the calls a test
/// names with [`RecordingSyscall::fail_when`].
#[derive(Default)]
pub struct RecordingSyscall {
    calls: Mutex<Vec<Call>>,
    #[allow(clippy::type_complexity)]
    fail: Mutex<Vec<(Box<dyn Fn(&Call) -> bool + Send>, i32)>>,
}

impl std::fmt::Debug for RecordingSyscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSyscall")
            .field("calls", &self.calls())
            .finish()
    }
}

impl RecordingSyscall {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call matching `pred` fail with `errno`.
    pub fn fail_when(&self, pred: impl Fn(&Call) -> bool + Send + 'static, errno: i32) {
        self.fail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((Box::new(pred), errno));
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, name: &'static str, call: Call) -> Result<()> {
        let failing = self
            .fail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(pred, _)| pred(&call))
            .map(|(_, errno)| *errno);
        let target = format!("{call:?}");
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
        match failing {
            Some(errno) => Err(SyscallError::new(
                name,
                target,
                io::Error::from_raw_os_error(errno),
            )),
            None => Ok(()),
        }
    }
}

impl Syscall for RecordingSyscall {
    fn unshare(&self, flags: CloneFlags) -> Result<()> {
        self.record("unshare", Call::Unshare(flags))
    }
    fn setns(&self, path: &Path, nstype: CloneFlags) -> Result<()> {
        self.record("setns", Call::Setns(path.into(), nstype))
    }
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        self.record(
            "mount",
            Call::Mount {
                source: source.map(Into::into),
                target: target.into(),
                fstype: fstype.map(Into::into),
                flags,
                data: data.map(Into::into),
            },
        )
    }
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<()> {
        self.record("umount2", Call::Umount2(target.into(), flags))
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        self.record(
            "pivot_root",
            Call::PivotRoot(new_root.into(), put_old.into()),
        )
    }
    fn chdir(&self, path: &Path) -> Result<()> {
        self.record("chdir", Call::Chdir(path.into()))
    }
    fn sethostname(&self, name: &str) -> Result<()> {
        self.record("sethostname", Call::Sethostname(name.into()))
    }
    fn setdomainname(&self, name: &str) -> Result<()> {
        self.record("setdomainname", Call::Setdomainname(name.into()))
    }
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<()> {
        self.record("mknod", Call::Mknod(path.into(), kind, perm, dev))
    }
    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        self.record("symlink", Call::Symlink(target.into(), link.into()))
    }
    fn mkdir_all(&self, path: &Path) -> Result<()> {
        self.record("mkdir", Call::MkdirAll(path.into()))
    }
    fn touch(&self, path: &Path) -> Result<()> {
        self.record("create", Call::Touch(path.into()))
    }
    fn write_file(&self, path: &Path, contents: &str) -> Result<()> {
        self.record("write", Call::WriteFile(path.into(), contents.into()))
    }
    fn remove_dir(&self, path: &Path) -> Result<()> {
        self.record("rmdir", Call::RemoveDir(path.into()))
    }
    fn set_rlimit(&self, limit: Rlimit) -> Result<()> {
        self.record("setrlimit", Call::SetRlimit(limit))
    }
    fn set_no_new_privs(&self) -> Result<()> {
        self.record("prctl", Call::SetNoNewPrivs)
    }
    fn set_keep_caps(&self, keep: bool) -> Result<()> {
        self.record("prctl", Call::SetKeepCaps(keep))
    }
    fn drop_bounding_caps(&self, caps: &CapabilitySets) -> Result<()> {
        self.record("prctl", Call::DropBoundingCaps(caps.bounding))
    }
    fn set_caps(&self, caps: &CapabilitySets) -> Result<()> {
        self.record("capset", Call::SetCaps(*caps))
    }
    fn set_ids(&self, uid: u32, gid: u32, additional_gids: &[u32]) -> Result<()> {
        self.record(
            "setresuid",
            Call::SetIds(uid, gid, additional_gids.to_vec()),
        )
    }
    fn link_up(&self, name: &str) -> Result<()> {
        self.record("link up", Call::LinkUp(name.into()))
    }
}
