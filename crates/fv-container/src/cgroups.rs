//! cgroups: which hierarchy the host has (v1, v2 or hybrid: v1 controllers
//! plus a controller-less v2 mount), and a container's cgroup in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use tracing::debug;

use crate::syscall::{Syscall, SyscallError};

/// The cgroup setup failed; names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup hierarchy is mounted (read {0})")]
    NotMounted(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup path {0:?} must stay inside the hierarchy")]
    BadPath(PathBuf),
    #[error("cgroup {path} still has processes after {secs}s")]
    Busy { path: PathBuf, secs: u64 },
    #[error("cgroup {0} has no freezer: no v1 freezer hierarchy and no cgroup v2 is mounted")]
    NoFreezer(PathBuf),
    #[error("{path} did not reach {wanted} in {ms} ms (it reads {last:?}); left thawed")]
    Freeze {
        path: PathBuf,
        wanted: &'static str,
        last: String,
        ms: u64,
    },
    #[error(transparent)]
    Syscall(#[from] SyscallError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
    /// v1 controllers, plus a v2 mount without them (systemd's "hybrid").
    Hybrid,
}

/// Where the hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    pub version: CgroupVersion,
    /// v1 controller name -> its hierarchy's mount point.
    pub v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount, if any.
    pub unified: Option<PathBuf>,
    /// Controllers the cgroup2 mount has (empty on a hybrid host, usually).
    pub unified_controllers: Vec<String>,
}

/// v1 controllers a container joins. cpuset is left out: a new v1 cpuset
/// cgroup has no CPUs until configured, and we do not set cpusets yet.
/// The v1 hierarchies a container gets a cgroup of its own in (as runc:
/// also cpuset and systemd's named one, so that what the container sees
/// of them through its /sys/fs/cgroup is its own directory, never the
/// host's tree).
const V1_JOINED: &[&str] = &[
    "memory",
    "pids",
    "cpu",
    "cpuacct",
    "blkio",
    "devices",
    "freezer",
    "cpuset",
    "name=systemd",
];

impl CgroupLayout {
    /// Reads `/proc/self/mountinfo`.
    pub fn detect() -> Result<CgroupLayout, CgroupError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
            path: path.into(),
            source,
        })?;
        let mut layout =
            Self::from_mountinfo(&text).ok_or_else(|| CgroupError::NotMounted(path.into()))?;
        if let Some(u) = &layout.unified {
            let f = u.join("cgroup.controllers");
            layout.unified_controllers = std::fs::read_to_string(&f)
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
        }
        Ok(layout)
    }

    /// The layout a mountinfo text describes, `None` without any cgroup mount.
    pub fn from_mountinfo(text: &str) -> Option<CgroupLayout> {
        let mut v1 = BTreeMap::new();
        let mut unified = None;
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mount_point) = left.split(' ').nth(4) else {
                continue;
            };
            let mut r = right.split(' ');
            let (Some(fstype), _, Some(opts)) = (r.next(), r.next(), r.next()) else {
                continue;
            };
            match fstype {
                "cgroup2" => unified = Some(PathBuf::from(mount_point)),
                "cgroup" => {
                    for o in opts.split(',') {
                        // Named hierarchies (name=systemd) by their name;
                        // other key=value options are not controllers.
                        if matches!(o, "rw" | "ro") || (o.contains('=') && !o.starts_with("name="))
                        {
                            continue;
                        }
                        v1.entry(o.to_string())
                            .or_insert_with(|| PathBuf::from(mount_point));
                    }
                }
                _ => {}
            }
        }
        let version = match (v1.is_empty(), &unified) {
            (true, None) => return None,
            (true, Some(_)) => CgroupVersion::V2,
            (false, None) => CgroupVersion::V1,
            (false, Some(_)) => CgroupVersion::Hybrid,
        };
        Some(CgroupLayout {
            version,
            v1,
            unified,
            unified_controllers: Vec::new(),
        })
    }
}

/// Devices every container may use whatever its rules deny, as runc
/// appends them: mknod of anything (opening is what the rules govern),
/// null, random, full, tty, zero, urandom, the devpts nodes, ptmx, tun.
const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

