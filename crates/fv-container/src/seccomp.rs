//! The default seccomp filter: a deny list of calls a container has no
//! business making (kernel modules, kexec, keyrings, namespaces, mounts,
//! ptrace, clock setting), answered with EPERM. Built with `seccompiler`
//! before the container is started; installed last, right before exec.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// The filter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp filter for {arch}: {message}")]
    Build { arch: &'static str, message: String },
    #[error("seccomp is not supported on this architecture")]
    Arch,
}

macro_rules! sys {
    ($($name:ident),* $(,)?) => { &[$((stringify!($name), libc::$name as i64)),*] };
}

/// Denied everywhere.
const DENIED: &[(&str, i64)] = sys![
    SYS_acct,
    SYS_add_key,
    SYS_bpf,
    SYS_clock_adjtime,
    SYS_clock_settime,
    SYS_delete_module,
    SYS_finit_module,
    SYS_init_module,
    SYS_kcmp,
    SYS_kexec_file_load,
    SYS_kexec_load,
    SYS_keyctl,
    SYS_lookup_dcookie,
    SYS_mount,
    SYS_move_mount,
    SYS_fsopen,
    SYS_fsmount,
    SYS_fsconfig,
    SYS_open_tree,
    SYS_name_to_handle_at,
    SYS_open_by_handle_at,
    SYS_perf_event_open,
    SYS_pivot_root,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_ptrace,
    SYS_quotactl,
    SYS_reboot,
    SYS_request_key,
    SYS_setns,
    SYS_settimeofday,
    SYS_swapon,
    SYS_swapoff,
    SYS_umount2,
    SYS_unshare,
    SYS_userfaultfd,
];

#[cfg(target_arch = "x86_64")]
const DENIED_ARCH: &[(&str, i64)] = sys![
    SYS_ioperm,
    SYS_iopl,
    SYS_uselib,
    SYS_ustat,
    SYS_sysfs,
    SYS__sysctl,
    SYS_nfsservctl,
];
#[cfg(not(target_arch = "x86_64"))]
const DENIED_ARCH: &[(&str, i64)] = &[];

fn arch() -> Result<(TargetArch, &'static str), SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok((TargetArch::x86_64, "x86_64"))
    } else if cfg!(target_arch = "aarch64") {
        Ok((TargetArch::aarch64, "aarch64"))
    } else if cfg!(target_arch = "riscv64") {
        Ok((TargetArch::riscv64, "riscv64"))
    } else {
        Err(SeccompError::Arch)
    }
}

/// Names of the denied calls (for logs and tests).
pub fn denied_names() -> Vec<&'static str> {
    DENIED
        .iter()
        .chain(DENIED_ARCH)
        .map(|(n, _)| n.trim_start_matches("SYS_"))
        .collect()
}

/// The default filter as a BPF program.
pub fn default_filter() -> Result<BpfProgram, SeccompError> {
    let (target, name) = arch()?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = DENIED
        .iter()
        .chain(DENIED_ARCH)
        .map(|(_, nr)| (*nr, Vec::new()))
        .collect();
    let build = |e: seccompiler::BackendError| SeccompError::Build {
        arch: name,
        message: e.to_string(),
    };
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        target,
    )
    .map_err(build)?;
    BpfProgram::try_from(filter).map_err(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_builds_and_denies_mount_and_unshare() {
        let prog = default_filter().expect("filter");
        assert!(
            prog.len() > DENIED.len(),
            "one jump per denied call at least"
        );
        let names = denied_names();
        for n in ["mount", "unshare", "kexec_load", "ptrace", "setns"] {
            assert!(names.contains(&n), "{n} denied");
        }
        assert!(!names.contains(&"read"));
    }
}
