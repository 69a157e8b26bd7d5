//! A private apt configuration for the riscv64 packages of one suite.
//!
//! Everything apt writes (lists, caches, status) goes to a temporary directory;
//! the host's own apt state is not read for packages and not touched.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::error::ArchiveContext;
use crate::FetchError;

/// Architecture of every package fetched here.
pub(crate) const ARCH: &str = "riscv64";
/// The metapackage that names the current kernel of a suite.
pub(crate) const KERNEL_METAPACKAGE: &str = "linux-image-riscv64";
/// The statically linked busybox.
pub(crate) const BUSYBOX_PACKAGE: &str = "busybox-static";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Which hash apt announced for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashKind {
    /// The name apt uses.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Sha256 => "SHA256",
            HashKind::Sha512 => "SHA512",
        }
    }
}

/// One line of `apt-get --print-uris download`: where a `.deb` is and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebUri {
    /// Full URI of the `.deb`.
    pub uri: String,
    /// Local file name apt would use (epoch colon escaped as `%3a`).
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// Hash kind and lower-case hex digest.
    pub hash: Option<(HashKind, String)>,
}

/// Parses one `--print-uris` line: `'URI' FILENAME SIZE HASHTYPE:HEX`.
pub fn parse_print_uris_line(line: &str) -> Result<DebUri, FetchError> {
    let bad = || FetchError::PrintUris {
        line: line.to_string(),
    };
    let rest = line.trim().strip_prefix('\'').ok_or_else(bad)?;
    let (uri, rest) = rest.split_once('\'').ok_or_else(bad)?;
    let mut fields = rest.split_whitespace();
    let filename = fields.next().ok_or_else(bad)?;
    let size = fields
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(bad)?;
    let hash = fields.next().and_then(|h| {
        let (kind, hex) = h.split_once(':')?;
        let kind = match kind.to_ascii_uppercase().as_str() {
            "SHA256" => HashKind::Sha256,
            "SHA512" => HashKind::Sha512,
            _ => return None,
        };
        let ok = hex.len() == if kind == HashKind::Sha256 { 64 } else { 128 }
            && hex.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| (kind, hex.to_ascii_lowercase()))
    });
    let filename_ok = filename.ends_with(".deb")
        && !filename.starts_with('.')
        && !filename.contains('/')
        && !uri.is_empty();
    if !filename_ok {
        return Err(bad());
    }
    Ok(DebUri {
        uri: uri.to_string(),
        filename: filename.to_string(),
        size,
        hash,
    })
}

/// Parses all non-empty lines of `--print-uris` output.
pub fn parse_print_uris(output: &str) -> Result<Vec<DebUri>, FetchError> {
    output
        .lines()
        .filter(|l| l.trim_start().starts_with('\''))
        .map(parse_print_uris_line)
        .collect()
}

/// From `apt-cache depends linux-image-riscv64` output, the real kernel package
/// (`linux-image-<version>-riscv64`).
pub fn parse_kernel_dependency(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let mut t = line.split_whitespace();
        let kind = t.next()?;
        let pkg = t.next()?;
        let versioned = pkg
            .strip_prefix("linux-image-")
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()));
        (kind.ends_with("Depends:") && versioned && pkg.ends_with("-riscv64"))
            .then(|| pkg.to_string())
    })
}

/// Last lines of a command's stderr, for error messages.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(8);
    let joined = lines[start..].join(" | ");
    if joined.is_empty() {
        "(no output)".to_string()
    } else if joined.len() > 1500 {
        let cut = joined.len() - 1500;
        let cut = (cut..joined.len())
            .find(|&i| joined.is_char_boundary(i))
            .unwrap_or(joined.len());
        format!("...{}", &joined[cut..])
    } else {
        joined
    }
}

