//! `fv container`: named containers made from images. Each container owns
//! a storage directory holding its bundle (`config.json` and an empty
//! `rootfs` mount point), its overlay `upper`/`work` directories, its log
//! and `container.json`; the image's layers are the overlay's read-only
//! lower dirs. The OCI lifecycle itself is [`Runtime`]'s.
//!
//! Layout: `STORAGE/NAME/{config.json,rootfs/,upper/,work/,log,container.json}`
//! with STORAGE `$FV_ROOT/storage`, else `/var/lib/ferrovisor/containers`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::image::{ImageError, ImageStore, RunConfig};
use crate::rootfs::Overlay;
use crate::runtime::{ContainerError, CreateOptions, Runtime};
use crate::state::{ContainerRecord, StateError, StateStore, Status};

/// A `fv container` operation failed; names the option, container or file.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("{option} {value:?}: {reason}")]
    BadOption {
        option: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("container name {0:?} is already in use")]
    NameInUse(String),
    #[error("no such container {0:?}")]
    NotFound(String),
    #[error("container {0:?} is running; stop it first or use --force")]
    Running(String),
    #[error("container {0:?} is not running")]
    NotRunning(String),
    #[error("container {0:?} is paused; unpause and stop it first, or use --force")]
    Paused(String),
    #[error("container {0:?} is not paused")]
    NotPaused(String),
    #[error("image {0:?} is used by container(s) {1}; remove them first")]
    ImageInUse(String, String),
    #[error("container {0:?} was not started with -d: it keeps no log")]
    NoLog(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ManagerError {
    /// Errors in what the user gave (exit 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ManagerError::Image(e) => e.is_bad_input(),
            ManagerError::Container(e) => e.is_bad_input(),
            ManagerError::Io { .. } | ManagerError::Json { .. } | ManagerError::Net(_) => false,
            _ => true,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ManagerError + '_ {
    move |source| ManagerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `--net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Its own network namespace with only loopback.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// Its own network namespace plugged into the `fv0` bridge
    /// ([`crate::net`]).
    Bridge,
}

impl std::str::FromStr for NetMode {
    type Err = ManagerError;
    fn from_str(s: &str) -> Result<NetMode, ManagerError> {
        match s {
            "none" => Ok(NetMode::None),
            "host" => Ok(NetMode::Host),
            "bridge" => Ok(NetMode::Bridge),
            _ => Err(ManagerError::BadOption {
                option: "--net",
                value: s.into(),
                reason: "expected none, host or bridge",
            }),
        }
    }
}

/// `-v HOST:CTR[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: PathBuf,
    pub readonly: bool,
}

/// What `fv container run` was asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub name: Option<String>,
    pub hostname: Option<String>,
    /// Bytes.
    pub memory: Option<u64>,
    /// CPUs (0.5 = half of one).
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    /// `K=V` each.
    pub env: Vec<String>,
    pub volumes: Vec<Volume>,
    pub net: NetMode,
    pub tty: bool,
    pub detach: bool,
    pub rm: bool,
    pub image: String,
    /// Empty: the image's default command, else `sh`.
    pub command: Vec<String>,
}

/// `--memory 256M`: bytes, with an optional K/M/G/T suffix (powers of 1024).
pub fn parse_memory(s: &str) -> Result<u64, ManagerError> {
    let bad = |reason| ManagerError::BadOption {
        option: "--memory",
        value: s.into(),
        reason,
    };
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'b' => 1,
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return Err(bad("unknown suffix; use K, M, G or T")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| bad("expected a number of bytes such as 256M"))?;
    let bytes = n.checked_mul(mult).ok_or_else(|| bad("too large"))?;
    // Below this the container cannot even exec its program.
    if bytes < 4 << 20 {
        return Err(bad("must be at least 4M"));
    }
    Ok(bytes)
}

/// CFS period used for `--cpus`.
pub const CPU_PERIOD: u64 = 100_000;

/// `--cpus 0.5`: the CFS quota for [`CPU_PERIOD`].
pub fn parse_cpus(s: &str) -> Result<f64, ManagerError> {
    let bad = |reason| ManagerError::BadOption {
        option: "--cpus",
        value: s.into(),
        reason,
    };
    let c: f64 = s.trim().parse().map_err(|_| bad("expected a number"))?;
    if !c.is_finite() || !(0.01..=1024.0).contains(&c) {
        return Err(bad("must be between 0.01 and 1024"));
    }
    Ok(c)
}

pub fn cpu_quota(cpus: f64) -> i64 {
    (cpus * CPU_PERIOD as f64).round() as i64
}

/// `--pids 100`.
pub fn parse_pids(s: &str) -> Result<i64, ManagerError> {
    match s.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ManagerError::BadOption {
            option: "--pids",
            value: s.into(),
            reason: "expected a positive number of processes",
        }),
    }
}

