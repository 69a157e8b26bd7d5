//! `--net bridge` reaches beyond the host through NAT: a container pings an
//! "outside" host that has no route back to the bridge subnet, which only
//! works if the host masquerades the container's traffic. The outside host
//! is a network namespace this test makes, wired to the host by a veth pair
//! on a private /30. Needs root, iproute2 and nftables; skips otherwise.

#[path = "container_common.rs"]
mod container_common;

use std::path::Path;
use std::process::Command;

use container_common::*;

/// The test's outside host; removed (with its veth pair) on drop.
struct Outside {
    ns: String,
    host_if: String,
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

fn ip(args: &[&str]) -> Output {
    run_bounded(Command::new("ip").args(args), TIMEOUT)
}

#[test]
fn bridge_containers_reach_outside_hosts_through_nat() {
    let Some(env) = Env::new("nat") else { return };
    if !Path::new("/usr/sbin/nft").exists() && !Path::new("/sbin/nft").exists() {
        eprintln!("SKIP: NAT needs nftables (nft)");
        return;
    }
    let pid = std::process::id();
    let net = 10 + pid % 200;
    let (host_addr, out_addr) = (format!("10.78.{net}.1"), format!("10.78.{net}.2"));
    let outside = Outside {
        ns: format!("fvnat{pid}"),
        host_if: format!("fvut{pid}"),
    };
    let peer = format!("fvup{pid}");
    for args in [
        vec!["netns", "add", &outside.ns],
        vec![
            "link",
            "add",
            &outside.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ],
        vec!["link", "set", &peer, "netns", &outside.ns],
        vec![
            "addr",
            "add",
            &format!("{host_addr}/30"),
            "dev",
            &outside.host_if,
        ],
        vec!["link", "set", &outside.host_if, "up"],
        vec![
            "netns",
            "exec",
            &outside.ns,
            "ip",
            "addr",
            "add",
            &format!("{out_addr}/30"),
            "dev",
            &peer,
        ],
        vec![
            "netns",
            "exec",
            &outside.ns,
            "ip",
            "link",
            "set",
            &peer,
            "up",
        ],
    ] {
        let out = ip(&args);
        assert_eq!(out.code, 0, "ip {args:?}: {out}");
    }
    // The premise: the outside host cannot answer 10.77.0.0/24 directly.
    let out = ip(&[
        "netns",
        "exec",
        &outside.ns,
        "ip",
        "route",
        "get",
        "10.77.0.2",
    ]);
    assert_ne!(out.code, 0, "outside host has a route to the bridge: {out}");

    let rootfs = env.dir.path().join("rootfs");
    env.rootfs(&rootfs);
    env.import(&rootfs, "bb");
    let name = env.id("c");
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "--name",
        &name,
        "--net",
        "bridge",
        "bb",
        "--",
        "ping",
        "-c",
        "2",
        "-W",
        "5",
        &out_addr,
    ]);
    assert_eq!(out.code, 0, "ping from the container through NAT: {out}");
    assert!(out.stdout.contains("2 packets received"), "{out}");
    let rules = run_bounded(
        Command::new("nft").args(["list", "table", "ip", "ferrovisor"]),
        TIMEOUT,
    );
    assert!(rules.stdout.contains("masquerade"), "{rules}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap_or_default()
            .trim(),
        "1"
    );
}
