//! `--net bridge`: a veth pair per container, the host end in the `fv0`
//! bridge (10.77.0.1/24, created on first use), the container end renamed
//! `eth0` inside the container's network namespace with an address from a
//! small file-based allocator and a default route via the bridge.
//!
//! Traffic from the bridge's subnet to anywhere else is masqueraded behind
//! the host's address (an nftables table `ip ferrovisor` with one
//! postrouting rule, recreated atomically at every setup) and IPv4
//! forwarding is switched on, as Docker and podman do. Without `nft` the
//! containers still reach the host and each other, with a warning. Both stay
//! after the last container goes, like the bridge.
//!
//! The steps are `ip`/`nsenter`/`nft` command lines built by pure functions
//! (unit-tested) and run through [`Runner`]. The veth pair disappears with
//! the container's network namespace; [`teardown`] also deletes the host
//! end and frees the address.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

/// The bridge every `--net bridge` container is attached to.
pub const BRIDGE: &str = "fv0";
/// The bridge's address; containers get .2 to .254 of its /24.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const PREFIX: u8 = 24;
/// Where the bridge's addresses are handed out: one per host, like the
/// bridge, whatever state root a container lives under.
pub const ADDRESS_DIR: &str = "/run/ferrovisor/net";
/// The nftables table fv owns (family `ip`).
pub const NAT_TABLE: &str = "ferrovisor";

/// Bridge networking failed; names the command or file.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("no free address left in {GATEWAY}/{PREFIX}")]
    Exhausted,
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Addresses handed out: one file per address holding the container name.
#[derive(Debug, Clone)]
pub struct Allocator {
    dir: PathBuf,
}

impl Allocator {
    pub fn new(dir: impl Into<PathBuf>) -> Allocator {
        Allocator { dir: dir.into() }
    }

