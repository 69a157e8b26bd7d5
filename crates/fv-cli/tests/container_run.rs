//! `fv image` and `fv container` on a busybox rootfs tarball: exit codes,
//! env, volumes, memory limit, detach/logs/exec/stop, cleanup after
//! `--rm` and `rm`, and refusal of bad images and names. Needs root,
//! namespaces and a static busybox; skips with `SKIP:` otherwise.

#[path = "container_common.rs"]
mod container_common;

use std::path::{Path, PathBuf};

use container_common::*;

/// A gzipped tarball of a busybox rootfs, imported as `name`.
fn image(env: &Env, name: &str) -> PathBuf {
    let rootfs = env.dir.path().join(format!("rootfs-{name}"));
    env.rootfs(&rootfs);
    let tgz = env.dir.path().join(format!("{name}.tar.gz"));
    let out = run_bounded(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-czf")
            .arg(&tgz)
            .arg("."),
        TIMEOUT,
    );
    assert_eq!(out.code, 0, "tar: {out}");
    let out = env.fv(&["image", "import", tgz.to_str().expect("utf-8"), name]);
    assert_eq!(out.code, 0, "import: {out}");
    tgz
}

/// Nothing of container `name` is left: storage (upper layer), state,
/// cgroup, mounts.
fn assert_removed(env: &Env, name: &str) {
    env.assert_gone(name);
    let storage = env.root.join("storage").join(name);
    assert!(!storage.exists(), "{} left behind", storage.display());
}

/// A tar archive from raw (name, type, link) entries, written byte by
/// byte so names such as `../x` survive.
fn raw_tar(path: &Path, entries: &[(&str, u8, &str)]) {
    let mut out = Vec::new();
    for (name, kind, link) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000755");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(b"00000000000");
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = *kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
    }
    out.extend_from_slice(&[0u8; 1024]);
    std::fs::write(path, out).expect("write tar");
}

fn no_image_leftovers(env: &Env) {
    let images = env.root.join("images");
    let empty = |p: PathBuf| {
        std::fs::read_dir(&p)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    };
    assert!(empty(images.join("tmp")), "temporary files left");
    assert!(empty(images.join("layers/sha256")), "layer left");
    assert!(empty(images.join("images")), "manifest left");
}

#[test]
fn run_exit_status_env_volumes_and_rm() {
    let Some(env) = Env::new("run") else { return };
    image(&env, "bb");
    let name = env.id("exit3");
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "--name",
        &name,
        "bb",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.code, 3, "{out}");
    assert_removed(&env, &name);

    let vol = env.dir.path().join("vol");
    std::fs::create_dir(&vol).expect("mkdir");
    std::fs::write(vol.join("in"), "from-host").expect("write");
    let v = vol.to_str().expect("utf-8");
    let name = env.id("envvol");
    let script = "echo A=$A; echo H=$(hostname); cat /data/in; echo; \
                  echo out > /data/out; touch /ro/x 2>/dev/null && echo RO-WRITABLE; \
                  echo upper > /root/f; exit 0";
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "--name",
        &name,
        "--hostname",
        "box1",
        "-e",
        "A=hello world",
        "-v",
        &format!("{v}:/data"),
        "-v",
        &format!("{v}:/ro:ro"),
        "bb",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("A=hello world\n"), "{out}");
    assert!(out.stdout.contains("H=box1\n"), "{out}");
    assert!(out.stdout.contains("from-host"), "{out}");
    assert!(!out.stdout.contains("RO-WRITABLE"), "{out}");
    assert_eq!(
        std::fs::read_to_string(vol.join("out")).expect("written through the volume"),
        "out\n"
    );
    assert_removed(&env, &name);
    // The image's layer is untouched by the container's writes.
    let out = env.fv(&["container", "run", "--rm", "bb", "--", "cat", "/root/f"]);
    assert_ne!(out.code, 0, "upper layer leaked into the image: {out}");
    assert!(
        std::fs::read_dir(env.root.join("storage"))
            .expect("storage")
            .next()
            .is_none(),
        "storage left behind"
    );
}

#[test]
fn memory_limit_oom_kills() {
    let Some(env) = Env::new("rmem") else { return };
    image(&env, "bb");
    let name = env.id("hog");
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "--name",
        &name,
        "--memory",
        "32M",
        "bb",
        "--",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=128M count=1; exit $?",
    ]);
    assert_eq!(out.code, 137, "{out}");
    assert!(out.stderr.contains("OOM"), "{out}");
    assert_removed(&env, &name);
}

