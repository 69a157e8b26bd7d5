//! The container lifecycle of runtime-spec "Lifecycle": create (init set
//! up and waiting), start (init execs the user process), state, kill,
//! delete; and `run`, which does create + start + wait in one process.

use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tracing::{debug, info, warn};

use crate::cgroups::{Cgroup, CgroupError, CgroupLayout};
use crate::init::{InitConfig, InitError};
use crate::process::{self, ProcessError};
use crate::rootfs::Overlay;
use crate::seccomp::{self, SeccompError};
use crate::spec::{Bundle, SpecError};
use crate::state::{ContainerRecord, RecordExtra, StateError, StateStore, Status};
use crate::syscall::{LinuxSyscall, Syscall, SyscallError};

/// A lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Syscall(#[from] SyscallError),
    #[error("container {id}: {source}")]
    Process {
        id: String,
        #[source]
        source: ProcessError,
    },
    #[error("container {id} is {status}; {action} needs it {needed}")]
    WrongState {
        id: String,
        status: Status,
        action: &'static str,
        needed: &'static str,
    },
    /// Worded as runc's, which containerd's shim takes for "already gone".
    #[error("container {id} is {status}: container not running")]
    NotRunning { id: String, status: Status },
    #[error("--console-socket {path}: {source}")]
    ConsoleSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown signal {0:?}")]
    Signal(String),
    #[error("container {id} has no cgroup (it was made rootless), so it cannot be {action}: that needs a cgroup freezer")]
    NoCgroup { id: String, action: &'static str },
    #[error("container {id}: {what}: {source}")]
    Io {
        id: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ContainerError {
    /// Errors in what the user handed us (exit 2), as opposed to failures
    /// of the host or the container.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ContainerError::Spec(_)
                | ContainerError::State(
                    StateError::BadId(_) | StateError::Exists(_) | StateError::NotFound(_)
                )
                | ContainerError::WrongState { .. }
                | ContainerError::NotRunning { .. }
                | ContainerError::Signal(_)
                | ContainerError::ConsoleSocket { .. }
        )
    }
}

/// How to create, beyond what `config.json` says.
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// Image layers to mount as the rootfs inside the mount namespace.
    pub overlay: Option<Overlay>,
    /// Install the default seccomp filter if the spec has no profile.
    pub default_seccomp: bool,
    /// stdin, stdout, stderr for the container (default: ours).
    pub stdio: Option<[RawFd; 3]>,
    pub annotations: BTreeMap<String, String>,
    /// Give the container a pty from its own devpts as stdio and
    /// controlling terminal; [`Runtime::create_with_console`] returns the
    /// master.
    pub console: bool,
    /// runc's `--console-socket`: for a `process.terminal` container, a
    /// unix socket to which the pty master is sent (SCM_RIGHTS).
    pub console_socket: Option<PathBuf>,
    /// runc's `--preserve-fds N`: the container's program keeps our fds
    /// 3..3+N; all others above stdio are closed when it starts.
    pub preserve_fds: u32,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit code, or 128 + signal number.
    pub code: i32,
    pub oom_killed: bool,
}

/// The runtime over one state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub store: StateStore,
    /// runc's `--systemd-cgroup`: cgroupsPath is "slice:prefix:name".
    systemd_cgroup: bool,
}

/// The cgroupfs path systemd gives a unit named by runc's systemd
/// cgroupsPath "slice:prefix:name" (`prefix-name.scope` inside the slice,
/// or the slice itself when name ends in `.slice`). Slices nest by their
/// dashes: `machine-libpod.slice` is `/machine.slice/machine-libpod.slice`.
/// We make the directories ourselves (no D-Bus), where systemd would.
pub fn systemd_cgroup_path(path: &str, rootless: bool) -> Result<PathBuf, String> {
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(format!("{path:?}: expected slice:prefix:name"));
    };
    let slice = match slice {
        "" if rootless => "user.slice",
        "" => "system.slice",
        s => s,
    };
    let expand = |unit: &str| -> Result<PathBuf, String> {
        let Some(stem) = unit.strip_suffix(".slice") else {
            return Err(format!("{unit:?}: a slice must end in .slice"));
        };
        let mut out = PathBuf::from("/");
        if stem == "-" {
            return Ok(out);
        }
        if stem.is_empty() || stem.contains('/') || stem.split('-').any(str::is_empty) {
            return Err(format!("{unit:?}: not a valid slice name"));
        }
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            out.push(format!("{acc}.slice"));
        }
        Ok(out)
    };
    if name.is_empty() || name.contains('/') {
        return Err(format!("{path:?}: bad unit name {name:?}"));
    }
    if name.ends_with(".slice") {
        return expand(name);
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(expand(slice)?.join(unit))
}

