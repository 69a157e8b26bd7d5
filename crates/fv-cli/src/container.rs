//! `fv container`, `fv image`, `fv oci`: thin wrappers over `fv-container`.
//! Errors in what the user gave (bad config, unknown container, name in
//! use) exit 2; a container's own exit status is passed through.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use fv_container::exec::{self, ExecOptions, ExecOutcome};
use fv_container::manager::{self, Manager, ManagerError, RunOptions};
use fv_container::runtime::{ContainerError, CreateOptions, Runtime};
use fv_container::state::{StateStore, Status};

/// Exit code for bad input, as for bad arguments.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the runtime itself failed.
const EXIT_FAILURE: u8 = 1;

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Run a command in a new container; exits with the command's status.
    Run(RunArgs),
    /// List containers.
    #[command(alias = "list", alias = "ps")]
    Ls,
    /// Stop a container: SIGTERM, then SIGKILL after the grace time.
    Stop {
        name: String,
        /// Seconds before SIGKILL.
        #[arg(long, short = 't', default_value_t = 10)]
        time: u64,
    },
    /// Send a signal (default KILL) to a container's processes.
    Kill {
        name: String,
        #[arg(long, short = 's', default_value = "KILL")]
        signal: String,
    },
    /// Remove containers, their upper layers, cgroups and state.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        /// Kill running containers first.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Run a command in a running container; exits with its status.
    Exec {
        /// Set an environment variable (KEY=VALUE).
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Run it on a new pty from the container, relayed to this terminal.
        #[arg(short = 't', long)]
        tty: bool,
        /// Run as UID[:GID] (default: the container's user).
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory inside the container.
        #[arg(short = 'w', long)]
        workdir: Option<PathBuf>,
        name: String,
        /// Program and arguments (default: sh).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print the output of a container started with -d.
    Logs {
        name: String,
        /// Keep printing new output until the container stops.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Print a container's configuration and state as JSON.
    Inspect { name: String },
    /// Internal: waits for a detached container (started by `run -d`).
    #[command(name = "__monitor", hide = true)]
    Monitor { name: String },
    /// Freeze every process of a running container.
    Pause { name: String },
    /// Thaw a paused container.
    Unpause { name: String },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Container name (default: random).
    #[arg(long)]
    name: Option<String>,
    /// Hostname (default: the name).
    #[arg(long)]
    hostname: Option<String>,
    /// Memory limit, e.g. 256M; above it the container is OOM-killed.
    #[arg(long, short = 'm')]
    memory: Option<String>,
    /// CPU quota in CPUs, e.g. 0.5.
    #[arg(long)]
    cpus: Option<String>,
    /// Maximum number of processes.
    #[arg(long)]
    pids: Option<String>,
    /// Set an environment variable (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Bind mount HOSTDIR:CTRDIR[:ro].
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Network: none (loopback only), host, or bridge (eth0 on the fv0
    /// bridge, 10.77.0.0/24, default route via 10.77.0.1).
    #[arg(long, default_value = "none")]
    net: String,
    /// Give the container a pseudo-terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// Run in the background; output goes to `fv container logs NAME`.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Image name (see `fv image ls`).
    image: String,
    /// Program and arguments (default: the image's, else sh).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Import a rootfs directory or (gzipped) rootfs tarball as NAME.
    Import { source: PathBuf, name: String },
    /// List images.
    #[command(alias = "list")]
    Ls,
    /// Remove images (and the layers no other image uses).
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print an image's manifest as JSON.
    Inspect { name: String },
}

/// `fv oci`: runc's command line, global options included, so tools that
/// drive runc (podman/conmon, containerd's shim) can drive fv. Invoked as
/// `fv-oci` (a link to fv), the `oci` word is implied.
#[derive(clap::Args, Debug)]
#[command(version)]
pub struct OciArgs {
    /// State directory (default: $FV_ROOT, else /run/ferrovisor; rootless:
    /// $XDG_RUNTIME_DIR/ferrovisor).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Also write errors to this file (runc's --log).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log: text or json (one {"level","msg","time"} object per
    /// line, what containerd's shim parses).
    #[arg(long, global = true, default_value = "text")]
    log_format: LogFormat,
    /// cgroupsPath is systemd's "slice:prefix:name"; mapped to the
    /// cgroupfs path systemd would use (no D-Bus).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Debug logging to stderr.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility (rootless is detected).
    #[arg(long, global = true)]
    rootless: Option<String>,
    #[command(subcommand)]
    command: OciCommand,
}

/// runc's other `create`/`run` options that its callers send.
#[derive(clap::Args, Debug)]
pub struct CreateCompat {
    /// Keep our fds 3..3+N open in the container's program (all others
    /// above stdio are closed when it starts).
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted; fv always uses pivot_root (a rootfs on the initramfs,
    /// where pivot_root fails, is not supported).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted; fv makes no session keyring for the container.
    #[arg(long)]
    no_new_keyring: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum OciCommand {
    /// Write a template config.json (rootfs "rootfs") into the bundle.
    Spec {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Program and arguments (default: sh).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Create a container: set up, stopped before the user's program.
    Create {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Write the container's pid to this file.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// With process.terminal: send the pty master to this unix socket.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        #[command(flatten)]
        compat: CreateCompat,
        id: String,
    },
    /// Start a created container's program.
    Start { id: String },
    /// Print the container's state (runtime-spec JSON).
    State { id: String },
    /// Send a signal (default TERM) to the container.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        /// Signal every process in the container's cgroup.
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Delete a stopped container (with --force, also a running one).
    Delete {
        id: String,
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Create, start and wait; exits with the container's status.
    Run {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Keep the container (stopped) instead of deleting it.
        #[arg(long)]
        keep: bool,
        /// With process.terminal: send the pty master to this unix socket.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        #[command(flatten)]
        compat: CreateCompat,
        id: String,
    },
    /// Run a process in a running container: the container's own
    /// process with CMD (or the whole process from --process).
    Exec {
        /// A runtime-spec `process` JSON object to run (runc's --process).
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        /// Allocate a pty (with --detach, --console-socket gets it).
        #[arg(long, short = 't')]
        tty: bool,
        /// Return once the process runs instead of waiting for it.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Write the process's pid to this file.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// With a terminal: send the pty master to this unix socket.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Add an environment variable (KEY=VALUE).
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// Working directory inside the container.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// UID[:GID] to run as.
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Keep our fds 3..3+N open in the process.
        #[arg(long, default_value_t = 0)]
        preserve_fds: u32,
        id: String,
        /// Program and arguments (unless --process).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print the pids of the container's processes (--format table|json).
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
    /// Freeze every process of a running container (cgroup freezer).
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List containers.
    List,
}

fn runtime() -> Runtime {
    Runtime::new(StateStore::default_root())
}

/// A bad `fv oci` argument: exit 2, naming the command and the option.
fn bad_arg(command: &str, field: &str, message: String) -> ContainerError {
    ContainerError::Spec(fv_container::spec::SpecError::Invalid {
        path: PathBuf::from(command),
        field: field.into(),
        message,
    })
}

/// `UID[:GID]` onto an exec's process; `cwd` replaces its working
/// directory. Numeric ids only: names would need the container's
/// /etc/passwd.
fn apply_user_cwd(
    opts: &mut ExecOptions,
    user: Option<&str>,
    cwd: Option<PathBuf>,
) -> Result<(), &'static str> {
    if let Some(u) = user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u, None),
        };
        opts.process.uid = uid.parse().map_err(|_| "expected a numeric UID[:GID]")?;
        if let Some(g) = gid {
            opts.process.gid = g.parse().map_err(|_| "expected a numeric UID[:GID]")?;
        }
        opts.process.additional_gids.clear();
    }
    if let Some(c) = cwd {
        opts.process.cwd = c;
    }
    Ok(())
}

/// The exit code for an exec that ran: its status, or 0 once a detached
/// one runs; with a terminal here, relays it until it exits.
fn exec_outcome(o: ExecOutcome) -> u8 {
    match o {
        ExecOutcome::Exited(code) => status_code(code),
        ExecOutcome::Detached(_) => 0,
        ExecOutcome::Attached { helper, master } => match fv_container::tty::Relay::start(master) {
            Ok(relay) => {
                fv_container::process::forward_signals_to(helper);
                let code = exec::wait_exec(helper);
                relay.finish();
                status_code(code)
            }
            Err(e) => {
                eprintln!("fv: exec: relay the pty: {e}");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(helper),
                    nix::sys::signal::Signal::SIGKILL,
                );
                EXIT_FAILURE
            }
        },
    }
}

/// `fv oci` arguments clap refused: if they name a --log, the error goes
/// there as well (containerd's shim shows the log's last error).
pub fn log_usage_error(args: &[std::ffi::OsString], kind: &str, text: &str) {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.get(1).map(String::as_str) != Some("oci") {
        return;
    }
    let value = |name: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{name}="))
                .map(String::from)
                .or_else(|| (a == name).then(|| args.get(i + 1).cloned()).flatten())
        })
    };
    let Some(path) = value("--log") else { return };
    let format = match value("--log-format").as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let first = text.lines().next().unwrap_or(kind);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    OciLog {
        path: PathBuf::from(path),
        format,
    }
    .error(first);
}

