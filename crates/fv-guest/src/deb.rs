//! Reading `.deb` files in Rust: an `ar` archive holding `control.tar.*` and `data.tar.*`.
//!
//! Done here rather than with `dpkg-deb -x` so that only the few files we need
//! (the kernel, its config, a handful of modules, busybox) are ever written out,
//! instead of unpacking the whole kernel package (~500 MB of modules), and so that
//! the same xz decoder also serves the `.ko.xz` modules.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::FetchError;

/// The compression of a tar member, from its name.
fn decoder<'a, R: Read + 'a>(name: &str, inner: R) -> Option<Box<dyn Read + 'a>> {
    if name.ends_with(".tar.xz") {
        Some(Box::new(liblzma::read::XzDecoder::new(inner)))
    } else if name.ends_with(".tar.gz") {
        Some(Box::new(flate2::read::GzDecoder::new(inner)))
    } else if name.ends_with(".tar") {
        Some(Box::new(inner))
    } else {
        None
    }
}

/// What the visitor wants after an entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Calls `visit(path, entry)` for each entry of the deb's `<member>.tar.*`
/// (`member` is `control` or `data`). Paths have the leading `./` removed.
pub(crate) fn for_each_entry(
    deb: &Path,
    member: &str,
    mut visit: impl FnMut(&str, &mut tar::Entry<'_, Box<dyn Read + '_>>) -> Result<Flow, FetchError>,
) -> Result<(), FetchError> {
    let bad = |reason: String| FetchError::BadDeb {
        path: deb.to_path_buf(),
        reason,
    };
    let file = File::open(deb).map_err(|e| FetchError::io("opening", deb, e))?;
    let mut archive = ar::Archive::new(BufReader::with_capacity(1 << 20, file));
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(|e| bad(format!("not an ar archive: {e}")))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        if !name.starts_with(&format!("{member}.tar")) {
            continue;
        }
        let Some(reader) = decoder(&name, entry) else {
            return Err(bad(format!("unsupported compression of member {name}")));
        };
        let mut tar = tar::Archive::new(reader);
        let entries = tar
            .entries()
            .map_err(|e| bad(format!("reading {name}: {e}")))?;
        for item in entries {
            let mut item = item.map_err(|e| bad(format!("reading {name}: {e}")))?;
            let path = item
                .path()
                .map_err(|e| bad(format!("bad path in {name}: {e}")))?
                .to_string_lossy()
                .into_owned();
            let path = path.trim_start_matches("./").to_string();
            if visit(&path, &mut item)? == Flow::Stop {
                break;
            }
        }
        return Ok(());
    }
    Err(bad(format!("no {member}.tar.* member")))
}

/// Reads a whole entry into memory.
pub(crate) fn read_entry(
    deb: &Path,
    path: &str,
    entry: &mut impl Read,
) -> Result<Vec<u8>, FetchError> {
    let mut buf = Vec::new();
    entry
        .read_to_end(&mut buf)
        .map_err(|e| FetchError::BadDeb {
            path: deb.to_path_buf(),
            reason: format!("reading {path}: {e}"),
        })?;
    Ok(buf)
}

/// `Package` and `Version` of a deb, from its control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    pub package: String,
    pub version: String,
}

/// Parses the fields we need out of a control file.
pub(crate) fn parse_control(text: &str) -> Option<Control> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    Some(Control {
        package: field("Package")?,
        version: field("Version")?,
    })
}

/// Reads the control file of a deb.
pub(crate) fn read_control(deb: &Path) -> Result<Control, FetchError> {
    let mut text = None;
    for_each_entry(deb, "control", |path, entry| {
        if path == "control" {
            text = Some(read_entry(deb, path, entry)?);
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    let text = text.ok_or_else(|| FetchError::BadDeb {
        path: deb.to_path_buf(),
        reason: "no control file".into(),
    })?;
    parse_control(&String::from_utf8_lossy(&text)).ok_or_else(|| FetchError::BadDeb {
        path: deb.to_path_buf(),
        reason: "control file lacks Package or Version".into(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a minimal deb (`debian-binary`, `control.tar.gz`, `data.tar.xz`) for tests.
    pub(crate) fn make_deb(path: &Path, control: &str, files: &[(&str, &[u8])]) {
        fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
            let mut b = tar::Builder::new(Vec::new());
            for (name, data) in files {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, format!("./{name}"), *data).unwrap();
            }
            b.into_inner().unwrap()
        }
        let control_tar = {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar_of(&[("control", control.as_bytes())]))
                .unwrap();
            gz.finish().unwrap()
        };
        let data_tar = {
            use std::io::Write;
            let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
            xz.write_all(&tar_of(files)).unwrap();
            xz.finish().unwrap()
        };
        let mut ar = ar::Builder::new(File::create(path).unwrap());
        for (name, data) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", control_tar),
            ("data.tar.xz", data_tar),
        ] {
            let header = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            ar.append(&header, data.as_slice()).unwrap();
        }
    }

    #[test]
    fn reads_control_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let deb = dir.path().join("x.deb");
        make_deb(
            &deb,
            "Package: busybox-static\nVersion: 1:1.37.0-6\nArchitecture: riscv64\n",
            &[("usr/bin/busybox", b"ELF"), ("usr/share/doc/x", b"doc")],
        );
        let c = read_control(&deb).unwrap();
        assert_eq!(c.package, "busybox-static");
        assert_eq!(c.version, "1:1.37.0-6");
        let mut seen = Vec::new();
        for_each_entry(&deb, "data", |p, e| {
            seen.push((p.to_string(), read_entry(&deb, p, e)?));
            Ok(Flow::Continue)
        })
        .unwrap();
        assert_eq!(seen[0], ("usr/bin/busybox".to_string(), b"ELF".to_vec()));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn rejects_non_deb() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.deb");
        std::fs::write(&path, b"not an archive").unwrap();
        let err = read_control(&path).unwrap_err();
        assert!(err.to_string().contains("bad.deb"), "{err}");
    }
}
