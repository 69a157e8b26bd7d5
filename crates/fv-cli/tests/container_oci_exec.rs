//! `fv oci exec` and `ps` as runc's callers use them (conmon, containerd's
//! shim): `--process FILE`, `--detach` with `--pid-file`, errors through
//! `--log --log-format json`; and `--systemd-cgroup` paths. Root only.

#[path = "container_common.rs"]
mod container_common;

use std::path::Path;

use container_common::*;
use serde_json::json;

fn proc_status_field(pid: &str, field: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
}

#[test]
fn exec_process_file_detach_pid_file_and_json_log() {
    let Some(env) = Env::new("oexec") else { return };
    let b = env.bundle(&["sleep", "60"], |_| {});
    // Writable for uid 1000, as a real /tmp.
    std::fs::set_permissions(
        b.0.join("rootfs/tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod tmp");
    let id = env.id("a");
    assert_eq!(
        env.fv(&["oci", "create", "--bundle", b.as_str(), &id]).code,
        0
    );
    // Not running yet: exec is refused.
    let out = env.fv(&["oci", "exec", &id, "true"]);
    assert_eq!(out.code, 2, "exec into a created container: {out}");
    assert_eq!(env.fv(&["oci", "start", &id]).code, 0);
    let init = env.state(&id)["pid"].as_i64().expect("pid").to_string();

    // --process: the whole process from a file, detached, its pid written.
    let dir = env.dir.path();
    let process = dir.join("process.json");
    std::fs::write(
        &process,
        json!({
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000},
            "args": ["sh", "-c", "echo $WHO in $(pwd) > /tmp/exec-out; exec sleep 30"],
            "env": ["PATH=/bin", "WHO=exec"],
            "cwd": "/tmp",
            "capabilities": {"bounding": [], "effective": [], "permitted": []},
            "noNewPrivileges": true
        })
        .to_string(),
    )
    .expect("write process.json");
    let pid_file = dir.join("exec.pid");
    let out = env.fv(&[
        "oci",
        "exec",
        "--process",
        process.to_str().expect("utf-8"),
        "--detach",
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
        &id,
    ]);
    assert_eq!(out.code, 0, "{out}");
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    // A live process in the container's pid namespace, as the file says.
    assert_eq!(
        proc_status_field(&pid, "Uid:")
            .and_then(|u| u.split_whitespace().next().map(String::from))
            .as_deref(),
        Some("1000"),
        "pid {pid}"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok(),
        std::fs::read_link(format!("/proc/{init}/ns/pid")).ok()
    );
    assert_eq!(proc_status_field(&pid, "NoNewPrivs:").as_deref(), Some("1"));
    assert_eq!(
        proc_status_field(&pid, "CapEff:").as_deref(),
        Some("0000000000000000")
    );
    wait_until(|| {
        env.fv(&["oci", "exec", &id, "cat", "/tmp/exec-out"])
            .stdout
            .contains("exec in /tmp")
    });
    // ps lists init and the exec'd process.
    let out = env.fv(&["oci", "ps", "--format", "json", &id]);
    assert_eq!(out.code, 0, "{out}");
    let pids: Vec<i64> = serde_json::from_str(&out.stdout).expect("ps json");
    for p in [&init, pid.trim()] {
        assert!(
            pids.contains(&p.parse::<i64>().expect("pid")),
            "{p} in {pids:?}"
        );
    }

    // Attached: the status comes back; a missing program is 127.
    let out = env.fv(&["oci", "exec", "-e", "N=7", &id, "sh", "-c", "exit $N"]);
    assert_eq!(out.code, 7, "{out}");
    let out = env.fv(&["oci", "exec", &id, "no-such-program"]);
    assert_eq!(out.code, 127, "{out}");
    assert!(out.stderr.contains("executable file not found"), "{out}");
    // Detached, the failure is fv's: exit 1, and the JSON log says why.
    let log = dir.join("log.json");
    let out = env.fv(&[
        "oci",
        "--log",
        log.to_str().expect("utf-8"),
        "--log-format",
        "json",
        "exec",
        "--detach",
        &id,
        "no-such-program",
    ]);
    assert_eq!(out.code, 1, "{out}");
    let text = std::fs::read_to_string(&log).expect("log written");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or("")).expect("a JSON line");
    assert_eq!(line["level"], "error", "{line}");
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-program")),
        "{line}"
    );
    assert!(
        line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{line}"
    );
    // A bad --process file names the file.
    std::fs::write(&process, "{\"args\": 5}").expect("write");
    let out = env.fv(&[
        "oci",
        "exec",
        "--process",
        process.to_str().expect("utf-8"),
        &id,
    ]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("process.json"), "{out}");

    assert_eq!(env.fv(&["oci", "kill", "--all", &id, "KILL"]).code, 0);
    wait_until(|| env.state(&id)["status"] == "stopped");
    assert_eq!(env.fv(&["oci", "delete", &id]).code, 0);
    env.assert_gone(&id);
}