/// `linux.resources.devices` as cgroup v1 `devices.allow`/`devices.deny`
/// writes, in order, then the defaults every container keeps. Nothing
/// when the spec has no rules (the cgroup then allows what its parent
/// does). cgroup v2 needs a BPF device program instead (not done: the
/// rules are not enforced there; `create` warns).
pub fn device_rules(res: &LinuxResources) -> Vec<(&'static str, String)> {
    let Some(rules) = res.devices().as_ref().filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in rules {
        let typ = r
            .typ()
            .map_or_else(|| "a".to_string(), |t| t.as_str().to_string());
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        let rule = if typ == "a" {
            // "a" covers every type and number.
            format!("a *:* {access}")
        } else {
            format!("{typ} {}:{} {access}", num(r.major()), num(r.minor()))
        };
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push((file, rule));
    }
    out.extend(
        DEFAULT_DEVICE_RULES
            .iter()
            .map(|r| ("devices.allow", r.to_string())),
    );
    out
}

/// One container's cgroup: a directory in each joined hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    pub layout: CgroupLayout,
    /// Path relative to each hierarchy's root, e.g. `ferrovisor/web`.
    pub relative: PathBuf,
}

/// How long [`Cgroup::freeze`] waits for the kernel to freeze every task.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// The file that freezes a cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Freezer {
    /// v1 `freezer.state` (FROZEN/THAWED; FREEZING in between).
    V1(PathBuf),
    /// v2 `cgroup.freeze` (1/0); `cgroup.events` says `frozen 1` once done.
    V2(PathBuf),
}

fn read_file(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// Converts cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000),
/// the formula runc and the kernel docs use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262_142
}

fn limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

impl Cgroup {
    /// `cgroups_path` as the spec gives it, absolute or not, is taken
    /// relative to each hierarchy's root.
    pub fn new(layout: CgroupLayout, cgroups_path: &Path) -> Result<Cgroup, CgroupError> {
        let mut rel = PathBuf::new();
        for c in cgroups_path.components() {
            match c {
                std::path::Component::Normal(p) => rel.push(p),
                std::path::Component::RootDir | std::path::Component::CurDir => {}
                _ => return Err(CgroupError::BadPath(cgroups_path.into())),
            }
        }
        if rel.as_os_str().is_empty() {
            return Err(CgroupError::BadPath(cgroups_path.into()));
        }
        Ok(Cgroup {
            layout,
            relative: rel,
        })
    }

    fn uses_v2_controllers(&self) -> bool {
        self.layout.version == CgroupVersion::V2
    }

    /// Directory of this cgroup in the hierarchy holding `controller`.
    pub fn dir_for(&self, controller: &str) -> Option<PathBuf> {
        if self.uses_v2_controllers() {
            return self.layout.unified.as_ref().map(|u| u.join(&self.relative));
        }
        self.layout
            .v1
            .get(controller)
            .map(|m| m.join(&self.relative))
    }

    /// Every directory this cgroup has, one per hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        if !self.uses_v2_controllers() {
            for c in V1_JOINED {
                if let Some(d) = self.dir_for(c) {
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
        }
        if let Some(u) = &self.layout.unified {
            out.push(u.join(&self.relative));
        }
        out
    }

    /// The knob writes for `res`, in order.
    pub fn resource_writes(&self, res: &LinuxResources) -> Vec<(PathBuf, String)> {
        let mut w = Vec::new();
        let v2 = self.uses_v2_controllers();
        let mut put = |controller: &str, file: &str, value: String| {
            if let Some(d) = self.dir_for(controller) {
                w.push((d.join(file), value));
            }
        };
        if let Some(m) = res.memory() {
            if v2 {
                if let Some(l) = m.limit() {
                    put("memory", "memory.max", limit(l));
                }
                if let Some(r) = m.reservation() {
                    put("memory", "memory.low", limit(r));
                }
                // v2 counts swap alone; the spec counts memory plus swap.
                if let Some(s) = m.swap() {
                    let swap = match m.limit() {
                        Some(l) if s >= 0 && l >= 0 => (s - l).max(0),
                        _ => s,
                    };
                    put("memory", "memory.swap.max", limit(swap));
                }
            } else {
                if let Some(l) = m.limit() {
                    put("memory", "memory.limit_in_bytes", l.to_string());
                }
                if let Some(r) = m.reservation() {
                    put("memory", "memory.soft_limit_in_bytes", r.to_string());
                }
                if let Some(s) = m.swap() {
                    if self.dir_for("memory").is_some_and(|d| {
                        d.parent()
                            .is_some_and(|p| p.join("memory.memsw.limit_in_bytes").exists())
                    }) {
                        put("memory", "memory.memsw.limit_in_bytes", s.to_string());
                    }
                }
                if let Some(s) = m.swappiness() {
                    put("memory", "memory.swappiness", s.to_string());
                }
            }
        }
        if let Some(c) = res.cpu() {
            if v2 {
                if c.quota().is_some() || c.period().is_some() {
                    let period = c.period().unwrap_or(100_000);
                    put(
                        "cpu",
                        "cpu.max",
                        format!("{} {period}", limit(c.quota().unwrap_or(-1))),
                    );
                }
                if let Some(s) = c.shares() {
                    put("cpu", "cpu.weight", shares_to_weight(s).to_string());
                }
            } else {
                if let Some(p) = c.period() {
                    put("cpu", "cpu.cfs_period_us", p.to_string());
                }
                if let Some(q) = c.quota() {
                    put("cpu", "cpu.cfs_quota_us", q.to_string());
                }
                if let Some(s) = c.shares() {
                    put("cpu", "cpu.shares", s.to_string());
                }
            }
        }
        if let Some(p) = res.pids() {
            put("pids", "pids.max", limit(p.limit()));
        }
        if !v2 {
            for (file, rule) in device_rules(res) {
                put("devices", file, rule);
            }
        }
        if let Some(b) = res.block_io() {
            if let Some(wt) = b.weight() {
                if v2 {
                    put(
                        "io",
                        "io.weight",
                        format!("default {}", 1 + (u64::from(wt) - 10) * 9999 / 990),
                    );
                } else {
                    put("blkio", "blkio.weight", wt.to_string());
                }
            }
        }
        w
    }

