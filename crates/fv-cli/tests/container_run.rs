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
    env.busybox_image(name)
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
                  echo upper > /root/f; grep ^Seccomp: /proc/self/status; exit 0";
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
    // `fv container run` keeps the default filter.
    assert!(out.stdout.contains("Seccomp:\t2\n"), "{out}");
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
    assert!(env.listed_as(&name, "running"), "not running");
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

fn sh(cmd: &str) -> String {
    let out = run_bounded(std::process::Command::new("sh").args(["-c", cmd]), TIMEOUT);
    assert_eq!(out.code, 0, "{cmd}: {out}");
    out.stdout
}

/// Layer tarballs in `dir`: a busybox rootfs with /etc/old and /dir/a
/// (gzipped), then a layer whiting out /etc/old and making /dir opaque.
fn two_layers(env: &Env, dir: &Path) -> (PathBuf, PathBuf) {
    let l1 = dir.join("l1");
    env.rootfs(&l1);
    std::fs::write(l1.join("etc/old"), "old").expect("write");
    std::fs::create_dir(l1.join("dir")).expect("mkdir");
    std::fs::write(l1.join("dir/a"), "a").expect("write");
    let l2 = dir.join("l2");
    std::fs::create_dir_all(l2.join("etc")).expect("mkdir");
    std::fs::create_dir_all(l2.join("dir")).expect("mkdir");
    std::fs::write(l2.join("etc/.wh.old"), "").expect("write");
    std::fs::write(l2.join("dir/.wh..wh..opq"), "").expect("write");
    std::fs::write(l2.join("dir/b"), "b").expect("write");
    let (t1, t2) = (dir.join("l1.tar.gz"), dir.join("l2.tar"));
    sh(&format!(
        "tar -C {} -czf {} . && tar -C {} -cf {} .",
        l1.display(),
        t1.display(),
        l2.display(),
        t2.display()
    ));
    (t1, t2)
}

const IMAGE_CONFIG: &str = r#"{"config":{"Env":["PATH=/bin","IMGVAR=from-image"],
  "Cmd":["sh","-c","cat /etc/old; ls /dir; echo IMGVAR=$IMGVAR"]}}"#;

fn check_layered_run(env: &Env, image: &str) {
    let out = env.fv(&["container", "run", "--rm", image]);
    assert_eq!(out.code, 0, "{image}: {out}");
    assert!(
        out.stderr.contains("/etc/old"),
        "whiteout not applied: {out}"
    );
    assert!(
        out.stdout.contains("b\n") && !out.stdout.contains("a\n"),
        "opaque dir: {out}"
    );
    assert!(out.stdout.contains("IMGVAR=from-image"), "{out}");
}