/// True when apt's messages say the archive could not be reached (as opposed to
/// answering with something wrong).
fn looks_unreachable(stderr: &str) -> bool {
    [
        "Could not resolve",
        "Temporary failure resolving",
        "Could not connect",
        "Connection refused",
        "Connection timed out",
        "Network is unreachable",
        "No route to host",
        "Unable to connect",
        "Connection failed",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

/// apt with its state in a temporary directory and one source: `deb URI SUITE main` for riscv64.
pub(crate) struct PrivateApt {
    dir: tempfile::TempDir,
    options: Vec<String>,
    archive: ArchiveContext,
}

impl PrivateApt {
    /// Writes the private configuration; does not touch the network.
    pub(crate) fn new(uri: &str, uri_origin: &str, suite: &str) -> Result<Self, FetchError> {
        let keyring = Path::new(KEYRING);
        if !keyring.is_file() {
            return Err(FetchError::MissingKeyring {
                path: keyring.to_path_buf(),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("fv-guest-apt.")
            .tempdir()
            .map_err(|e| {
                FetchError::io(
                    "creating a temporary apt directory in",
                    std::env::temp_dir(),
                    e,
                )
            })?;
        let root = dir.path();
        for sub in ["lists/partial", "cache/archives/partial"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(|e| FetchError::io("creating", &p, e))?;
        }
        let status = root.join("status");
        fs::write(&status, b"").map_err(|e| FetchError::io("writing", &status, e))?;
        let list = root.join("sources.list");
        let line = format!("deb [arch={ARCH} signed-by={KEYRING}] {uri} {suite} main\n");
        fs::write(&list, line).map_err(|e| FetchError::io("writing", &list, e))?;

        let p = |s: &str| root.join(s).display().to_string();
        let mut options = vec![
            format!("Dir::Etc::SourceList={}", list.display()),
            "Dir::Etc::SourceParts=/dev/null".to_string(),
            format!("Dir::State::Lists={}", p("lists")),
            format!("Dir::State::status={}", status.display()),
            format!("Dir::Cache={}", p("cache")),
            "Dir::Etc::Preferences=/dev/null".to_string(),
            "Dir::Etc::PreferencesParts=/dev/null".to_string(),
            format!("APT::Architecture={ARCH}"),
            format!("APT::Architectures::={ARCH}"),
            "Acquire::Languages=none".to_string(),
            "APT::Get::List-Cleanup=0".to_string(),
            // Fail reasonably fast when offline instead of retrying for minutes.
            "Acquire::Retries=1".to_string(),
            "Acquire::http::Timeout=30".to_string(),
            "Acquire::https::Timeout=30".to_string(),
        ];
        // As root apt drops to user _apt for downloads, which need not be able to
        // reach our private directory; stay root instead.
        if fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            options.push("APT::Sandbox::User=root".to_string());
        }
        Ok(PrivateApt {
            dir,
            options,
            archive: ArchiveContext {
                uri: uri.to_string(),
                uri_origin: uri_origin.to_string(),
                suite: suite.to_string(),
            },
        })
    }

    /// Runs `tool args…` with the private options; returns stdout on success.
    fn run(&self, tool: &str, args: &[&str], cwd: Option<&Path>) -> Result<Output, FetchError> {
        let shown = format!("{tool} {}", args.join(" "));
        let mut cmd = Command::new(tool);
        for o in &self.options {
            cmd.arg("-o").arg(o);
        }
        cmd.args(args).env("LC_ALL", "C").env("LANGUAGE", "C");
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        tracing::debug!(command = %shown, dir = %self.dir.path().display(), "running private apt");
        let out = cmd.output().map_err(|source| FetchError::Spawn {
            command: shown.clone(),
            source,
        })?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(FetchError::AptCommand {
            command: shown,
            status: out.status.to_string(),
            archive: Box::new(self.archive.clone()),
            stderr_tail: tail(&out.stderr),
            unreachable: looks_unreachable(&stderr),
        })
    }

    /// `apt-get update`, checked: apt sometimes exits 0 with only warnings when
    /// nothing could be fetched, so the absence of a Packages index is an error too.
    pub(crate) fn update(&self) -> Result<(), FetchError> {
        let out = self.run("apt-get", &["-q", "update"], None)?;
        let lists = self.dir.path().join("lists");
        let has_packages = fs::read_dir(&lists)
            .map_err(|e| FetchError::io("reading", &lists, e))?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"));
        if has_packages {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(FetchError::AptCommand {
            command: "apt-get -q update".to_string(),
            status: "exit status 0 but no Packages index was fetched".to_string(),
            archive: Box::new(self.archive.clone()),
            stderr_tail: tail(&out.stderr),
            unreachable: looks_unreachable(&stderr),
        })
    }

    /// Resolves `linux-image-riscv64` to the versioned kernel package.
    pub(crate) fn resolve_kernel_package(&self) -> Result<String, FetchError> {
        let out = self.run("apt-cache", &["depends", KERNEL_METAPACKAGE], None)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        parse_kernel_dependency(&stdout).ok_or_else(|| FetchError::KernelPackageUnresolved {
            archive: Box::new(self.archive.clone()),
            output_tail: tail(&out.stdout),
        })
    }

    /// URIs, sizes and hashes of the given packages, without downloading them.
    pub(crate) fn print_uris(&self, packages: &[&str]) -> Result<Vec<DebUri>, FetchError> {
        let mut args = vec!["--print-uris", "download"];
        args.extend_from_slice(packages);
        let out = self.run("apt-get", &args, None)?;
        parse_print_uris(&String::from_utf8_lossy(&out.stdout))
    }

    /// `apt-get download` into `dir`: for URI schemes this crate does not speak itself.
    pub(crate) fn download(&self, packages: &[&str], dir: &Path) -> Result<(), FetchError> {
        let mut args = vec!["-q", "download"];
        args.extend_from_slice(packages);
        self.run("apt-get", &args, Some(dir)).map(|_| ())
    }

    /// The archive URI in use.
    pub(crate) fn uri(&self) -> &str {
        &self.archive.uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_uris_lines() {
        let out = "\
'http://mirror.example/debian/pool/main/b/busybox/busybox-static_1%3a1.37.0-6+b9_riscv64.deb' busybox-static_1%3a1.37.0-6+b9_riscv64.deb 1234567 SHA256:8898C27A38F0BFCC3D9A4B0687EE752C4A2B3028576F919BA8955D2CBD6D4722
'http://mirror.example/debian/pool/main/l/linux-signed/linux-image-6.12.107+deb13-riscv64_6.12.107-1_riscv64.deb' linux-image-6.12.107+deb13-riscv64_6.12.107-1_riscv64.deb 112012420 SHA256:27a89864e40da1730f1c5f7a307e1311c9eac8ffb217b389540757882b335d8a
";
        let debs = parse_print_uris(out).unwrap();
        assert_eq!(debs.len(), 2);
        assert_eq!(
            debs[0].filename,
            "busybox-static_1%3a1.37.0-6+b9_riscv64.deb"
        );
        assert_eq!(debs[0].size, 1_234_567);
        assert_eq!(
            debs[0].hash,
            Some((
                HashKind::Sha256,
                "8898c27a38f0bfcc3d9a4b0687ee752c4a2b3028576f919ba8955d2cbd6d4722".to_string()
            ))
        );
        assert!(debs[1]
            .uri
            .starts_with("http://mirror.example/debian/pool/"));
        assert_eq!(debs[1].size, 112_012_420);
    }

    #[test]
    fn print_uris_other_hashes_and_garbage() {
        let md5 = parse_print_uris_line("'file:/srv/debian/pool/x_1_riscv64.deb' x_1_riscv64.deb 10 MD5Sum:0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(md5.hash, None);
        assert_eq!(md5.uri, "file:/srv/debian/pool/x_1_riscv64.deb");
        for bad in [
            "",
            "http://no-quotes.example/x.deb x.deb 1 SHA256:00",
            "'http://mirror.example/x.deb' x.deb notanumber SHA256:00",
            "'http://mirror.example/x.deb' ../x.deb 1",
            "'http://mirror.example/x.tar' x.tar 1",
        ] {
            assert!(parse_print_uris_line(bad).is_err(), "{bad:?}");
        }
        // Lines that are not URIs (apt notices) are ignored.
        assert_eq!(parse_print_uris("N: something\n").unwrap(), vec![]);
    }

    #[test]
    fn kernel_dependency() {
        let out = "linux-image-riscv64\n  Depends: linux-image-6.12.107+deb13-riscv64\n";
        assert_eq!(
            parse_kernel_dependency(out).as_deref(),
            Some("linux-image-6.12.107+deb13-riscv64")
        );
        let alt = "linux-image-riscv64\n |Depends: <linux-image-riscv64-signed>\n  Depends: linux-image-6.16.3+deb14-riscv64\n  Recommends: firmware\n";
        assert_eq!(
            parse_kernel_dependency(alt).as_deref(),
            Some("linux-image-6.16.3+deb14-riscv64")
        );
        assert_eq!(parse_kernel_dependency("linux-image-riscv64\n"), None);
    }

    #[test]
    fn stderr_tail_keeps_last_lines() {
        let text: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let t = tail(text.as_bytes());
        assert!(t.starts_with("line 12"), "{t}");
        assert!(t.ends_with("line 19"));
        assert_eq!(tail(b""), "(no output)");
    }

    #[test]
    fn unreachable_messages() {
        assert!(looks_unreachable(
            "W: Failed to fetch http://127.0.0.1:9/debian/dists/trixie/InRelease  Could not connect to 127.0.0.1:9"
        ));
        assert!(!looks_unreachable("E: Unable to locate package foo"));
    }
}
