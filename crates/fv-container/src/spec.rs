//! OCI bundles: `config.json` (runtime-spec 1.x) read with `oci-spec` and
//! checked before anything is created, so a bad bundle leaves nothing behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// A bundle that cannot be used; names the file and the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: field `{field}`: {message}")]
    Json {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A bundle directory with its parsed and validated `config.json`.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `DIR/config.json` and validates it.
    pub fn load(dir: &Path) -> Result<Bundle, SpecError> {
        let dir = std::path::absolute(dir).map_err(|source| SpecError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        let spec = parse(&path, &text)?;
        let rootfs = validate(&path, &dir, &spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parses `config.json` text; errors carry the JSON path of the bad field.
pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        SpecError::Json {
            path: path.to_path_buf(),
            field: if field == "." {
                "(document)".into()
            } else {
                field
            },
            message: e.into_inner().to_string(),
        }
    })
}

fn invalid(path: &Path, field: &str, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        path: path.to_path_buf(),
        field: field.into(),
        message: message.into(),
    }
}

/// Checks what the runtime spec requires and what serde cannot; returns
/// the absolute rootfs path.
pub fn validate(path: &Path, bundle: &Path, spec: &Spec) -> Result<PathBuf, SpecError> {
    if !spec.version().starts_with("1.") {
        return Err(invalid(
            path,
            "ociVersion",
            format!("unsupported version {:?}, expected 1.x", spec.version()),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid(path, "root", "missing"))?;
    let rootfs = bundle.join(root.path());
    if !rootfs.is_dir() {
        return Err(invalid(
            path,
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid(path, "process", "missing"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid(path, "process.args", "must name a program"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            path,
            "process.cwd",
            format!("{} is not absolute", process.cwd().display()),
        ));
    }
    for (i, e) in process.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return Err(invalid(
                path,
                &format!("process.env[{i}]"),
                format!("{e:?} is not KEY=VALUE"),
            ));
        }
    }
    if let Some(mounts) = spec.mounts() {
        for (i, m) in mounts.iter().enumerate() {
            if !m.destination().is_absolute() {
                return Err(invalid(
                    path,
                    &format!("mounts[{i}].destination"),
                    format!("{} is not absolute", m.destination().display()),
                ));
            }
        }
    }
    let linux = spec.linux().as_ref();
    let mut kinds = HashSet::new();
    for (i, ns) in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !kinds.insert(ns.typ()) {
            return Err(invalid(
                path,
                &format!("linux.namespaces[{i}].type"),
                format!("namespace {} listed twice", ns.typ()),
            ));
        }
        if ns.typ() == LinuxNamespaceType::Time {
            return Err(invalid(
                path,
                &format!("linux.namespaces[{i}].type"),
                "time namespaces are not supported",
            ));
        }
        if let Some(p) = ns.path() {
            if matches!(ns.typ(), LinuxNamespaceType::User | LinuxNamespaceType::Pid) {
                return Err(invalid(
                    path,
                    &format!("linux.namespaces[{i}].path"),
                    "joining an existing user or pid namespace is not supported yet",
                ));
            }
            if !p.exists() {
                return Err(invalid(
                    path,
                    &format!("linux.namespaces[{i}].path"),
                    format!("{} does not exist", p.display()),
                ));
            }
        }
    }
    if !kinds.contains(&LinuxNamespaceType::Mount) {
        return Err(invalid(
            path,
            "linux.namespaces",
            "a mount namespace is required (pivot_root needs one)",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !kinds.contains(&LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            path,
            "hostname",
            "setting a hostname needs a uts namespace",
        ));
    }
    let has_maps = linux.is_some_and(|l| {
        l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty())
    });
    if has_maps && !kinds.contains(&LinuxNamespaceType::User) {
        return Err(invalid(
            path,
            "linux.uidMappings",
            "id mappings need a user namespace",
        ));
    }
    if kinds.contains(&LinuxNamespaceType::User) && !has_maps {
        return Err(invalid(
            path,
            "linux.uidMappings",
            "a user namespace needs uid and gid mappings",
        ));
    }
    if let Some(res) = linux.and_then(|l| l.resources().as_ref()) {
        if let Some(mem) = res.memory() {
            for (field, v) in [
                ("limit", mem.limit()),
                ("reservation", mem.reservation()),
                ("swap", mem.swap()),
            ] {
                if let Some(v) = v {
                    if v < -1 || v == 0 {
                        return Err(invalid(
                            path,
                            &format!("linux.resources.memory.{field}"),
                            format!("{v} is not a byte count (positive, or -1 for unlimited)"),
                        ));
                    }
                }
            }
            if let (Some(l), Some(s)) = (mem.limit(), mem.swap()) {
                if s != -1 && l != -1 && s < l {
                    return Err(invalid(
                        path,
                        "linux.resources.memory.swap",
                        format!("{s} is below memory.limit {l} (swap counts memory plus swap)"),
                    ));
                }
            }
            if mem.swappiness().is_some_and(|s| s > 100) {
                return Err(invalid(
                    path,
                    "linux.resources.memory.swappiness",
                    "must be 0..=100",
                ));
            }
        }
        if let Some(cpu) = res.cpu() {
            if let Some(q) = cpu.quota() {
                if q == 0 || q < -1 {
                    return Err(invalid(
                        path,
                        "linux.resources.cpu.quota",
                        format!("{q} is not a quota (positive microseconds, or -1)"),
                    ));
                }
            }
            if let Some(p) = cpu.period() {
                if !(1000..=1_000_000).contains(&p) {
                    return Err(invalid(
                        path,
                        "linux.resources.cpu.period",
                        format!("{p} is outside 1000..=1000000 microseconds"),
                    ));
                }
            }
            if let Some(s) = cpu.shares() {
                if !(2..=262_144).contains(&s) {
                    return Err(invalid(
                        path,
                        "linux.resources.cpu.shares",
                        format!("{s} is outside 2..=262144"),
                    ));
                }
            }
        }
        if let Some(p) = res.pids() {
            if p.limit() == 0 || p.limit() < -1 {
                return Err(invalid(
                    path,
                    "linux.resources.pids.limit",
                    format!("{} is not a limit (positive, or -1)", p.limit()),
                ));
            }
        }
        if let Some(b) = res.block_io() {
            if let Some(w) = b.weight() {
                if !(10..=1000).contains(&w) {
                    return Err(invalid(
                        path,
                        "linux.resources.blockIO.weight",
                        format!("{w} is outside 10..=1000"),
                    ));
                }
            }
        }
    }
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_ref()) {
        if crate::rootfs::propagation_flags(p).is_none() {
            return Err(invalid(
                path,
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            ));
        }
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
        "ociVersion": "1.0.2",
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs"},
        "hostname": "box",
        "linux": {"namespaces": [{"type": "pid"}, {"type": "uts"}, {"type": "mount"}],
                  "resources": {"memory": {"limit": 1048576}, "pids": {"limit": 10}}}
    }"#;

    fn bundle_with(config: &str) -> (tempfile::TempDir, Result<Bundle, SpecError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs dir");
        std::fs::write(dir.path().join("config.json"), config).expect("write config");
        let b = Bundle::load(dir.path());
        (dir, b)
    }

    fn err_of(config: &str) -> String {
        match bundle_with(config).1 {
            Ok(_) => panic!("config accepted: {config}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn good_bundle_loads() {
        let (dir, b) = bundle_with(GOOD);
        let b = b.expect("valid bundle");
        assert_eq!(b.rootfs, dir.path().join("rootfs"));
        assert_eq!(b.spec.hostname().as_deref(), Some("box"));
    }

    #[test]
    fn bad_json_names_the_file() {
        let e = err_of("{ not json");
        assert!(e.contains("config.json"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = err_of(&GOOD.replace(r#""limit": 1048576"#, r#""limit": "lots""#));
        assert!(e.contains("linux.resources.memory.limit"), "{e}");
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let e = err_of(&GOOD.replace(r#"{"type": "uts"}"#, r#"{"type": "bogus"}"#));
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn invalid_limits_name_the_field() {
        let e = err_of(&GOOD.replace(r#""limit": 1048576"#, r#""limit": 0"#));
        assert!(e.contains("linux.resources.memory.limit"), "{e}");
        let e = err_of(&GOOD.replace(r#""pids": {"limit": 10}"#, r#""pids": {"limit": -5}"#));
        assert!(e.contains("linux.resources.pids.limit"), "{e}");
    }

    #[test]
    fn missing_rootfs_is_named() {
        let e = err_of(&GOOD.replace(r#""path": "rootfs""#, r#""path": "nope""#));
        assert!(e.contains("root.path") && e.contains("nope"), "{e}");
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let e = err_of(&GOOD.replace(r#"{"type": "uts"}, "#, ""));
        assert!(e.contains("`hostname`"), "{e}");
    }

    #[test]
    fn duplicate_namespace_is_refused() {
        let e = err_of(&GOOD.replace(r#"{"type": "uts"}"#, r#"{"type": "pid"}"#));
        assert!(
            e.contains("linux.namespaces[1].type") && e.contains("twice"),
            "{e}"
        );
    }

    #[test]
    fn mount_namespace_is_required() {
        let e = err_of(&GOOD.replace(r#", {"type": "mount"}"#, ""));
        assert!(e.contains("linux.namespaces") && e.contains("mount"), "{e}");
    }

    #[test]
    fn user_namespace_needs_maps() {
        let e = err_of(&GOOD.replace(r#"{"type": "pid"}"#, r#"{"type": "user"}"#));
        assert!(e.contains("linux.uidMappings"), "{e}");
    }
}

/// A starting `config.json` (what `runc spec` gives): rootfs `rootfs`,
/// namespaces pid, network, ipc, uts, mount, the standard mounts, the
/// default capability set, runc's masked and read-only paths.
pub fn template(args: &[String]) -> Spec {
    use oci_spec::runtime::{
        Capabilities, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, RootBuilder,
    };
    let mut spec = Spec::default();
    spec.set_version("1.0.2".into());
    spec.set_hostname(Some("container".into()));
    let caps: Capabilities = crate::caps::DEFAULT_CAPS
        .iter()
        .filter_map(|n| serde_json::from_value(serde_json::Value::String((*n).into())).ok())
        .collect();
    if let Some(mut p) = spec.process().clone() {
        p.set_args(Some(args.to_vec()));
        p.set_capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps)
                .inheritable(Capabilities::new())
                .ambient(Capabilities::new())
                .build()
                .ok(),
        );
        spec.set_process(Some(p));
    }
    spec.set_root(
        RootBuilder::default()
            .path("rootfs")
            .readonly(false)
            .build()
            .ok(),
    );
    if let Some(mut l) = spec.linux().clone() {
        let ns = [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
        ]
        .into_iter()
        .filter_map(|t| LinuxNamespaceBuilder::default().typ(t).build().ok())
        .collect();
        l.set_namespaces(Some(ns));
        // No device but the defaults every container keeps (as runc's
        // template): without this rule a container with CAP_MKNOD could
        // make and open the host's disks.
        let deny_all = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .ok();
        let mut res = l.resources().clone().unwrap_or_default();
        res.set_devices(deny_all.map(|d| vec![d]));
        l.set_resources(Some(res));
        spec.set_linux(Some(l));
    }
    spec
}

/// Writes `spec` as `DIR/config.json`.
pub fn write(dir: &Path, spec: &Spec) -> Result<(), SpecError> {
    let path = dir.join("config.json");
    let text = serde_json::to_string_pretty(spec).map_err(|e| SpecError::Write {
        path: path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&path, text).map_err(|source| SpecError::Write { path, source })
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn template_validates_and_drops_admin_caps() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
        write(dir.path(), &template(&["sh".into()])).expect("write");
        let b = Bundle::load(dir.path()).expect("template is valid");
        let caps = crate::caps::CapabilitySets::from_spec(
            b.spec
                .process()
                .as_ref()
                .and_then(|p| p.capabilities().as_ref()),
        );
        assert_eq!(caps, crate::caps::default_sets());
        let ns = crate::namespaces::NamespacePlan::from_spec(&b.spec);
        assert!(ns.new_net() && !ns.has_new(nix::sched::CloneFlags::CLONE_NEWUSER));
    }
}
