//! runc's `pause`/`resume` (`fv oci`) and `fv container pause/unpause`:
//! a container whose process bumps a counter file every 50 ms stops
//! counting while paused and counts again once resumed; kill, delete
//! --force and stop still work on a paused container. Needs root,
//! namespaces and a static busybox; skips with `SKIP:` otherwise.

#[path = "container_common.rs"]
mod container_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use container_common::*;

/// Bumps DIR/c every 50 ms (atomically, by rename); exits 7 on SIGTERM.
fn counter_script(dir: &str) -> String {
    format!(
        "trap 'exit 7' TERM; i=0; while true; do i=$((i+1)); \
         echo $i > {dir}/c.tmp; mv {dir}/c.tmp {dir}/c; sleep 0.05; done"
    )
}

fn counter(file: &Path) -> u64 {
    let mut last = String::new();
    for _ in 0..100 {
        match std::fs::read_to_string(file) {
            Ok(t) => match t.trim().parse() {
                Ok(n) => return n,
                Err(_) => last = t,
            },
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{}: no counter ({last:?})", file.display());
}

/// The counter keeps its value for half a second.
fn assert_still(file: &Path) -> u64 {
    let before = counter(file);
    std::thread::sleep(Duration::from_millis(500));
    let after = counter(file);
    assert_eq!(before, after, "{} moved while paused", file.display());
    after
}

/// The counter goes past `from`.
fn assert_moves(file: &Path, from: u64) {
    wait_until(|| counter(file) > from + 1);
}

/// The file that freezes `id`'s cgroup on this host, and its frozen value:
/// the v1 freezer when there is one (v1 and hybrid hosts), else v2's.
fn freezer(id: &str) -> Option<(PathBuf, &'static str)> {
    let dirs = cgroup_dirs(id);
    let find = |f: &str| dirs.iter().map(|d| d.join(f)).find(|p| p.exists());
    find("freezer.state")
        .map(|p| (p, "FROZEN"))
        .or_else(|| find("cgroup.freeze").map(|p| (p, "1")))
}

#[test]
fn oci_pause_freezes_and_resume_thaws() {
    let Some(env) = Env::new("pause") else { return };
    let b = env.bundle(&["sh", "-c", &counter_script("/tmp")], |_| {});
    let file = b.0.join("rootfs/tmp/c");
    let id = env.id("a");
    assert_eq!(
        env.fv(&["oci", "create", "--bundle", b.as_str(), &id]).code,
        0
    );
    let out = env.fv(&["oci", "pause", &id]);
    assert_eq!(out.code, 2, "pause of a created container: {out}");
    assert!(out.stderr.contains("created"), "{out}");
    assert_eq!(env.state(&id)["status"], "created");
    let out = env.fv(&["oci", "resume", &id]);
    assert_eq!(out.code, 2, "resume of a created container: {out}");

    assert_eq!(env.fv(&["oci", "start", &id]).code, 0);
    assert_moves(&file, 0);
    let out = env.fv(&["oci", "pause", &id]);
    assert_eq!(out.code, 0, "{out}");
    let state = env.state(&id);
    assert_eq!(state["status"], "paused", "{state}");
    assert!(
        state["pid"].as_i64().is_some(),
        "a paused container has a pid"
    );
    let (knob, frozen) = freezer(&id).expect("a freezer file for the container");
    assert_eq!(
        read_trim(&knob).as_deref(),
        Some(frozen),
        "{}",
        knob.display()
    );
    let list = env.fv(&["oci", "list"]);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("paused")),
        "{list}"
    );
    let at = assert_still(&file);
    let out = env.fv(&["oci", "pause", &id]);
    assert_eq!(out.code, 2, "pause twice: {out}");
    assert_eq!(
        env.fv(&["oci", "exec", &id, "true"]).code,
        2,
        "exec into a paused container"
    );
    assert_eq!(
        env.fv(&["oci", "delete", &id]).code,
        2,
        "delete of a paused container without --force"
    );

    let out = env.fv(&["oci", "resume", &id]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state(&id)["status"], "running");
    assert_ne!(read_trim(&knob).as_deref(), Some(frozen));
    assert_moves(&file, at);
    assert_eq!(env.fv(&["oci", "resume", &id]).code, 2, "resume twice");

    // A TERM sent while paused waits for the thaw (as runc).
    assert_eq!(env.fv(&["oci", "pause", &id]).code, 0);
    assert_eq!(env.fv(&["oci", "kill", &id, "TERM"]).code, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.state(&id)["status"], "paused");
    assert_eq!(env.fv(&["oci", "resume", &id]).code, 0);
    wait_until(|| env.state(&id)["status"] == "stopped");
    let out = env.fv(&["oci", "pause", &id]);
    assert_eq!(out.code, 2, "pause of a stopped container: {out}");
    assert!(out.stderr.contains("stopped"), "{out}");
    assert_eq!(env.fv(&["oci", "resume", &id]).code, 2);
    assert_eq!(env.fv(&["oci", "delete", &id]).code, 0);
    env.assert_gone(&id);
}

