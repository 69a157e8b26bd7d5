//! Downloading `.deb` files over HTTP(S), verified against the hashes apt announced.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256, Sha512};

use crate::apt::{DebUri, HashKind};
use crate::FetchError;

/// A running hash of one of the kinds apt announces.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn new(kind: HashKind) -> Self {
        match kind {
            HashKind::Sha256 => Hasher::Sha256(Sha256::new()),
            HashKind::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
        }
    }
}

/// Lower-case hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 hex of a byte string.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hash of a file's contents.
pub(crate) fn hash_file(path: &Path, kind: HashKind) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(|e| FetchError::io("opening", path, e))?;
    let mut hasher = Hasher::new(kind);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| FetchError::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish_hex())
}

/// True when `path` exists with the announced size and hash.
pub(crate) fn file_matches(path: &Path, deb: &DebUri) -> bool {
    let size_ok = fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == deb.size);
    size_ok
        && match &deb.hash {
            Some((kind, want)) => hash_file(path, *kind).is_ok_and(|got| &got == want),
            None => true,
        }
}

/// Checks a finished file against the announced size and hash.
pub(crate) fn verify(path: &Path, deb: &DebUri) -> Result<(), FetchError> {
    let len = fs::metadata(path)
        .map_err(|e| FetchError::io("reading metadata of", path, e))?
        .len();
    if len != deb.size {
        return Err(FetchError::Mismatch {
            what: "size",
            path: path.display().to_string(),
            expected: deb.size.to_string(),
            actual: len.to_string(),
        });
    }
    if let Some((kind, want)) = &deb.hash {
        let got = hash_file(path, *kind)?;
        if &got != want {
            return Err(FetchError::Mismatch {
                what: kind.name(),
                path: path.display().to_string(),
                expected: want.clone(),
                actual: got,
            });
        }
    }
    Ok(())
}

/// Whether this crate downloads the URI itself (else `apt-get download` does).
pub(crate) fn is_http(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// Download progress: a bar on a terminal, occasional plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    label: String,
    total: u64,
    done: u64,
    last_line: Instant,
}

impl Progress {
    fn new(enabled: bool, label: &str, total: u64) -> Self {
        let tty = io::stderr().is_terminal();
        let bar = (enabled && tty).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(label.to_string());
            bar
        });
        Progress {
            bar,
            plain: enabled && !tty,
            label: label.to_string(),
            total,
            done: 0,
            last_line: Instant::now(),
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if self.plain && self.last_line.elapsed() >= Duration::from_secs(3) {
            self.last_line = Instant::now();
            self.line();
        }
    }

    fn line(&self) {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let pct = self
            .done
            .saturating_mul(100)
            .checked_div(self.total)
            .unwrap_or(100);
        eprintln!(
            "fv-guest: downloading {}: {:.1}/{:.1} MiB ({pct}%)",
            self.label,
            mib(self.done),
            mib(self.total)
        );
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        } else if self.plain {
            self.line();
        }
    }
}

/// Downloads `deb` into `dir/deb.filename`, verifying size and hash. The file only
/// appears under its final name once verified.
pub(crate) fn http_download(
    agent: &ureq::Agent,
    deb: &DebUri,
    dir: &Path,
    progress: bool,
) -> Result<PathBuf, FetchError> {
    let dest = dir.join(&deb.filename);
    let partial = dir.join(format!(".{}.partial-{}", deb.filename, std::process::id()));
    tracing::info!(url = %deb.uri, bytes = deb.size, "downloading");
    let result = download_to(agent, deb, &partial, progress).and_then(|()| {
        fs::rename(&partial, &dest).map_err(|e| FetchError::io("renaming into place", &dest, e))
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result.map(|()| dest)
}

fn download_to(
    agent: &ureq::Agent,
    deb: &DebUri,
    partial: &Path,
    progress: bool,
) -> Result<(), FetchError> {
    let http_err = |source: ureq::Error| {
        let unreachable = matches!(
            source,
            ureq::Error::Io(_)
                | ureq::Error::HostNotFound
                | ureq::Error::ConnectionFailed
                | ureq::Error::Timeout(_)
        );
        FetchError::Http {
            url: deb.uri.clone(),
            source: Box::new(source),
            unreachable,
        }
    };
    let mut response = agent.get(&deb.uri).call().map_err(http_err)?;
    let mut body = response.body_mut().as_reader();
    let mut file = File::create(partial).map_err(|e| FetchError::io("creating", partial, e))?;
    let mut hasher = deb.hash.as_ref().map(|(kind, _)| Hasher::new(*kind));
    let mut bar = Progress::new(progress, &deb.filename, deb.size);
    let mut buf = vec![0u8; 256 * 1024];
    let mut got: u64 = 0;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(http_err(ureq::Error::Io(e))),
        };
        got += n as u64;
        if got > deb.size {
            break;
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        file.write_all(&buf[..n])
            .map_err(|e| FetchError::io("writing", partial, e))?;
        bar.add(n as u64);
    }
    bar.finish();
    file.sync_all()
        .map_err(|e| FetchError::io("syncing", partial, e))?;
    if got != deb.size {
        return Err(FetchError::Mismatch {
            what: "size",
            path: deb.uri.clone(),
            expected: deb.size.to_string(),
            actual: if got > deb.size {
                format!("more than {}", deb.size)
            } else {
                got.to_string()
            },
        });
    }
    if let (Some(h), Some((kind, want))) = (hasher, &deb.hash) {
        let actual = h.finish_hex();
        if &actual != want {
            return Err(FetchError::Mismatch {
                what: kind.name(),
                path: deb.uri.clone(),
                expected: want.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// An HTTP agent with timeouts suited to large downloads from a mirror.
pub(crate) fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(30 * 60)))
        .user_agent(concat!("ferrovisor-fv-guest/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_checks_size_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x_1_riscv64.deb");
        fs::write(&path, b"abc").unwrap();
        let mut deb = DebUri {
            uri: "http://mirror.example/debian/x_1_riscv64.deb".into(),
            filename: "x_1_riscv64.deb".into(),
            size: 3,
            hash: Some((HashKind::Sha256, sha256_hex(b"abc"))),
        };
        verify(&path, &deb).unwrap();
        assert!(file_matches(&path, &deb));
        deb.hash = Some((HashKind::Sha256, sha256_hex(b"abd")));
        assert!(matches!(
            verify(&path, &deb),
            Err(FetchError::Mismatch { what: "SHA256", .. })
        ));
        assert!(!file_matches(&path, &deb));
        deb.size = 4;
        assert!(matches!(
            verify(&path, &deb),
            Err(FetchError::Mismatch { what: "size", .. })
        ));
    }

    #[test]
    fn unreachable_server_is_reported_as_unavailable() {
        // Port 9 (discard) on loopback: nothing listens there on a normal machine.
        let deb = DebUri {
            uri: "http://127.0.0.1:9/debian/x_1_riscv64.deb".into(),
            filename: "x_1_riscv64.deb".into(),
            size: 3,
            hash: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let err = http_download(&agent(), &deb, dir.path(), false).unwrap_err();
        assert!(err.is_source_unavailable(), "{}", err.chain());
        assert!(err.to_string().contains("127.0.0.1:9"));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no partial file left"
        );
    }
}
