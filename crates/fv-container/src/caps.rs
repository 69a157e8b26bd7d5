//! Capability sets: from the spec's names to the kernel's bit masks.

use oci_spec::runtime::{Capability, LinuxCapabilities};

/// Linux capability numbers (include/uapi/linux/capability.h), by the name
/// the OCI spec uses.
const CAPS: &[(&str, u32)] = &[
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// The set a container gets unless told otherwise (the one Docker and
/// podman hand out): no CAP_SYS_ADMIN (mount), no CAP_NET_ADMIN (links).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The five capability sets as kernel bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The kernel number of a capability as the spec names it (`CAP_CHOWN`).
pub fn number(name: &str) -> Option<u32> {
    CAPS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn cap_number(cap: &Capability) -> Option<u32> {
    // The spec's JSON name is the serde name; go through it rather than
    // keeping a second table keyed by the Rust enum.
    let name = serde_json::to_value(cap).ok()?;
    number(name.as_str()?)
}

fn mask(caps: Option<&oci_spec::runtime::Capabilities>) -> u64 {
    caps.map(|set| {
        set.iter()
            .filter_map(cap_number)
            .filter(|n| *n < 64)
            .fold(0u64, |m, n| m | (1 << n))
    })
    .unwrap_or(0)
}

/// Masks for the default set, in every set but ambient.
pub fn default_sets() -> CapabilitySets {
    let m = DEFAULT_CAPS
        .iter()
        .filter_map(|n| number(n))
        .fold(0u64, |m, n| m | (1 << n));
    CapabilitySets {
        bounding: m,
        effective: m,
        permitted: m,
        inheritable: 0,
        ambient: 0,
    }
}

impl CapabilitySets {
    /// The sets a spec's `process.capabilities` asks for; absent means none
    /// (runtime-spec: a missing set is empty).
    pub fn from_spec(caps: Option<&LinuxCapabilities>) -> Self {
        let Some(c) = caps else {
            return CapabilitySets::default();
        };
        CapabilitySets {
            bounding: mask(c.bounding().as_ref()),
            effective: mask(c.effective().as_ref()),
            permitted: mask(c.permitted().as_ref()),
            inheritable: mask(c.inheritable().as_ref()),
            ambient: mask(c.ambient().as_ref()),
        }
    }
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_lacks_sys_admin_and_net_admin() {
        let d = default_sets();
        assert_eq!(d.bounding.count_ones(), 14);
        assert_eq!(d.bounding & (1 << 21), 0, "CAP_SYS_ADMIN");
        assert_eq!(d.bounding & (1 << 12), 0, "CAP_NET_ADMIN");
        assert_ne!(d.bounding & (1 << 0), 0, "CAP_CHOWN");
    }

    #[test]
    fn spec_sets_map_to_kernel_bits() {
        let json = r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"],"effective":["CAP_KILL"],"ambient":["CAP_BPF"]}"#;
        let caps: LinuxCapabilities = serde_json::from_str(json).expect("valid capabilities");
        let s = CapabilitySets::from_spec(Some(&caps));
        assert_eq!(s.bounding, (1 << 5) | (1 << 10));
        assert_eq!(s.effective, 1 << 5);
        assert_eq!(s.permitted, 0);
        assert_eq!(s.ambient, 1 << 39);
    }
}
