//! Finding the Debian archive URI in the machine's own apt sources.
//!
//! No mirror is named in this project: the archive that already serves the host
//! (deb822 `*.sources` first, then one-line `sources.list` / `*.list`) is reused
//! for the riscv64 packages of another suite.

use std::fs;
use std::path::{Path, PathBuf};

use crate::FetchError;

/// An archive URI and the file it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveUri {
    /// The URI, as written in the sources (e.g. `http://…/debian`).
    pub uri: String,
    /// The sources file it came from.
    pub file: PathBuf,
}

/// One `deb` entry: its first URI and its suites.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DebEntry {
    uri: String,
    suites: Vec<String>,
}

/// Reads `VERSION_CODENAME` from an os-release text.
pub fn parse_os_release_codename(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("VERSION_CODENAME=")?;
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// The `deb` entries of a deb822 `.sources` text, skipping comments, `Enabled: no`
/// stanzas and stanzas without type `deb`.
fn parse_deb822(text: &str) -> Vec<DebEntry> {
    let mut entries = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let flush = |fields: &mut Vec<(String, String)>, entries: &mut Vec<DebEntry>| {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let is_deb = get("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = get("Enabled").is_none_or(|e| !e.trim().eq_ignore_ascii_case("no"));
        let uri = get("URIs").and_then(|u| u.split_whitespace().next());
        if let (true, true, Some(uri)) = (is_deb, enabled, uri) {
            entries.push(DebEntry {
                uri: uri.to_string(),
                suites: get("Suites")
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            });
        }
        fields.clear();
    };
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut fields, &mut entries);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Continuation of a multi-line field value.
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    flush(&mut fields, &mut entries);
    entries
}

/// The `deb` lines of a one-line-format text: `deb [options] URI suite components…`.
fn parse_one_line(text: &str) -> Vec<DebEntry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut tokens = line.split_whitespace();
        if tokens.next() != Some("deb") {
            continue;
        }
        let mut next = tokens.next();
        if next.is_some_and(|t| t.starts_with('[')) {
            // Options may be written `[arch=amd64]` or `[ arch=amd64 signed-by=… ]`.
            while let Some(t) = next {
                next = tokens.next();
                if t.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (next, tokens.next()) else {
            continue;
        };
        entries.push(DebEntry {
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
        });
    }
    entries
}

/// The entry whose suites contain the host codename, else the first one that is not a
/// security archive.
fn pick(entries: &[DebEntry], codename: Option<&str>) -> Option<String> {
    let is_security = |e: &DebEntry| {
        e.uri.contains("security") || e.suites.iter().all(|s| s.ends_with("-security"))
    };
    codename
        .and_then(|code| entries.iter().find(|e| e.suites.iter().any(|s| s == code)))
        .or_else(|| entries.iter().find(|e| !is_security(e)))
        .map(|e| e.uri.clone())
}

/// Picks the archive URI from deb822 text (a `.sources` file).
pub fn pick_from_deb822(text: &str, codename: Option<&str>) -> Option<String> {
    pick(&parse_deb822(text), codename)
}

/// Picks the archive URI from one-line text (`sources.list` or a `.list` file).
pub fn pick_from_one_line(text: &str, codename: Option<&str>) -> Option<String> {
    pick(&parse_one_line(text), codename)
}

fn sorted_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext) && p.is_file())
        .collect();
    files.sort();
    files
}

/// Finds the archive URI in the apt configuration under `etc_apt` (normally `/etc/apt`),
/// preferring entries for the host `codename`. deb822 files win over one-line files, as
/// in the reference script.
pub fn find_archive_uri(etc_apt: &Path, codename: Option<&str>) -> Result<ArchiveUri, FetchError> {
    let mut searched = Vec::new();
    let parts = etc_apt.join("sources.list.d");
    let deb822 = sorted_with_extension(&parts, "sources")
        .into_iter()
        .map(|f| (f, true));
    let one_line = std::iter::once(etc_apt.join("sources.list"))
        .chain(sorted_with_extension(&parts, "list"))
        .map(|f| (f, false));
    for (file, is_deb822) in deb822.chain(one_line) {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        searched.push(file.display().to_string());
        let uri = if is_deb822 {
            pick_from_deb822(&text, codename)
        } else {
            pick_from_one_line(&text, codename)
        };
        if let Some(uri) = uri {
            tracing::debug!(uri, file = %file.display(), "archive URI from apt sources");
            return Ok(ArchiveUri { uri, file });
        }
    }
    if searched.is_empty() {
        searched.push(format!(
            "nothing: no sources files under {}",
            etc_apt.display()
        ));
    }
    Err(FetchError::NoAptSource {
        searched: searched.join(", "),
    })
}

