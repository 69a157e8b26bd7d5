//! Seccomp filters, built with `seccompiler` before the container is
//! started and installed last, right before exec:
//! - the default filter: a deny list of calls a container has no business
//!   making (kernel modules, kexec, keyrings, namespaces, mounts, ptrace,
//!   clock setting), answered with EPERM;
//! - a `linux.seccomp` profile of the spec ([`profile_filter`]).
//!
//! seccompiler builds a filter with one action for every rule, while a
//! profile gives each syscall entry its own action. So each run of
//! consecutive entries with the same action becomes one seccompiler filter
//! whose "no match" return is turned into a jump to the next run, and the
//! profile's default action ends the program: the first entry that matches
//! decides, in the profile's order. Both filters kill calls of other
//! architectures and, on x86_64, of the x32 ABI.

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use tracing::{debug, warn};

/// The filter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp filter for {arch}: {message}")]
    Build { arch: &'static str, message: String },
    #[error("seccomp is not supported on this architecture")]
    Arch,
    /// The profile asks for something we cannot do; names the field.
    #[error("field `{field}`: {message}")]
    Profile { field: String, message: String },
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
    let mut program = x32_guard();
    program.extend(BpfProgram::try_from(filter).map_err(build)?);
    Ok(program)
}

/// On x86_64, x32 calls come with the x86_64 audit arch and their number
/// ORed with `__X32_SYSCALL_BIT`, so a filter matching x86_64 numbers would
/// let them through; kill them, as libseccomp does when x32 is not
/// filtered. Empty elsewhere.
fn x32_guard() -> Vec<sock_filter> {
    if !cfg!(target_arch = "x86_64") {
        return Vec::new();
    }
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    vec![
        // A = seccomp_data.nr
        sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        // if A >= X32_SYSCALL_BIT fall through to the kill, else skip it
        sock_filter {
            code: 0x35,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
    ]
}

/// Highest argument index a seccomp rule can look at (six arguments).
const MAX_ARG_INDEX: usize = 5;
/// Kernel limit on a classic BPF program (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
// linux/bpf_common.h
const BPF_JMP_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;

fn profile_error(field: impl Into<String>, message: impl Into<String>) -> SeccompError {
    SeccompError::Profile {
        field: field.into(),
        message: message.into(),
    }
}

/// runtime-spec `LinuxSeccompAction` (libseccomp names) as seccompiler's.
fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
    errno_field: &str,
) -> Result<SeccompAction, SeccompError> {
    use LinuxSeccompAction as A;
    let eperm = libc::EPERM as u32;
    if errno_ret.is_some() && !matches!(act, A::ScmpActErrno | A::ScmpActTrace) {
        return Err(profile_error(
            errno_field,
            format!("only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return code, not {act}"),
        ));
    }
    if let Some(e) = errno_ret.filter(|e| *e > 0xffff) {
        return Err(profile_error(
            errno_field,
            format!("{e} does not fit the 16 bits seccomp returns"),
        ));
    }
    Ok(match act {
        // libseccomp's SCMP_ACT_KILL is SECCOMP_RET_KILL_THREAD.
        A::ScmpActKill | A::ScmpActKillThread => SeccompAction::KillThread,
        A::ScmpActKillProcess => SeccompAction::KillProcess,
        A::ScmpActTrap => SeccompAction::Trap,
        A::ScmpActErrno => SeccompAction::Errno(errno_ret.unwrap_or(eperm)),
        A::ScmpActTrace => SeccompAction::Trace(errno_ret.unwrap_or(eperm)),
        A::ScmpActLog => SeccompAction::Log,
        A::ScmpActAllow => SeccompAction::Allow,
        A::ScmpActNotify => {
            return Err(profile_error(
                field,
                "SCMP_ACT_NOTIFY needs a seccomp agent, which fv does not support",
            ))
        }
    })
}

fn host_arch_name() -> Arch {
    if cfg!(target_arch = "x86_64") {
        Arch::ScmpArchX86_64
    } else if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else {
        Arch::ScmpArchRiscv64
    }
}

