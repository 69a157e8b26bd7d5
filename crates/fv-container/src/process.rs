//! The few places that fork, exec and signal: cloning the container's init
//! into its namespaces, the init's side of the sync protocol, and reading
//! a process's state from /proc.
//!
//! Protocol: the parent clones init with the namespace flags; init waits
//! for one byte ("go") on a socket pair while the parent writes id maps
//! and puts it in its cgroup; init sets everything up and answers "ok" or
//! "error: MESSAGE"; then it blocks reading `exec.fifo` (opened read-write
//! so that never blocks) until `start` writes a byte into it, installs
//! seccomp and execs.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use seccompiler::BpfProgram;

use crate::init::{self, InitConfig};
use crate::syscall::LinuxSyscall;

/// Launching or talking to init failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("clone of the container init: {0}")]
    Clone(nix::Error),
    #[error("container init failed: {0}")]
    Init(String),
    #[error("container init exited during setup")]
    InitExited,
    #[error("sync with the container init: {0}")]
    Sync(std::io::Error),
    #[error("{0}")]
    Parent(String),
}

const STACK_SIZE: usize = 8 << 20;

/// Clones init and runs the sync protocol. `parent_setup` runs between
/// clone and "go" (id maps, cgroup); its error kills init. Returns init's
/// pid once it is ready and blocked on the exec fifo, and with `console`
/// the master of the pty init opened inside the container (its devpts)
/// and made its controlling terminal and stdio.
pub fn spawn_init(
    cfg: &InitConfig,
    fifo: &Path,
    seccomp: Option<&BpfProgram>,
    stdio: Option<[RawFd; 3]>,
    console: bool,
    parent_setup: impl FnOnce(i32) -> Result<(), String>,
) -> Result<(i32, Option<OwnedFd>), ProcessError> {
    let (mut parent_sock, child_sock) = UnixStream::pair().map_err(ProcessError::Sync)?;
    let mut stack = vec![0u8; STACK_SIZE];
    let parent_fd = parent_sock.as_raw_fd();
    let cb = Box::new(move || {
        // The parent's end is of no use here; close our copy so the
        // parent sees EOF if we die.
        let _ = nix::unistd::close(parent_fd);
        init_main(cfg, fifo, seccomp, stdio, console, &child_sock) as isize
    });
    // SAFETY: this process is single-threaded when it creates containers
    // (the fv binary runs one command), so the child may allocate; the
    // child runs `init_main` on its own copy of memory (no CLONE_VM) and
    // ends in exec or a return that exits the child.
    let pid = unsafe { nix::sched::clone(cb, &mut stack, cfg.ns.clone_flags, Some(libc::SIGCHLD)) }
        .map_err(ProcessError::Clone)?;
    let pid = pid.as_raw();
    let fail = |e: ProcessError| {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        e
    };
    if let Err(m) = parent_setup(pid) {
        return Err(fail(ProcessError::Parent(m)));
    }
    if let Err(e) = parent_sock.write_all(b"g") {
        return Err(fail(ProcessError::Sync(e)));
    }
    let _ = parent_sock.set_read_timeout(Some(Duration::from_secs(60)));
    let mut line = String::new();
    let mut master = None;
    if console {
        match recv_fd(&parent_sock) {
            Ok((_, Some(fd))) => master = Some(fd),
            // No fd: init is reporting an error; keep its first byte.
            Ok((Some(b), None)) => line.push(char::from(b)),
            Ok((None, None)) => return Err(fail(ProcessError::InitExited)),
            Err(e) => return Err(fail(ProcessError::Sync(e))),
        }
    }
    let read = BufReader::new(&parent_sock).read_line(&mut line);
    match read {
        Ok(0) if line.is_empty() => Err(fail(ProcessError::InitExited)),
        Ok(_) if line.trim_end() == "ok" => Ok((pid, master)),
        Ok(_) => Err(fail(ProcessError::Init(
            line.trim_end().trim_start_matches("error: ").to_string(),
        ))),
        Err(e) => Err(fail(ProcessError::Sync(e))),
    }
}

/// One byte and maybe one fd (SCM_RIGHTS) from the sync socket.
pub(crate) fn recv_fd(sock: &UnixStream) -> std::io::Result<(Option<u8>, Option<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: the kernel just installed `f` in our table for us;
                // nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                if fd.is_none() {
                    fd = Some(owned);
                }
            }
        }
    }
    let got = (msg.bytes == 1).then_some(byte[0]);
    Ok((got, fd))
}

/// Init's side of the console: a pty from the container's /dev/ptmx, its
/// slave as stdio and controlling terminal, the master sent to the parent.
pub(crate) fn open_console(sock: &UnixStream) -> Result<(), String> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)
        .map_err(|e| format!("console: open /dev/ptmx: {e}"))?;
    nix::pty::grantpt(&master).map_err(|e| format!("console: grantpt: {e}"))?;
    nix::pty::unlockpt(&master).map_err(|e| format!("console: unlockpt: {e}"))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| format!("console: ptsname: {e}"))?;
    let slave = nix::fcntl::open(name.as_str(), OFlag::O_RDWR, nix::sys::stat::Mode::empty())
        .map_err(|e| format!("console: open {name}: {e}"))?;
    for fd in 0..3 {
        nix::unistd::dup2(slave, fd).map_err(|e| format!("console: dup2: {e}"))?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    // SAFETY: TIOCSCTTY takes an int argument, no memory; fd 0 is the
    // slave and we lead a session (setsid) without a controlling terminal.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(format!(
            "console: TIOCSCTTY: {}",
            std::io::Error::last_os_error()
        ));
    }
    send_fd(sock, b"c", master.as_fd()).map_err(|e| format!("console: send: {e}"))
}

