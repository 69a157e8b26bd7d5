//! The container's root filesystem: a plan of mount steps computed from
//! the spec (pure, unit-tested) and applied through [`Syscall`] inside the
//! container's mount namespace, ending in pivot_root.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::Spec;
use tracing::debug;

use crate::syscall::{Syscall, SyscallError};

/// Layers stacked under a writable upper dir; mounted on the rootfs path
/// inside the container's mount namespace, so the host never sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Lowest layer last, as overlayfs wants `lowerdir=top:...:bottom`.
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// One spec mount, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub source: Option<PathBuf>,
    /// Path inside the container (absolute).
    pub destination: PathBuf,
    pub fstype: Option<String>,
    pub flags: MsFlags,
    pub propagation: MsFlags,
    pub data: Option<String>,
}

impl MountEntry {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// What the container's root filesystem will look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    pub rootfs: PathBuf,
    pub root_propagation: MsFlags,
    pub overlay: Option<Overlay>,
    pub mounts: Vec<MountEntry>,
    /// Create the standard device nodes in /dev (it is a fresh tmpfs).
    pub default_devices: bool,
    /// Bind host nodes instead of mknod (a user namespace may not mknod).
    pub bind_devices: bool,
    pub masked: Vec<PathBuf>,
    pub readonly: Vec<PathBuf>,
    pub readonly_root: bool,
}

/// A device node for /dev.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceNode {
    pub name: &'static str,
    pub major: u64,
    pub minor: u64,
}

/// runtime-spec "Default Devices".
pub const DEFAULT_DEVICES: &[DeviceNode] = &[
    DeviceNode {
        name: "null",
        major: 1,
        minor: 3,
    },
    DeviceNode {
        name: "zero",
        major: 1,
        minor: 5,
    },
    DeviceNode {
        name: "full",
        major: 1,
        minor: 7,
    },
    DeviceNode {
        name: "random",
        major: 1,
        minor: 8,
    },
    DeviceNode {
        name: "urandom",
        major: 1,
        minor: 9,
    },
    DeviceNode {
        name: "tty",
        major: 5,
        minor: 0,
    },
];

const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

/// Rootfs setup failed; names the step and path.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mount option {option:?} of {destination}: unknown propagation")]
    Propagation {
        destination: PathBuf,
        option: String,
    },
    #[error("bind source {0} does not exist")]
    MissingSource(PathBuf),
    #[error("path {0} escapes the root filesystem through too many symlinks")]
    SymlinkLoop(PathBuf),
    #[error(transparent)]
    Syscall(#[from] SyscallError),
}

