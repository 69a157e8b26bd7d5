//! `fv container exec`: a new process inside a running container: its
//! namespaces (joined with setns, mount last), its cgroup, its user,
//! capabilities, `no_new_privs`, its seccomp profile (else the default
//! filter) and its environment plus the caller's additions.
//!
//! The caller forks a helper that joins the namespaces and forks again
//! (a pid namespace only applies to children); the grandchild execs and
//! the helper exits with its status.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Pid};

use crate::init::{find_executable, ProcessConfig};
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

fn code_of(status: nix::sys::wait::WaitStatus) -> Option<i32> {
    crate::process::exit_code(status)
}

fn wait_code(pid: Pid) -> i32 {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(st) => {
                if let Some(c) = code_of(st) {
                    return c;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// Runs `args` in the running container `id`; returns its exit status
/// (128 + signal if killed). Must be called from a single-threaded process.
pub fn exec(
    rt: &Runtime,
    id: &str,
    args: &[String],
    extra_env: &[String],
) -> Result<i32, ContainerError> {
    let rec = rt.state(id)?;
    if rec.status != Status::Running {
        return Err(ContainerError::WrongState {
            id: id.into(),
            status: rec.status,
            action: "exec",
            needed: "running",
        });
    }
    let pid = rec.pid.unwrap_or(0);
    let bundle = Bundle::load(&rec.bundle)?;
    let mut process = ProcessConfig::from_spec(&bundle.spec)?;
    process.env = merge_env(&process.env, extra_env);
    let args: Vec<String> = if args.is_empty() {
        vec!["sh".into()]
    } else {
        args.to_vec()
    };
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
    let (mut parent_sock, mut child_sock) = UnixStream::pair().map_err(|e| ContainerError::Io {
        id: id.into(),
        what: "socketpair".into(),
        source: e,
    })?;
    // SAFETY: fv is single-threaded when it runs exec, so the child may
    // allocate; it ends in exec or process::exit.
    match unsafe { nix::unistd::fork() }
        .map_err(|e| SyscallError::new("fork", id.to_string(), e))?
    {
        ForkResult::Child => {
            drop(parent_sock);
            let code = helper(&mut child_sock, &join, &process, &args, &filter);
            std::process::exit(code)
        }
        ForkResult::Parent { child } => {
            drop(child_sock);
            if let Some(cg) = &cgroup {
                if let Err(e) = cg.add_process(&LinuxSyscall, child.as_raw()) {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(child, None);
                    return Err(e.into());
                }
            }
            let _ = parent_sock.write_all(b"g");
            crate::process::forward_signals_to(child.as_raw());
            Ok(wait_code(child))
        }
    }
}

/// The helper's side: joins, forks the program, waits, returns its status.
fn helper(
    sock: &mut UnixStream,
    join: &[(PathBuf, CloneFlags)],
    p: &ProcessConfig,
    args: &[String],
    filter: &seccompiler::BpfProgram,
) -> i32 {
    let mut go = [0u8; 1];
    if sock.read_exact(&mut go).is_err() {
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
        Ok(ForkResult::Child) => std::process::exit(program(&sys, p, args, filter)),
        Ok(ForkResult::Parent { child }) => {
            crate::process::forward_signals_to(child.as_raw());
            wait_code(child)
        }
    }
}

fn program(
    sys: &dyn Syscall,
    p: &ProcessConfig,
    args: &[String],
    filter: &seccompiler::BpfProgram,
) -> i32 {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let fail = |what: String| {
        eprintln!("fv: exec: {what}");
        126
    };
    if let Err(e) = sys.chdir(&p.cwd) {
        return fail(e.to_string());
    }
    let Some(exe) = find_executable(&args[0], p.path_var()) else {
        eprintln!(
            "fv: exec: {:?} not found in the container (PATH={})",
            args[0],
            p.path_var()
        );
        return 127;
    };
    let steps = || -> Result<(), SyscallError> {
        sys.drop_bounding_caps(&p.caps)?;
        sys.set_keep_caps(true)?;
        sys.set_ids(p.uid, p.gid, &p.additional_gids)?;
        sys.set_keep_caps(false)?;
        sys.set_caps(&p.caps)?;
        if p.no_new_privs {
            sys.set_no_new_privs()?;
        }
        Ok(())
    };
    if let Err(e) = steps() {
        return fail(e.to_string());
    }
    let cs = |v: &[String]| -> Option<Vec<CString>> {
        v.iter().map(|s| CString::new(s.as_str()).ok()).collect()
    };
    let (Some(argv), Some(envp), Ok(path)) = (
        cs(args),
        cs(&p.env),
        CString::new(exe.as_os_str().as_bytes()),
    ) else {
        return fail("an argument or variable contains a NUL byte".into());
    };
    if let Err(e) = seccompiler::apply_filter(filter) {
        return fail(format!("seccomp: {e}"));
    }
    let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    eprintln!("fv: exec {}: {err}", exe.display());
    127
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
