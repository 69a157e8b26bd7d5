//! The container's root filesystem: a plan of mount steps computed from
//! the spec (pure, unit-tested) and applied through [`Syscall`] inside the
//! container's mount namespace, ending in pivot_root.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use tracing::{debug, warn};

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
    /// The container has a cgroup namespace (new or joined) by the time
    /// the mounts are made: a v1 cgroup mount then mounts each hierarchy
    /// afresh (showing the namespace's root) instead of binding host paths.
    pub cgroup_ns: bool,
}

/// One host cgroup hierarchy as a `cgroup` mount on a v1 or hybrid host
/// shows it: a directory under the mount's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupHierarchy {
    /// The directory under the destination: the host mount point's last
    /// component, as runc names it (`cpu,cpuacct`, `systemd`, `unified`).
    pub name: String,
    /// `cgroup` (v1) or `cgroup2` (the unified mount of a hybrid host).
    pub fstype: &'static str,
    /// The hierarchy's field in `/proc/self/cgroup` (`cpu,cpuacct`,
    /// `name=systemd`; empty for cgroup2): the data of a fresh mount.
    pub controllers: String,
    /// Where the host mounted the hierarchy.
    pub mount_point: PathBuf,
    /// The cgroup that mount shows at its mount point (mountinfo's root).
    pub mount_root: PathBuf,
    /// This process's own cgroup in the hierarchy (`/proc/self/cgroup`).
    pub own: PathBuf,
}

