//! Which namespaces a container gets: new ones (clone flags) and existing
//! ones to join (setns), from `linux.namespaces`.

use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

/// The namespace part of a container's setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePlan {
    /// Namespaces created by clone(2) for the init process. Never includes
    /// CLONE_NEWCGROUP: see `cgroup`.
    pub clone_flags: CloneFlags,
    /// A new cgroup namespace, unshared by init after it was put in its
    /// cgroup so that the cgroup becomes the namespace's root.
    pub cgroup: bool,
    /// Existing namespaces to join, in the order given.
    pub join: Vec<(PathBuf, CloneFlags)>,
    /// `/proc/PID/uid_map` and `gid_map` contents, if there is a user namespace.
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        NamespacePlan {
            clone_flags: CloneFlags::empty(),
            cgroup: false,
            join: Vec::new(),
            uid_map: None,
            gid_map: None,
        }
    }
}

pub fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // Refused by spec validation.
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

fn id_map(maps: Option<&Vec<LinuxIdMapping>>) -> Option<String> {
    let maps = maps.filter(|m| !m.is_empty())?;
    Some(
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect(),
    )
}

impl NamespacePlan {
    pub fn from_spec(spec: &Spec) -> NamespacePlan {
        let mut plan = NamespacePlan::default();
        let Some(linux) = spec.linux() else {
            return plan;
        };
        for ns in linux.namespaces().iter().flatten() {
            let f = flag(ns.typ());
            match ns.path() {
                Some(p) => plan.join.push((p.clone(), f)),
                None if f == CloneFlags::CLONE_NEWCGROUP => plan.cgroup = true,
                None => plan.clone_flags |= f,
            }
        }
        if plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER) {
            plan.uid_map = id_map(linux.uid_mappings().as_ref());
            plan.gid_map = id_map(linux.gid_mappings().as_ref());
        }
        plan
    }

    pub fn has_new(&self, f: CloneFlags) -> bool {
        self.clone_flags.contains(f)
    }

    /// Whether init runs in a network namespace of its own (so it should
    /// bring up loopback).
    pub fn new_net(&self) -> bool {
        self.has_new(CloneFlags::CLONE_NEWNET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_config() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{
                "namespaces":[{"type":"pid"},{"type":"network"},{"type":"cgroup"},
                              {"type":"ipc","path":"/proc/1/ns/ipc"},{"type":"user"}],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
                "gidMappings":[{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}]}}"#,
        )
        .expect("spec");
        let p = NamespacePlan::from_spec(&spec);
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUSER
        );
        assert!(p.cgroup);
        assert_eq!(
            p.join,
            vec![(PathBuf::from("/proc/1/ns/ipc"), CloneFlags::CLONE_NEWIPC)]
        );
        assert_eq!(p.uid_map.as_deref(), Some("0 1000 1\n"));
        assert_eq!(p.gid_map.as_deref(), Some("0 1000 1\n1 100000 65536\n"));
        assert!(p.new_net());
    }

    #[test]
    fn no_linux_section_means_no_namespaces() {
        let spec: Spec = serde_json::from_str(r#"{"ociVersion":"1.0.2"}"#).expect("spec");
        assert_eq!(NamespacePlan::from_spec(&spec), NamespacePlan::default());
    }
}