/// Where errors of `fv oci` go besides stderr (runc's --log).
struct OciLog {
    path: PathBuf,
    format: LogFormat,
}

impl OciLog {
    fn error(&self, msg: &str) {
        use std::io::Write;
        let line = match self.format {
            LogFormat::Text => format!("error: {msg}\n"),
            LogFormat::Json => format!(
                "{}\n",
                serde_json::json!({
                    "level": "error",
                    "msg": msg,
                    "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                        .to_string(),
                })
            ),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Prints the error and picks the exit code.
fn report(e: ContainerError) -> u8 {
    eprintln!("fv: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let text = s.to_string();
        if !e.to_string().contains(&text) {
            eprintln!("  caused by: {text}");
        }
        src = s.source();
    }
    if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    }
}

fn status_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(EXIT_FAILURE)
}

/// Prints a manager error and picks the exit code.
fn report_mgr(e: ManagerError) -> u8 {
    eprintln!("fv: {e}");
    let mut src = std::error::Error::source(&e);
    let mut shown = e.to_string();
    while let Some(s) = src {
        let text = s.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
            shown.push_str(&text);
        }
        src = s.source();
    }
    if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    }
}

fn run_options(a: RunArgs) -> Result<RunOptions, ManagerError> {
    Ok(RunOptions {
        name: a.name,
        hostname: a.hostname,
        memory: a.memory.as_deref().map(manager::parse_memory).transpose()?,
        cpus: a.cpus.as_deref().map(manager::parse_cpus).transpose()?,
        pids: a.pids.as_deref().map(manager::parse_pids).transpose()?,
        env: a
            .env
            .iter()
            .map(|e| manager::parse_env(e))
            .collect::<Result<_, _>>()?,
        volumes: a
            .volume
            .iter()
            .map(|v| manager::parse_volume(v))
            .collect::<Result<_, _>>()?,
        net: a.net.parse()?,
        tty: a.tty,
        detach: a.detach,
        rm: a.rm,
        image: a.image,
        command: a.command,
    })
}