#[test]
fn detach_logs_exec_stop_rm() {
    let Some(env) = Env::new("det") else { return };
    image(&env, "bb");
    let name = env.id("d");
    let script = "echo started; trap 'echo got-term; exit 7' TERM; \
                  while true; do sleep 0.1; done";
    let out = env.fv(&[
        "container",
        "run",
        "-d",
        "--name",
        &name,
        "--pids",
        "50",
        "bb",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim(), name);
    wait_until(|| {
        env.fv(&["container", "logs", &name])
            .stdout
            .contains("started")
    });
    let ls = env.fv(&["container", "ls"]);
    assert!(
        ls.stdout
            .lines()
            .any(|l| l.starts_with(&name) && l.contains("running")),
        "{ls}"
    );
    let out = env.fv(&[
        "container",
        "exec",
        "-e",
        "Q=42",
        &name,
        "sh",
        "-c",
        "echo q=$Q; ps; exit 5",
    ]);
    assert_eq!(out.code, 5, "{out}");
    assert!(out.stdout.contains("q=42"), "{out}");
    assert!(
        out.stdout.lines().any(|l| l.trim_start().starts_with("1 ")),
        "exec sees the container's PID 1: {out}"
    );
    let out = env.fv(&["container", "rm", &name]);
    assert_eq!(out.code, 2, "rm of a running container: {out}");
    let out = env.fv(&["container", "stop", &name]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(|| {
        env.fv(&["container", "logs", &name])
            .stdout
            .contains("got-term")
    });
    let insp = env.fv(&["container", "inspect", &name]);
    assert_eq!(insp.code, 0, "{insp}");
    let v: serde_json::Value = serde_json::from_str(&insp.stdout).expect("json");
    assert_eq!(v["status"], "stopped", "{v}");
    wait_until(|| {
        serde_json::from_str::<serde_json::Value>(&env.fv(&["container", "inspect", &name]).stdout)
            .is_ok_and(|v| v["exitCode"] == 7)
    });
    assert_eq!(env.fv(&["container", "rm", &name]).code, 0);
    assert_removed(&env, &name);
    // -d --rm: gone by itself once it exits.
    let name = env.id("drm");
    let out = env.fv(&[
        "container",
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "bb",
        "--",
        "true",
    ]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(|| !env.root.join("storage").join(&name).exists());
    assert_removed(&env, &name);
}

#[test]
fn bad_names_options_and_images_exit_2() {
    let Some(env) = Env::new("rbad") else { return };
    image(&env, "bb");
    let name = env.id("dup");
    assert_eq!(
        env.fv(&["container", "run", "--name", &name, "bb", "--", "true"])
            .code,
        0
    );
    let out = env.fv(&["container", "run", "--name", &name, "bb", "--", "true"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("already in use"), "{out}");
    assert_eq!(env.fv(&["container", "rm", &name]).code, 0);
    assert_removed(&env, &name);
    for (args, what) in [
        (vec!["--memory", "lots"], "--memory"),
        (vec!["--cpus", "0"], "--cpus"),
        (vec!["-e", "NOEQUALS"], "-e"),
        (vec!["-v", "/no/such/dir:/x"], "-v"),
        (vec!["--net", "carrier-pigeon"], "--net"),
    ] {
        let mut cmd = vec!["container", "run", "--rm"];
        cmd.extend(args);
        cmd.extend(["bb", "--", "true"]);
        let out = env.fv(&cmd);
        assert_eq!(out.code, 2, "{what}: {out}");
        assert!(out.stderr.contains(what), "{what}: {out}");
    }
    let out = env.fv(&["container", "run", "--rm", "nosuchimage", "--", "true"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("nosuchimage"), "{out}");
    assert!(
        std::fs::read_dir(env.root.join("storage"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(true),
        "storage left by failed runs"
    );
    // Bad image sources.
    assert_eq!(env.fv(&["image", "rm", "bb"]).code, 0);
    no_image_leftovers(&env);
    let junk = env.dir.path().join("junk.tar.gz");
    std::fs::write(&junk, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8]).expect("write");
    let dotdot = env.dir.path().join("dotdot.tar");
    raw_tar(&dotdot, &[("../escape", b'0', "")]);
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    let symlink = env.dir.path().join("symlink.tar");
    raw_tar(
        &symlink,
        &[
            ("etc", b'2', outside.to_str().expect("utf-8")),
            ("etc/passwd", b'0', ""),
        ],
    );
    for src in [&junk, &dotdot, &symlink] {
        let s = src.to_str().expect("utf-8");
        let out = env.fv(&["image", "import", s, "evil"]);
        assert_eq!(out.code, 2, "{s}: {out}");
        assert!(out.stderr.contains(s), "{s} not named: {out}");
        no_image_leftovers(&env);
    }
    assert!(
        std::fs::read_dir(&outside)
            .expect("outside")
            .next()
            .is_none(),
        "wrote through the symlink"
    );
    assert!(!env.dir.path().join("escape").exists());
    let out = env.fv(&["image", "import", "/no/such/rootfs", "x"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("/no/such/rootfs"), "{out}");
}
