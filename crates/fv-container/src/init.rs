//! What the container's init does between clone and exec, as a plan built
//! from the spec ([`InitConfig`]) and a sequence of [`Syscall`]s
//! ([`setup`]), so the order is unit-tested without root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;

use crate::caps::CapabilitySets;
use crate::namespaces::NamespacePlan;
use crate::rootfs::{MountPlan, Overlay, RootfsError};
use crate::spec::Bundle;
use crate::syscall::{Rlimit, Syscall, SyscallError};

/// Setting up the container failed; sent to the parent as text.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("process.rlimits: unknown rlimit {0}")]
    Rlimit(String),
    /// Worded as runc's, which podman and containerd map to exit 127.
    #[error("process.args[0]: {0:?}: executable file not found in $PATH (PATH={1})")]
    NotFound(String, String),
    #[error("process.cwd: {0}: {1}")]
    Cwd(PathBuf, String),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Syscall(#[from] SyscallError),
}

/// The container's process as the spec's `process` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: u32,
    pub caps: CapabilitySets,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    pub oom_score_adj: Option<i32>,
    /// Inherited fds the program keeps beyond stdio: 3..3+N (runc's
    /// `--preserve-fds`); every other one is closed at exec.
    pub preserve_fds: u32,
}

/// Everything init needs, computed before clone.
#[derive(Debug, Clone)]
pub struct InitConfig {
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub ns: NamespacePlan,
    pub mounts: MountPlan,
    pub process: ProcessConfig,
    pub sysctl: BTreeMap<String, String>,
}

const RLIMITS: &[(&str, i32)] = &[
    ("RLIMIT_CPU", libc::RLIMIT_CPU as i32),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE as i32),
    ("RLIMIT_DATA", libc::RLIMIT_DATA as i32),
    ("RLIMIT_STACK", libc::RLIMIT_STACK as i32),
    ("RLIMIT_CORE", libc::RLIMIT_CORE as i32),
    ("RLIMIT_RSS", libc::RLIMIT_RSS as i32),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC as i32),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE as i32),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK as i32),
    ("RLIMIT_AS", libc::RLIMIT_AS as i32),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS as i32),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING as i32),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE as i32),
    ("RLIMIT_NICE", libc::RLIMIT_NICE as i32),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO as i32),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME as i32),
];

/// `RLIMIT_NOFILE` for 7, for messages.
pub fn rlimit_name(resource: i32) -> &'static str {
    RLIMITS
        .iter()
        .find(|(_, v)| *v == resource)
        .map_or("RLIMIT_?", |(n, _)| n)
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ProcessConfig {
    pub fn from_spec(spec: &Spec) -> Result<ProcessConfig, InitError> {
        ProcessConfig::from_process(&spec.process().clone().unwrap_or_default())
    }

    /// From a runtime-spec `process` object (also what `exec --process`
    /// reads).
    pub fn from_process(p: &oci_spec::runtime::Process) -> Result<ProcessConfig, InitError> {
        let mut rlimits = Vec::new();
        for r in p.rlimits().iter().flatten() {
            let name = serde_json::to_value(r.typ())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let resource = RLIMITS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| InitError::Rlimit(name.clone()))?;
            rlimits.push(Rlimit {
                resource,
                soft: r.soft(),
                hard: r.hard(),
            });
        }
        Ok(ProcessConfig {
            args: p.args().clone().unwrap_or_default(),
            env: p.env().clone().unwrap_or_default(),
            cwd: p.cwd().clone(),
            uid: p.user().uid(),
            gid: p.user().gid(),
            additional_gids: p.user().additional_gids().clone().unwrap_or_default(),
            umask: p.user().umask().unwrap_or(0o022),
            caps: CapabilitySets::from_spec(p.capabilities().as_ref()),
            rlimits,
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            preserve_fds: 0,
        })
    }

    /// `PATH` from the container's environment.
    pub fn path_var(&self) -> &str {
        self.env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
    }
}