fn container_run(mgr: &Manager, a: RunArgs) -> Result<u8, ManagerError> {
    let opts = run_options(a)?;
    let meta = mgr.prepare(&opts)?;
    let name = meta.name.clone();
    if opts.detach {
        return detach(mgr, &name);
    }
    let result = mgr.run_foreground(&meta, opts.tty);
    let st = match result {
        Ok(st) => st,
        Err(e) => {
            let _ = mgr.remove(&name, true);
            return Err(e);
        }
    };
    if st.oom_killed {
        eprintln!("fv: container {name} was killed by the OOM killer (memory limit)");
    }
    if opts.rm {
        mgr.remove(&name, true)?;
    }
    Ok(status_code(st.code))
}

/// `run -d`: a monitor process (this binary, `container __monitor`)
/// creates, starts and waits for the container so its exit status is
/// recorded (and `--rm` honoured); we wait until it says "started".
fn detach(mgr: &Manager, name: &str) -> Result<u8, ManagerError> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let spawn_err = |e: std::io::Error| ManagerError::Io {
        path: PathBuf::from("fv container __monitor"),
        source: e,
    };
    let started = (|| {
        let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut reader = std::fs::File::from(reader);
        let writer2 = writer.try_clone()?;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["container", "__monitor", name])
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(writer2)
            .process_group(0)
            .spawn()?;
        let mut out = String::new();
        reader.read_to_string(&mut out)?;
        Ok::<_, std::io::Error>((child.try_wait()?, out, child))
    })();
    let (early, out, mut child) = match started {
        Ok(x) => x,
        Err(e) => {
            let _ = mgr.remove(name, true);
            return Err(spawn_err(e));
        }
    };
    if out.lines().last() == Some("started") && early.is_none_or(|s| s.success()) {
        println!("{name}");
        return Ok(0);
    }
    eprint!("{out}");
    let code = child
        .wait()
        .ok()
        .and_then(|s| s.code())
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(EXIT_FAILURE);
    let _ = mgr.remove(name, true);
    Ok(code.max(1))
}