#[test]
fn systemd_cgroup_paths_become_slices_and_scopes() {
    let Some(env) = Env::new("osysd") else { return };
    let id = env.id("a");
    let tag = format!("fvtest{}", std::process::id());
    let b = env.bundle(&["cat", "/proc/self/cgroup"], |s| {
        s["linux"]["cgroupsPath"] = json!(format!("{tag}-sub.slice:fv:{id}"));
        s["linux"]["resources"] = json!({"pids": {"limit": 23}});
    });
    let out = env.fv(&[
        "oci",
        "--systemd-cgroup",
        "run",
        "--bundle",
        b.as_str(),
        &id,
    ]);
    assert_eq!(out.code, 0, "{out}");
    let scope = format!("/{tag}.slice/{tag}-sub.slice/fv-{id}.scope");
    assert!(
        out.stdout.lines().any(|l| l.ends_with(&scope)),
        "expected {scope} in: {out}"
    );
    // Gone with the container; the slices stay (as systemd's would).
    for ctl in ["pids", "memory", "unified", ""] {
        let d = Path::new("/sys/fs/cgroup").join(ctl).join(&scope[1..]);
        assert!(!d.exists(), "{} left", d.display());
        let top = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(format!("{tag}.slice"));
        let _ = std::fs::remove_dir(top.join(format!("{tag}-sub.slice")));
        let _ = std::fs::remove_dir(&top);
    }
    // A malformed systemd path is the config's fault, named.
    let b = env.bundle(&["true"], |s| {
        s["linux"]["cgroupsPath"] = json!("/not/systemd");
    });
    let out = env.fv(&[
        "oci",
        "--systemd-cgroup",
        "run",
        "--bundle",
        b.as_str(),
        &env.id("b"),
    ]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("linux.cgroupsPath"), "{out}");
}

/// `fv ARGS` run by a shell that first opens fds 3 and 7 on a file, as a
/// caller like containerd's shim leaves its own fds open to the runtime.
fn fv_with_open_fds(env: &Env, args: &str) -> Output {
    let script = format!(
        "exec 3</etc/hostname 7</etc/hostname; exec {} {args}",
        env!("CARGO_BIN_EXE_fv")
    );
    run_bounded(
        std::process::Command::new("sh")
            .args(["-c", &script])
            .env("FV_ROOT", &env.root),
        TIMEOUT,
    )
}

#[test]
fn the_callers_fds_stay_out_of_containers() {
    let Some(env) = Env::new("ofds") else { return };
    let probe = "for f in 3 7; do [ -e /proc/self/fd/$f ] && echo has$f; done; true";
    let b = env.bundle(&["sh", "-c", probe], |_| {});
    let out = fv_with_open_fds(
        &env,
        &format!("oci run --bundle {} {}", b.as_str(), env.id("a")),
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stdout.contains("has"), "inherited fds: {out}");
    // --preserve-fds 1 keeps fd 3 only.
    let out = fv_with_open_fds(
        &env,
        &format!(
            "oci run --preserve-fds 1 --bundle {} {}",
            b.as_str(),
            env.id("b")
        ),
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim(), "has3", "{out}");
    // exec'd processes as well.
    let b = env.bundle(&["sleep", "60"], |_| {});
    let id = env.id("c");
    assert_eq!(
        env.fv(&["oci", "create", "--bundle", b.as_str(), &id]).code,
        0
    );
    assert_eq!(env.fv(&["oci", "start", &id]).code, 0);
    let out = fv_with_open_fds(&env, &format!("oci exec {id} sh -c '{probe}'"));
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stdout.contains("has"), "inherited fds in exec: {out}");
    assert_eq!(env.fv(&["oci", "kill", &id, "KILL"]).code, 0);
    wait_until(|| env.state(&id)["status"] == "stopped");
    // Stopped: kill says "container not running" (what containerd's shim
    // looks for); delete --force of a container that is gone succeeds.
    let out = env.fv(&["oci", "kill", &id, "KILL"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("container not running"), "{out}");
    assert_eq!(env.fv(&["oci", "delete", &id]).code, 0);
    assert_eq!(env.fv(&["oci", "delete", "--force", &id]).code, 0);
    assert_eq!(env.fv(&["oci", "delete", &id]).code, 2, "not forced");
    env.assert_gone(&id);
}

#[test]
fn device_rules_reach_the_devices_cgroup() {
    let Some(env) = Env::new("odev") else { return };
    let Some(devices_root) = ["/sys/fs/cgroup/devices"]
        .iter()
        .map(Path::new)
        .find(|p| p.join("devices.list").exists())
    else {
        eprintln!("SKIP: no cgroup v1 devices hierarchy (v2 rules are not enforced yet)");
        return;
    };
    // The template denies every device but the defaults; those still work.
    let b = env.bundle(
        &[
            "sh",
            "-c",
            "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c",
        ],
        |_| {},
    );
    let id = env.id("a");
    let out = env.fv(&["oci", "create", "--bundle", b.as_str(), &id]);
    assert_eq!(out.code, 0, "{out}");
    let list = read_trim(
        &devices_root
            .join("ferrovisor")
            .join(&id)
            .join("devices.list"),
    )
    .expect("the container's devices.list");
    assert!(!list.contains("a *:* rwm"), "all devices allowed: {list}");
    for allowed in ["c 1:3 rwm", "c 1:5 rwm", "c 136:* rwm", "c 5:2 rwm"] {
        assert!(list.lines().any(|l| l == allowed), "{allowed} in {list}");
    }
    assert!(!list.lines().any(|l| l.starts_with("b 254:")), "{list}");
    assert_eq!(env.fv(&["oci", "delete", "--force", &id]).code, 0);
    env.assert_gone(&id);
    let out = env.fv(&["oci", "run", "--bundle", b.as_str(), &env.id("b")]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["4", "4"],
        "{out}"
    );
}