/// Marks every fd from `first` up close-on-exec, so the container's
/// program keeps only stdio (and the fds it was asked to keep), never a
/// socket or file of whoever ran the runtime (containerd's shim hands its
/// API socket down, for one). runc does the same.
pub(crate) fn cloexec_from(first: i32) -> Result<(), String> {
    let first = u32::try_from(first).map_err(|_| format!("bad fd {first}"))?;
    // SAFETY: close_range takes three integers and touches no memory of
    // ours; with CLOSE_RANGE_CLOEXEC it only sets flags on our own fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.11: each open fd by name.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("/proc/self/fd: {e}"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds.into_iter().filter(|&fd| fd >= first as i32) {
        // SAFETY: F_SETFD with an int flag touches no memory; a fd closed
        // meanwhile (the read_dir's own) just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Sends `fd` (SCM_RIGHTS) with the bytes `data` over a unix socket.
pub fn send_fd(sock: &UnixStream, data: &[u8], fd: BorrowedFd) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
    .map_err(std::io::Error::from)
}

fn cstrings<'a>(items: impl Iterator<Item = &'a str>) -> Option<Vec<CString>> {
    items.map(|s| CString::new(s).ok()).collect()
}

/// Init's side; returns the exit status if it does not exec.
fn init_main(
    cfg: &InitConfig,
    fifo: &Path,
    seccomp: Option<&BpfProgram>,
    stdio: Option<[RawFd; 3]>,
    console: bool,
    sock: &UnixStream,
) -> i32 {
    let mut sock = sock;
    if let Some(fds) = stdio {
        for (i, fd) in fds.iter().enumerate() {
            if nix::unistd::dup2(*fd, i as RawFd).is_err() {
                return 1;
            }
        }
    }
    let mut go = [0u8; 1];
    if sock.read_exact(&mut go).is_err() {
        return 1;
    }
    let report = |mut s: &UnixStream, msg: String| {
        let _ = writeln!(s, "error: {}", msg.replace('\n', " "));
        1
    };
    // Its own session: signals to fv's terminal group do not reach it.
    let _ = nix::unistd::setsid();
    // Opened read-write: a FIFO opened so never blocks, and keeps a reader
    // present for `start`'s non-blocking open.
    let fifo_fd = match nix::fcntl::open(
        fifo,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => return report(sock, format!("open {}: {e}", fifo.display())),
    };
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let exe = match init::setup(cfg, &LinuxSyscall) {
        Ok(exe) => exe,
        Err(e) => return report(sock, e.to_string()),
    };
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        cfg.process.umask as _,
    ));
    let (Some(argv), Some(envp), Ok(path)) = (
        cstrings(cfg.process.args.iter().map(String::as_str)),
        cstrings(cfg.process.env.iter().map(String::as_str)),
        CString::new(exe.as_os_str().as_bytes()),
    ) else {
        return report(
            sock,
            "process.args or process.env contains a NUL byte".into(),
        );
    };
    if console {
        if let Err(m) = open_console(sock) {
            return report(sock, m);
        }
    }
    if writeln!(sock, "ok").is_err() {
        return 1;
    }
    let mut byte = [0u8; 1];
    match nix::unistd::read(fifo_fd, &mut byte) {
        Ok(1) => {}
        _ => return 1,
    }
    let _ = nix::unistd::close(fifo_fd);
    if let Err(m) = cloexec_from(3 + cfg.process.preserve_fds as i32) {
        eprintln!("fv: {m}");
        return 1;
    }
    if let Some(prog) = seccomp {
        if let Err(e) = seccompiler::apply_filter(prog) {
            eprintln!("fv: seccomp: {e}");
            return 1;
        }
    }
    let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    eprintln!("fv: exec {}: {err}", exe.display());
    127
}

/// What /proc says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

/// `/proc/PID/stat`: state (field 3) and start time (field 22).
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

pub fn parse_stat(text: &str) -> Option<ProcStat> {
    // comm (field 2) may hold spaces and parens; fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let start_time = f.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Whether `pid` is still the process started at `start_time`, and not
/// a zombie.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some(s) => !matches!(s.state, 'Z' | 'X') && (start_time == 0 || s.start_time == start_time),
        None => false,
    }
}

/// Signal by name (`KILL`, `SIGKILL`) or number.
pub fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse().ok()
}

/// Exit status as a shell reports it: the code, or 128 + signal.
pub fn exit_code(status: nix::sys::wait::WaitStatus) -> Option<i32> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

static FORWARD_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_PID.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe and takes no memory.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Forwards the usual terminating signals this process gets to `pid`.
pub fn forward_signals_to(pid: i32) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    FORWARD_PID.store(pid, std::sync::atomic::Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        // SAFETY: `forward` only reads an atomic and calls kill, both
        // async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parses_state_and_start_time() {
        let line =
            "123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                start_time: 98765
            })
        );
        let me = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(is_alive(std::process::id() as i32, me.start_time));
        assert!(
            !is_alive(std::process::id() as i32, me.start_time + 1),
            "pid reuse is detected"
        );
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("BOGUS"), None);
    }
}