/// `-e K=V`.
pub fn parse_env(s: &str) -> Result<String, ManagerError> {
    match s.split_once('=') {
        Some((k, _)) if !k.is_empty() && !k.contains('\0') && !s.contains('\0') => Ok(s.into()),
        _ => Err(ManagerError::BadOption {
            option: "-e",
            value: s.into(),
            reason: "expected KEY=VALUE",
        }),
    }
}

/// `-v HOST:CTR[:ro|:rw]`; HOST must exist and both must be absolute.
pub fn parse_volume(s: &str) -> Result<Volume, ManagerError> {
    let bad = |reason| ManagerError::BadOption {
        option: "-v",
        value: s.into(),
        reason,
    };
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, readonly) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [_, _, _] => return Err(bad("the mode must be ro or rw")),
        _ => return Err(bad("expected HOSTDIR:CTRDIR[:ro]")),
    };
    let (host, ctr) = (PathBuf::from(host), PathBuf::from(ctr));
    if !host.is_absolute() || !ctr.is_absolute() {
        return Err(bad("both paths must be absolute"));
    }
    if ctr
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(bad("the container path must not contain '..'"));
    }
    if !host.exists() {
        return Err(bad("the host path does not exist"));
    }
    Ok(Volume {
        host,
        container: ctr,
        readonly,
    })
}

/// The `config.json` for a container run with `opts`, as JSON.
/// `image` is the image's run configuration: its default command,
/// environment (under the user's `-e`) and working directory.
pub fn build_spec(opts: &RunOptions, name: &str, image: Option<&RunConfig>) -> serde_json::Value {
    let default_cmd: Vec<String> = image
        .map(|c| c.entrypoint.iter().chain(&c.cmd).cloned().collect())
        .unwrap_or_default();
    let args: Vec<String> = if !opts.command.is_empty() {
        opts.command.clone()
    } else if !default_cmd.is_empty() {
        default_cmd
    } else {
        vec!["sh".into()]
    };
    let mut spec = serde_json::to_value(crate::spec::template(&args)).unwrap_or_default();
    spec["hostname"] = json!(opts.hostname.clone().unwrap_or_else(|| name.to_string()));
    // Environment: template's, then the user's overriding by key.
    let mut env: Vec<String> = spec["process"]["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if let Some(c) = image {
        env = crate::exec::merge_env(&env, &c.env);
        if let Some(w) = c.working_dir.as_deref().filter(|w| w.starts_with('/')) {
            spec["process"]["cwd"] = json!(w);
        }
    }
    let env = crate::exec::merge_env(&env, &opts.env);
    spec["process"]["env"] = json!(env);
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for v in &opts.volumes {
            let mut options = vec!["rbind", "rprivate"];
            if v.readonly {
                options.push("ro");
            }
            mounts.push(json!({
                "destination": v.container,
                "type": "bind",
                "source": v.host,
                "options": options,
            }));
        }
    }
    // The template's (the device rules) plus the limits asked for.
    let mut resources = spec["linux"]["resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(m) = opts.memory {
        // swap = limit: no swap beyond the limit, so a hog is OOM-killed.
        resources.insert("memory".into(), json!({"limit": m, "swap": m}));
    }
    if let Some(c) = opts.cpus {
        resources.insert(
            "cpu".into(),
            json!({"quota": cpu_quota(c), "period": CPU_PERIOD}),
        );
    }
    if let Some(p) = opts.pids {
        resources.insert("pids".into(), json!({"limit": p}));
    }
    if !resources.is_empty() {
        spec["linux"]["resources"] = serde_json::Value::Object(resources);
    }
    if opts.net == NetMode::Host {
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    }
    spec
}