/// The host's cgroup mounts, read once per process: `state` asks whether
/// a live container's cgroup is frozen on every call, and they stay put.
fn host_layout() -> Option<&'static CgroupLayout> {
    static LAYOUT: OnceLock<Option<CgroupLayout>> = OnceLock::new();
    LAYOUT.get_or_init(|| CgroupLayout::detect().ok()).as_ref()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Undoes a half-made container unless disarmed.
struct Cleanup<'a> {
    rt: &'a Runtime,
    id: String,
    pid: Option<i32>,
    cgroup: Option<Cgroup>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.remove(&LinuxSyscall, Duration::from_secs(5)) {
                warn!(id = %self.id, "cleanup: {e}");
            }
        }
        if let Err(e) = self.rt.store.remove(&self.id) {
            warn!(id = %self.id, "cleanup: {e}");
        }
    }
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            store: StateStore::new(root),
            systemd_cgroup: false,
        }
    }

    /// Reads cgroupsPath as systemd's "slice:prefix:name" (runc's
    /// `--systemd-cgroup`).
    pub fn with_systemd_cgroup(mut self, on: bool) -> Runtime {
        self.systemd_cgroup = on;
        self
    }

    /// The pids of the container's processes (its cgroup's, else init's).
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, ContainerError> {
        let rec = self.state(id)?;
        if let Some(cg) = self.cgroup_of(&rec)? {
            return Ok(cg.pids());
        }
        Ok(rec
            .pid
            .filter(|_| rec.status != Status::Stopped)
            .into_iter()
            .collect())
    }

    pub(crate) fn cgroup_of(
        &self,
        rec: &ContainerRecord,
    ) -> Result<Option<Cgroup>, ContainerError> {
        match &rec.ferrovisor.cgroup_path {
            Some(p) => Ok(Some(Cgroup::new(CgroupLayout::detect()?, p)?)),
            None => Ok(None),
        }
    }

    /// runtime-spec `create`: everything but the user's program. Nothing is
    /// left behind if it fails.
    pub fn create(
        &self,
        id: &str,
        bundle_dir: &Path,
        opts: CreateOptions,
    ) -> Result<ContainerRecord, ContainerError> {
        self.create_with_console(id, bundle_dir, opts)
            .map(|(rec, _)| rec)
    }

    /// `create`, also returning the console's pty master when
    /// `opts.console` asked for one.
    pub fn create_with_console(
        &self,
        id: &str,
        bundle_dir: &Path,
        opts: CreateOptions,
    ) -> Result<(ContainerRecord, Option<std::os::fd::OwnedFd>), ContainerError> {
        let bundle = Bundle::load(bundle_dir)?;
        let mut cfg = InitConfig::from_bundle(&bundle, opts.overlay.clone())?;
        cfg.process.preserve_fds = opts.preserve_fds;
        let spec = &bundle.spec;
        // As runc: the spec's profile if it has one, else no filter unless
        // the caller (`fv container`) wants the default one.
        let filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(profile) => Some(seccomp::profile_filter(profile).map_err(|e| match e {
                SeccompError::Profile { field, message } => {
                    ContainerError::Spec(SpecError::Invalid {
                        path: bundle.dir.join("config.json"),
                        field,
                        message,
                    })
                }
                other => other.into(),
            })?),
            None if opts.default_seccomp => Some(seccomp::default_filter()?),
            None => None,
        };
        let config = || bundle.dir.join("config.json");
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        // Connected before anything is made, so a bad path leaves nothing.
        let console_sock = match (&opts.console_socket, terminal) {
            (Some(p), true) => Some(std::os::unix::net::UnixStream::connect(p).map_err(
                |source| ContainerError::ConsoleSocket {
                    path: p.clone(),
                    source,
                },
            )?),
            (Some(_), false) => {
                return Err(SpecError::Invalid {
                    path: config(),
                    field: "process.terminal".into(),
                    message: "--console-socket is given but the process has no terminal".into(),
                }
                .into())
            }
            (None, true) if !opts.console => {
                return Err(SpecError::Invalid {
                    path: config(),
                    field: "process.terminal".into(),
                    message: "a terminal needs --console-socket to send its pty to".into(),
                }
                .into())
            }
            (None, _) => None,
        };
        let rootless = !nix::unistd::geteuid().is_root();
        if rootless && !cfg.ns.has_new(nix::sched::CloneFlags::CLONE_NEWUSER) {
            return Err(SpecError::Invalid {
                path: bundle.dir.join("config.json"),
                field: "linux.namespaces".into(),
                message: "running as an ordinary user (rootless) needs a user namespace".into(),
            }
            .into());
        }
        let dir = self.store.claim(id)?;
        let mut guard = Cleanup {
            rt: self,
            id: id.to_string(),
            pid: None,
            cgroup: None,
            armed: true,
        };
        let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
        let cgroups_path = match cgroups_path {
            Some(p) if self.systemd_cgroup => systemd_cgroup_path(&p.to_string_lossy(), rootless)
                .map_err(|message| SpecError::Invalid {
                path: bundle.dir.join("config.json"),
                field: "linux.cgroupsPath".into(),
                message,
            })?,
            Some(p) => p,
            None if self.systemd_cgroup => {
                PathBuf::from("/system.slice").join(format!("fv-{id}.scope"))
            }
            None => PathBuf::from("ferrovisor").join(id),
        };
        let cgroup = if rootless {
            // An ordinary user may not make cgroups (without a delegated
            // subtree, which we do not look for): no limits, as runc's
            // rootless mode without systemd.
            warn!(
                id,
                "rootless: no cgroup is made, linux.resources are not applied"
            );
            None
        } else {
            let cgroup = Cgroup::new(CgroupLayout::detect()?, &cgroups_path)?;
            guard.cgroup = Some(cgroup.clone());
            cgroup.create(
                &LinuxSyscall,
                spec.linux().as_ref().and_then(|l| l.resources().as_ref()),
            )?;
            Some(cgroup)
        };
        let fifo = self.store.fifo(id);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| SyscallError::new("mkfifo", fifo.display().to_string(), e))?;
        let mut rec = ContainerRecord {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            status: Status::Creating,
            pid: None,
            bundle: bundle.dir.clone(),
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .chain(opts.annotations)
                .collect(),
            ferrovisor: RecordExtra {
                cgroup_path: cgroup.as_ref().map(|_| cgroups_path),
                created: now(),
                ..Default::default()
            },
        };
        self.store.save(&rec)?;
        let ns = cfg.ns.clone();
        let console = opts.console || console_sock.is_some();
        let spawned =
            process::spawn_init(&cfg, &fifo, filter.as_ref(), opts.stdio, console, |pid| {
                let sys = LinuxSyscall;
                if let Some(m) = &ns.uid_map {
                    sys.write_file(Path::new(&format!("/proc/{pid}/uid_map")), m)
                        .map_err(|e| e.to_string())?;
                }
                if let Some(m) = &ns.gid_map {
                    // user_namespaces(7): without CAP_SETGID an ordinary
                    // user may map its own gid only once setgroups is denied.
                    if rootless {
                        sys.write_file(Path::new(&format!("/proc/{pid}/setgroups")), "deny")
                            .map_err(|e| e.to_string())?;
                    }
                    sys.write_file(Path::new(&format!("/proc/{pid}/gid_map")), m)
                        .map_err(|e| e.to_string())?;
                }
                match &cgroup {
                    Some(cg) => cg.add_process(&sys, pid).map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            })
            .map_err(|source| ContainerError::Process {
                id: id.into(),
                source,
            })?;
        let (pid, mut master) = spawned;
        guard.pid = Some(pid);
        if let Some(sock) = &console_sock {
            let Some(m) = master.take() else {
                return Err(ContainerError::Io {
                    id: id.into(),
                    what: "console".into(),
                    source: std::io::Error::other("init sent no pty"),
                });
            };
            // The master is ours only until sent: the receiver owns it.
            process::send_fd(sock, b"console", std::os::fd::AsFd::as_fd(&m)).map_err(|source| {
                ContainerError::Io {
                    id: id.into(),
                    what: "send the pty master to --console-socket".into(),
                    source,
                }
            })?;
        }
        rec.status = Status::Created;
        rec.pid = Some(pid);
        rec.ferrovisor.pid_start_time = process::proc_stat(pid).map(|s| s.start_time).unwrap_or(0);
        self.store.save(&rec)?;
        guard.armed = false;
        info!(id, pid, dir = %dir.display(), "container created");
        Ok((rec, master))
    }

    /// The record with its status brought up to date.
    pub fn state(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let mut rec = self.store.load(id)?;
        let live = self.live_status(&rec);
        if live != rec.status {
            if live == Status::Stopped {
                // Persist the exit, re-reading under the lock: the monitor
                // may be recording the exit code right now.
                let oom = matches!(self.cgroup_of(&rec), Ok(Some(cg)) if cg.oom_kills() > 0);
                if let Ok(r) = self.store.update(id, |r| {
                    r.status = Status::Stopped;
                    r.ferrovisor.oom_killed |= oom;
                    r.clone()
                }) {
                    return Ok(r);
                }
            }
            rec.status = live;
        }
        Ok(rec)
    }

    fn live_status(&self, rec: &ContainerRecord) -> Status {
        match (rec.status, rec.pid) {
            (Status::Stopped, _) => Status::Stopped,
            (_, None) => rec.status,
            (_, Some(pid)) if !process::is_alive(pid, rec.ferrovisor.pid_start_time) => {
                Status::Stopped
            }
            _ if self.store.fifo(&rec.id).exists() => Status::Created,
            _ if Self::frozen(rec) => Status::Paused,
            _ => Status::Running,
        }
    }

    /// Whether the container's cgroup is frozen: paused by us, or by
    /// anyone else, as runc tells it. One or two small reads.
    fn frozen(rec: &ContainerRecord) -> bool {
        let (Some(path), Some(layout)) = (&rec.ferrovisor.cgroup_path, host_layout()) else {
            return false;
        };
        Cgroup::new(layout.clone(), path).is_ok_and(|cg| cg.is_frozen())
    }

    /// Records `status` unless the container stopped meanwhile (the
    /// monitor may be recording its exit right now).
    fn set_live_status(&self, id: &str, status: Status) -> Result<ContainerRecord, StateError> {
        self.store.update(id, |r| {
            if r.status != Status::Stopped {
                r.status = status;
            }
            r.clone()
        })
    }

    /// The cgroup to freeze or thaw; a container without one (rootless)
    /// cannot be paused.
    fn freezer_of(
        &self,
        rec: &ContainerRecord,
        action: &'static str,
    ) -> Result<Cgroup, ContainerError> {
        self.cgroup_of(rec)?
            .ok_or_else(|| ContainerError::NoCgroup {
                id: rec.id.clone(),
                action,
            })
    }

    /// runc's `pause`: freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let rec = self.state(id)?;
        if rec.status != Status::Running {
            return Err(ContainerError::WrongState {
                id: id.into(),
                status: rec.status,
                action: "pause",
                needed: "running",
            });
        }
        let cg = self.freezer_of(&rec, "paused")?;
        cg.freeze(&LinuxSyscall, true)?;
        match self.set_live_status(id, Status::Paused) {
            Ok(rec) => {
                info!(id, "container paused");
                Ok(rec)
            }
            Err(e) => {
                // Not recorded (deleted meanwhile?): do not leave it frozen.
                let _ = cg.freeze(&LinuxSyscall, false);
                Err(e.into())
            }
        }
    }

    /// runc's `resume`: thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let rec = self.state(id)?;
        if rec.status != Status::Paused {
            return Err(ContainerError::WrongState {
                id: id.into(),
                status: rec.status,
                action: "resume",
                needed: "paused",
            });
        }
        self.freezer_of(&rec, "resumed")?
            .freeze(&LinuxSyscall, false)?;
        let rec = self.set_live_status(id, Status::Running)?;
        info!(id, "container resumed");
        Ok(rec)
    }

    /// runtime-spec `start`: releases init to exec the user's program.
    pub fn start(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let mut rec = self.state(id)?;
        if rec.status != Status::Created {
            return Err(ContainerError::WrongState {
                id: id.into(),
                status: rec.status,
                action: "start",
                needed: "created",
            });
        }
        let fifo = self.store.fifo(id);
        let io = |what: &str| {
            let what = what.to_string();
            let id = id.to_string();
            move |e: nix::Error| ContainerError::Io {
                id,
                what,
                source: e.into(),
            }
        };
        // Non-blocking: ENXIO instead of a hang if init is gone.
        let fd = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io("open exec fifo"))?;
        let written = nix::unistd::write(
            // SAFETY: `fd` was just opened and is closed right below.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            b"1",
        );
        let _ = nix::unistd::close(fd);
        written.map_err(io("write exec fifo"))?;
        let _ = std::fs::remove_file(&fifo);
        // Unless it already ran and exited (recorded by its waiter).
        rec = self.store.update(id, |r| {
            if r.status != Status::Stopped {
                r.status = Status::Running;
            }
            r.clone()
        })?;
        debug!(id, "container started");
        Ok(rec)
    }

    /// runtime-spec `kill`; with `all`, every process in the cgroup.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), ContainerError> {
        let sig =
            process::parse_signal(signal).ok_or_else(|| ContainerError::Signal(signal.into()))?;
        let rec = self.state(id)?;
        if !matches!(
            rec.status,
            Status::Created | Status::Running | Status::Paused
        ) {
            return Err(ContainerError::NotRunning {
                id: id.into(),
                status: rec.status,
            });
        }
        if all {
            if let Some(cg) = self.cgroup_of(&rec)? {
                for p in cg.pids() {
                    let _ = nix::sys::signal::kill(Pid::from_raw(p), sig);
                }
            }
        }
        if let Some(pid) = rec.pid {
            nix::sys::signal::kill(Pid::from_raw(pid), sig)
                .map_err(|e| SyscallError::new("kill", format!("{pid} {sig}"), e))?;
        }
        // As runc: a frozen task (cgroup v1) acts on no signal, not even
        // SIGKILL, until thawed; thaw for SIGKILL only. Other signals
        // wait for `resume`.
        if sig == Signal::SIGKILL && rec.status == Status::Paused {
            if let Some(cg) = self.cgroup_of(&rec)? {
                cg.freeze(&LinuxSyscall, false)?;
                self.set_live_status(id, Status::Running)?;
            }
        }
        Ok(())
    }

    /// Waits for our child `pid` (the container's init) and records how it
    /// ended.
    pub fn wait(&self, id: &str) -> Result<ExitStatus, ContainerError> {
        let rec = self.store.load(id)?;
        let pid = rec.pid.unwrap_or(0);
        let code = loop {
            match nix::sys::wait::waitpid(Pid::from_raw(pid), None) {
                Ok(st) => {
                    if let Some(c) = process::exit_code(st) {
                        break c;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SyscallError::new("waitpid", pid.to_string(), e).into()),
            }
        };
        let oom_killed = self.cgroup_of(&rec)?.is_some_and(|cg| cg.oom_kills() > 0);
        // Under the record's lock: a concurrent `state` may be marking the
        // same exit; whichever comes second keeps the other's fields.
        self.store.update(id, |r| {
            r.status = Status::Stopped;
            r.ferrovisor.exit_code = Some(code);
            r.ferrovisor.oom_killed |= oom_killed;
        })?;
        Ok(ExitStatus { code, oom_killed })
    }

    /// create + start + wait, forwarding signals; the container stays
    /// (stopped) until deleted.
    pub fn run(
        &self,
        id: &str,
        bundle_dir: &Path,
        opts: CreateOptions,
    ) -> Result<ExitStatus, ContainerError> {
        let rec = self.create(id, bundle_dir, opts)?;
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, true);
            return Err(e);
        }
        process::forward_signals_to(rec.pid.unwrap_or(0));
        self.wait(id)
    }

    /// runtime-spec `delete`: a stopped (or, as runc does, created)
    /// container; `force` kills a running or paused one first. Removes
    /// the cgroup and the state directory.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), ContainerError> {
        let rec = self.state(id)?;
        if matches!(rec.status, Status::Running | Status::Paused) && !force {
            return Err(ContainerError::WrongState {
                id: id.into(),
                status: rec.status,
                action: "delete",
                needed: "stopped (or use --force)",
            });
        }
        let cgroup = self.cgroup_of(&rec)?;
        if let Some(cg) = cgroup.as_ref().filter(|cg| cg.is_frozen()) {
            // Paused: SIGKILL everyone, then thaw, since a frozen task
            // (cgroup v1) dies only once thawed.
            let live = rec.pid.filter(|_| rec.status != Status::Stopped);
            for p in cg.pids().into_iter().chain(live) {
                let _ = nix::sys::signal::kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            cg.freeze(&LinuxSyscall, false)?;
        }
        if rec.status != Status::Stopped {
            if let Some(pid) = rec.pid {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                self.wait_gone(pid, rec.ferrovisor.pid_start_time);
            }
        }
        if let Some(cg) = &cgroup {
            for p in cg.pids() {
                let _ = nix::sys::signal::kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            cg.remove(&LinuxSyscall, Duration::from_secs(10))?;
        }
        self.store.remove(id)?;
        info!(id, "container deleted");
        Ok(())
    }

    fn wait_gone(&self, pid: i32, start_time: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Reap it if it is our child; otherwise its parent will.
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            if !process::is_alive(pid, start_time) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        warn!(pid, "container init still alive after SIGKILL");
    }

    /// Every container's record, status brought up to date.
    pub fn list(&self) -> Vec<ContainerRecord> {
        self.store
            .ids()
            .iter()
            .filter_map(|id| self.state(id).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_cgroups_paths_map_like_systemd() {
        let p = |s, r| systemd_cgroup_path(s, r).map(|p| p.display().to_string());
        assert_eq!(
            p("machine.slice:libpod:abc", false).as_deref(),
            Ok("/machine.slice/libpod-abc.scope")
        );
        assert_eq!(
            p("machine-libpod.slice:crio:x", false).as_deref(),
            Ok("/machine.slice/machine-libpod.slice/crio-x.scope")
        );
        assert_eq!(
            p(":docker:id1", false).as_deref(),
            Ok("/system.slice/docker-id1.scope")
        );
        assert_eq!(p("::id1", true).as_deref(), Ok("/user.slice/id1.scope"));
        assert_eq!(p("-.slice:p:n", false).as_deref(), Ok("/p-n.scope"));
        assert_eq!(
            p("a.slice::b-c.slice", false).as_deref(),
            Ok("/b.slice/b-c.slice")
        );
        for bad in [
            "/plain/path",
            "a:b",
            "x.scope:p:n",
            "a--b.slice:p:n",
            "a.slice:p:../x",
        ] {
            assert!(p(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn pause_needs_running_and_a_cgroup() {
        // A "running" container without a cgroup (as a rootless one):
        // this test process stands in for its init.
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = Runtime::new(dir.path());
        rt.store.claim("c1").expect("claim");
        let pid = i32::try_from(std::process::id()).expect("pid");
        let mut rec = ContainerRecord {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            status: Status::Running,
            pid: Some(pid),
            bundle: dir.path().into(),
            annotations: BTreeMap::new(),
            ferrovisor: RecordExtra {
                pid_start_time: process::proc_stat(pid).map(|s| s.start_time).unwrap_or(0),
                ..Default::default()
            },
        };
        rt.store.save(&rec).expect("save");
        assert_eq!(rt.state("c1").expect("state").status, Status::Running);
        let e = rt.pause("c1").expect_err("no cgroup");
        assert!(matches!(e, ContainerError::NoCgroup { .. }), "{e}");
        assert!(e.to_string().contains("c1"), "{e}");
        let e = rt.resume("c1").expect_err("not paused");
        assert!(e.is_bad_input() && e.to_string().contains("running"), "{e}");

        rec.status = Status::Stopped;
        rt.store.save(&rec).expect("save");
        let e = rt.pause("c1").expect_err("stopped");
        assert!(
            matches!(
                e,
                ContainerError::WrongState {
                    status: Status::Stopped,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.is_bad_input());
        assert!(rt.pause("nope").expect_err("no such").is_bad_input());
    }
}