/// Host codename from `/etc/os-release`, if any.
pub fn host_codename() -> Option<String> {
    fs::read_to_string("/etc/os-release")
        .ok()
        .as_deref()
        .and_then(parse_os_release_codename)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
# Managed by hand
Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# a comment inside a stanza
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no
Components: main

types: deb deb-src
uris: http://mirror.example/debian http://other.example/debian
suites: bookworm bookworm-updates
components: main contrib
";

    #[test]
    fn deb822_prefers_enabled_stanza_with_host_codename() {
        assert_eq!(
            pick_from_deb822(DEB822, Some("bookworm")).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn deb822_falls_back_to_first_non_security_stanza() {
        assert_eq!(
            pick_from_deb822(DEB822, Some("noble")).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            pick_from_deb822(DEB822, None).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn deb822_only_security_or_disabled_gives_nothing() {
        let text = "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nEnabled: No\n";
        assert_eq!(pick_from_deb822(text, Some("trixie")), None);
        // ...but the security stanza is taken when it carries the codename itself.
        assert_eq!(
            pick_from_deb822(text, Some("bookworm-security")).as_deref(),
            Some("http://security.example/debian-security")
        );
    }

    #[test]
    fn deb822_multiline_values() {
        let text = "Types: deb\nURIs:\n http://mirror.example/debian\nSuites:\n  bookworm\n  bookworm-updates\n";
        assert_eq!(
            pick_from_deb822(text, Some("bookworm-updates")).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    const ONE_LINE: &str = "\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.example/debian-security bookworm-security main
deb [ arch=amd64 ] http://mirror.example/debian bookworm main contrib # trailing comment
deb http://updates.example/debian bookworm-updates main
";

    #[test]
    fn one_line_with_options_and_comments() {
        assert_eq!(
            pick_from_one_line(ONE_LINE, Some("bookworm")).as_deref(),
            Some("http://mirror.example/debian")
        );
        // No codename: first non-security deb line.
        assert_eq!(
            pick_from_one_line(ONE_LINE, None).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            pick_from_one_line("deb [arch=amd64] http://mirror.example/debian\n", None),
            None,
            "a line without a suite is not usable"
        );
    }

    #[test]
    fn os_release_codename() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(parse_os_release_codename(text).as_deref(), Some("bookworm"));
        assert_eq!(
            parse_os_release_codename("VERSION_CODENAME=\"noble\"\n").as_deref(),
            Some("noble")
        );
        assert_eq!(
            parse_os_release_codename("ID=arch\nVERSION_CODENAME=\n"),
            None
        );
    }

    #[test]
    fn find_in_directory_prefers_deb822_then_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let parts = dir.path().join("sources.list.d");
        fs::create_dir(&parts).unwrap();
        fs::write(dir.path().join("sources.list"), ONE_LINE).unwrap();
        fs::write(
            parts.join("other.list"),
            "deb http://list.example/debian bookworm main\n",
        )
        .unwrap();
        // The one-line file wins while no deb822 file has a deb entry.
        fs::write(
            parts.join("a.sources"),
            "Types: deb-src\nURIs: http://src.example/x\nSuites: bookworm\n",
        )
        .unwrap();
        let found = find_archive_uri(dir.path(), Some("bookworm")).unwrap();
        assert_eq!(found.uri, "http://mirror.example/debian");
        assert_eq!(found.file, dir.path().join("sources.list"));

        fs::write(parts.join("debian.sources"), DEB822).unwrap();
        let found = find_archive_uri(dir.path(), Some("bookworm")).unwrap();
        assert_eq!(found.uri, "http://mirror.example/debian");
        assert_eq!(found.file, parts.join("debian.sources"));
    }

    #[test]
    fn find_reports_what_was_searched() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("sources.list"), "# nothing\n").unwrap();
        let err = find_archive_uri(dir.path(), Some("bookworm")).unwrap_err();
        assert!(err.is_source_unavailable());
        assert!(err.to_string().contains("sources.list"), "{err}");
    }
}