/// `container.json`: what the container was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerMeta {
    pub name: String,
    pub image: String,
    /// Image layers, bottom first, as `sha256:HEX`.
    pub layers: Vec<String>,
    pub command: Vec<String>,
    /// Seconds since the epoch.
    pub created: u64,
    pub options: RunOptions,
}

/// Containers, their storage and the images they come from.
#[derive(Debug, Clone)]
pub struct Manager {
    pub rt: Runtime,
    pub images: ImageStore,
    pub storage: PathBuf,
    /// Bridge addresses in use. The bridge is one per host, so are its
    /// addresses: every state root allocates from the same directory.
    pub addresses: crate::net::Allocator,
}

/// A container that exists on disk (and maybe in the runtime).
#[derive(Debug, Clone)]
pub struct Listing {
    pub meta: ContainerMeta,
    pub record: Option<ContainerRecord>,
}

impl Listing {
    pub fn status(&self) -> Status {
        self.record
            .as_ref()
            .map(|r| r.status)
            .unwrap_or(Status::Stopped)
    }
}

fn random_name() -> String {
    let mut b = [0u8; 6];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&(t as u64 ^ u64::from(std::process::id())).to_le_bytes()[..6]);
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("c{hex}")
}

/// Removes a half-made container's storage unless disarmed.
struct StorageGuard {
    dir: PathBuf,
    armed: bool,
}

impl Drop for StorageGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Manager {
    pub fn new(rt: Runtime, images: ImageStore, storage: impl Into<PathBuf>) -> Manager {
        let storage: PathBuf = storage.into();
        Manager {
            rt,
            images,
            storage,
            addresses: crate::net::Allocator::new(crate::net::ADDRESS_DIR),
        }
    }

    /// From `$FV_ROOT` (or the system defaults).
    pub fn from_env() -> Manager {
        let storage = match std::env::var_os("FV_ROOT") {
            Some(r) => PathBuf::from(r).join("storage"),
            None => PathBuf::from("/var/lib/ferrovisor/containers"),
        };
        Manager::new(
            Runtime::new(StateStore::default_root()),
            ImageStore::new(ImageStore::default_root()),
            storage,
        )
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.storage.join(name)
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("log")
    }