/// One profile entry's argument checks as seccompiler rules (any of which
/// matching means the entry matches). As runc does: the checks are ANDed,
/// unless an argument index repeats, then each check is a rule of its own.
fn rules_of(
    args: &[oci_spec::runtime::LinuxSeccompArg],
    field: &str,
) -> Result<Vec<SeccompRule>, SeccompError> {
    let mut conds = Vec::with_capacity(args.len());
    for (j, a) in args.iter().enumerate() {
        let index = u8::try_from(a.index())
            .ok()
            .filter(|i| usize::from(*i) <= MAX_ARG_INDEX)
            .ok_or_else(|| {
                profile_error(
                    format!("{field}.args[{j}].index"),
                    format!(
                        "{} is not an argument index (0..={MAX_ARG_INDEX})",
                        a.index()
                    ),
                )
            })?;
        let (op, value) = match a.op() {
            LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, a.value()),
            LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, a.value()),
            LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, a.value()),
            LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, a.value()),
            LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, a.value()),
            LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, a.value()),
            // libseccomp: `value` is the mask, `valueTwo` what the masked
            // argument must equal.
            LinuxSeccompOperator::ScmpCmpMaskedEq => (
                SeccompCmpOp::MaskedEq(a.value()),
                a.value_two().unwrap_or(0),
            ),
        };
        let c = SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
            .map_err(|e| profile_error(format!("{field}.args[{j}]"), e.to_string()))?;
        conds.push((index, c));
    }
    let mut seen = [false; MAX_ARG_INDEX + 1];
    let repeats = conds
        .iter()
        .any(|(i, _)| std::mem::replace(&mut seen[usize::from(*i)], true));
    let rule = |c: Vec<SeccompCondition>| {
        SeccompRule::new(c).map_err(|e| profile_error(format!("{field}.args"), e.to_string()))
    };
    if repeats {
        conds.into_iter().map(|(_, c)| rule(vec![c])).collect()
    } else {
        Ok(vec![rule(conds.into_iter().map(|(_, c)| c).collect())?])
    }
}

/// Syscalls of one run of same-action entries: number to rules, `None`
/// when the call matches whatever its arguments.
type Run = (SeccompAction, BTreeMap<i64, Option<Vec<SeccompRule>>>);

/// The BPF program for a `linux.seccomp` profile (runtime-spec
/// "Seccomp"). Syscall names unknown on this architecture are skipped, as
/// libseccomp does (profiles name calls of every architecture); the filter
/// checks the host architecture only, and calls made through another ABI
/// (for instance 32-bit x86 ones) are killed.
pub fn profile_filter(profile: &LinuxSeccomp) -> Result<BpfProgram, SeccompError> {
    let (target, arch_name) = arch()?;
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    let host = host_arch_name();
    for a in profile.architectures().iter().flatten() {
        if *a != host && *a != Arch::ScmpArchNative {
            debug!("linux.seccomp.architectures: {a} is not filtered; its calls are killed");
        }
    }
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        warn!("linux.seccomp.flags are ignored");
    }
    let mut runs: Vec<Run> = Vec::new();
    for (i, entry) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(
            entry.action(),
            entry.errno_ret(),
            &format!("{field}.action"),
            &format!("{field}.errnoRet"),
        )?;
        let rules = match entry.args().as_deref() {
            Some(args) if !args.is_empty() => Some(rules_of(args, &field)?),
            _ => None,
        };
        // As runc: an entry that does what the default does adds nothing
        // (and would make seccompiler refuse equal actions).
        if act == default {
            continue;
        }
        if runs.last().is_none_or(|(a, _)| *a != act) {
            runs.push((act, BTreeMap::new()));
        }
        let Some((_, calls)) = runs.last_mut() else {
            continue;
        };
        for name in entry.names() {
            let Ok(nr) = syscalls::Sysno::from_str(name) else {
                debug!("{field}.names: no syscall {name:?} on {arch_name}, skipped");
                continue;
            };
            let slot = calls
                .entry(nr.id() as i64)
                .or_insert_with(|| Some(Vec::new()));
            match (slot.as_mut(), &rules) {
                (Some(have), Some(more)) => have.extend(more.iter().cloned()),
                // An unconditional entry matches every call.
                (_, None) => *slot = None,
                (None, Some(_)) => {}
            }
        }
    }
    let build = |e: seccompiler::BackendError| SeccompError::Build {
        arch: arch_name,
        message: e.to_string(),
    };
    let mut program = x32_guard();
    for (act, calls) in runs.into_iter().filter(|(_, c)| !c.is_empty()) {
        // A return value that stands for "no match": unlike `act`.
        let next = [SeccompAction::Trace(0xfffe), SeccompAction::Trace(0xffff)]
            .into_iter()
            .find(|a| *a != act)
            .unwrap_or(SeccompAction::Trace(0xfffe));
        let next_ret = u32::from(next.clone());
        let rules = calls
            .into_iter()
            .map(|(nr, r)| (nr, r.unwrap_or_default()))
            .collect();
        let filter = SeccompFilter::new(rules, next, act, target).map_err(build)?;
        let mut part = BpfProgram::try_from(filter).map_err(build)?;
        let len = part.len();
        for (pc, ins) in part.iter_mut().enumerate() {
            if ins.code == BPF_RET_K && ins.k == next_ret {
                // Jump to the first instruction after this part.
                *ins = sock_filter {
                    code: BPF_JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: (len - pc - 1) as u32,
                };
            }
        }
        program.extend(part);
    }
    // The architecture check and the default action.
    let other = if default == SeccompAction::Allow {
        SeccompAction::KillProcess
    } else {
        SeccompAction::Allow
    };
    let tail = SeccompFilter::new(BTreeMap::new(), default, other, target).map_err(build)?;
    program.extend(BpfProgram::try_from(tail).map_err(build)?);
    if program.len() > MAX_INSNS {
        return Err(SeccompError::Build {
            arch: arch_name,
            message: format!(
                "linux.seccomp: the filter needs {} BPF instructions, the kernel takes {MAX_INSNS}",
                program.len()
            ),
        });
    }
    Ok(program)
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