#[test]
fn oci_layout_and_docker_save_images_with_whiteouts() {
    let Some(env) = Env::new("layers") else {
        return;
    };
    let work = env.dir.path().join("img");
    std::fs::create_dir(&work).expect("mkdir");
    let (t1, t2) = two_layers(&env, &work);
    // OCI image layout: blobs by digest, index.json -> manifest -> layers.
    let layout = work.join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |p: &Path| -> String {
        let hex = sh(&format!("sha256sum {}", p.display()))
            .split_whitespace()
            .next()
            .expect("hash")
            .to_string();
        std::fs::copy(p, blobs.join(&hex)).expect("copy blob");
        format!("sha256:{hex}")
    };
    let cfg = work.join("config.json");
    std::fs::write(&cfg, IMAGE_CONFIG).expect("write");
    let manifest = work.join("manifest-oci.json");
    std::fs::write(
        &manifest,
        serde_json::json!({"schemaVersion": 2, "config": {"digest": put(&cfg)},
            "layers": [{"digest": put(&t1)}, {"digest": put(&t2)}]})
        .to_string(),
    )
    .expect("write");
    std::fs::write(
        layout.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": put(&manifest)}]})
            .to_string(),
    )
    .expect("write");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write");
    let out = env.fv(&["image", "import", layout.to_str().expect("utf-8"), "oci"]);
    assert_eq!(out.code, 0, "{out}");
    check_layered_run(&env, "oci");
    // The same as a tarball.
    let oci_tar = work.join("oci.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        layout.display(),
        oci_tar.display()
    ));
    let out = env.fv(&[
        "image",
        "import",
        oci_tar.to_str().expect("utf-8"),
        "ocitar",
    ]);
    assert_eq!(out.code, 0, "{out}");
    check_layered_run(&env, "ocitar");
    // docker save: manifest.json naming the config and layer files.
    let save = work.join("save");
    std::fs::create_dir_all(save.join("l1")).expect("mkdir");
    std::fs::create_dir_all(save.join("l2")).expect("mkdir");
    std::fs::copy(&t1, save.join("l1/layer.tar")).expect("copy");
    std::fs::copy(&t2, save.join("l2/layer.tar")).expect("copy");
    std::fs::write(save.join("cfg.json"), IMAGE_CONFIG).expect("write");
    std::fs::write(
        save.join("manifest.json"),
        r#"[{"Config":"cfg.json","RepoTags":["t:1"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#,
    )
    .expect("write");
    let save_tar = work.join("save.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        save.display(),
        save_tar.display()
    ));
    let out = env.fv(&["image", "import", save_tar.to_str().expect("utf-8"), "dk"]);
    assert_eq!(out.code, 0, "{out}");
    check_layered_run(&env, "dk");
    let ls = env.fv(&["image", "ls"]);
    assert!(
        ["oci", "ocitar", "dk"]
            .iter()
            .all(|n| ls.stdout.lines().any(|l| l.starts_with(n))),
        "{ls}"
    );
    // Layers are stored once: the three images share two layers.
    let layers = std::fs::read_dir(env.root.join("images/layers/sha256"))
        .expect("layers")
        .count();
    assert_eq!(layers, 2);
    for n in ["oci", "ocitar", "dk"] {
        assert_eq!(env.fv(&["image", "rm", n]).code, 0);
    }
    assert_eq!(
        std::fs::read_dir(env.root.join("images/layers/sha256"))
            .expect("layers")
            .count(),
        0
    );
}

fn veth_links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

