//! Shared helpers for the container tests (also built as an empty test
//! target of its own). Every command runs with a timeout; every container
//! is force-deleted and its state root removed when the test ends.
#![allow(dead_code)]

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Per-command limit; a hung command is killed and fails the test.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A state root, a scratch dir and the ids a test used.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    tag: String,
    ids: std::cell::RefCell<Vec<String>>,
    bundles: std::cell::Cell<u32>,
}

pub struct BundlePath(pub PathBuf);

impl BundlePath {
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Env {
    /// `None` (after printing SKIP) when this host cannot run containers.
    pub fn new(tag: &str) -> Option<Env> {
        if !nix_is_root() {
            eprintln!("SKIP: container tests need root");
            return None;
        }
        if busybox().is_none() {
            eprintln!("SKIP: no static busybox (install busybox-static)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("state");
        let env = Env {
            dir,
            root,
            tag: format!("{tag}{}", std::process::id()),
            ids: Default::default(),
            bundles: Default::default(),
        };
        // Probe: can this kernel give us the namespaces?
        let b = env.bundle(&["true"], |_| {});
        let out = env.fv(&["oci", "run", "--bundle", b.as_str(), &env.id("probe")]);
        if out.code != 0 {
            if out.stderr.contains("clone") || out.stderr.contains("Operation not permitted") {
                eprintln!(
                    "SKIP: the kernel refuses namespaces here: {}",
                    out.stderr.trim()
                );
                return None;
            }
            panic!("probe container failed: {out}");
        }
        Some(env)
    }

    /// A unique container id for this test run.
    pub fn id(&self, name: &str) -> String {
        let id = format!("t-{}-{name}", self.tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A busybox rootfs in `dir`.
    pub fn rootfs(&self, dir: &Path) {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(dir.join(d)).expect("mkdir");
        }
        // Copied while no test thread forks: a child forked meanwhile would
        // inherit the copy's write fd, and exec of it could fail (ETXTBSY).
        let host = busybox().expect("busybox");
        {
            let _no_forks = SPAWN_LOCK.write().unwrap_or_else(|e| e.into_inner());
            std::fs::copy(&host, bin.join("busybox")).expect("copy busybox");
        }
        let listing = SPAWN_LOCK.read().unwrap_or_else(|e| e.into_inner());
        let out = Command::new(&host)
            .arg("--list")
            .output()
            .expect("busybox --list");
        drop(listing);
        for applet in String::from_utf8_lossy(&out.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
            }
        }
        std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    }

    /// A bundle from `fv oci spec` running `args`, edited by `edit`.
    pub fn bundle(&self, args: &[&str], edit: impl FnOnce(&mut serde_json::Value)) -> BundlePath {
        let n = self.bundles.get() + 1;
        self.bundles.set(n);
        let dir = self.dir.path().join(format!("bundle{n}"));
        self.rootfs(&dir.join("rootfs"));
        let mut cmd = vec![
            "oci",
            "spec",
            "--bundle",
            dir.to_str().expect("utf-8"),
            "--",
        ];
        cmd.extend_from_slice(args);
        let out = self.fv(&cmd);
        assert_eq!(out.code, 0, "fv oci spec: {out}");
        let path = dir.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read config"))
                .expect("config json");
        edit(&mut spec);
        std::fs::write(&path, serde_json::to_string_pretty(&spec).expect("json"))
            .expect("write config");
        BundlePath(dir)
    }

    /// Runs `fv ARGS` with this env's state root, bounded by [`TIMEOUT`].
    pub fn fv(&self, args: &[&str]) -> Output {
        run_bounded(
            Command::new(env!("CARGO_BIN_EXE_fv"))
                .args(args)
                .env("FV_ROOT", &self.root),
            TIMEOUT,
        )
    }

    /// A gzipped tarball of a busybox rootfs, `DIR/NAME.tar.gz`.
    pub fn busybox_tarball(&self, name: &str) -> PathBuf {
        let rootfs = self.dir.path().join(format!("rootfs-{name}"));
        self.rootfs(&rootfs);
        let tgz = self.dir.path().join(format!("{name}.tar.gz"));
        let out = run_bounded(
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-czf")
                .arg(&tgz)
                .arg("."),
            TIMEOUT,
        );
        assert_eq!(out.code, 0, "tar: {out}");
        tgz
    }

    /// A busybox rootfs imported as image `name`; returns its tarball.
    pub fn busybox_image(&self, name: &str) -> PathBuf {
        let tgz = self.busybox_tarball(name);
        self.import(&tgz, name);
        tgz
    }

    /// Whether `fv container ls` lists `name` with `status`.
    pub fn listed_as(&self, name: &str, status: &str) -> bool {
        self.fv(&["container", "ls"])
            .stdout
            .lines()
            .any(|l| l.starts_with(name) && l.split_whitespace().any(|w| w == status))
    }

    /// `fv image import SOURCE NAME`, which must succeed.
    pub fn import(&self, source: &Path, name: &str) {
        let out = self.fv(&["image", "import", source.to_str().expect("utf-8"), name]);
        assert_eq!(out.code, 0, "import {}: {out}", source.display());
    }

    /// Starts `fv ARGS` without waiting (stdio to /dev/null), under the
    /// spawn lock like every other spawn here.
    pub fn spawn_fv(&self, args: &[&str]) -> std::process::Child {
        let _spawning = SPAWN_LOCK.read().unwrap_or_else(|e| e.into_inner());
        Command::new(env!("CARGO_BIN_EXE_fv"))
            .args(args)
            .env("FV_ROOT", &self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fv")
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let out = self.fv(&["oci", "state", id]);
        assert_eq!(out.code, 0, "state {id}: {out}");
        serde_json::from_str(&out.stdout).expect("state json")
    }

    /// No state dir, no cgroup, no process left for `id`.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            !self.root.join("containers").join(id).exists(),
            "state dir of {id} left behind"
        );
        for dir in cgroup_dirs(id) {
            assert!(!dir.exists(), "cgroup {} left behind", dir.display());
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        assert!(
            !mounts.contains(self.dir.path().to_str().unwrap_or("-")),
            "mount left behind: {mounts}"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = run_bounded(
                Command::new(env!("CARGO_BIN_EXE_fv"))
                    .args(["oci", "delete", "--force", id])
                    .env("FV_ROOT", &self.root),
                TIMEOUT,
            );
        }
    }
}

pub fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

/// Every place a container's cgroup could be (v1 controllers, v2).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/sys/fs/cgroup/ferrovisor").join(id)];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        out.push(e.path().join("ferrovisor").join(id));
    }
    out
}

pub fn pids_cgroup_dir(id: &str) -> Option<PathBuf> {
    cgroup_dirs(id)
        .into_iter()
        .find(|d| d.join("pids.current").exists())
}

pub fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Polls `cond` for up to 20 s; panics if it never holds.
pub fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition not reached in 20 s");
}

/// Held for reading around every spawn, for writing while copying binaries.
static SPAWN_LOCK: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let spawning = SPAWN_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fv");
    drop(spawning);
    // Readers collect what arrives; a container started by `create` keeps
    // the pipes open after fv exits, so we never wait for EOF.
    let collect = |mut r: Box<dyn Read + Send>| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
        });
        buf
    };
    let so = collect(Box::new(child.stdout.take().expect("stdout")));
    let se = collect(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command timed out after {timeout:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    // Output may still be in the pipes: wait for both readers to end (and
    // drop their share of the buffer), but only briefly, since a container
    // left running keeps the pipes open.
    let eof_deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < eof_deadline
        && !(std::sync::Arc::strong_count(&so) == 1 && std::sync::Arc::strong_count(&se) == 1)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let take = |b: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&b.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    };
    Output {
        code: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        stdout: take(&so),
        stderr: take(&se),
    }
}