    /// Makes the directories and writes the limits.
    pub fn create(
        &self,
        sys: &dyn Syscall,
        res: Option<&LinuxResources>,
    ) -> Result<(), CgroupError> {
        if self.uses_v2_controllers() {
            self.enable_v2_controllers(sys)?;
        }
        for d in self.dirs() {
            sys.mkdir_all(&d)?;
        }
        self.init_cpuset(sys, &|p| std::fs::read_to_string(p).ok())?;
        if let Some(res) = res {
            if self.uses_v2_controllers() && !device_rules(res).is_empty() {
                tracing::warn!(
                    "linux.resources.devices is not enforced on cgroup v2 (needs a BPF device program)"
                );
            }
            for (file, value) in self.resource_writes(res) {
                debug!(file = %file.display(), %value, "cgroup write");
                sys.write_file(&file, &value)?;
            }
        }
        Ok(())
    }

    /// A new v1 cpuset cgroup has empty `cpuset.cpus`/`cpuset.mems` and
    /// takes no tasks until they are set: copy them from the parent, top
    /// down through the directories just made.
    fn init_cpuset(
        &self,
        sys: &dyn Syscall,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Result<(), CgroupError> {
        let Some(root) = self
            .layout
            .v1
            .get("cpuset")
            .filter(|_| !self.uses_v2_controllers())
        else {
            return Ok(());
        };
        let mut parent = root.clone();
        for c in self.relative.components() {
            let dir = parent.join(c);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if read(&dir.join(f)).is_some_and(|v| v.trim().is_empty()) {
                    if let Some(v) = read(&parent.join(f)) {
                        sys.write_file(&dir.join(f), v.trim())?;
                    }
                }
            }
            parent = dir;
        }
        Ok(())
    }

    /// cgroup v2 only hands a controller to a child whose parents list it
    /// in `cgroup.subtree_control`.
    fn enable_v2_controllers(&self, sys: &dyn Syscall) -> Result<(), CgroupError> {
        let Some(root) = &self.layout.unified else {
            return Ok(());
        };
        let wanted: Vec<&str> = ["cpu", "memory", "pids", "io"]
            .into_iter()
            .filter(|c| self.layout.unified_controllers.iter().any(|h| h == c))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let line: String = wanted.iter().map(|c| format!("+{c} ")).collect();
        let line = line.trim_end();
        let comps: Vec<_> = self.relative.components().collect();
        let mut dir = root.clone();
        sys.write_file(&dir.join("cgroup.subtree_control"), line)?;
        for c in &comps[..comps.len().saturating_sub(1)] {
            dir.push(c);
            sys.mkdir_all(&dir)?;
            sys.write_file(&dir.join("cgroup.subtree_control"), line)?;
        }
        Ok(())
    }