fn monitor(mgr: &Manager, name: &str) -> Result<u8, ManagerError> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let meta = mgr.meta(name)?;
    let log_path = mgr.log_path(name);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| ManagerError::Io {
            path: log_path.clone(),
            source: e,
        })?;
    let null = std::fs::File::open("/dev/null").map_err(|e| ManagerError::Io {
        path: "/dev/null".into(),
        source: e,
    })?;
    if let Err(e) = mgr.start(
        &meta,
        Some([null.as_raw_fd(), log.as_raw_fd(), log.as_raw_fd()]),
    ) {
        let _ = mgr.remove(name, true);
        return Err(e);
    }
    drop((log, null));
    println!("started");
    let _ = std::io::stdout().flush();
    manager::detach_stdio();
    let st = mgr.rt.wait(name);
    mgr.unplug(name);
    if meta.options.rm {
        let _ = mgr.remove(name, true);
    }
    Ok(st.map(|s| status_code(s.code)).unwrap_or(EXIT_FAILURE))
}

fn age(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let d = now.saturating_sub(secs);
    match d {
        0..60 => format!("{d}s"),
        60..3600 => format!("{}m", d / 60),
        3600..86400 => format!("{}h", d / 3600),
        _ => format!("{}d", d / 86400),
    }
}

pub fn run_container(c: ContainerCommand) -> anyhow::Result<u8> {
    let mgr = Manager::from_env();
    let result: Result<u8, ManagerError> = match c {
        ContainerCommand::Run(a) => container_run(&mgr, a),
        ContainerCommand::Monitor { name } => monitor(&mgr, &name),
        ContainerCommand::Ls => {
            println!(
                "{:<20} {:<16} {:<8} {:>8} {:>5} {:>6}  COMMAND",
                "NAME", "IMAGE", "STATUS", "PID", "EXIT", "AGE"
            );
            for l in mgr.list() {
                let r = l.record.as_ref();
                let running = l.status().is_live();
                println!(
                    "{:<20} {:<16} {:<8} {:>8} {:>5} {:>6}  {}",
                    l.meta.name,
                    l.meta.image,
                    l.status(),
                    r.and_then(|r| r.pid)
                        .filter(|_| running)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    r.and_then(|r| r.ferrovisor.exit_code)
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    age(l.meta.created),
                    l.meta.command.join(" ")
                );
            }
            Ok(0)
        }
        ContainerCommand::Stop { name, time } => mgr
            .stop(&name, std::time::Duration::from_secs(time))
            .map(|_| 0),
        ContainerCommand::Kill { name, signal } => mgr.get(&name).and_then(|l| {
            if !l.status().is_live() {
                return Err(ManagerError::NotRunning(name.clone()));
            }
            mgr.rt.kill(&name, &signal, true)?;
            Ok(0)
        }),
        ContainerCommand::Rm { names, force } => {
            let mut code = 0;
            for n in names {
                if let Err(e) = mgr.remove(&n, force) {
                    code = code.max(report_mgr(e));
                }
            }
            Ok(code)
        }
        ContainerCommand::Exec {
            env,
            tty,
            user,
            workdir,
            name,
            command,
        } => (|| {
            let env = env
                .iter()
                .map(|e| manager::parse_env(e))
                .collect::<Result<Vec<_>, _>>()?;
            let l = mgr.get(&name)?;
            if l.status() != Status::Running {
                return Err(ManagerError::NotRunning(name.clone()));
            }
            let mut opts = ExecOptions::from_container(&mgr.rt, &name, &command, &env)?;
            opts.terminal = tty;
            apply_user_cwd(&mut opts, user.as_deref(), workdir).map_err(|reason| {
                ManagerError::BadOption {
                    option: "--user",
                    value: user.clone().unwrap_or_default(),
                    reason,
                }
            })?;
            Ok(exec_outcome(exec::exec(&mgr.rt, &name, &opts)?))
        })(),
        ContainerCommand::Logs { name, follow } => mgr.get(&name).and_then(|l| {
            let path = mgr.log_path(&name);
            if !l.meta.options.detach || !path.exists() {
                return Err(ManagerError::NoLog(name.clone()));
            }
            let io = |e| ManagerError::Io {
                path: path.clone(),
                source: e,
            };
            let mut f = std::fs::File::open(&path).map_err(io)?;
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut f, &mut out).map_err(io)?;
            if !follow {
                return Ok(0);
            }
            loop {
                // Checked before the read so that output written just
                // before the container stopped is still printed.
                let live = mgr.get(&name).is_ok_and(|l| l.status().is_live());
                std::io::Write::flush(&mut out).map_err(io)?;
                if !live {
                    std::io::copy(&mut f, &mut out).map_err(io)?;
                    return Ok(0);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                std::io::copy(&mut f, &mut out).map_err(io)?;
            }
        }),
        ContainerCommand::Inspect { name } => mgr.get(&name).map(|l| {
            let r = l.record.as_ref();
            let v = serde_json::json!({
                "name": l.meta.name,
                "image": l.meta.image,
                "layers": l.meta.layers,
                "command": l.meta.command,
                "created": l.meta.created,
                "options": l.meta.options,
                "status": l.status(),
                "pid": r.and_then(|r| r.pid),
                "exitCode": r.and_then(|r| r.ferrovisor.exit_code),
                "oomKilled": r.is_some_and(|r| r.ferrovisor.oom_killed),
                "cgroupPath": r.and_then(|r| r.ferrovisor.cgroup_path.clone()),
                "address": mgr.address_of(&l.meta.name),
                "storage": mgr.dir(&l.meta.name),
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }),
        ContainerCommand::Pause { name } => mgr.pause(&name).map(|_| 0),
        ContainerCommand::Unpause { name } => mgr.unpause(&name).map(|_| 0),
    };
    Ok(result.unwrap_or_else(report_mgr))
}

pub fn run_image(c: ImageCommand) -> anyhow::Result<u8> {
    let mgr = Manager::from_env();
    let store = &mgr.images;
    let result: Result<u8, ManagerError> = match c {
        ImageCommand::Import { source, name } => store
            .import(&source, &name)
            .map(|m| {
                println!("{} {}", m.name, m.layers.join(" "));
                0
            })
            .map_err(Into::into),
        ImageCommand::Ls => {
            println!("{:<24} {:>6} {:>8}  TOP LAYER", "NAME", "LAYERS", "AGE");
            for m in store.list() {
                println!(
                    "{:<24} {:>6} {:>8}  {}",
                    m.name,
                    m.layers.len(),
                    age(m.created),
                    m.layers.last().map(|d| &d[..d.len().min(19)]).unwrap_or("")
                );
            }
            Ok(0)
        }
        ImageCommand::Rm { names } => {
            let mut code = 0;
            for n in names {
                let users: Vec<String> = mgr
                    .list()
                    .into_iter()
                    .filter(|l| l.meta.image == n)
                    .map(|l| l.meta.name)
                    .collect();
                let r = if users.is_empty() {
                    store.remove(&n).map_err(ManagerError::from)
                } else {
                    Err(ManagerError::ImageInUse(n.clone(), users.join(", ")))
                };
                if let Err(e) = r {
                    code = code.max(report_mgr(e));
                }
            }
            Ok(code)
        }
        ImageCommand::Inspect { name } => store
            .get(&name)
            .map(|m| {
                println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
                0
            })
            .map_err(Into::into),
    };
    Ok(result.unwrap_or_else(report_mgr))
}

pub fn run_oci(a: OciArgs) -> anyhow::Result<u8> {
    let rt = match &a.root {
        Some(r) => Runtime::new(r.clone()),
        None => runtime(),
    }
    .with_systemd_cgroup(a.systemd_cgroup);
    let log = a.log.map(|path| OciLog {
        path,
        format: a.log_format,
    });
    let result = oci_command(&rt, a.command);
    Ok(result.unwrap_or_else(|e| {
        if let Some(l) = &log {
            l.error(&e.to_string());
        }
        report(e)
    }))
}

fn oci_command(rt: &Runtime, c: OciCommand) -> Result<u8, ContainerError> {
    match c {
        OciCommand::Spec { bundle, args } => {
            let args = if args.is_empty() {
                vec!["sh".to_string()]
            } else {
                args
            };
            fv_container::spec::write(&bundle, &fv_container::spec::template(&args))
                .map(|_| 0)
                .map_err(Into::into)
        }
        OciCommand::Create {
            bundle,
            pid_file,
            console_socket,
            compat,
            id,
        } => rt
            .create(
                &id,
                &bundle,
                CreateOptions {
                    console_socket,
                    preserve_fds: compat.preserve_fds,
                    ..Default::default()
                },
            )
            .and_then(|rec| {
                if let Some(f) = pid_file {
                    let pid = rec.pid.unwrap_or(0);
                    std::fs::write(&f, pid.to_string())
                        .with_context(|| format!("write pid file {}", f.display()))
                        .map_err(|e| ContainerError::Io {
                            id: id.clone(),
                            what: format!("{e:#}"),
                            source: std::io::Error::other("pid file"),
                        })?;
                }
                Ok(0)
            }),
        OciCommand::Start { id } => rt.start(&id).map(|_| 0),
        OciCommand::State { id } => rt.state(&id).map(|rec| {
            println!(
                "{}",
                serde_json::to_string_pretty(&rec.oci_state()).unwrap_or_default()
            );
            0
        }),
        OciCommand::Kill { id, signal, all } => rt.kill(&id, &signal, all).map(|_| 0),
        OciCommand::Delete { id, force } => match rt.delete(&id, force) {
            // runc: forcing the delete of a container that is not there
            // succeeds (callers clean up twice).
            Err(ContainerError::State(fv_container::state::StateError::NotFound(_))) if force => {
                Ok(0)
            }
            r => r.map(|_| 0),
        },
        OciCommand::Run {
            bundle,
            keep,
            console_socket,
            compat,
            id,
        } => rt
            .run(
                &id,
                &bundle,
                CreateOptions {
                    console_socket,
                    preserve_fds: compat.preserve_fds,
                    ..Default::default()
                },
            )
            .and_then(|st| {
                if st.oom_killed {
                    eprintln!("fv: container {id} was killed by the OOM killer (memory limit)");
                }
                if !keep {
                    rt.delete(&id, true)?;
                }
                Ok(status_code(st.code))
            }),
        OciCommand::Exec {
            process,
            tty,
            detach,
            pid_file,
            console_socket,
            env,
            cwd,
            user,
            preserve_fds,
            id,
            command,
        } => {
            let mut opts = match &process {
                Some(file) => ExecOptions::from_process_file(file)?,
                None => ExecOptions::from_container(rt, &id, &command, &[])?,
            };
            let bad = |field: &str, message: String| bad_arg("fv oci exec", field, message);
            for e in &env {
                if !e.contains('=') {
                    return Err(bad("--env", format!("{e:?}: expected KEY=VALUE")));
                }
            }
            opts.process.env = exec::merge_env(&opts.process.env, &env);
            apply_user_cwd(&mut opts, user.as_deref(), cwd)
                .map_err(|m| bad("--user", m.to_string()))?;
            opts.terminal |= tty;
            opts.process.preserve_fds = preserve_fds;
            opts.detach = detach;
            opts.pid_file = pid_file;
            opts.console_socket = console_socket;
            if opts.terminal && opts.detach && opts.console_socket.is_none() {
                return Err(bad(
                    "--console-socket",
                    "a detached process with a terminal needs --console-socket".into(),
                ));
            }
            exec::exec(rt, &id, &opts).map(exec_outcome)
        }
        OciCommand::Ps { format, id } => {
            let pids = rt.pids(&id)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::json!(pids)),
                "table" => {
                    println!("PID");
                    for p in pids {
                        println!("{p}");
                    }
                }
                other => {
                    return Err(bad_arg(
                        "fv oci ps",
                        "--format",
                        format!("{other:?}: expected table or json"),
                    ))
                }
            }
            Ok(0)
        }
        OciCommand::Pause { id } => rt.pause(&id).map(|_| 0),
        OciCommand::Resume { id } => rt.resume(&id).map(|_| 0),
        OciCommand::List => {
            println!("{:<24} {:<8} {:>8}  BUNDLE", "ID", "STATUS", "PID");
            for r in rt.list() {
                println!(
                    "{:<24} {:<8} {:>8}  {}",
                    r.id,
                    r.status,
                    r.pid.map(|p| p.to_string()).unwrap_or_default(),
                    r.bundle.display()
                );
            }
            Ok(0)
        }
    }
}