#[test]
fn paused_container_can_be_killed_and_force_deleted() {
    let Some(env) = Env::new("pkill") else { return };
    for (name, force_delete) in [("k", false), ("d", true)] {
        let b = env.bundle(&["sh", "-c", &counter_script("/tmp")], |_| {});
        let id = env.id(name);
        assert_eq!(
            env.fv(&["oci", "create", "--bundle", b.as_str(), &id]).code,
            0
        );
        assert_eq!(env.fv(&["oci", "start", &id]).code, 0);
        assert_moves(&b.0.join("rootfs/tmp/c"), 0);
        let pid = env.state(&id)["pid"].as_i64().expect("pid");
        assert_eq!(env.fv(&["oci", "pause", &id]).code, 0);
        assert_eq!(env.state(&id)["status"], "paused");
        if force_delete {
            let out = env.fv(&["oci", "delete", "--force", &id]);
            assert_eq!(out.code, 0, "{out}");
        } else {
            // SIGKILL thaws the container so that the kill takes.
            let out = env.fv(&["oci", "kill", &id, "KILL"]);
            assert_eq!(out.code, 0, "{out}");
            wait_until(|| env.state(&id)["status"] == "stopped");
            assert_eq!(env.fv(&["oci", "delete", &id]).code, 0);
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "init {pid} still alive: {stat}"
        );
        env.assert_gone(&id);
    }
}

/// A busybox rootfs imported as `name`.
fn image(env: &Env, name: &str) {
    env.busybox_image(name);
}

#[test]
fn container_pause_unpause_stop_rm() {
    let Some(env) = Env::new("cpause") else {
        return;
    };
    image(&env, "bb");
    let vol = env.dir.path().join("vol");
    std::fs::create_dir(&vol).expect("mkdir");
    let file = vol.join("c");
    let name = env.id("p");
    let out = env.fv(&[
        "container",
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &format!("{}:/data", vol.display()),
        "bb",
        "--",
        "sh",
        "-c",
        &counter_script("/data"),
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert_moves(&file, 0);
    let out = env.fv(&["container", "unpause", &name]);
    assert_eq!(out.code, 2, "unpause of a running container: {out}");
    assert!(out.stderr.contains("not paused"), "{out}");

    let out = env.fv(&["container", "pause", &name]);
    assert_eq!(out.code, 0, "{out}");
    assert!(env.listed_as(&name, "paused"));
    let v: serde_json::Value =
        serde_json::from_str(&env.fv(&["container", "inspect", &name]).stdout).expect("json");
    assert_eq!(v["status"], "paused", "{v}");
    let at = assert_still(&file);
    assert_eq!(env.fv(&["container", "pause", &name]).code, 2, "twice");

    let out = env.fv(&["container", "unpause", &name]);
    assert_eq!(out.code, 0, "{out}");
    assert!(env.listed_as(&name, "running"));
    assert_moves(&file, at);

    // Paused again: rm refuses without -f; stop thaws it to deliver TERM.
    assert_eq!(env.fv(&["container", "pause", &name]).code, 0);
    let out = env.fv(&["container", "rm", &name]);
    assert_eq!(out.code, 2, "rm of a paused container: {out}");
    assert!(out.stderr.contains("paused"), "{out}");
    let out = env.fv(&["container", "stop", &name]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(|| {
        serde_json::from_str::<serde_json::Value>(&env.fv(&["container", "inspect", &name]).stdout)
            .is_ok_and(|v| v["exitCode"] == 7)
    });
    let out = env.fv(&["container", "pause", &name]);
    assert_eq!(out.code, 2, "pause of a stopped container: {out}");
    assert_eq!(env.fv(&["container", "rm", &name]).code, 0);
    env.assert_gone(&name);
    assert!(!env.root.join("storage").join(&name).exists());
}
