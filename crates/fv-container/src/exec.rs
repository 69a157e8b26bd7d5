//! `exec`: a new process inside a running container: its namespaces
//! (joined with setns, mount last), its cgroup, its user, capabilities,
//! rlimits, `no_new_privs`, its seccomp profile (else the default filter),
//! optionally a pty from the container's devpts.
//!
//! The caller forks a helper that joins the namespaces and forks again
//! (a pid namespace only applies to children); the helper reports the
//! program's host pid, then either exits at once (`detach`, runc's
//! `exec -d`: the program is reparented to the nearest subreaper, e.g.
//! conmon or containerd's shim) or waits and exits with the program's
//! status. The program tells the caller whether its execve happened
//! through a close-on-exec socket: EOF means it did, a line is the error.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Pid};

use crate::init::{enter_process, ProcessConfig};
use crate::runtime::{ContainerError, Runtime};
use crate::spec::Bundle;
use crate::state::Status;
use crate::syscall::{LinuxSyscall, Syscall, SyscallError};

/// Namespaces in the order they are joined; `mnt` last, because joining
/// it changes what `/proc/PID/ns` paths resolve to.
pub const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The namespaces of `pid` that differ from ours (`readlink` identity).
pub fn namespaces_to_join(proc_root: &Path, pid: i32) -> Vec<(PathBuf, CloneFlags)> {
    NAMESPACES
        .iter()
        .filter_map(|(name, flag)| {
            let theirs = proc_root.join(pid.to_string()).join("ns").join(name);
            let ours = proc_root.join("self/ns").join(name);
            let (Ok(t), Ok(o)) = (std::fs::read_link(&theirs), std::fs::read_link(&ours)) else {
                return None;
            };
            (t != o).then_some((theirs, *flag))
        })
        .collect()
}

/// `base` with `extra` (`K=V`) replacing entries of the same key.
pub fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = base.to_vec();
    for e in extra {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|old| old.split('=').next() != Some(key));
        env.push(e.clone());
    }
    env
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The whole process; [`ExecOptions::from_container`] starts from the
    /// container's own.
    pub process: ProcessConfig,
    /// A pty from the container's devpts as stdio and controlling terminal.
    pub terminal: bool,
    /// With `terminal`: send the pty master here (SCM_RIGHTS, runc's
    /// protocol) instead of returning it.
    pub console_socket: Option<PathBuf>,
    /// Return once the program runs instead of waiting for it.
    pub detach: bool,
    /// Write the program's pid (host namespace) here once it runs.
    pub pid_file: Option<PathBuf>,
}

impl ExecOptions {
    /// The container's own process (user, env, cwd, capabilities, rlimits)
    /// running `args` (`sh` if empty) with `env` added.
    pub fn from_container(
        rt: &Runtime,
        id: &str,
        args: &[String],
        env: &[String],
    ) -> Result<ExecOptions, ContainerError> {
        let rec = rt.state(id)?;
        let bundle = Bundle::load(&rec.bundle)?;
        let mut process = ProcessConfig::from_spec(&bundle.spec)?;
        process.env = merge_env(&process.env, env);
        process.args = if args.is_empty() {
            vec!["sh".into()]
        } else {
            args.to_vec()
        };
        Ok(ExecOptions {
            process,
            terminal: false,
            console_socket: None,
            detach: false,
            pid_file: None,
        })
    }
}

impl ExecOptions {
    /// runc's `exec --process FILE`: a runtime-spec `process` object.
    pub fn from_process_file(file: &Path) -> Result<ExecOptions, ContainerError> {
        let bad = |message: String| crate::spec::SpecError::Invalid {
            path: file.to_path_buf(),
            field: "process".into(),
            message,
        };
        let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
        let p: oci_spec::runtime::Process =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        Ok(ExecOptions {
            process: ProcessConfig::from_process(&p)?,
            terminal: p.terminal().unwrap_or(false),
            console_socket: None,
            detach: false,
            pid_file: None,
        })
    }
}

/// How an exec ended for the caller.
#[derive(Debug)]
pub enum ExecOutcome {
    /// The program ran and exited with this status (128 + signal if
    /// killed; 126/127 if it could not be started).
    Exited(i32),
    /// `detach`: the program runs with this (host) pid.
    Detached(i32),
    /// `terminal` without a console socket: the program runs with this
    /// pid on a pty whose master is returned; [`wait_exec`] collects it.
    Attached { helper: i32, master: OwnedFd },
}