impl CgroupHierarchy {
    /// The host directory of this process's own cgroup (the bind source),
    /// `None` when the own cgroup is not below the mount's root (as seen
    /// from inside another cgroup namespace).
    pub fn source(&self) -> Option<PathBuf> {
        let rel = self.own.strip_prefix(&self.mount_root).ok()?;
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.mount_point.join(rel))
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` (octal).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        let byte = octal.and_then(|d| {
            let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            u8::try_from(v).ok()
        });
        match byte {
            Some(v) if b[i] == b'\\' => {
                out.push(v);
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The v1 hierarchies (and a hybrid host's unified one) a `cgroup` mount
/// shows, from `/proc/self/mountinfo` and `/proc/self/cgroup` texts, in
/// mountinfo order. Empty on a host without v1 hierarchies (pure v2).
/// Mounts under `skip_under` (the container's rootfs, whose earlier
/// mounts this namespace already sees) and repeated mounts of one
/// hierarchy are left out; so is a hierarchy `/proc/self/cgroup` does not
/// list.
pub fn cgroup_hierarchies(
    mountinfo: &str,
    proc_cgroup: &str,
    skip_under: &Path,
) -> Vec<CgroupHierarchy> {
    // (controller or `name=X`, the line's controllers field, own path)
    let mut own_v1: Vec<(&str, &str, &str)> = Vec::new();
    let mut own_v2 = None;
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            own_v2 = Some(path);
        } else {
            for c in ctrls.split(',') {
                own_v1.push((c, ctrls, path));
            }
        }
    }
    let mut out: Vec<CgroupHierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mount_point), Some(fstype), Some(super_opts)) =
            (l.get(3), l.get(4), r.first(), r.get(2))
        else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
        if mount_point.starts_with(skip_under) {
            continue;
        }
        let (fstype, controllers, own) = match *fstype {
            "cgroup" => {
                let found = super_opts
                    .split(',')
                    .find_map(|o| own_v1.iter().find(|(c, _, _)| *c == o));
                match found {
                    Some((_, ctrls, path)) => ("cgroup", ctrls.to_string(), *path),
                    None => {
                        warn!(mount_point = %mount_point.display(), options = super_opts,
                              "cgroup hierarchy missing from /proc/self/cgroup; left out");
                        continue;
                    }
                }
            }
            "cgroup2" => match own_v2 {
                Some(path) => ("cgroup2", String::new(), path),
                None => continue,
            },
            _ => continue,
        };
        let Some(name) = mount_point
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            continue;
        };
        if out
            .iter()
            .any(|h| h.fstype == fstype && h.controllers == controllers)
        {
            continue;
        }
        if out.iter().any(|h| h.name == name) {
            warn!(mount_point = %mount_point.display(),
                  "a cgroup hierarchy of the same name is already mounted; left out");
            continue;
        }
        out.push(CgroupHierarchy {
            name,
            fstype,
            controllers,
            mount_point,
            mount_root: PathBuf::from(unescape_mountinfo(root)),
            own: PathBuf::from(own),
        });
    }
    if out.iter().all(|h| h.fstype == "cgroup2") {
        return Vec::new();
    }
    out
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
    #[error(
        "cgroup mount {destination}: own cgroup {own} of the hierarchy mounted at \
         {mount_point} is outside that mount's root {root}"
    )]
    CgroupOutsideMount {
        destination: PathBuf,
        own: PathBuf,
        mount_point: PathBuf,
        root: PathBuf,
    },
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
            cgroup_ns: linux
                .and_then(|l| l.namespaces().as_ref())
                .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup)),
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
        // A v1 or hybrid host has one hierarchy per controller (group); a
        // pure v2 host has none, and gets a cgroup2 mount below.
        let v1 = if m.fstype.as_deref() == Some("cgroup") && !m.is_bind() {
            self.host_cgroup_hierarchies()?
        } else {
            Vec::new()
        };
        if !v1.is_empty() {
            self.mount_cgroup_v1(sys, m, &target, &v1)?;
        } else if m.is_bind() {
            let source = m.source.clone().unwrap_or_default();
            let meta = std::fs::metadata(&source)
                .map_err(|_| RootfsError::MissingSource(source.clone()))?;
            if meta.is_dir() {
                sys.mkdir_all(&target)?;
            } else {
                sys.touch(&target)?;
            }
            bind(
                sys,
                &source,
                &target,
                m.flags.contains(MsFlags::MS_REC),
                m.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC),
            )?;
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
                    bind(
                        sys,
                        Path::new("/sys"),
                        &target,
                        true,
                        MsFlags::MS_RDONLY | MsFlags::MS_REC,
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

    /// The cgroup hierarchies this process (init, already in its cgroups)
    /// sees, from `/proc/self/mountinfo` and `/proc/self/cgroup`.
    fn host_cgroup_hierarchies(&self) -> Result<Vec<CgroupHierarchy>, RootfsError> {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map_err(|e| RootfsError::from(SyscallError::new("read", p, e)))
        };
        let mountinfo = read("/proc/self/mountinfo")?;
        let own = read("/proc/self/cgroup")?;
        Ok(cgroup_hierarchies(&mountinfo, &own, &self.rootfs))
    }

    /// A `cgroup` mount on a v1 or hybrid host, as runc makes it: a tmpfs
    /// at `target`, in it one directory per hierarchy showing the
    /// container's own cgroup, symlinks for the controllers of a combined
    /// hierarchy (`cpu` -> `cpu,cpuacct`), then the tmpfs made read-only
    /// if the options say `ro` (the hierarchies are mounted read-only too).
    ///
    /// Without a cgroup namespace each directory is a bind mount of the
    /// own cgroup's host directory (`hierarchies` are read before
    /// pivot_root, so the sources are host paths), remounted with the
    /// mount's flags. In a cgroup namespace host paths are not visible
    /// from `/proc/self/cgroup`, and a fresh mount of the hierarchy shows
    /// exactly the namespace's root, the container's cgroup.
    fn mount_cgroup_v1(
        &self,
        sys: &dyn Syscall,
        m: &MountEntry,
        target: &Path,
        hierarchies: &[CgroupHierarchy],
    ) -> Result<(), RootfsError> {
        // runc's defaults for the tmpfs and fresh mounts, plus the spec's.
        let base = MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | (m.flags
                & !(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT));
        let ro = m.flags & MsFlags::MS_RDONLY;
        sys.mkdir_all(target)?;
        sys.mount(
            Some(Path::new("tmpfs")),
            target,
            Some("tmpfs"),
            base,
            Some("mode=755"),
        )?;
        for h in hierarchies {
            debug!(hierarchy = %h.name, own = %h.own.display(), cgroup_ns = self.cgroup_ns, "cgroup v1 mount");
            let dir = target.join(&h.name);
            sys.mkdir_all(&dir)?;
            if self.cgroup_ns {
                let (source, data) = match h.controllers.strip_prefix("name=") {
                    Some(name) => (name, Some(h.controllers.as_str())),
                    None if h.fstype == "cgroup2" => ("cgroup2", None),
                    None => ("cgroup", Some(h.controllers.as_str())),
                };
                sys.mount(
                    Some(Path::new(source)),
                    &dir,
                    Some(h.fstype),
                    base | ro,
                    data,
                )?;
                continue;
            }
            let source = h.source().ok_or_else(|| RootfsError::CgroupOutsideMount {
                destination: m.destination.clone(),
                own: h.own.clone(),
                mount_point: h.mount_point.clone(),
                root: h.mount_root.clone(),
            })?;
            bind(sys, &source, &dir, true, base | ro | locked_flags(&source))?;
        }
        for h in hierarchies.iter().filter(|h| h.name.contains(',')) {
            for part in h.name.split(',') {
                if part.is_empty() || hierarchies.iter().any(|o| o.name == part) {
                    continue;
                }
                sys.symlink(Path::new(&h.name), &target.join(part))?;
            }
        }
        if !ro.is_empty() {
            sys.mount(
                None,
                target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | base | ro,
                None,
            )?;
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

/// A bind mount of `source` on `target` (recursive with `rec`), then, if
/// `remount` has flags, a bind remount adding them (the kernel ignores
/// flags like read-only on the bind itself).
fn bind(
    sys: &dyn Syscall,
    source: &Path,
    target: &Path,
    rec: bool,
    remount: MsFlags,
) -> Result<(), SyscallError> {
    let rec_flag = if rec {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    sys.mount(
        Some(source),
        target,
        None,
        MsFlags::MS_BIND | rec_flag,
        None,
    )?;
    if !remount.is_empty() {
        sys.mount(
            None,
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount,
            None,
        )?;
    }
    Ok(())
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

    const PODMAN_CGROUP: &str = r#"{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup",
        "options":["rprivate","nosuid","noexec","nodev","relatime","ro"]}"#;

    /// A systemd hybrid host (cpu and cpuacct combined, systemd's xattr
    /// option), with a repeated mount of the memory hierarchy and one under
    /// a container's rootfs that must both be left out.
    const HYBRID_MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
50 22 0:32 /ferrovisor /mnt/mem\\040cg rw,relatime - cgroup cgroup rw,memory
51 22 0:36 / /b/rootfs/sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
";

    const HYBRID_CGROUP: &str = "\
12:pids:/ferrovisor/c1
9:name=systemd:/user.slice/session-1.scope
4:memory:/ferrovisor/c1
2:cpu,cpuacct:/ferrovisor/c1
0::/ferrovisor/c1
";

    fn hier(name: &str, fstype: &'static str, controllers: &str, own: &str) -> CgroupHierarchy {
        CgroupHierarchy {
            name: name.into(),
            fstype,
            controllers: controllers.into(),
            mount_point: Path::new("/sys/fs/cgroup").join(name),
            mount_root: "/".into(),
            own: own.into(),
        }
    }

    #[test]
    fn cgroup_hierarchies_and_own_dirs_of_a_hybrid_host() {
        let h = cgroup_hierarchies(HYBRID_MOUNTINFO, HYBRID_CGROUP, Path::new("/b/rootfs"));
        assert_eq!(
            h,
            vec![
                hier("cpu,cpuacct", "cgroup", "cpu,cpuacct", "/ferrovisor/c1"),
                hier("memory", "cgroup", "memory", "/ferrovisor/c1"),
                hier("pids", "cgroup", "pids", "/ferrovisor/c1"),
                hier(
                    "systemd",
                    "cgroup",
                    "name=systemd",
                    "/user.slice/session-1.scope"
                ),
                hier("unified", "cgroup2", "", "/ferrovisor/c1"),
            ]
        );
        let sources: Vec<PathBuf> = h.iter().filter_map(CgroupHierarchy::source).collect();
        assert_eq!(
            sources,
            [
                "/sys/fs/cgroup/cpu,cpuacct/ferrovisor/c1",
                "/sys/fs/cgroup/memory/ferrovisor/c1",
                "/sys/fs/cgroup/pids/ferrovisor/c1",
                "/sys/fs/cgroup/systemd/user.slice/session-1.scope",
                "/sys/fs/cgroup/unified/ferrovisor/c1",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn cgroup_hierarchies_of_v1_and_v2_hosts() {
        // Pure v1: no unified entry.
        let v1 = "32 31 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        let h = cgroup_hierarchies(v1, "3:pids:/x\n", Path::new("/r"));
        assert_eq!(h, vec![hier("pids", "cgroup", "pids", "/x")]);
        // Pure v2: nothing, the caller mounts cgroup2 as before.
        let v2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert!(cgroup_hierarchies(v2, "0::/ferrovisor/c1\n", Path::new("/r")).is_empty());
        assert!(cgroup_hierarchies("", "", Path::new("/r")).is_empty());
    }

    #[test]
    fn cgroup_source_is_below_the_mount_root_or_none() {
        let mut h = hier("memory", "cgroup", "memory", "/ferrovisor/c1");
        // A mount of a subtree (as a nested container has).
        h.mount_root = "/ferrovisor".into();
        assert_eq!(h.source(), Some(PathBuf::from("/sys/fs/cgroup/memory/c1")));
        h.mount_root = "/other".into();
        assert_eq!(h.source(), None);
        // Seen from a cgroup namespace: the root is above the namespace's.
        h.mount_root = "/../..".into();
        h.own = "/".into();
        assert_eq!(h.source(), None);
        h.mount_root = "/".into();
        h.own = "/a/../../etc".into();
        assert_eq!(h.source(), None, "no climbing out of the hierarchy");
    }

    #[test]
    fn mountinfo_octal_escapes() {
        assert_eq!(unescape_mountinfo(r"/mnt/a\040b\134c"), r"/mnt/a b\c");
        assert_eq!(unescape_mountinfo(r"/x\9\0"), r"/x\9\0");
        assert_eq!(unescape_mountinfo(r"\777"), r"\777");
    }

    fn cgroup_plan(cgroup_ns: bool) -> (MountPlan, MountEntry) {
        let ns = if cgroup_ns {
            r#"{"type":"cgroup"}"#
        } else {
            r#"{"type":"pid"}"#
        };
        let spec: Spec = serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"mounts":[{PODMAN_CGROUP}],
                "linux":{{"namespaces":[{{"type":"mount"}},{ns}]}}}}"#
        ))
        .expect("spec");
        let p = MountPlan::from_spec(&spec, Path::new("/b"), Path::new("/b/rootfs"), None, false);
        assert_eq!(p.cgroup_ns, cgroup_ns);
        let m = p.mounts[0].clone();
        (p, m)
    }

    fn mount(
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Call {
        Call::Mount {
            source: source.map(PathBuf::from),
            target: target.into(),
            fstype: fstype.map(String::from),
            flags,
            data: data.map(String::from),
        }
    }

    #[test]
    fn cgroup_v1_mount_binds_own_dirs_read_only() {
        let (p, m) = cgroup_plan(false);
        let h = cgroup_hierarchies(HYBRID_MOUNTINFO, HYBRID_CGROUP, &p.rootfs);
        let sys = RecordingSyscall::new();
        let target = Path::new("/b/rootfs/sys/fs/cgroup");
        p.mount_cgroup_v1(&sys, &m, target, &h).expect("mount");
        let base =
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME;
        let ro_bind = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base;
        let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
        let t = "/b/rootfs/sys/fs/cgroup";
        let mut want = vec![
            Call::MkdirAll(t.into()),
            mount(Some("tmpfs"), t, Some("tmpfs"), base, Some("mode=755")),
        ];
        for (name, own) in [
            ("cpu,cpuacct", "ferrovisor/c1"),
            ("memory", "ferrovisor/c1"),
            ("pids", "ferrovisor/c1"),
            ("systemd", "user.slice/session-1.scope"),
            ("unified", "ferrovisor/c1"),
        ] {
            let dir = format!("{t}/{name}");
            let src = format!("/sys/fs/cgroup/{name}/{own}");
            want.push(Call::MkdirAll(dir.clone().into()));
            want.push(mount(Some(&src), &dir, None, rec, None));
            want.push(mount(None, &dir, None, ro_bind, None));
        }
        want.push(Call::Symlink(
            "cpu,cpuacct".into(),
            format!("{t}/cpu").into(),
        ));
        want.push(Call::Symlink(
            "cpu,cpuacct".into(),
            format!("{t}/cpuacct").into(),
        ));
        // The tmpfs goes read-only last, after its directories and links.
        want.push(mount(None, t, None, ro_bind, None));
        assert_eq!(sys.calls(), want);
    }

    #[test]
    fn cgroup_v1_mount_in_a_cgroup_namespace_mounts_afresh() {
        let (p, m) = cgroup_plan(true);
        // As init sees it after unsharing the cgroup namespace.
        let own = "12:pids:/\n9:name=systemd:/\n4:memory:/\n2:cpu,cpuacct:/\n0::/\n";
        let info = HYBRID_MOUNTINFO.replace(" 0:29 / ", " 0:29 /../.. ");
        let h = cgroup_hierarchies(&info, own, &p.rootfs);
        assert_eq!(h.len(), 5);
        let sys = RecordingSyscall::new();
        let t = "/b/rootfs/sys/fs/cgroup";
        p.mount_cgroup_v1(&sys, &m, Path::new(t), &h)
            .expect("mount");
        let fresh = MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_RELATIME
            | MsFlags::MS_RDONLY;
        let calls = sys.calls();
        for (source, dir, fstype, data) in [
            ("cgroup", "cpu,cpuacct", "cgroup", Some("cpu,cpuacct")),
            ("cgroup", "memory", "cgroup", Some("memory")),
            ("systemd", "systemd", "cgroup", Some("name=systemd")),
            ("cgroup2", "unified", "cgroup2", None),
        ] {
            let want = mount(
                Some(source),
                &format!("{t}/{dir}"),
                Some(fstype),
                fresh,
                data,
            );
            assert!(calls.contains(&want), "{want:?} missing from {calls:#?}");
        }
        assert!(
            !calls.iter().any(|c| matches!(c, Call::Mount { flags, .. } if flags.contains(MsFlags::MS_BIND) && !flags.contains(MsFlags::MS_REMOUNT))),
            "no host path bound: {calls:#?}"
        );
        assert!(calls.contains(&Call::Symlink(
            "cpu,cpuacct".into(),
            format!("{t}/cpu").into()
        )));
        assert!(
            matches!(calls.last(), Some(Call::Mount { target, flags, .. })
            if target == Path::new(t) && flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT))
        );
    }

    #[test]
    fn cgroup_v1_mount_errors_name_the_paths() {
        let (p, m) = cgroup_plan(false);
        let mut h = vec![hier("memory", "cgroup", "memory", "/elsewhere")];
        h[0].mount_root = "/ferrovisor".into();
        let e = p
            .mount_cgroup_v1(
                &RecordingSyscall::new(),
                &m,
                Path::new("/b/rootfs/sys/fs/cgroup"),
                &h,
            )
            .expect_err("outside the mount");
        let text = e.to_string();
        for part in [
            "/sys/fs/cgroup",
            "/elsewhere",
            "/sys/fs/cgroup/memory",
            "/ferrovisor",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
        // A failing bind stops the mount and names the directory.
        let sys = RecordingSyscall::new();
        sys.fail_when(
            |c| matches!(c, Call::Mount { source: Some(s), .. } if s.ends_with("pids/x")),
            libc::ENOENT,
        );
        let h = vec![hier("pids", "cgroup", "pids", "/x")];
        let e = p
            .mount_cgroup_v1(&sys, &m, Path::new("/b/rootfs/sys/fs/cgroup"), &h)
            .expect_err("bind fails");
        assert!(e.to_string().contains("/sys/fs/cgroup/pids/x"), "{e}");
        assert!(!sys
            .calls()
            .iter()
            .any(|c| matches!(c, Call::Mount { flags, .. } if flags.contains(MsFlags::MS_RDONLY))));
    }
}