impl InitConfig {
    pub fn from_bundle(bundle: &Bundle, overlay: Option<Overlay>) -> Result<InitConfig, InitError> {
        let spec = &bundle.spec;
        let ns = NamespacePlan::from_spec(spec);
        let mounts = MountPlan::from_spec(
            spec,
            &bundle.dir,
            &bundle.rootfs,
            overlay,
            ns.has_new(CloneFlags::CLONE_NEWUSER),
        );
        Ok(InitConfig {
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            ns,
            mounts,
            process: ProcessConfig::from_spec(spec)?,
            sysctl: spec
                .linux()
                .as_ref()
                .and_then(|l| l.sysctl().clone())
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
        })
    }
}

/// Finds `name` the way execvp would, under the current root.
pub fn find_executable(name: &str, path_var: &str) -> Option<PathBuf> {
    let is_exec =
        |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file();
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exec(&p).then_some(p);
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| is_exec(p))
}

/// Init's setup, from "parent has mapped ids and placed us in the cgroup"
/// to "ready to exec": namespaces, hostname, root filesystem, sysctls,
/// rlimits, ids, capabilities. Returns the program to exec.
pub fn setup(cfg: &InitConfig, sys: &dyn Syscall) -> Result<PathBuf, InitError> {
    for (path, kind) in &cfg.ns.join {
        sys.setns(path, *kind)?;
    }
    if cfg.ns.cgroup {
        sys.unshare(CloneFlags::CLONE_NEWCGROUP)?;
    }
    if cfg.ns.has_new(CloneFlags::CLONE_NEWUSER) {
        // Become the namespace's root so the setup below is privileged there.
        sys.set_ids(0, 0, &[])?;
    }
    if let Some(h) = &cfg.hostname {
        sys.sethostname(h)?;
    }
    if let Some(d) = &cfg.domainname {
        sys.setdomainname(d)?;
    }
    cfg.mounts.apply_before_pivot(sys)?;
    if cfg.ns.new_net() {
        sys.link_up("lo")?;
    }
    // Before readonlyPaths makes /proc/sys read-only.
    for (key, value) in &cfg.sysctl {
        let file = Path::new("/proc/sys").join(key.replace('.', "/"));
        sys.write_file(&file, value)?;
    }
    if let Some(adj) = cfg.process.oom_score_adj {
        sys.write_file(Path::new("/proc/self/oom_score_adj"), &adj.to_string())?;
    }
    cfg.mounts.apply_after_pivot(sys)?;
    enter_process(&cfg.process, sys)
}

