//! System tests for virtio-net: the Debian guest's own virtio_net driver
//! (loaded by the initramfs with `fv.modules=1`) on TAP interfaces in a
//! network namespace of the test's own (10.0.2.0/24, nothing else).
//!
//! The guest configures eth0 and fetches a few MiB over HTTP from a server
//! thread inside the namespace, which first pings it (`busybox ping -c 3`:
//! ICMP both ways through the device); the guest sends the data back with
//! `nc`; both ends compare SHA-256 sums. (The ping runs host to guest
//! because the guest's own `ping` dies of SIGILL: it reads the `time` CSR
//! from U-mode, which traps while no SBI PMU extension makes Linux set
//! scounteren.TM; an engine issue, not a network one.) The first card sits on a TAP made
//! beforehand with `ip tuntap`, the second on one fv creates itself; the
//! guest sees the MAC given for the first and the one derived from the VM
//! name for the second, and has negotiated checksum and TSO offloads, so the
//! transfers go through the TAP's offload paths.
//!
//! Needs root, /dev/net/tun, `ip` (iproute2) and `busybox`; otherwise the test prints a
//! SKIP line. Argument errors are checked without root.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

mod support;

use support::{fv, guest_available, run_command_with_timeout};

const LIMIT: Duration = Duration::from_secs(900);
const PAYLOAD: usize = 3 << 20;
const HOST_IP: &str = "10.0.2.1";
const GUEST_IP: &str = "10.0.2.15";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace of the test's own, deleted (with its interfaces)
/// when dropped.
struct NetNs(String);

impl NetNs {
    fn new() -> Result<NetNs, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "fvnet-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        Ok(NetNs(name))
    }

    fn exec(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", &self.0, "ip"];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.0);
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("setns into the test namespace");
            f()
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.0]) {
            eprintln!("warning: cannot delete network namespace {}: {e}", self.0);
        }
    }
}

/// Why the guest test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces and TAP interfaces)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (no TUN/TAP support)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("ip not found (install iproute2)".into());
    }
    if Command::new("busybox").output().is_err() {
        return Some("busybox not found (install busybox-static)".into());
    }
    None
}

fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("sha256sum output");
    feeder.join().expect("feeder").expect("feed sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `busybox ping -c 3` to the guest from the namespace (run on a thread
/// inside it); the output when all three replies came back.
fn ping_guest() -> Result<String, String> {
    let out = Command::new("busybox")
        .args(["ping", "-c", "3", "-W", "10", GUEST_IP])
        .output()
        .map_err(|e| format!("busybox ping: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && text.contains("3 packets received") {
        Ok(text)
    } else {
        Err(format!(
            "ping {GUEST_IP}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Serves `payload` once over HTTP/1.0 (for the guest's `wget`); once the
/// request is in (the guest's eth0 is up), pings the guest first.
fn serve_http(listener: TcpListener, payload: Vec<u8>) -> Result<String, String> {
    let (mut s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let mut req = Vec::new();
    let mut b = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).map_err(|e| format!("read request: {e}"))?;
        if n == 0 {
            return Err("request cut short".into());
        }
        req.extend_from_slice(&b[..n]);
    }
    let pinged = ping_guest()?;
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(&payload))
        .map_err(|e| format!("send payload: {e}"))?;
    Ok(pinged)
}

/// Takes one connection and reads `len` bytes from it (the guest's `nc`).
fn receive(listener: TcpListener, len: usize) -> Result<Vec<u8>, String> {
    let (mut s, _): (TcpStream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let mut data = vec![0u8; len];
    s.read_exact(&mut data)
        .map_err(|e| format!("read {len} bytes: {e}"))?;
    Ok(data)
}

#[test]
fn guest_pings_and_moves_mebibytes_both_ways_over_tap() {
    let test = "guest_pings_and_moves_mebibytes_both_ways_over_tap";
    if let Some(why) = skip_reason() {
        eprintln!("SKIP {test}: {why}");
        return;
    }
    if !guest_available(test) {
        return;
    }
    let ns = NetNs::new().expect("create a network namespace");
    let tap0 = "fvtap0";
    let tap1 = "fvtap1"; // created by fv
    ns.exec(&["link", "set", "lo", "up"]).expect("lo up");
    ns.exec(&["tuntap", "add", tap0, "mode", "tap"])
        .expect("make the TAP");
    ns.exec(&["addr", "add", &format!("{HOST_IP}/24"), "dev", tap0])
        .expect("address the TAP");
    ns.exec(&["link", "set", tap0, "up"]).expect("TAP up");

    // Pseudo-random payload (xorshift), different in every run.
    let mut x = u64::from(std::process::id()) | 1 << 40;
    let payload: Vec<u8> = (0..PAYLOAD)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let want = sha256_hex(&payload);

    let (bound_tx, bound_rx) = mpsc::channel();
    let served = {
        let payload = payload.clone();
        let bound = bound_tx.clone();
        ns.spawn(move || {
            let l = TcpListener::bind((HOST_IP, 8080)).map_err(|e| format!("bind: {e}"));
            let _ = bound.send(l.is_ok());
            serve_http(l?, payload)
        })
    };
    let received = ns.spawn(move || {
        let l = TcpListener::bind((HOST_IP, 5001)).map_err(|e| format!("bind: {e}"));
        let _ = bound_tx.send(l.is_ok());
        receive(l?, PAYLOAD)
    });
    for _ in 0..2 {
        assert_eq!(
            bound_rx.recv_timeout(Duration::from_secs(10)),
            Ok(true),
            "server threads listening in the namespace"
        );
    }

    let script = format!(
        "\
ip link set eth0 up && ip addr add {GUEST_IP}/24 dev eth0 && echo FV-ETH0-$((1+1))-UP
sed 's/^/FV-MAC0=/' /sys/class/net/eth0/address
sed 's/^/FV-MAC1=/' /sys/class/net/eth1/address
sed 's/^/FV-FEAT0=/' /sys/class/net/eth0/device/features
wget -q -O /tmp/blob http://{HOST_IP}:8080/blob && echo FV-WGET-$((3+3))-OK
sha256sum /tmp/blob | sed 's/^/FV-SHA=/'
nc {HOST_IP} 5001 < /tmp/blob; echo FV-NC-$((4+4))-DONE
poweroff
"
    );
    let mac0 = "52:54:00:12:34:56";
    let net0 = format!("tap={tap0},mac={mac0}");
    let net1 = format!("tap={tap1}");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_fv")])
        .args(["run", "--name", "fv-net-test"])
        .args(["--append", "console=ttyS0 fv.modules=1"])
        .args(["--net", &net0, "--net", &net1])
        .env("FV_LOG", "warn");
    let (code, out, err) = run_command_with_timeout(cmd, Some(script.into_bytes()), LIMIT);
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(0), "guest did not power off cleanly:\n{all}");
    assert!(out.contains("FV-GUEST-MODULES-LOADED"), "modules:\n{all}");
    let mac1 = fv_vmm::MacAddr::from_seed(b"fv-net-test/1").to_string();
    for needle in [
        "FV-ETH0-2-UP".to_string(),
        format!("FV-MAC0={mac0}"),
        format!("FV-MAC1={mac1}"),
        "FV-WGET-6-OK".into(),
        format!("FV-SHA={want}"),
        "FV-NC-8-DONE".into(),
    ] {
        assert!(out.contains(&needle), "missing {needle}:\n{all}");
    }
    // The offloads were negotiated (sysfs lists feature bits from bit 0):
    // CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4, MAC, STATUS.
    let feats = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("FV-FEAT0="))
        .find(|f| f.len() >= 32)
        .unwrap_or_else(|| panic!("no feature bits:\n{all}"));
    for bit in [0, 1, 5, 7, 11, 16] {
        assert_eq!(&feats[bit..=bit], "1", "feature bit {bit} in {feats}");
    }
    let pinged = served
        .join()
        .expect("http thread")
        .expect("guest pinged and payload served to it");
    assert!(pinged.contains("bytes from 10.0.2.15"), "{pinged}");
    let back = received
        .join()
        .expect("nc thread")
        .expect("payload received from the guest");
    assert_eq!(sha256_hex(&back), want, "the guest sent the payload back");
    assert!(back == payload);
}

/// Bad `--net` values stop `fv run` with status 2 before any guest runs,
/// naming the value.
#[test]
fn bad_net_arguments_exit_2_naming_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = dir.path().join("kernel");
    std::fs::write(&kernel, vec![0u8; 4096]).expect("write kernel");
    let k = kernel.display().to_string();
    let cases = [
        ("tap=", "tap="),
        ("tap=a234567890123456", "a234567890123456"),
        ("tap=ta/p", "ta/p"),
        ("tap=tap0,mac=52:54:00:zz:00:01", "52:54:00:zz:00:01"),
        ("tap=tap0,mac=01:00:5e:00:00:01", "01:00:5e:00:00:01"),
        ("mac=52:54:00:00:00:01", "mac=52:54:00:00:00:01"),
        ("tap=tap0,queues=4", "queues=4"),
    ];
    for (arg, named) in cases {
        let out = fv()
            .args(["run", "--kernel", &k, "--console", "none", "--net", arg])
            .output()
            .expect("run fv");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--net {arg}: {err}");
        assert!(err.contains(named), "--net {arg}: message names it: {err}");
    }
    // Seven disks and a NIC need nine slots with the rng.
    let mut args = vec!["run", "--kernel", &k, "--console", "none"];
    for _ in 0..7 {
        args.extend(["--disk", &k]);
    }
    args.extend(["--net", "tap=tap0"]);
    let out = fv().args(&args).output().expect("run fv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("virtio-mmio slots"), "{err}");
}

/// A TAP that does not exist cannot be created without CAP_NET_ADMIN: run
/// as `nobody`, `fv` exits 2 naming the interface.
#[test]
fn missing_tap_without_privilege_exits_2_naming_it() {
    let test = "missing_tap_without_privilege_exits_2_naming_it";
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP {test}: needs root to drop to nobody");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIP {test}: setpriv not found (util-linux)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = dir.path().join("kernel");
    std::fs::write(&kernel, vec![0u8; 4096]).expect("write kernel");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_fv"))
        .args(["run", "--console", "none", "--kernel"])
        .arg(&kernel)
        .args(["--net", "tap=fvnosuchtap9"])
        .env("FV_LOG", "warn")
        .output()
        .expect("run fv as nobody");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && err.contains("fv:") && !err.contains("--net") {
        eprintln!("SKIP {test}: nobody cannot run the fv binary here: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--net tap=fvnosuchtap9"), "{err}");
}