#[test]
fn bridge_network_addresses_route_and_cleanup() {
    let Some(env) = Env::new("br") else { return };
    if !Path::new("/usr/sbin/ip").exists() && !Path::new("/sbin/ip").exists() {
        eprintln!("SKIP: bridge networking needs iproute2");
        return;
    }
    image(&env, "bb");
    let before = veth_links();
    let (a, b) = (env.id("a"), env.id("b"));
    for n in [&a, &b] {
        let out = env.fv(&[
            "container",
            "run",
            "-d",
            "--net",
            "bridge",
            "--name",
            n,
            "bb",
            "--",
            "sleep",
            "60",
        ]);
        assert_eq!(out.code, 0, "{out}");
    }
    let addr = |n: &str| -> String {
        let v: serde_json::Value =
            serde_json::from_str(&env.fv(&["container", "inspect", n]).stdout).expect("json");
        v["address"].as_str().expect("an address").to_string()
    };
    let (ip_a, ip_b) = (addr(&a), addr(&b));
    assert_ne!(ip_a, ip_b);
    assert!(ip_a.starts_with("10.77.0.") && ip_b.starts_with("10.77.0."));
    let out = env.fv(&[
        "container",
        "exec",
        &a,
        "sh",
        "-c",
        &format!("ip route; ip -o addr show eth0; ping -c1 -W3 10.77.0.1 && ping -c1 -W3 {ip_b}"),
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("default via 10.77.0.1"), "{out}");
    assert!(out.stdout.contains(&format!("{ip_a}/24")), "{out}");
    // --net none: loopback only.
    let out = env.fv(&[
        "container",
        "run",
        "--rm",
        "bb",
        "--",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"],
        "{out}"
    );
    for n in [&a, &b] {
        assert_eq!(env.fv(&["container", "rm", "-f", n]).code, 0);
        assert_removed(&env, n);
    }
    wait_until(|| {
        let now = veth_links();
        now.iter()
            .filter(|l| l.starts_with("fvh"))
            .all(|l| before.contains(l))
    });
    // The allocator is host-wide; entries name their owner's state root.
    let ours = env.root.display().to_string();
    let held = std::fs::read_dir("/run/ferrovisor/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|owner| owner.starts_with(&ours)))
        .count();
    assert_eq!(held, 0, "addresses not released");
}

#[test]
fn tty_is_the_containers_own_pty() {
    let Some(env) = Env::new("tty") else { return };
    image(&env, "bb");
    let name = env.id("t");
    let out = env.fv(&[
        "container",
        "run",
        "-t",
        "--rm",
        "--name",
        &name,
        "bb",
        "--",
        "sh",
        "-c",
        "tty; test -t 0 && test -t 1 && echo ISTTY; echo TERM=$TERM; exit 5",
    ]);
    assert_eq!(out.code, 5, "{out}");
    // A pty of the container's own devpts instance, as its stdio.
    assert!(out.stdout.contains("/dev/pts/0\r\n"), "{out}");
    assert!(out.stdout.contains("ISTTY"), "{out}");
    assert!(out.stdout.contains("TERM=xterm"), "{out}");
    assert_removed(&env, &name);
}

#[test]
fn exec_tty_user_and_workdir() {
    let Some(env) = Env::new("xtty") else { return };
    image(&env, "bb");
    let name = env.id("x");
    let out = env.fv(&[
        "container",
        "run",
        "-d",
        "--name",
        &name,
        "bb",
        "--",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    assert_eq!(out.code, 0, "{out}");
    // -t: a pty of the container's devpts as the exec'd process's stdio,
    // its output relayed here (the pty turns \n into \r\n).
    let out = env.fv(&[
        "container",
        "exec",
        "-t",
        &name,
        "sh",
        "-c",
        "tty; test -t 0 && test -t 1 && echo ISTTY; exit 4",
    ]);
    assert_eq!(out.code, 4, "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    assert!(out.stdout.contains("ISTTY\r\n"), "{out}");
    // Without -t, no terminal.
    let out = env.fv(&[
        "container",
        "exec",
        &name,
        "sh",
        "-c",
        "test -t 1 || echo NOTTY",
    ]);
    assert!(out.stdout.contains("NOTTY"), "{out}");
    let out = env.fv(&[
        "container",
        "exec",
        "-u",
        "1000:1001",
        "-w",
        "/tmp",
        &name,
        "sh",
        "-c",
        "id -u; id -g; pwd",
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "1000\n1001\n/tmp\n", "{out}");
    let out = env.fv(&["container", "exec", "-u", "bob", &name, "true"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--user"), "{out}");
    assert_eq!(env.fv(&["container", "stop", "-t", "1", &name]).code, 0);
    assert_eq!(env.fv(&["container", "rm", &name]).code, 0);
    assert_removed(&env, &name);
}

#[test]
fn signals_are_forwarded_and_limits_reach_the_cgroup() {
    let Some(env) = Env::new("sig") else { return };
    image(&env, "bb");
    let name = env.id("s");
    let mut child = env.spawn_fv(&[
        "container",
        "run",
        "--rm",
        "--name",
        &name,
        "--cpus",
        "0.5",
        "--pids",
        "20",
        "bb",
        "--",
        "sh",
        "-c",
        "trap 'exit 9' TERM; while true; do sleep 0.1; done",
    ]);
    wait_until(|| env.listed_as(&name, "running"));
    let quota = cgroup_dirs(&name)
        .into_iter()
        .find_map(|d| {
            read_trim(&d.join("cpu.cfs_quota_us")).or_else(|| read_trim(&d.join("cpu.max")))
        })
        .expect("cpu cgroup");
    assert!(quota.starts_with("50000"), "{quota}");
    let pids = pids_cgroup_dir(&name).expect("pids cgroup");
    assert_eq!(read_trim(&pids.join("pids.max")).as_deref(), Some("20"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill fv");
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "fv did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(9), "SIGTERM reached the container");
    assert_removed(&env, &name);
}

#[test]
fn logs_follow_prints_until_the_container_stops() {
    let Some(env) = Env::new("logf") else { return };
    image(&env, "bb");
    let name = env.id("f");
    let script = "echo one; sleep 2; echo two; sleep 1; echo three";
    let out = env.fv(&[
        "container",
        "run",
        "-d",
        "--name",
        &name,
        "bb",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.code, 0, "{out}");
    let started = std::time::Instant::now();
    let out = env.fv(&["container", "logs", "-f", &name]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "one\ntwo\nthree\n", "{out}");
    // It waited for the later lines rather than finding them written.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(env.listed_as(&name, "stopped"), "not stopped");
    let out = env.fv(&["container", "logs", "--follow", "no-such-container"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(env.fv(&["container", "rm", &name]).code, 0);
}