/// The process's own part of setup, shared by init and `exec`: rlimits,
/// the program's path, cwd, ids, capabilities, `no_new_privs`. Returns
/// the program to exec.
pub fn enter_process(p: &ProcessConfig, sys: &dyn Syscall) -> Result<PathBuf, InitError> {
    for r in &p.rlimits {
        sys.set_rlimit(*r)?;
    }
    let exe = find_executable(&p.args[0], p.path_var())
        .ok_or_else(|| InitError::NotFound(p.args[0].clone(), p.path_var().to_string()))?;
    sys.chdir(&p.cwd)
        .map_err(|e| InitError::Cwd(p.cwd.clone(), e.source.to_string()))?;
    // Bounding set first (needs CAP_SETPCAP), then ids keeping the
    // permitted set, then the final sets (capabilities(7)).
    sys.drop_bounding_caps(&p.caps)?;
    sys.set_keep_caps(true)?;
    sys.set_ids(p.uid, p.gid, &p.additional_gids)?;
    sys.set_keep_caps(false)?;
    sys.set_caps(&p.caps)?;
    if p.no_new_privs {
        sys.set_no_new_privs()?;
    }
    Ok(exe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

    fn bundle(extra_linux: &str) -> (tempfile::TempDir, Bundle) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
        let config = format!(
            r#"{{"ociVersion":"1.0.2","hostname":"box",
                "process":{{"args":["sh","-c","true"],"cwd":"/","env":["PATH=/bin:/usr/bin"],
                  "user":{{"uid":1000,"gid":100,"additionalGids":[5]}},"noNewPrivileges":true,
                  "capabilities":{{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}},
                  "rlimits":[{{"type":"RLIMIT_NOFILE","soft":64,"hard":128}}]}},
                "root":{{"path":"rootfs"}},
                "mounts":[{{"destination":"/proc","type":"proc","source":"proc"}}],
                "linux":{{"namespaces":[{{"type":"pid"}},{{"type":"uts"}},{{"type":"mount"}},{{"type":"network"}},{{"type":"cgroup"}}]
                         {extra_linux}}}}}"#
        );
        std::fs::write(dir.path().join("config.json"), config).expect("config");
        let b = Bundle::load(dir.path()).expect("bundle");
        (dir, b)
    }

    #[test]
    fn process_config_from_spec() {
        let (_d, b) = bundle("");
        let p = ProcessConfig::from_spec(&b.spec).expect("process");
        assert_eq!(p.uid, 1000);
        assert_eq!(p.additional_gids, vec![5]);
        assert_eq!(
            p.rlimits,
            vec![Rlimit {
                resource: libc::RLIMIT_NOFILE as i32,
                soft: 64,
                hard: 128
            }]
        );
        assert_eq!(p.caps.bounding, 1 << 5);
        assert!(p.no_new_privs);
        assert_eq!(p.path_var(), "/bin:/usr/bin");
    }

    #[test]
    fn setup_runs_in_order() {
        let (_d, b) = bundle(r#","sysctl":{"net.ipv4.ip_forward":"1"}"#);
        let cfg = InitConfig::from_bundle(&b, None).expect("config");
        let sys = RecordingSyscall::new();
        // The fake does not pivot, so `sh` is looked up on the host.
        let exe = setup(&cfg, &sys).expect("setup");
        assert!(exe.ends_with("sh"), "{}", exe.display());
        let calls = sys.calls();
        let pos = |pred: &dyn Fn(&Call) -> bool| calls.iter().position(pred).expect("call present");
        let cgroup_ns = pos(&|c| *c == Call::Unshare(CloneFlags::CLONE_NEWCGROUP));
        let hostname = pos(&|c| *c == Call::Sethostname("box".into()));
        let pivot = pos(&|c| matches!(c, Call::PivotRoot(..)));
        let lo = pos(&|c| *c == Call::LinkUp("lo".into()));
        let sysctl =
            pos(&|c| *c == Call::WriteFile("/proc/sys/net/ipv4/ip_forward".into(), "1".into()));
        let ro_proc_sys = calls.iter().position(
            |c| matches!(c, Call::Mount { target, .. } if target == Path::new("/proc/sys")),
        );
        let bounding = pos(&|c| *c == Call::DropBoundingCaps(1 << 5));
        let ids = pos(&|c| *c == Call::SetIds(1000, 100, vec![5]));
        let caps = pos(&|c| matches!(c, Call::SetCaps(_)));
        let nnp = pos(&|c| *c == Call::SetNoNewPrivs);
        assert!(cgroup_ns < hostname && hostname < pivot && pivot < lo && lo < sysctl);
        if let Some(ro) = ro_proc_sys {
            assert!(sysctl < ro);
        }
        assert!(sysctl < bounding && bounding < ids && ids < caps && caps < nnp);
        assert_eq!(calls[ids - 1], Call::SetKeepCaps(true));
        assert_eq!(calls[ids + 1], Call::SetKeepCaps(false));
    }

    #[test]
    fn missing_program_is_named() {
        let (_d, mut b) = bundle("");
        let mut p = b.spec.process().clone().expect("process");
        p.set_args(Some(vec!["no-such-program-xyz".into()]));
        b.spec.set_process(Some(p));
        let cfg = InitConfig::from_bundle(&b, None).expect("config");
        let e = setup(&cfg, &RecordingSyscall::new()).expect_err("not found");
        assert!(e.to_string().contains("no-such-program-xyz"), "{e}");
    }

    #[test]
    fn failing_mount_stops_setup() {
        let (_d, b) = bundle("");
        let cfg = InitConfig::from_bundle(&b, None).expect("config");
        let sys = RecordingSyscall::new();
        sys.fail_when(|c| matches!(c, Call::PivotRoot(..)), libc::EINVAL);
        let e = setup(&cfg, &sys).expect_err("pivot fails");
        assert!(e.to_string().contains("pivot_root"), "{e}");
        assert!(!sys.calls().iter().any(|c| matches!(c, Call::SetIds(..))));
    }
}