    /// Moves `pid` into this cgroup in every hierarchy.
    pub fn add_process(&self, sys: &dyn Syscall, pid: i32) -> Result<(), CgroupError> {
        for d in self.dirs() {
            sys.write_file(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Processes in the cgroup (from the first hierarchy that has it).
    pub fn pids(&self) -> Vec<i32> {
        for d in self.dirs() {
            if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
                return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            }
        }
        Vec::new()
    }

    /// How many times the kernel's OOM killer killed a process here.
    pub fn oom_kills(&self) -> u64 {
        let Some(d) = self.dir_for("memory") else {
            return 0;
        };
        let file = if self.uses_v2_controllers() {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(d.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Removes every directory, waiting up to `timeout` for exiting
    /// processes to leave. Missing directories are fine.
    pub fn remove(&self, sys: &dyn Syscall, timeout: Duration) -> Result<(), CgroupError> {
        let start = Instant::now();
        for d in self.dirs() {
            loop {
                match sys.remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.errno() == Some(libc::ENOENT) => break,
                    Err(e) if e.errno() == Some(libc::EBUSY) && start.elapsed() < timeout => {
                        sleep(Duration::from_millis(10));
                    }
                    Err(e) if e.errno() == Some(libc::EBUSY) => {
                        return Err(CgroupError::Busy {
                            path: d,
                            secs: timeout.as_secs(),
                        })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Whether any of its directories still exists.
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.exists())
    }

    /// The v1 freezer hierarchy's directory when there is one (v1 and
    /// hybrid hosts), else the cgroup2 directory (`cgroup.freeze` is part
    /// of the v2 core, whatever controllers the mount has).
    fn freezer(&self) -> Option<Freezer> {
        if !self.uses_v2_controllers() {
            if let Some(m) = self.layout.v1.get("freezer") {
                return Some(Freezer::V1(m.join(&self.relative)));
            }
        }
        self.layout
            .unified
            .as_ref()
            .map(|u| Freezer::V2(u.join(&self.relative)))
    }

    /// Freezes (`frozen`) or thaws every process in the cgroup, and
    /// returns once the kernel says it is done; a freeze that does not
    /// complete within [`FREEZE_TIMEOUT`] is undone (thawed) and fails.
    pub fn freeze(&self, sys: &dyn Syscall, frozen: bool) -> Result<(), CgroupError> {
        self.freeze_with(sys, frozen, &read_file, FREEZE_TIMEOUT)
    }

    fn freeze_with(
        &self,
        sys: &dyn Syscall,
        frozen: bool,
        read: &dyn Fn(&Path) -> Option<String>,
        timeout: Duration,
    ) -> Result<(), CgroupError> {
        let start = Instant::now();
        let timed_out = |path: PathBuf, wanted, last: Option<String>| CgroupError::Freeze {
            path,
            wanted,
            last: last.unwrap_or_default().trim().to_string(),
            ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        match self.freezer() {
            None => Err(CgroupError::NoFreezer(self.relative.clone())),
            Some(Freezer::V1(dir)) => {
                let file = dir.join("freezer.state");
                let wanted = if frozen { "FROZEN" } else { "THAWED" };
                let mut tries = 0u32;
                loop {
                    // Written again on every try, as runc does: a task
                    // forked meanwhile is only frozen by a new write, and
                    // a v1 freeze can stick in FREEZING while tasks keep
                    // appearing, which a short thaw now and then unsticks.
                    if frozen && tries % 50 == 49 {
                        sys.write_file(&file, "THAWED")?;
                        sleep(Duration::from_millis(10));
                    }
                    sys.write_file(&file, wanted)?;
                    let state = read(&file);
                    if state.as_deref().map(str::trim) == Some(wanted) {
                        return Ok(());
                    }
                    if start.elapsed() >= timeout {
                        if frozen {
                            // Never leave it half frozen.
                            let _ = sys.write_file(&file, "THAWED");
                        }
                        return Err(timed_out(file, wanted, state));
                    }
                    tries += 1;
                    sleep(Duration::from_millis(1));
                }
            }
            Some(Freezer::V2(dir)) => {
                let file = dir.join("cgroup.freeze");
                sys.write_file(&file, if frozen { "1" } else { "0" })?;
                if !frozen {
                    // `frozen` in cgroup.events stays 1 while a parent is
                    // frozen: nothing to wait for.
                    return Ok(());
                }
                let events = dir.join("cgroup.events");
                loop {
                    let text = read(&events);
                    let done = text.as_deref().is_some_and(|t| {
                        t.lines().any(|l| l.split_whitespace().eq(["frozen", "1"]))
                    });
                    if done {
                        return Ok(());
                    }
                    if start.elapsed() >= timeout {
                        let _ = sys.write_file(&file, "0");
                        return Err(timed_out(events, "frozen 1", text));
                    }
                    sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// Whether the cgroup itself is frozen (asked to be, as runc reads
    /// it: not merely inside a frozen parent). Reads one or two files.
    pub fn is_frozen(&self) -> bool {
        self.is_frozen_with(&read_file)
    }

    fn is_frozen_with(&self, read: &dyn Fn(&Path) -> Option<String>) -> bool {
        match self.freezer() {
            None => false,
            Some(Freezer::V1(dir)) => {
                read(&dir.join("freezer.state")).is_some_and(|s| s.trim() == "FROZEN")
                    // FROZEN also when only a parent is; self_freezing
                    // tells (absent on old kernels: trust the state).
                    && read(&dir.join("freezer.self_freezing")).is_none_or(|s| s.trim() != "0")
            }
            Some(Freezer::V2(dir)) => {
                read(&dir.join("cgroup.freeze")).is_some_and(|s| s.trim() == "1")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2: &str = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

    fn resources() -> LinuxResources {
        serde_json::from_str(
            r#"{"memory":{"limit":268435456},"cpu":{"quota":50000,"period":100000,"shares":1024},"pids":{"limit":100}}"#,
        )
        .expect("resources")
    }

    #[test]
    fn detects_hybrid() {
        let l = CgroupLayout::from_mountinfo(HYBRID).expect("cgroups");
        assert_eq!(l.version, CgroupVersion::Hybrid);
        assert_eq!(
            l.v1.get("cpuacct"),
            Some(&PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            l.v1.get("memory"),
            Some(&PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert!(l.v1.contains_key("name=systemd") && !l.v1.contains_key("rw"));
        assert_eq!(l.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn device_rules_become_v1_allow_and_deny_writes() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"devices":[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"b","major":8,"access":"r"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]}"#,
        )
        .expect("resources");
        let text = format!(
            "{HYBRID}43 31 0:40 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
        );
        let cg = Cgroup::new(
            CgroupLayout::from_mountinfo(&text).expect("cgroups"),
            Path::new("ferrovisor/c1"),
        )
        .expect("path");
        let w = cg.resource_writes(&res);
        let d = "/sys/fs/cgroup/devices/ferrovisor/c1/";
        let got: Vec<(String, String)> = w
            .iter()
            .map(|(p, v)| (p.display().to_string(), v.clone()))
            .collect();
        assert_eq!(got[0], (format!("{d}devices.deny"), "a *:* rwm".into()));
        assert_eq!(got[1], (format!("{d}devices.allow"), "b 8:* r".into()));
        assert_eq!(got[2], (format!("{d}devices.deny"), "c 1:3 w".into()));
        // Then the defaults, /dev/null among them.
        assert!(got[3..].contains(&(format!("{d}devices.allow"), "c 1:3 rwm".into())));
        assert_eq!(got.len(), 3 + DEFAULT_DEVICE_RULES.len());
        // No rules, no writes.
        let none: LinuxResources = serde_json::from_str(r#"{"devices":[]}"#).expect("empty");
        assert!(device_rules(&none).is_empty());
        // v2: nothing written (not enforced there).
        let v2 = Cgroup::new(
            CgroupLayout::from_mountinfo(V2).expect("v2"),
            Path::new("ferrovisor/c1"),
        )
        .expect("path");
        assert!(v2.resource_writes(&res).is_empty());
    }

    #[test]
    fn cpuset_is_copied_from_the_parent_top_down() {
        let text = format!(
            "{HYBRID}42 31 0:39 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
        );
        let l = CgroupLayout::from_mountinfo(&text).expect("cgroups");
        let cg = Cgroup::new(l, Path::new("ferrovisor/c1")).expect("path");
        assert!(cg
            .dirs()
            .contains(&PathBuf::from("/sys/fs/cgroup/cpuset/ferrovisor/c1")));
        // The host root has values; `ferrovisor` already has its own; c1 is new.
        let files: BTreeMap<&str, &str> = [
            ("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-3\n"),
            ("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n"),
            ("/sys/fs/cgroup/cpuset/ferrovisor/cpuset.cpus", "1-2\n"),
            ("/sys/fs/cgroup/cpuset/ferrovisor/cpuset.mems", "0\n"),
            ("/sys/fs/cgroup/cpuset/ferrovisor/c1/cpuset.cpus", "\n"),
            ("/sys/fs/cgroup/cpuset/ferrovisor/c1/cpuset.mems", "\n"),
        ]
        .into_iter()
        .collect();
        let read = |p: &Path| files.get(p.to_str()?).map(|v| v.to_string());
        let sys = RecordingSyscall::new();
        cg.init_cpuset(&sys, &read).expect("cpuset");
        assert_eq!(
            sys.calls(),
            vec![
                Call::WriteFile(
                    "/sys/fs/cgroup/cpuset/ferrovisor/c1/cpuset.cpus".into(),
                    "1-2".into()
                ),
                Call::WriteFile(
                    "/sys/fs/cgroup/cpuset/ferrovisor/c1/cpuset.mems".into(),
                    "0".into()
                ),
            ]
        );
    }

    #[test]
    fn detects_v2_and_v1_and_none() {
        assert_eq!(
            CgroupLayout::from_mountinfo(V2).expect("v2").version,
            CgroupVersion::V2
        );
        let v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            CgroupLayout::from_mountinfo(&v1).expect("v1").version,
            CgroupVersion::V1
        );
        assert!(CgroupLayout::from_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda rw\n").is_none());
    }

    #[test]
    fn hybrid_writes_v1_knobs_and_tracks_in_unified() {
        let l = CgroupLayout::from_mountinfo(HYBRID).expect("cgroups");
        let cg = Cgroup::new(l, Path::new("/ferrovisor/c1")).expect("path");
        assert_eq!(
            cg.dirs(),
            vec![
                PathBuf::from("/sys/fs/cgroup/memory/ferrovisor/c1"),
                PathBuf::from("/sys/fs/cgroup/pids/ferrovisor/c1"),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/ferrovisor/c1"),
                PathBuf::from("/sys/fs/cgroup/systemd/ferrovisor/c1"),
                PathBuf::from("/sys/fs/cgroup/unified/ferrovisor/c1"),
            ]
        );
        let sys = RecordingSyscall::new();
        cg.create(&sys, Some(&resources())).expect("create");
        let writes: Vec<(String, String)> = sys
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::WriteFile(p, v) => Some((p.display().to_string(), v)),
                _ => None,
            })
            .collect();
        let w = |f: &str, v: &str| (f.to_string(), v.to_string());
        assert_eq!(
            writes,
            vec![
                w(
                    "/sys/fs/cgroup/memory/ferrovisor/c1/memory.limit_in_bytes",
                    "268435456"
                ),
                w(
                    "/sys/fs/cgroup/cpu,cpuacct/ferrovisor/c1/cpu.cfs_period_us",
                    "100000"
                ),
                w(
                    "/sys/fs/cgroup/cpu,cpuacct/ferrovisor/c1/cpu.cfs_quota_us",
                    "50000"
                ),
                w(
                    "/sys/fs/cgroup/cpu,cpuacct/ferrovisor/c1/cpu.shares",
                    "1024"
                ),
                w("/sys/fs/cgroup/pids/ferrovisor/c1/pids.max", "100"),
            ]
        );
        cg.add_process(&sys, 42).expect("add");
        assert!(sys.calls().contains(&Call::WriteFile(
            "/sys/fs/cgroup/unified/ferrovisor/c1/cgroup.procs".into(),
            "42".into()
        )));
    }

    #[test]
    fn v2_writes_unified_knobs() {
        let mut l = CgroupLayout::from_mountinfo(V2).expect("v2");
        l.unified_controllers = vec!["cpu".into(), "memory".into(), "pids".into()];
        let cg = Cgroup::new(l, Path::new("ferrovisor/c1")).expect("path");
        assert_eq!(
            cg.dirs(),
            vec![PathBuf::from("/sys/fs/cgroup/ferrovisor/c1")]
        );
        let sys = RecordingSyscall::new();
        cg.create(&sys, Some(&resources())).expect("create");
        let calls = sys.calls();
        assert!(calls.contains(&Call::WriteFile(
            "/sys/fs/cgroup/cgroup.subtree_control".into(),
            "+cpu +memory +pids".into()
        )));
        assert!(calls.contains(&Call::WriteFile(
            "/sys/fs/cgroup/ferrovisor/cgroup.subtree_control".into(),
            "+cpu +memory +pids".into()
        )));
        assert!(calls.contains(&Call::WriteFile(
            "/sys/fs/cgroup/ferrovisor/c1/memory.max".into(),
            "268435456".into()
        )));
        assert!(calls.contains(&Call::WriteFile(
            "/sys/fs/cgroup/ferrovisor/c1/cpu.max".into(),
            "50000 100000".into()
        )));
        assert!(calls.contains(&Call::WriteFile(
            "/sys/fs/cgroup/ferrovisor/c1/cpu.weight".into(),
            "39".into()
        )));
        assert!(calls.contains(&Call::WriteFile(
            "/sys/fs/cgroup/ferrovisor/c1/pids.max".into(),
            "100".into()
        )));
    }

    #[test]
    fn path_may_not_climb() {
        let l = CgroupLayout::from_mountinfo(V2).expect("v2");
        assert!(Cgroup::new(l.clone(), Path::new("../etc")).is_err());
        assert!(Cgroup::new(l, Path::new("/")).is_err());
    }

    #[test]
    fn remove_ignores_missing_and_retries_busy_then_fails() {
        let l = CgroupLayout::from_mountinfo(V2).expect("v2");
        let cg = Cgroup::new(l, Path::new("a")).expect("path");
        let sys = RecordingSyscall::new();
        sys.fail_when(|c| matches!(c, Call::RemoveDir(_)), libc::ENOENT);
        cg.remove(&sys, Duration::from_millis(50))
            .expect("missing is fine");
        let sys = RecordingSyscall::new();
        sys.fail_when(|c| matches!(c, Call::RemoveDir(_)), libc::EBUSY);
        let e = cg
            .remove(&sys, Duration::from_millis(50))
            .expect_err("busy");
        assert!(e.to_string().contains("/sys/fs/cgroup/a"), "{e}");
        assert!(sys.calls().len() > 1, "retried");
    }

    fn freezer_layout() -> CgroupLayout {
        let text = format!(
            "{HYBRID}43 31 0:40 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
        );
        CgroupLayout::from_mountinfo(&text).expect("cgroups")
    }

    /// A reader that answers `path` with `answers` in turn (the last one
    /// from then on), and nothing for any other file.
    fn reader(path: &'static str, answers: &[&str]) -> impl Fn(&Path) -> Option<String> {
        let answers: Vec<String> = answers.iter().map(|a| format!("{a}\n")).collect();
        let next = std::cell::Cell::new(0usize);
        move |p: &Path| {
            if p != Path::new(path) {
                return None;
            }
            let i = next.get();
            next.set(i + 1);
            answers.get(i.min(answers.len() - 1)).cloned()
        }
    }

    fn writes(sys: &RecordingSyscall) -> Vec<(String, String)> {
        sys.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::WriteFile(p, v) => Some((p.display().to_string(), v)),
                _ => None,
            })
            .collect()
    }

    const V1_STATE: &str = "/sys/fs/cgroup/freezer/ferrovisor/c1/freezer.state";

    #[test]
    fn v1_freeze_waits_through_freezing() {
        let cg = Cgroup::new(freezer_layout(), Path::new("ferrovisor/c1")).expect("path");
        assert!(cg
            .dirs()
            .contains(&PathBuf::from("/sys/fs/cgroup/freezer/ferrovisor/c1")));
        let sys = RecordingSyscall::new();
        let read = reader(V1_STATE, &["FREEZING", "FREEZING", "FROZEN"]);
        cg.freeze_with(&sys, true, &read, Duration::from_secs(5))
            .expect("freeze");
        let w = (V1_STATE.to_string(), "FROZEN".to_string());
        assert_eq!(writes(&sys), vec![w.clone(), w.clone(), w]);

        let sys = RecordingSyscall::new();
        let read = reader(V1_STATE, &["THAWED"]);
        cg.freeze_with(&sys, false, &read, Duration::from_secs(5))
            .expect("thaw");
        assert_eq!(
            writes(&sys),
            vec![(V1_STATE.to_string(), "THAWED".to_string())]
        );
    }

    #[test]
    fn v1_freeze_stuck_in_freezing_is_thawed_and_fails() {
        let cg = Cgroup::new(freezer_layout(), Path::new("ferrovisor/c1")).expect("path");
        let sys = RecordingSyscall::new();
        let read = reader(V1_STATE, &["FREEZING"]);
        let e = cg
            .freeze_with(&sys, true, &read, Duration::from_millis(100))
            .expect_err("stuck");
        assert!(
            e.to_string().contains(V1_STATE) && e.to_string().contains("FREEZING"),
            "{e}"
        );
        let w = writes(&sys);
        assert!(w.len() > 2, "retried: {w:?}");
        assert_eq!(
            w.last(),
            Some(&(V1_STATE.to_string(), "THAWED".to_string())),
            "left thawed"
        );
    }

    #[test]
    fn freeze_write_failure_names_the_file() {
        let cg = Cgroup::new(freezer_layout(), Path::new("ferrovisor/c1")).expect("path");
        let sys = RecordingSyscall::new();
        sys.fail_when(|c| matches!(c, Call::WriteFile(..)), libc::ENOENT);
        let e = cg
            .freeze_with(&sys, true, &|_| None, Duration::from_secs(5))
            .expect_err("no such file");
        assert!(e.to_string().contains(V1_STATE), "{e}");
    }

    #[test]
    fn v2_freeze_waits_for_the_frozen_event() {
        let cg = Cgroup::new(
            CgroupLayout::from_mountinfo(V2).expect("v2"),
            Path::new("ferrovisor/c1"),
        )
        .expect("path");
        let events = "/sys/fs/cgroup/ferrovisor/c1/cgroup.events";
        let freeze = "/sys/fs/cgroup/ferrovisor/c1/cgroup.freeze";
        let sys = RecordingSyscall::new();
        let read = reader(events, &["populated 1\nfrozen 0", "populated 1\nfrozen 1"]);
        cg.freeze_with(&sys, true, &read, Duration::from_secs(5))
            .expect("freeze");
        assert_eq!(writes(&sys), vec![(freeze.to_string(), "1".to_string())]);

        let sys = RecordingSyscall::new();
        cg.freeze_with(&sys, false, &|_| None, Duration::from_secs(5))
            .expect("thaw");
        assert_eq!(writes(&sys), vec![(freeze.to_string(), "0".to_string())]);

        // Never frozen: thawed again, and the error names the file.
        let sys = RecordingSyscall::new();
        let read = reader(events, &["populated 1\nfrozen 0"]);
        let e = cg
            .freeze_with(&sys, true, &read, Duration::from_millis(50))
            .expect_err("stuck");
        assert!(e.to_string().contains(events), "{e}");
        assert_eq!(
            writes(&sys),
            vec![
                (freeze.to_string(), "1".to_string()),
                (freeze.to_string(), "0".to_string())
            ]
        );
    }

    #[test]
    fn hybrid_without_v1_freezer_uses_cgroup_freeze_and_none_fails() {
        let cg = Cgroup::new(
            CgroupLayout::from_mountinfo(HYBRID).expect("cgroups"),
            Path::new("ferrovisor/c1"),
        )
        .expect("path");
        let sys = RecordingSyscall::new();
        cg.freeze_with(&sys, false, &|_| None, Duration::from_secs(5))
            .expect("thaw");
        assert_eq!(
            writes(&sys),
            vec![(
                "/sys/fs/cgroup/unified/ferrovisor/c1/cgroup.freeze".to_string(),
                "0".to_string()
            )]
        );
        let v1_only: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        let cg = Cgroup::new(
            CgroupLayout::from_mountinfo(&v1_only).expect("v1"),
            Path::new("ferrovisor/c1"),
        )
        .expect("path");
        let e = cg
            .freeze(&RecordingSyscall::new(), true)
            .expect_err("no freezer");
        assert!(matches!(e, CgroupError::NoFreezer(_)), "{e}");
        assert!(!cg.is_frozen());
    }

    #[test]
    fn is_frozen_reads_the_cgroups_own_state() {
        let cg = Cgroup::new(freezer_layout(), Path::new("ferrovisor/c1")).expect("path");
        let files = |state: &'static str, own: Option<&'static str>| {
            move |p: &Path| match p.file_name()?.to_str()? {
                "freezer.state" => Some(format!("{state}\n")),
                "freezer.self_freezing" => own.map(|o| format!("{o}\n")),
                _ => None,
            }
        };
        assert!(cg.is_frozen_with(&files("FROZEN", Some("1"))));
        assert!(cg.is_frozen_with(&files("FROZEN", None)));
        // Frozen only because a parent is.
        assert!(!cg.is_frozen_with(&files("FROZEN", Some("0"))));
        assert!(!cg.is_frozen_with(&files("FREEZING", Some("1"))));
        assert!(!cg.is_frozen_with(&files("THAWED", Some("0"))));
        assert!(!cg.is_frozen_with(&|_| None));

        let cg = Cgroup::new(
            CgroupLayout::from_mountinfo(V2).expect("v2"),
            Path::new("ferrovisor/c1"),
        )
        .expect("path");
        let freeze = |v: &'static str| {
            move |p: &Path| {
                (p == Path::new("/sys/fs/cgroup/ferrovisor/c1/cgroup.freeze"))
                    .then(|| format!("{v}\n"))
            }
        };
        assert!(cg.is_frozen_with(&freeze("1")));
        assert!(!cg.is_frozen_with(&freeze("0")));
    }
}