fn wait_code(pid: Pid) -> i32 {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(st) => {
                if let Some(c) = crate::process::exit_code(st) {
                    return c;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// Waits for an [`ExecOutcome::Attached`] program; its exit status.
pub fn wait_exec(helper: i32) -> i32 {
    wait_code(Pid::from_raw(helper))
}

fn io_err(id: &str, what: &str) -> impl FnOnce(std::io::Error) -> ContainerError {
    let (id, what) = (id.to_string(), what.to_string());
    move |source| ContainerError::Io { id, what, source }
}

/// Runs `opts.process` in the running container `id`. Must be called from
/// a single-threaded process (it forks).
pub fn exec(rt: &Runtime, id: &str, opts: &ExecOptions) -> Result<ExecOutcome, ContainerError> {
    let rec = rt.state(id)?;
    if rec.status != Status::Running {
        return Err(ContainerError::WrongState {
            id: id.into(),
            status: rec.status,
            action: "exec",
            needed: "running",
        });
    }
    if opts.process.args.is_empty() {
        return Err(crate::spec::SpecError::Invalid {
            path: PathBuf::from("process"),
            field: "args".into(),
            message: "no program to run".into(),
        }
        .into());
    }
    // Connected first, so a bad path fails before anything runs.
    let console_sock = match (&opts.console_socket, opts.terminal) {
        (Some(p), true) => {
            Some(
                UnixStream::connect(p).map_err(|source| ContainerError::ConsoleSocket {
                    path: p.clone(),
                    source,
                })?,
            )
        }
        _ => None,
    };
    let pid = rec.pid.unwrap_or(0);
    let bundle = Bundle::load(&rec.bundle)?;
    let join = namespaces_to_join(Path::new("/proc"), pid);
    let cgroup = rt.cgroup_of(&rec)?;
    // The container's own profile if its spec has one, else the default.
    let filter = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(profile) => crate::seccomp::profile_filter(profile)?,
        None => crate::seccomp::default_filter()?,
    };
    let pair = || UnixStream::pair().map_err(io_err(id, "socketpair"));
    let (mut parent_sock, child_sock) = pair()?;
    let (status_read, status_write) = pair()?;
    let (pty_read, pty_write) = pair()?;
    // SAFETY: fv is single-threaded when it runs exec, so the child may
    // allocate; it ends in exec or process::exit.
    let helper = match unsafe { nix::unistd::fork() }
        .map_err(|e| SyscallError::new("fork", id.to_string(), e))?
    {
        ForkResult::Child => {
            drop(parent_sock);
            let ends = Sockets {
                sync: child_sock,
                status: status_write,
                pty: pty_write,
            };
            std::process::exit(helper(ends, &join, opts, &filter))
        }
        ForkResult::Parent { child } => {
            drop((child_sock, status_write, pty_write));
            child
        }
    };
    let kill_helper = |e: ContainerError| {
        let _ = nix::sys::signal::kill(helper, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(helper, None);
        e
    };
    if let Some(cg) = &cgroup {
        if let Err(e) = cg.add_process(&LinuxSyscall, helper.as_raw()) {
            return Err(kill_helper(e.into()));
        }
    }
    if let Err(e) = parent_sock.write_all(b"g") {
        return Err(kill_helper(io_err(id, "start exec helper")(e)));
    }
    // The program's host pid, or EOF if the helper could not get there.
    let mut line = String::new();
    let _ = BufReader::new(&parent_sock).read_line(&mut line);
    let Ok(prog) = line.trim().parse::<i32>() else {
        // The helper printed why; its status says how it ended.
        return Ok(ExecOutcome::Exited(wait_code(helper)));
    };
    let master = if opts.terminal {
        match crate::process::recv_fd(&pty_read) {
            Ok((_, Some(fd))) => Some(fd),
            _ => None,
        }
    } else {
        None
    };
    let mut failure = String::new();
    let _ = (&status_read).read_to_string(&mut failure);
    if !failure.is_empty() {
        let code = wait_code(helper);
        if opts.detach {
            return Err(ContainerError::Io {
                id: id.into(),
                what: "exec".into(),
                source: std::io::Error::other(failure.trim().to_string()),
            });
        }
        return Ok(ExecOutcome::Exited(code));
    }
    if let Some(f) = &opts.pid_file {
        std::fs::write(f, prog.to_string())
            .map_err(io_err(id, &format!("write pid file {}", f.display())))?;
    }
    if let (Some(sock), Some(m)) = (&console_sock, &master) {
        crate::process::send_fd(sock, b"console", m.as_fd())
            .map_err(io_err(id, "send the pty master to --console-socket"))?;
    }
    match (opts.detach, master) {
        (true, _) => {
            // The helper exits as soon as it has reported the pid.
            let _ = wait_code(helper);
            Ok(ExecOutcome::Detached(prog))
        }
        (false, Some(master)) if console_sock.is_none() => Ok(ExecOutcome::Attached {
            helper: helper.as_raw(),
            master,
        }),
        (false, _) => {
            crate::process::forward_signals_to(helper.as_raw());
            Ok(ExecOutcome::Exited(wait_code(helper)))
        }
    }
}

/// The child's ends of the three socket pairs.
struct Sockets {
    /// "go" from the caller; the program's pid back.
    sync: UnixStream,
    /// Close-on-exec: EOF once the program execs, else why it did not.
    status: UnixStream,
    /// The pty master, with `terminal`.
    pty: UnixStream,
}

/// The helper's side: joins, forks the program, reports its pid, and
/// waits for it unless detached.
fn helper(
    mut s: Sockets,
    join: &[(PathBuf, CloneFlags)],
    opts: &ExecOptions,
    filter: &seccompiler::BpfProgram,
) -> i32 {
    let mut go = [0u8; 1];
    if s.sync.read_exact(&mut go).is_err() {
        return 1;
    }
    let sys = LinuxSyscall;
    for (path, flag) in join {
        if let Err(e) = sys.setns(path, *flag) {
            eprintln!("fv: exec: {e}");
            return 126;
        }
    }
    // SAFETY: still single-threaded; the child execs or exits.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            eprintln!("fv: exec: fork: {e}");
            126
        }
        Ok(ForkResult::Child) => {
            let code = program(&sys, &opts.process, opts.terminal, &s.pty, filter);
            match code {
                Ok(never) => match never {},
                Err((code, why)) => {
                    // Detached, the caller reports it.
                    if !opts.detach {
                        eprintln!("fv: exec: {why}");
                    }
                    let _ = writeln!(s.status, "{why}");
                    std::process::exit(code)
                }
            }
        }
        Ok(ForkResult::Parent { child }) => {
            // Only the program holds these now: the caller sees EOF when
            // it execs (or dies).
            drop((s.status, s.pty));
            if writeln!(s.sync, "{child}").is_err() || opts.detach {
                return 0;
            }
            crate::process::forward_signals_to(child.as_raw());
            wait_code(child)
        }
    }
}

/// Becomes the program; returns only on failure, with an exit status
/// (126: could not set up, 127: not found or not executable) and why.
fn program(
    sys: &dyn Syscall,
    p: &ProcessConfig,
    terminal: bool,
    pty: &UnixStream,
    filter: &seccompiler::BpfProgram,
) -> Result<std::convert::Infallible, (i32, String)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    if terminal {
        // A session of its own whose controlling terminal is the pty.
        let _ = nix::unistd::setsid();
        crate::process::open_console(pty).map_err(|m| (126, m))?;
    }
    if let Some(adj) = p.oom_score_adj {
        sys.write_file(Path::new("/proc/self/oom_score_adj"), &adj.to_string())
            .map_err(|e| (126, e.to_string()))?;
    }
    let exe = enter_process(p, sys).map_err(|e| match e {
        crate::init::InitError::NotFound(..) => (127, e.to_string()),
        other => (126, other.to_string()),
    })?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(p.umask as _));
    let cs = |v: &[String]| -> Option<Vec<CString>> {
        v.iter().map(|s| CString::new(s.as_str()).ok()).collect()
    };
    let (Some(argv), Some(envp), Ok(path)) = (
        cs(&p.args),
        cs(&p.env),
        CString::new(exe.as_os_str().as_bytes()),
    ) else {
        return Err((126, "an argument or variable contains a NUL byte".into()));
    };
    crate::process::cloexec_from(3 + p.preserve_fds as i32).map_err(|m| (126, m))?;
    seccompiler::apply_filter(filter).map_err(|e| (126, format!("seccomp: {e}")))?;
    let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    Err((127, format!("exec {}: {err}", exe.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespaces_are_not_joined() {
        let me = std::process::id() as i32;
        assert!(namespaces_to_join(Path::new("/proc"), me).is_empty());
        assert_eq!(NAMESPACES.last().map(|n| n.0), Some("mnt"));
    }

    #[test]
    fn differing_namespaces_are_joined_mnt_last() {
        // A fake /proc where pid 7's uts and mnt differ from ours.
        let d = tempfile::tempdir().expect("tempdir");
        for (who, uts, mnt) in [("self", "uts:[1]", "mnt:[1]"), ("7", "uts:[2]", "mnt:[2]")] {
            let ns = d.path().join(who).join("ns");
            std::fs::create_dir_all(&ns).expect("mkdir");
            for (n, t) in [("uts", uts), ("mnt", mnt), ("net", "net:[1]")] {
                std::os::unix::fs::symlink(t, ns.join(n)).expect("symlink");
            }
        }
        let j = namespaces_to_join(d.path(), 7);
        let flags: Vec<CloneFlags> = j.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            flags,
            vec![CloneFlags::CLONE_NEWUTS, CloneFlags::CLONE_NEWNS]
        );
        assert!(j[1].0.ends_with("7/ns/mnt"));
    }

    #[test]
    fn env_is_merged_by_key() {
        let e = merge_env(
            &["PATH=/bin".into(), "A=1".into()],
            &["A=2".into(), "B=3".into()],
        );
        assert_eq!(e, vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
