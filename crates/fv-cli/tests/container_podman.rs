//! podman drives fv as its OCI runtime: `podman --runtime DIR/fv-oci`
//! (a link to fv, so argv[0] makes it runc's command line) runs, execs
//! into, stops and removes containers of a locally imported image. podman
//! talks to fv through conmon exactly as to runc (create --bundle
//! --pid-file, start, state, exec --process --detach, kill, delete).
//!
//! The test's podman storage is its own (--root/--runroot in a temp dir);
//! fv's state is the default root, where podman's cleanup process (which
//! drops --runtime-flag) finds it too. Needs root and podman (installed by
//! scripts/test.sh); skips with the reason otherwise.

#[path = "container_common.rs"]
mod container_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use container_common::*;

struct Podman {
    dir: PathBuf,
    runtime: PathBuf,
    /// `--ulimit` values for every run: podman's defaults (nofile and
    /// nproc raised to 1048576 and more) exceed what some sandboxes allow.
    ulimits: Vec<String>,
}

impl Podman {
    fn new(dir: &Path) -> Option<Podman> {
        let found = Command::new("podman").arg("--version").output();
        if !found.is_ok_and(|o| o.status.success()) {
            eprintln!("SKIP: podman is not installed (scripts/test.sh installs it)");
            return None;
        }
        let runtime = dir.join("fv-oci");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fv"), &runtime).expect("link fv-oci");
        // Low enough for any host's hard limits.
        let ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
            .iter()
            .flat_map(|u| ["--ulimit".to_string(), u.to_string()])
            .collect();
        Some(Podman {
            dir: dir.to_path_buf(),
            runtime,
            ulimits,
        })
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let d = |s: &str| self.dir.join(s).display().to_string();
        run_bounded(
            Command::new("podman")
                .args(["--root", &d("storage"), "--runroot", &d("run")])
                .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
                .arg("--runtime")
                .arg(&self.runtime)
                .args(args),
            TIMEOUT,
        )
    }

    /// `podman run ARGS` with the test's ulimits.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run"];
        all.extend(self.ulimits.iter().map(String::as_str));
        all.extend_from_slice(args);
        self.cmd(&all)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.cmd(&["rmi", "--all", "--force"]);
        // podman's overlay driver keeps its storage mounted; release it so
        // the temp dir can go.
        let _ = Command::new("umount")
            .args(["-R", "-l"])
            .arg(self.dir.join("storage/overlay"))
            .output();
    }
}

fn fv_state_dir(id: &str) -> PathBuf {
    Path::new("/run/ferrovisor/containers").join(id.trim())
}

#[test]
fn podman_runs_execs_stops_and_removes_with_fv() {
    let Some(env) = Env::new("podman") else {
        return;
    };
    let Some(p) = Podman::new(env.dir.path()) else {
        return;
    };
    let tar = env.busybox_tarball("img");
    let out = p.cmd(&["import", tar.to_str().expect("utf-8"), "localhost/fvbb"]);
    assert_eq!(out.code, 0, "podman import: {out}");

    // Foreground: output, exit status, PID 1 is the command, own hostname.
    let out = p.run(&[
        "--rm",
        "--network",
        "none",
        "--hostname",
        "pod-fv",
        "localhost/fvbb",
        "sh",
        "-c",
        "echo hello; hostname; ps -o pid,args; exit 42",
    ]);
    assert_eq!(out.code, 42, "{out}");
    assert!(out.stdout.contains("hello\npod-fv\n"), "{out}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("sh -c echo hello")),
        "PID 1 is the command: {out}"
    );

    // Detached, with limits; fv made the container (its state dir).
    let out = p.run(&[
        "-d",
        "--name",
        "fvweb",
        "--network",
        "none",
        "--pids-limit",
        "37",
        "--memory",
        "64m",
        "localhost/fvbb",
        "sh",
        "-c",
        "trap 'echo got-term; exit 3' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    assert_eq!(out.code, 0, "{out}");
    let id = out.stdout.trim().to_string();
    assert!(fv_state_dir(&id).exists(), "fv made no state for {id}");
    let state = env.fv(&["oci", "--root", "/run/ferrovisor", "state", &id]);
    assert!(state.stdout.contains("\"running\""), "{state}");
    let limits = p.cmd(&["exec", "fvweb", "sh", "-c", "cat /proc/self/cgroup"]);
    assert_eq!(limits.code, 0, "{limits}");
    let pids_dir = limits
        .stdout
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(":pids:")?;
            Some(PathBuf::from("/sys/fs/cgroup/pids").join(rest.trim_start_matches('/')))
        })
        .or_else(|| {
            let l = limits.stdout.lines().find(|l| l.starts_with("0::"))?;
            Some(PathBuf::from("/sys/fs/cgroup").join(l[3..].trim_start_matches('/')))
        })
        .expect("the container's cgroup");
    assert_eq!(
        read_trim(&pids_dir.join("pids.max")).as_deref(),
        Some("37"),
        "{}",
        pids_dir.display()
    );

    // exec: status, environment, user and cwd, and a command not found.
    let out = p.cmd(&[
        "exec",
        "-e",
        "Q=42",
        "--user",
        "1000:1000",
        "--workdir",
        "/tmp",
        "fvweb",
        "sh",
        "-c",
        "echo q=$Q; id -u; pwd; ps -o pid,args; exit 5",
    ]);
    assert_eq!(out.code, 5, "{out}");
    assert!(out.stdout.contains("q=42\n1000\n/tmp\n"), "{out}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("trap")),
        "exec sees the container's PID 1: {out}"
    );
    let out = p.cmd(&["exec", "fvweb", "no-such-program"]);
    assert_eq!(out.code, 127, "podman maps fv's not-found to 127: {out}");
    // exec -t: a pty from the container's own devpts (conmon receives the
    // master through --console-socket).
    let out = p.cmd(&["exec", "-t", "fvweb", "sh", "-c", "tty; exit 6"]);
    assert_eq!(out.code, 6, "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");

    // pause/unpause: fv freezes the container's cgroup.
    let out = p.cmd(&["pause", "fvweb"]);
    assert_eq!(out.code, 0, "{out}");
    let state = env.fv(&["oci", "--root", "/run/ferrovisor", "state", &id]);
    assert!(state.stdout.contains("\"paused\""), "{state}");
    let out = p.cmd(&["unpause", "fvweb"]);
    assert_eq!(out.code, 0, "{out}");
    let state = env.fv(&["oci", "--root", "/run/ferrovisor", "state", &id]);
    assert!(state.stdout.contains("\"running\""), "{state}");

    // stop: SIGTERM reaches the trap; the exit status reaches podman.
    let out = p.cmd(&["stop", "--time", "20", "fvweb"]);
    assert_eq!(out.code, 0, "{out}");
    let logs = p.cmd(&["logs", "fvweb"]);
    assert!(
        logs.stdout.contains("up\n") && logs.stdout.contains("got-term"),
        "{logs}"
    );
    let code = p.cmd(&["inspect", "fvweb", "--format", "{{.State.ExitCode}}"]);
    assert_eq!(code.stdout.trim(), "3", "{code}");
    let out = p.cmd(&["rm", "fvweb"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!fv_state_dir(&id).exists(), "fv state left after podman rm");
    assert!(!pids_dir.exists(), "cgroup {} left", pids_dir.display());

    // podman's own bridge network: it makes the netns, fv joins it by path.
    let out = p.run(&["--rm", "localhost/fvbb", "ip", "-4", "addr", "show", "eth0"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("inet "), "{out}");
}