/// `rootfsPropagation` and the mount options that set propagation.
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Splits fstab-style options into (flags to set, propagation, fs data).
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, Option<String>) {
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            other => {
                if let Some(p) = propagation_flags(other) {
                    prop |= p;
                } else {
                    data.push(other.to_string());
                }
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    let data = (!data.is_empty()).then(|| data.join(","));
    (flags, prop, data)
}

/// Resolves `path` (inside the container) under `root`, following symlinks
/// as if `root` were `/`, so a symlink in the image cannot point a mount
/// outside the root filesystem.
pub fn secure_join(root: &Path, path: &Path) -> Result<PathBuf, RootfsError> {
    let mut parts: VecDeque<OsString> = VecDeque::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push_back(p.to_os_string()),
            Component::ParentDir => parts.push_back("..".into()),
            _ => {}
        }
    }
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(part) = parts.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(RootfsError::SymlinkLoop(path.to_path_buf()));
                }
                let target = std::fs::read_link(&full)
                    .map_err(|e| SyscallError::new("readlink", full.display().to_string(), e))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(p) => parts.push_front(p.to_os_string()),
                        Component::ParentDir => parts.push_front("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

impl MountPlan {
    /// The plan for `spec` with its rootfs at `rootfs` (absolute) and bind
    /// sources relative to `bundle`.
    pub fn from_spec(
        spec: &Spec,
        bundle: &Path,
        rootfs: &Path,
        overlay: Option<Overlay>,
        user_ns: bool,
    ) -> MountPlan {
        let linux = spec.linux().as_ref();
        let root_propagation = linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .and_then(propagation_flags)
            .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
        let mut mounts = Vec::new();
        let mut default_devices = false;
        for m in spec.mounts().iter().flatten() {
            let (mut flags, propagation, data) =
                parse_options(m.options().as_deref().unwrap_or(&[]));
            if m.typ().as_deref() == Some("bind") {
                flags |= MsFlags::MS_BIND;
            }
            let source = m.source().as_ref().map(|s| {
                if flags.contains(MsFlags::MS_BIND) && s.is_relative() {
                    bundle.join(s)
                } else {
                    s.clone()
                }
            });
            if m.destination() == Path::new("/dev") && !flags.contains(MsFlags::MS_BIND) {
                default_devices = true;
            }
            mounts.push(MountEntry {
                source,
                destination: m.destination().clone(),
                fstype: m.typ().clone().filter(|t| t != "bind"),
                flags,
                propagation,
                data,
            });
        }
        let paths = |v: Option<&Vec<String>>| v.into_iter().flatten().map(PathBuf::from).collect();
        MountPlan {
            rootfs: rootfs.to_path_buf(),
            root_propagation,
            overlay,
            mounts,
            default_devices,
            bind_devices: user_ns,
            masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
        }
    }

    /// Everything up to and including pivot_root; afterwards `/` is the
    /// container's root. Runs inside the new mount namespace.
    pub fn apply_before_pivot(&self, sys: &dyn Syscall) -> Result<(), RootfsError> {
        // Changes below must not propagate back to the host.
        sys.mount(None, Path::new("/"), None, self.root_propagation, None)?;
        if let Some(o) = &self.overlay {
            let lower: Vec<String> = o.lower.iter().map(|p| p.display().to_string()).collect();
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                o.upper.display(),
                o.work.display()
            );
            sys.mount(
                Some(Path::new("overlay")),
                &self.rootfs,
                Some("overlay"),
                MsFlags::empty(),
                Some(&data),
            )?;
        }
        // pivot_root needs the new root to be a mount point.
        sys.mount(
            Some(&self.rootfs),
            &self.rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        for m in &self.mounts {
            self.mount_one(sys, m)?;
        }
        if self.default_devices {
            self.create_devices(sys)?;
        }
        sys.chdir(&self.rootfs)?;
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching "." then drops the old root without a put_old dir.
        sys.pivot_root(Path::new("."), Path::new("."))?;
        sys.umount2(Path::new("."), MntFlags::MNT_DETACH)?;
        sys.chdir(Path::new("/"))?;
        Ok(())
    }

    fn mount_one(&self, sys: &dyn Syscall, m: &MountEntry) -> Result<(), RootfsError> {
        let target = secure_join(&self.rootfs, &m.destination)?;
        if m.fstype.as_deref() == Some("cgroup")
            && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        {
            // A v1 or hybrid host would need one mount per controller; not
            // done yet, the container sees no cgroup tree.
            debug!(destination = %m.destination.display(), "skipping cgroup mount on a v1 host");
            return Ok(());
        }
        if m.is_bind() {
            let source = m.source.clone().unwrap_or_default();
            let meta = std::fs::metadata(&source)
                .map_err(|_| RootfsError::MissingSource(source.clone()))?;
            if meta.is_dir() {
                sys.mkdir_all(&target)?;
            } else {
                sys.touch(&target)?;
            }
            sys.mount(
                Some(&source),
                &target,
                None,
                m.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
                None,
            )?;
            let extra = m.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
            if !extra.is_empty() {
                sys.mount(
                    None,
                    &target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                    None,
                )?;
            }
        } else {
            sys.mkdir_all(&target)?;
            let fstype = if m.fstype.as_deref() == Some("cgroup") {
                Some("cgroup2")
            } else {
                m.fstype.as_deref()
            };
            let r = sys.mount(
                m.source.as_deref(),
                &target,
                fstype,
                m.flags,
                m.data.as_deref(),
            );
            match r {
                // A user namespace cannot mount sysfs without its own net
                // namespace: bind the host's instead (as runc does).
                Err(e) if fstype == Some("sysfs") && e.errno() == Some(libc::EPERM) => {
                    sys.mount(
                        Some(Path::new("/sys")),
                        &target,
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None,
                    )?;
                    sys.mount(
                        None,
                        &target,
                        None,
                        MsFlags::MS_BIND
                            | MsFlags::MS_REMOUNT
                            | MsFlags::MS_RDONLY
                            | MsFlags::MS_REC,
                        None,
                    )?;
                }
                // devpts refuses a gid that is not mapped in a user namespace.
                Err(e)
                    if fstype == Some("devpts")
                        && e.errno() == Some(libc::EINVAL)
                        && m.data.as_deref().is_some_and(|d| d.contains("gid=")) =>
                {
                    let data: Vec<&str> = m
                        .data
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .filter(|o| !o.starts_with("gid="))
                        .collect();
                    sys.mount(
                        m.source.as_deref(),
                        &target,
                        fstype,
                        m.flags,
                        Some(&data.join(",")),
                    )?;
                }
                other => other?,
            }
        }
        if !m.propagation.is_empty() {
            sys.mount(None, &target, None, m.propagation, None)?;
        }
        Ok(())
    }

    fn create_devices(&self, sys: &dyn Syscall) -> Result<(), RootfsError> {
        let dev = secure_join(&self.rootfs, Path::new("/dev"))?;
        for d in DEFAULT_DEVICES {
            let path = dev.join(d.name);
            if self.bind_devices {
                sys.touch(&path)?;
                sys.mount(
                    Some(&Path::new("/dev").join(d.name)),
                    &path,
                    None,
                    MsFlags::MS_BIND,
                    None,
                )?;
            } else {
                let mode = Mode::from_bits_truncate(0o666);
                sys.mknod(
                    &path,
                    SFlag::S_IFCHR,
                    mode,
                    nix::sys::stat::makedev(d.major, d.minor),
                )?;
            }
        }
        for (target, link) in DEV_SYMLINKS {
            sys.symlink(Path::new(target), &dev.join(link))?;
        }
        Ok(())
    }

    /// Masked and read-only paths and a read-only root, after pivot_root.
    pub fn apply_after_pivot(&self, sys: &dyn Syscall) -> Result<(), RootfsError> {
        for p in &self.masked {
            match std::fs::metadata(p) {
                Err(_) => continue,
                Ok(m) if m.is_dir() => sys.mount(
                    Some(Path::new("tmpfs")),
                    p,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None,
                )?,
                Ok(_) => sys.mount(
                    Some(Path::new("/dev/null")),
                    p,
                    None,
                    MsFlags::MS_BIND,
                    None,
                )?,
            }
        }
        for p in &self.readonly {
            if std::fs::symlink_metadata(p).is_err() {
                continue;
            }
            sys.mount(Some(p), p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
            let locked = locked_flags(p);
            sys.mount(
                None,
                p,
                None,
                MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_REC
                    | locked,
                None,
            )?;
        }
        if self.readonly_root {
            let locked = locked_flags(Path::new("/"));
            sys.mount(
                None,
                Path::new("/"),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
                None,
            )?;
        }
        Ok(())
    }
}

/// Flags a bind remount must keep (the kernel refuses to clear them in a
/// user namespace).
fn locked_flags(p: &Path) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(st) = statvfs(p) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

    fn spec() -> Spec {
        serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
                "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                          {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
                          {"destination":"/data","type":"bind","source":"vol","options":["rbind","ro","rprivate"]}],
                "linux":{"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]}}"#,
        )
        .expect("spec")
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["nosuid", "ro", "rw", "mode=755", "size=1k", "rslave"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (f, p, d) = parse_options(&opts);
        assert_eq!(f, MsFlags::MS_NOSUID);
        assert_eq!(p, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(d.as_deref(), Some("mode=755,size=1k"));
    }

    #[test]
    fn plan_follows_spec() {
        let p = MountPlan::from_spec(
            &spec(),
            Path::new("/b"),
            Path::new("/b/rootfs"),
            None,
            false,
        );
        assert_eq!(p.root_propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert!(p.default_devices);
        assert!(p.readonly_root);
        let data = &p.mounts[2];
        assert_eq!(
            data.source.as_deref(),
            Some(Path::new("/b/vol")),
            "bind source relative to bundle"
        );
        assert_eq!(
            data.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(data.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(p.masked, vec![PathBuf::from("/proc/kcore")]);
    }

    #[test]
    fn apply_mounts_then_pivots() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).expect("rootfs");
        std::fs::create_dir_all(dir.path().join("vol")).expect("vol");
        let overlay = Overlay {
            lower: vec!["/l2".into(), "/l1".into()],
            upper: "/u".into(),
            work: "/w".into(),
        };
        let p = MountPlan::from_spec(&spec(), dir.path(), &rootfs, Some(overlay), false);
        let sys = RecordingSyscall::new();
        p.apply_before_pivot(&sys).expect("apply");
        let calls = sys.calls();
        let mounts: Vec<(Option<String>, PathBuf, MsFlags)> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Mount {
                    target,
                    fstype,
                    flags,
                    ..
                } => Some((fstype.clone(), target.clone(), *flags)),
                _ => None,
            })
            .collect();
        assert_eq!(
            mounts[0],
            (
                None,
                PathBuf::from("/"),
                MsFlags::MS_SLAVE | MsFlags::MS_REC
            )
        );
        assert_eq!(mounts[1].0.as_deref(), Some("overlay"));
        assert!(calls.iter().any(|c| matches!(c, Call::Mount { data: Some(d), .. } if d == "lowerdir=/l2:/l1,upperdir=/u,workdir=/w")));
        assert_eq!(
            mounts[2],
            (None, rootfs.clone(), MsFlags::MS_BIND | MsFlags::MS_REC)
        );
        assert_eq!(
            mounts[3],
            (Some("proc".into()), rootfs.join("proc"), MsFlags::empty())
        );
        // ro bind = bind, then remount read-only.
        assert!(mounts.contains(&(
            None,
            rootfs.join("data"),
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY
        )));
        let nodes = calls
            .iter()
            .filter(|c| matches!(c, Call::Mknod(..)))
            .count();
        assert_eq!(nodes, DEFAULT_DEVICES.len());
        assert!(calls.contains(&Call::Symlink(
            "/proc/self/fd".into(),
            rootfs.join("dev/fd")
        )));
        let tail = &calls[calls.len() - 4..];
        assert_eq!(
            tail,
            &[
                Call::Chdir(rootfs.clone()),
                Call::PivotRoot(".".into(), ".".into()),
                Call::Umount2(".".into(), MntFlags::MNT_DETACH),
                Call::Chdir("/".into())
            ]
        );
    }

    #[test]
    fn user_namespace_binds_devices() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).expect("rootfs");
        std::fs::create_dir_all(dir.path().join("vol")).expect("vol");
        let p = MountPlan::from_spec(&spec(), dir.path(), &rootfs, None, true);
        let sys = RecordingSyscall::new();
        p.apply_before_pivot(&sys).expect("apply");
        let calls = sys.calls();
        assert!(!calls.iter().any(|c| matches!(c, Call::Mknod(..))));
        assert!(calls.contains(&Call::Mount {
            source: Some("/dev/null".into()),
            target: rootfs.join("dev/null"),
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None
        }));
    }

    #[test]
    fn missing_bind_source_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).expect("rootfs");
        let p = MountPlan::from_spec(&spec(), dir.path(), &rootfs, None, false);
        let e = p
            .apply_before_pivot(&RecordingSyscall::new())
            .expect_err("vol missing");
        assert!(e.to_string().contains("vol"), "{e}");
    }

    #[test]
    fn secure_join_keeps_symlinks_inside_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).expect("mkdir");
        std::os::unix::fs::symlink("/usr/lib", root.join("lib")).expect("symlink");
        std::os::unix::fs::symlink("../../../../etc", root.join("escape")).expect("symlink");
        assert_eq!(
            secure_join(root, Path::new("/lib/x")).expect("join"),
            root.join("usr/lib/x")
        );
        assert_eq!(
            secure_join(root, Path::new("/escape/passwd")).expect("join"),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("/../../x")).expect("join"),
            root.join("x")
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).expect("symlink");
        assert!(secure_join(root, Path::new("/loop")).is_err());
    }
}