    /// The lowest free address, claimed atomically for `name`.
    pub fn allocate(&self, name: &str) -> Result<Ipv4Addr, NetError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| NetError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let [a, b, c, _] = GATEWAY.octets();
        for host in 2..=254u8 {
            let ip = Ipv4Addr::new(a, b, c, host);
            let path = self.dir.join(ip.to_string());
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, name.as_bytes()).map_err(io(&path))?;
                    return Ok(ip);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(NetError::Exhausted)
    }

    fn entries(&self) -> Vec<(Ipv4Addr, String, PathBuf)> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let ip: Ipv4Addr = e.file_name().to_str()?.parse().ok()?;
                let owner = std::fs::read_to_string(e.path()).ok()?;
                Some((ip, owner, e.path()))
            })
            .collect()
    }

    pub fn address_of(&self, name: &str) -> Option<Ipv4Addr> {
        self.entries()
            .into_iter()
            .find(|(_, owner, _)| owner == name)
            .map(|(ip, _, _)| ip)
    }

    /// Frees every address `name` holds.
    pub fn release(&self, name: &str) {
        for (_, owner, path) in self.entries() {
            if owner == name {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Host and container ends of `name`'s veth pair (at most 15 bytes).
pub fn veth_names(name: &str) -> (String, String) {
    // FNV-1a: stable across runs and builds.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (format!("fvh{h:08x}"), format!("fvc{h:08x}"))
}

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Creates the bridge (unless `exists`) and brings it up.
pub fn bridge_commands(exists: bool) -> Vec<Vec<String>> {
    let mut v = Vec::new();
    if !exists {
        v.push(argv(&["ip", "link", "add", BRIDGE, "type", "bridge"]));
        v.push(argv(&[
            "ip",
            "addr",
            "add",
            &format!("{GATEWAY}/{PREFIX}"),
            "dev",
            BRIDGE,
        ]));
    }
    v.push(argv(&["ip", "link", "set", BRIDGE, "up"]));
    v
}

/// Plugs container `name` (init `pid`) into the bridge with address `ip`.
pub fn veth_commands(name: &str, pid: i32, ip: Ipv4Addr) -> Vec<Vec<String>> {
    let (host, peer) = veth_names(name);
    let netns = format!("--net=/proc/{pid}/ns/net");
    let inside = |rest: &[&str]| {
        let mut v = argv(&["nsenter", &netns, "ip"]);
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    vec![
        argv(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
        ]),
        argv(&["ip", "link", "set", &host, "master", BRIDGE]),
        argv(&["ip", "link", "set", &host, "up"]),
        argv(&["ip", "link", "set", &peer, "netns", &pid.to_string()]),
        inside(&["link", "set", &peer, "name", "eth0"]),
        inside(&["addr", "add", &format!("{ip}/{PREFIX}"), "dev", "eth0"]),
        inside(&["link", "set", "eth0", "up"]),
        inside(&["route", "add", "default", "via", &GATEWAY.to_string()]),
    ]
}

/// (Re)creates fv's nftables table in one atomic `nft` transaction: the
/// bridge subnet masqueraded when it leaves through any other interface.
pub fn nat_command() -> Vec<String> {
    let [a, b, c, _] = GATEWAY.octets();
    let subnet = format!("{a}.{b}.{c}.0/{PREFIX}");
    let t = NAT_TABLE;
    vec![
        "nft".to_string(),
        format!(
            "add table ip {t}; flush table ip {t}; \
             add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}; \
             add rule ip {t} postrouting ip saddr {subnet} oifname != \"{BRIDGE}\" masquerade"
        ),
    ]
}

/// Runs command lines.
pub trait Runner {
    fn run(&self, argv: &[String]) -> Result<(), NetError>;
    fn link_exists(&self, name: &str) -> bool;
    /// Switches IPv4 forwarding on (host-wide) if it is off.
    fn enable_forwarding(&self) -> Result<(), NetError>;
}

/// The real one: `std::process::Command`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandRunner;

impl Runner for CommandRunner {
    fn run(&self, argv: &[String]) -> Result<(), NetError> {
        debug!(?argv, "net");
        let cmd = argv.join(" ");
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| NetError::Command {
                cmd: cmd.clone(),
                stderr: e.to_string(),
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(NetError::Command {
                cmd,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    fn link_exists(&self, name: &str) -> bool {
        Path::new("/sys/class/net").join(name).exists()
    }

    fn enable_forwarding(&self) -> Result<(), NetError> {
        let path = Path::new("/proc/sys/net/ipv4/ip_forward");
        let io = |source| NetError::Io {
            path: path.to_path_buf(),
            source,
        };
        if std::fs::read_to_string(path).map_err(io)?.trim() == "1" {
            return Ok(());
        }
        std::fs::write(path, "1").map_err(io)
    }
}

/// Gives container `name` (init `pid`, in its own network namespace) an
/// address and plugs it into the bridge. Undoes itself on failure.
pub fn setup(
    runner: &dyn Runner,
    alloc: &Allocator,
    name: &str,
    pid: i32,
) -> Result<Ipv4Addr, NetError> {
    let ip = alloc.allocate(name)?;
    let result = (|| {
        for cmd in bridge_commands(runner.link_exists(BRIDGE)) {
            // Another container may be creating the bridge right now.
            if let Err(e) = runner.run(&cmd) {
                if !runner.link_exists(BRIDGE) {
                    return Err(e);
                }
                debug!("bridge: {e}");
            }
        }
        // Outside access is a convenience the bridge works without.
        if let Err(e) = runner
            .enable_forwarding()
            .and_then(|()| runner.run(&nat_command()))
        {
            warn!("no NAT for {BRIDGE}: {e}; containers reach only the host and each other");
        }
        for cmd in veth_commands(name, pid, ip) {
            runner.run(&cmd)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        teardown(runner, alloc, name);
        return Err(e);
    }
    Ok(ip)
}

/// Deletes the host end of the veth pair (if the namespace has not taken
/// it already) and frees the address.
pub fn teardown(runner: &dyn Runner, alloc: &Allocator, name: &str) {
    let (host, _) = veth_names(name);
    if runner.link_exists(&host) {
        if let Err(e) = runner.run(&argv(&["ip", "link", "del", &host])) {
            if runner.link_exists(&host) {
                warn!("{e}");
            }
        }
    }
    alloc.release(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake {
        ran: RefCell<Vec<String>>,
        links: RefCell<Vec<String>>,
        fail_on: Option<&'static str>,
    }

    impl Runner for Fake {
        fn run(&self, argv: &[String]) -> Result<(), NetError> {
            let cmd = argv.join(" ");
            self.ran.borrow_mut().push(cmd.clone());
            if self.fail_on.is_some_and(|f| cmd.contains(f)) {
                return Err(NetError::Command {
                    cmd,
                    stderr: "boom".into(),
                });
            }
            if argv.len() > 3 && argv[1] == "link" && argv[2] == "add" {
                self.links.borrow_mut().push(argv[3].clone());
            }
            if argv.len() > 3 && argv[1] == "link" && argv[2] == "del" {
                self.links.borrow_mut().retain(|l| *l != argv[3]);
            }
            Ok(())
        }
        fn link_exists(&self, name: &str) -> bool {
            self.links.borrow().iter().any(|l| l == name)
        }
        fn enable_forwarding(&self) -> Result<(), NetError> {
            self.ran.borrow_mut().push("<ip_forward=1>".into());
            Ok(())
        }
    }

    #[test]
    fn allocator_hands_out_distinct_addresses_and_reuses_freed_ones() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = Allocator::new(d.path());
        assert_eq!(a.allocate("x").expect("x"), Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(a.allocate("y").expect("y"), Ipv4Addr::new(10, 77, 0, 3));
        assert_eq!(a.address_of("y"), Some(Ipv4Addr::new(10, 77, 0, 3)));
        a.release("x");
        assert_eq!(a.address_of("x"), None);
        assert_eq!(a.allocate("z").expect("z"), Ipv4Addr::new(10, 77, 0, 2));
        for i in 0..251 {
            a.allocate(&format!("n{i}")).expect("free address");
        }
        assert!(matches!(a.allocate("full"), Err(NetError::Exhausted)));
    }

    #[test]
    fn veth_names_fit_and_differ() {
        let (h, p) = veth_names("a-very-long-container-name-indeed-0123456789");
        assert!(h.len() <= 15 && p.len() <= 15);
        assert_ne!(veth_names("a").0, veth_names("b").0);
        assert_eq!(veth_names("a"), veth_names("a"));
    }

    #[test]
    fn setup_creates_bridge_once_then_veth_and_route() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = Allocator::new(d.path());
        let f = Fake::default();
        let ip = setup(&f, &a, "c1", 42).expect("setup");
        assert_eq!(ip, Ipv4Addr::new(10, 77, 0, 2));
        let ran = f.ran.borrow().clone();
        assert_eq!(ran[0], "ip link add fv0 type bridge");
        assert_eq!(ran[1], "ip addr add 10.77.0.1/24 dev fv0");
        let (host, peer) = veth_names("c1");
        assert!(ran.contains(&format!("ip link set {peer} netns 42")));
        assert!(ran.contains(&format!("ip link set {host} master fv0")));
        assert_eq!(
            ran.last().map(String::as_str),
            Some("nsenter --net=/proc/42/ns/net ip route add default via 10.77.0.1")
        );
        let fwd = ran
            .iter()
            .position(|c| c == "<ip_forward=1>")
            .expect("forwarding on");
        let nat = ran.iter().position(|c| c.starts_with("nft ")).expect("nat");
        assert!(fwd < nat && nat < ran.len() - 1, "{ran:?}");
        assert!(
            ran[nat].contains("ip saddr 10.77.0.0/24 oifname != \"fv0\" masquerade"),
            "{}",
            ran[nat]
        );
        assert!(ran[nat].contains("flush table ip ferrovisor"), "idempotent");
        f.ran.borrow_mut().clear();
        setup(&f, &a, "c2", 43).expect("second");
        assert!(!f.ran.borrow().iter().any(|c| c.contains("type bridge")));
    }

    #[test]
    fn missing_nft_is_a_warning_not_a_failure() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = Allocator::new(d.path());
        let f = Fake {
            fail_on: Some("nft "),
            ..Default::default()
        };
        setup(&f, &a, "c1", 42).expect("bridge works without NAT");
        assert!(f
            .ran
            .borrow()
            .iter()
            .any(|c| c.contains("route add default")));
    }

    #[test]
    fn failed_setup_frees_the_address_and_the_veth() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = Allocator::new(d.path());
        let f = Fake {
            fail_on: Some("route add"),
            ..Default::default()
        };
        let e = setup(&f, &a, "c1", 42).expect_err("route fails");
        assert!(e.to_string().contains("route add default"), "{e}");
        assert_eq!(a.address_of("c1"), None);
        assert!(!f.link_exists(&veth_names("c1").0));
    }
}