#[cfg(test)]
mod profile_tests {
    use super::*;

    /// A classic-BPF interpreter for what seccompiler emits, so the
    /// translation is checked by running it, not by reading opcodes.
    fn eval(prog: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&(nr as i32).to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let ins = &prog[pc];
            pc += 1;
            match ins.code {
                0x20 => {
                    let o = ins.k as usize;
                    acc = u32::from_ne_bytes(data[o..o + 4].try_into().expect("word"));
                }
                0x54 => acc &= ins.k,
                0x05 => pc += ins.k as usize,
                0x15 | 0x25 | 0x35 => {
                    let taken = match ins.code {
                        0x15 => acc == ins.k,
                        0x25 => acc > ins.k,
                        _ => acc >= ins.k,
                    };
                    pc += usize::from(if taken { ins.jt } else { ins.jf });
                }
                0x06 => return ins.k,
                c => panic!("unexpected BPF opcode {c:#x} at {}", pc - 1),
            }
        }
    }

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("profile json")
    }

    fn host_audit_arch() -> u32 {
        if cfg!(target_arch = "x86_64") {
            0xc000_003e
        } else if cfg!(target_arch = "aarch64") {
            0xc000_00b7
        } else {
            0xc000_00f3
        }
    }

    fn run(prog: &[sock_filter], name: &str, args: [u64; 6]) -> u32 {
        let nr = syscalls::Sysno::from_str(name).expect("known syscall").id() as i64;
        eval(prog, host_audit_arch(), nr, args)
    }

    const ALLOW: u32 = 0x7fff_0000;
    fn errno(e: i32) -> u32 {
        0x0005_0000 | e as u32
    }

    #[test]
    fn deny_list_with_errno_and_unknown_names() {
        let prog = profile_filter(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64"],
                "syscalls":[
                  {"names":["mkdirat","no_such_call_xyz"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                  {"names":["fchmodat"],"action":"SCMP_ACT_ERRNO"},
                  {"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
                  {"names":["reboot"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        ))
        .expect("filter");
        assert_eq!(run(&prog, "mkdirat", [0; 6]), errno(libc::EACCES));
        assert_eq!(run(&prog, "fchmodat", [0; 6]), errno(libc::EPERM));
        assert_eq!(run(&prog, "reboot", [0; 6]), 0x8000_0000);
        for ok in ["read", "write", "getpid", "openat"] {
            assert_eq!(run(&prog, ok, [0; 6]), ALLOW, "{ok}");
        }
        // Another architecture's calls are killed.
        assert_eq!(eval(&prog, 0x4000_0003, 0, [0; 6]), 0x8000_0000);
        if cfg!(target_arch = "x86_64") {
            // x32's mkdirat does not slip past the x86_64 numbers.
            let x32_mkdirat = 0x4000_0000 + 258;
            assert_eq!(
                eval(&prog, host_audit_arch(), x32_mkdirat, [0; 6]),
                0x8000_0000
            );
            let default = default_filter().expect("default filter");
            assert_eq!(
                eval(&default, host_audit_arch(), 0x4000_00a5, [0; 6]),
                0x8000_0000
            );
            assert_eq!(run(&default, "mount", [0; 6]), errno(libc::EPERM));
            assert_eq!(run(&default, "read", [0; 6]), ALLOW);
        }
    }

    #[test]
    fn allow_list_with_default_errno_and_arguments() {
        let prog = profile_filter(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
                "syscalls":[
                  {"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"},
                  {"names":["personality"],"action":"SCMP_ACT_ALLOW",
                   "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                  {"names":["personality"],"action":"SCMP_ACT_ALLOW",
                   "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]},
                  {"names":["clone"],"action":"SCMP_ACT_ALLOW",
                   "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
                  {"names":["socket"],"action":"SCMP_ACT_ALLOW",
                   "args":[{"index":0,"value":40,"op":"SCMP_CMP_NE"},{"index":1,"value":3,"op":"SCMP_CMP_LE"}]},
                  {"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":1,
                   "args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"},{"index":1,"value":15,"op":"SCMP_CMP_EQ"}]},
                  {"names":["kill"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .expect("filter");
        let enosys = errno(libc::ENOSYS);
        assert_eq!(run(&prog, "read", [0; 6]), ALLOW);
        assert_eq!(run(&prog, "mkdirat", [0; 6]), enosys);
        assert_eq!(run(&prog, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            run(&prog, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(run(&prog, "personality", [9, 0, 0, 0, 0, 0]), enosys);
        // clone without namespace flags is allowed, CLONE_NEWUSER is not.
        assert_eq!(run(&prog, "clone", [0x11, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&prog, "clone", [0x1000_0011, 0, 0, 0, 0, 0]), enosys);
        // Both checks of one entry must hold.
        assert_eq!(run(&prog, "socket", [2, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&prog, "socket", [40, 1, 0, 0, 0, 0]), enosys);
        assert_eq!(run(&prog, "socket", [2, 5, 0, 0, 0, 0]), enosys);
        // A repeated index ORs the checks; the first matching entry wins.
        assert_eq!(run(&prog, "kill", [1, 9, 0, 0, 0, 0]), errno(libc::EPERM));
        assert_eq!(run(&prog, "kill", [1, 15, 0, 0, 0, 0]), errno(libc::EPERM));
        assert_eq!(run(&prog, "kill", [1, 10, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn other_actions_translate() {
        let prog = profile_filter(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                  {"names":["mkdirat"],"action":"SCMP_ACT_KILL"},
                  {"names":["unlinkat"],"action":"SCMP_ACT_KILL_THREAD"},
                  {"names":["fchownat"],"action":"SCMP_ACT_TRAP"},
                  {"names":["getpid"],"action":"SCMP_ACT_LOG"},
                  {"names":["getppid"],"action":"SCMP_ACT_TRACE","errnoRet":7}]}"#,
        ))
        .expect("filter");
        assert_eq!(run(&prog, "mkdirat", [0; 6]), 0);
        assert_eq!(run(&prog, "unlinkat", [0; 6]), 0);
        assert_eq!(run(&prog, "fchownat", [0; 6]), 0x0003_0000);
        assert_eq!(run(&prog, "getpid", [0; 6]), 0x7ffc_0000);
        assert_eq!(run(&prog, "getppid", [0; 6]), 0x7ff0_0007);
        assert_eq!(run(&prog, "read", [0; 6]), ALLOW);
    }

    fn error_of(json: &str) -> String {
        match profile_filter(&profile(json)) {
            Ok(_) => panic!("profile accepted: {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"},
                {"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(e.contains("linux.seccomp.syscalls[1].args[0].index"), "{e}");
        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(e.contains("linux.seccomp.syscalls[0].action"), "{e}");
        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}"#,
        );
        assert!(e.contains("linux.seccomp.syscalls[0].errnoRet"), "{e}");
        let e = error_of(r#"{"defaultAction":"SCMP_ACT_KILL","defaultErrnoRet":1}"#);
        assert!(e.contains("linux.seccomp.defaultErrnoRet"), "{e}");
    }

    #[test]
    fn no_rules_is_arch_check_and_default() {
        let prog = profile_filter(&profile(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#)).expect("f");
        assert_eq!(run(&prog, "read", [0; 6]), errno(libc::EPERM));
        assert_eq!(eval(&prog, 0x4000_0003, 0, [0; 6]), 0x8000_0000);
    }
}