    /// Checks the options, claims the name and writes the bundle. Nothing
    /// is left if it fails.
    pub fn prepare(&self, opts: &RunOptions) -> Result<ContainerMeta, ManagerError> {
        let name = opts.name.clone().unwrap_or_else(random_name);
        crate::state::validate_id(&name).map_err(ContainerError::from)?;
        if let Some(h) = &opts.hostname {
            let ok = !h.is_empty()
                && h.len() <= 64
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
            if !ok {
                return Err(ManagerError::BadOption {
                    option: "--hostname",
                    value: h.clone(),
                    reason: "use letters, digits, '-' and '.', at most 64 characters",
                });
            }
        }
        let image = self.images.get(&opts.image)?;
        for d in &image.layers {
            let dir = self.images.layer_dir(d);
            if !dir.is_dir() {
                return Err(ManagerError::Io {
                    path: dir,
                    source: std::io::Error::other(format!(
                        "layer {d} of image {:?} is missing",
                        opts.image
                    )),
                });
            }
        }
        if self.rt.store.exists(&name) {
            return Err(ManagerError::NameInUse(name));
        }
        std::fs::create_dir_all(&self.storage).map_err(io(&self.storage))?;
        let dir = self.dir(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ManagerError::NameInUse(name))
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        let mut guard = StorageGuard {
            dir: dir.clone(),
            armed: true,
        };
        for sub in ["rootfs", "upper", "work"] {
            let p = dir.join(sub);
            std::fs::create_dir(&p).map_err(io(&p))?;
        }
        let spec = build_spec(opts, &name, image.config.as_ref());
        let command = spec["process"]["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let cfg = dir.join("config.json");
        let text = serde_json::to_string_pretty(&spec).map_err(|source| ManagerError::Json {
            path: cfg.clone(),
            source,
        })?;
        std::fs::write(&cfg, text).map_err(io(&cfg))?;
        // Validate now so a bad spec is reported before anything runs.
        crate::spec::Bundle::load(&dir).map_err(ContainerError::from)?;
        let meta = ContainerMeta {
            name: name.clone(),
            image: opts.image.clone(),
            layers: image.layers.clone(),
            command,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            options: RunOptions {
                name: Some(name.clone()),
                ..opts.clone()
            },
        };
        self.save_meta(&meta)?;
        guard.armed = false;
        Ok(meta)
    }

    fn save_meta(&self, meta: &ContainerMeta) -> Result<(), ManagerError> {
        let path = self.dir(&meta.name).join("container.json");
        let text = serde_json::to_string_pretty(meta).map_err(|source| ManagerError::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, text).map_err(io(&path))
    }

    pub fn meta(&self, name: &str) -> Result<ContainerMeta, ManagerError> {
        if crate::state::validate_id(name).is_err() {
            return Err(ManagerError::NotFound(name.into()));
        }
        let path = self.dir(name).join("container.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ManagerError::NotFound(name.into()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|source| ManagerError::Json { path, source })
    }

    /// The create options for `meta`: its overlay, the default seccomp
    /// filter, and the given stdio.
    pub fn create_options(
        &self,
        meta: &ContainerMeta,
        stdio: Option<[std::os::fd::RawFd; 3]>,
    ) -> CreateOptions {
        let dir = self.dir(&meta.name);
        CreateOptions {
            overlay: Some(Overlay {
                lower: meta
                    .layers
                    .iter()
                    .rev()
                    .map(|d| self.images.layer_dir(d))
                    .collect(),
                upper: dir.join("upper"),
                work: dir.join("work"),
            }),
            default_seccomp: true,
            stdio,
            annotations: [("org.ferrovisor.image".to_string(), meta.image.clone())]
                .into_iter()
                .collect(),
            console: false,
            console_socket: None,
            preserve_fds: 0,
        }
    }

    /// Creates the container (stopped before its program) and, with
    /// `--net bridge`, plugs it into the bridge. Nothing is left if it fails.
    pub fn create(
        &self,
        meta: &ContainerMeta,
        stdio: Option<[std::os::fd::RawFd; 3]>,
    ) -> Result<ContainerRecord, ManagerError> {
        let opts = self.create_options(meta, stdio);
        let rec = self.rt.create(&meta.name, &self.dir(&meta.name), opts)?;
        if meta.options.net == NetMode::Bridge {
            let pid = rec.pid.unwrap_or(0);
            if let Err(e) = crate::net::setup(
                &crate::net::CommandRunner,
                &self.addresses,
                &self.net_owner(&meta.name),
                pid,
            ) {
                let _ = self.rt.delete(&meta.name, true);
                return Err(e.into());
            }
        }
        Ok(rec)
    }

    /// Creates and starts the container; returns its init's pid.
    pub fn start(
        &self,
        meta: &ContainerMeta,
        stdio: Option<[std::os::fd::RawFd; 3]>,
    ) -> Result<i32, ManagerError> {
        let rec = self.create(meta, stdio)?;
        if let Err(e) = self.rt.start(&meta.name) {
            let _ = self.rt.delete(&meta.name, true);
            return Err(e.into());
        }
        Ok(rec.pid.unwrap_or(0))
    }

    pub fn record(&self, name: &str) -> Option<ContainerRecord> {
        match self.rt.state(name) {
            Ok(r) => Some(r),
            Err(ContainerError::State(StateError::NotFound(_))) => None,
            Err(e) => {
                warn!(name, "state: {e}");
                None
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<Listing, ManagerError> {
        Ok(Listing {
            meta: self.meta(name)?,
            record: self.record(name),
        })
    }

    pub fn list(&self) -> Vec<Listing> {
        let mut names: Vec<String> = std::fs::read_dir(&self.storage)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names.iter().filter_map(|n| self.get(n).ok()).collect()
    }

    /// Removes the container: its runtime state and cgroup (killing it
    /// first with `force`), its upper layer and storage.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), ManagerError> {
        let l = self.get(name)?;
        match l.status() {
            Status::Running | Status::Created if !force => {
                return Err(ManagerError::Running(name.into()))
            }
            Status::Paused if !force => return Err(ManagerError::Paused(name.into())),
            _ => {}
        }
        if l.record.is_some() {
            match self.rt.delete(name, true) {
                Ok(()) | Err(ContainerError::State(StateError::NotFound(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.unplug(name);
        let dir = self.dir(name);
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        info!(name, "container removed");
        Ok(())
    }

    /// Freezes a running container's processes (`fv container pause`).
    pub fn pause(&self, name: &str) -> Result<(), ManagerError> {
        if self.get(name)?.status() != Status::Running {
            return Err(ManagerError::NotRunning(name.into()));
        }
        self.rt.pause(name)?;
        Ok(())
    }

    /// Thaws a paused container (`fv container unpause`).
    pub fn unpause(&self, name: &str) -> Result<(), ManagerError> {
        if self.get(name)?.status() != Status::Paused {
            return Err(ManagerError::NotPaused(name.into()));
        }
        self.rt.resume(name)?;
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once it is stopped.
    /// A paused container gets its SIGTERM on being thawed (as docker).
    pub fn stop(&self, name: &str, grace: Duration) -> Result<(), ManagerError> {
        let l = self.get(name)?;
        if !l.status().is_live() {
            return Ok(());
        }
        let _ = self.rt.kill(name, "TERM", false);
        if l.status() == Status::Paused {
            // On failure SIGKILL below thaws it all the same.
            if let Err(e) = self.rt.resume(name) {
                warn!(name, "stop: resume: {e}");
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self
                .record(name)
                .is_none_or(|r| r.status == Status::Stopped)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.rt.kill(name, "KILL", true);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .record(name)
                .is_none_or(|r| r.status == Status::Stopped)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ManagerError::Container(ContainerError::Io {
            id: name.into(),
            what: "stop".into(),
            source: std::io::Error::other("still running 10 s after SIGKILL"),
        }))
    }

    /// Runs the container in the foreground and waits for it; signals to
    /// this process are forwarded. With `tty`, its stdio is a new pty
    /// relayed to ours (raw mode while it runs).
    pub fn run_foreground(
        &self,
        meta: &ContainerMeta,
        tty: bool,
    ) -> Result<crate::runtime::ExitStatus, ManagerError> {
        if !tty {
            let pid = self.start(meta, None)?;
            crate::process::forward_signals_to(pid);
            let st = self.rt.wait(&meta.name);
            self.unplug(&meta.name);
            return Ok(st?);
        }
        let mut opts = self.create_options(meta, None);
        opts.console = true;
        let (rec, master) = self
            .rt
            .create_with_console(&meta.name, &self.dir(&meta.name), opts)?;
        let Some(master) = master else {
            let _ = self.rt.delete(&meta.name, true);
            return Err(ManagerError::Container(ContainerError::Io {
                id: meta.name.clone(),
                what: "console".into(),
                source: std::io::Error::other("init sent no pty"),
            }));
        };
        if meta.options.net == NetMode::Bridge {
            let pid = rec.pid.unwrap_or(0);
            if let Err(e) = crate::net::setup(
                &crate::net::CommandRunner,
                &self.addresses,
                &self.net_owner(&meta.name),
                pid,
            ) {
                let _ = self.rt.delete(&meta.name, true);
                return Err(e.into());
            }
        }
        let relay = match crate::tty::Relay::start(master) {
            Ok(r) => r,
            Err(e) => {
                let _ = self.rt.delete(&meta.name, true);
                return Err(io(Path::new("/dev/ptmx"))(e));
            }
        };
        let result = self.rt.start(&meta.name).and_then(|_| {
            crate::process::forward_signals_to(rec.pid.unwrap_or(0));
            self.rt.wait(&meta.name)
        });
        relay.finish();
        self.unplug(&meta.name);
        if result.is_err() {
            let _ = self.rt.delete(&meta.name, true);
        }
        Ok(result?)
    }

    /// Frees the bridge address and veth of a container that has stopped.
    pub fn unplug(&self, name: &str) {
        crate::net::teardown(
            &crate::net::CommandRunner,
            &self.addresses,
            &self.net_owner(name),
        );
    }

    /// Who holds a bridge address and veth pair: the container's name
    /// qualified by this manager's storage, since every state root shares
    /// the host's bridge and two roots may use the same names.
    fn net_owner(&self, name: &str) -> String {
        format!("{}#{name}", self.storage.display())
    }

    /// The bridge address of container `name`, if it has one.
    pub fn address_of(&self, name: &str) -> Option<std::net::Ipv4Addr> {
        self.addresses.address_of(&self.net_owner(name))
    }

    /// Records the exit code of a container that ended while nobody waited.
    pub fn exit_code(&self, name: &str) -> Option<i32> {
        self.record(name).and_then(|r| r.ferrovisor.exit_code)
    }
}

/// Points this process's stdout and stderr at /dev/null (a detached
/// monitor, once it has reported that the container started).
pub fn detach_stdio() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        for fd in [1, 2] {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("256M").expect("256M"), 256 << 20);
        assert_eq!(parse_memory("1g").expect("1g"), 1 << 30);
        assert_eq!(parse_memory("8388608").expect("bytes"), 8 << 20);
        for bad in ["", "M", "12X", "-5M", "1K", "99999999999T"] {
            let e = parse_memory(bad).expect_err(bad);
            assert!(e.to_string().contains("--memory"), "{e}");
            assert!(e.is_bad_input());
        }
    }

    #[test]
    fn cpus_pids_env() {
        assert_eq!(cpu_quota(parse_cpus("0.5").expect("cpus")), 50_000);
        assert_eq!(cpu_quota(parse_cpus("2").expect("cpus")), 200_000);
        assert!(parse_cpus("0").is_err() && parse_cpus("x").is_err() && parse_cpus("NaN").is_err());
        assert_eq!(parse_pids("100").expect("pids"), 100);
        assert!(parse_pids("0").is_err() && parse_pids("-1").is_err());
        assert_eq!(parse_env("A=b=c").expect("env"), "A=b=c");
        assert_eq!(parse_env("A=").expect("env"), "A=");
        assert!(parse_env("=x").is_err() && parse_env("noequals").is_err());
    }

    #[test]
    fn volumes() {
        let d = tempfile::tempdir().expect("tempdir");
        let h = d.path().to_str().expect("utf-8");
        let v = parse_volume(&format!("{h}:/data:ro")).expect("volume");
        assert_eq!(v.container, PathBuf::from("/data"));
        assert!(v.readonly);
        assert!(!parse_volume(&format!("{h}:/data")).expect("rw").readonly);
        for bad in [
            format!("{h}:data"),
            "rel:/data".to_string(),
            format!("{h}/missing:/data"),
            format!("{h}:/data:xx"),
            format!("{h}:/a/../b"),
            h.to_string(),
        ] {
            assert!(parse_volume(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_from_options() {
        let opts = RunOptions {
            hostname: Some("web".into()),
            memory: Some(64 << 20),
            cpus: Some(0.5),
            pids: Some(10),
            env: vec!["PATH=/x".into(), "A=1".into()],
            volumes: vec![Volume {
                host: "/srv".into(),
                container: "/data".into(),
                readonly: true,
            }],
            net: NetMode::Host,
            command: vec!["echo".into(), "hi".into()],
            ..Default::default()
        };
        let s = build_spec(&opts, "n", None);
        assert_eq!(s["hostname"], "web");
        assert_eq!(s["process"]["args"], json!(["echo", "hi"]));
        let env = s["process"]["env"].as_array().expect("env");
        assert!(env.contains(&json!("PATH=/x")) && env.contains(&json!("A=1")));
        assert_eq!(
            env.iter()
                .filter(|e| e.as_str().is_some_and(|e| e.starts_with("PATH=")))
                .count(),
            1
        );
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(s["linux"]["resources"]["pids"]["limit"], 10);
        let ns = s["linux"]["namespaces"].as_array().expect("ns");
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        let m = s["mounts"].as_array().expect("mounts").last().cloned();
        assert_eq!(
            m,
            Some(
                json!({"destination": "/data", "type": "bind", "source": "/srv",
                        "options": ["rbind", "rprivate", "ro"]})
            )
        );
        // Defaults: the name as hostname, the image's command, own net ns.
        let img = RunConfig {
            env: vec!["PATH=/img".into(), "B=2".into()],
            entrypoint: vec!["/init".into()],
            cmd: vec!["-v".into()],
            working_dir: Some("/srv".into()),
        };
        let s = build_spec(&RunOptions::default(), "n", Some(&img));
        assert_eq!(s["hostname"], "n");
        assert_eq!(s["process"]["args"], json!(["/init", "-v"]));
        assert_eq!(s["process"]["cwd"], "/srv");
        let env = s["process"]["env"].as_array().expect("env");
        assert!(env.contains(&json!("PATH=/img")) && env.contains(&json!("B=2")));
        let with_e = RunOptions {
            env: vec!["B=3".into()],
            ..Default::default()
        };
        let s = build_spec(&with_e, "n", Some(&img));
        let env = s["process"]["env"].as_array().expect("env");
        assert!(env.contains(&json!("B=3")) && !env.contains(&json!("B=2")));
        assert!(s["linux"]["namespaces"]
            .as_array()
            .expect("ns")
            .iter()
            .any(|n| n["type"] == "network"));
        assert!(s["linux"]["resources"]["memory"].is_null());
    }

    #[test]
    fn prepare_claims_the_name_and_cleans_up_on_error() {
        let d = tempfile::tempdir().expect("tempdir");
        let m = Manager::new(
            Runtime::new(d.path().join("state")),
            ImageStore::new(d.path().join("images")),
            d.path().join("storage"),
        );
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("bin")).expect("mkdir");
        m.images.import(&src, "img").expect("import");
        let opts = RunOptions {
            name: Some("a".into()),
            image: "img".into(),
            ..Default::default()
        };
        let meta = m.prepare(&opts).expect("prepare");
        assert_eq!(meta.command, vec!["sh".to_string()]);
        assert!(m.dir("a").join("upper").is_dir() && m.dir("a").join("config.json").exists());
        assert!(matches!(m.prepare(&opts), Err(ManagerError::NameInUse(_))));
        let missing = RunOptions {
            name: Some("b".into()),
            image: "nope".into(),
            ..Default::default()
        };
        let e = m.prepare(&missing).expect_err("no image");
        assert!(e.is_bad_input() && e.to_string().contains("nope"), "{e}");
        assert!(!m.dir("b").exists());
        assert_eq!(m.list().len(), 1);
        m.remove("a", false).expect("remove");
        assert!(!m.dir("a").exists());
        assert!(matches!(
            m.remove("a", false),
            Err(ManagerError::NotFound(_))
        ));
    }
}
