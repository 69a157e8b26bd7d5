//! Images: read-only layers stored once under their content digest
//! (sha256 of the uncompressed tar) and a small manifest per image name.
//! `import` takes a rootfs directory or a (gzipped) rootfs tarball.
//!
//! Layout under the image root:
//! `layers/sha256/HEX/` (extracted layer), `images/NAME.json` (manifest).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

/// An image operation failed; names the image, file or tar entry.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image name {0:?}: use letters, digits, '_', '-', '.', at most 64 characters")]
    BadName(String),
    #[error("image {0:?} already exists")]
    Exists(String),
    #[error("image {0:?} does not exist")]
    NotFound(String),
    #[error("{0}: no such file or directory")]
    MissingSource(PathBuf),
    #[error("{source_path}: entry {entry:?} {problem}")]
    UnsafeEntry {
        source_path: PathBuf,
        entry: String,
        problem: &'static str,
    },
    #[error("{path}: not a valid tar archive: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    /// Errors in what the user gave (exit 2).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ImageError::Io { .. })
    }
}

/// `images/NAME.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    pub name: String,
    /// Bottom layer first, as `sha256:HEX`.
    pub layers: Vec<String>,
    /// Seconds since the epoch.
    pub created: u64,
    /// Where it was imported from.
    pub source: PathBuf,
    /// The image's run configuration, when the source had one (OCI and
    /// `docker save` images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
}

/// What an OCI image config says about running it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
}

impl ImageManifest {
    /// Entrypoint followed by cmd; empty when the image has neither.
    pub fn default_command(&self) -> Vec<String> {
        self.config
            .as_ref()
            .map(|c| c.entrypoint.iter().chain(&c.cmd).cloned().collect())
            .unwrap_or_default()
    }
}

/// The image root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn validate_name(name: &str) -> Result<(), ImageError> {
    crate::state::validate_id(name).map_err(|_| ImageError::BadName(name.into()))
}

impl ImageStore {
    pub fn new(root: impl Into<PathBuf>) -> ImageStore {
        ImageStore { root: root.into() }
    }

    /// `$FV_ROOT/images` if FV_ROOT is set, else `/var/lib/ferrovisor/images`.
    pub fn default_root() -> PathBuf {
        match std::env::var_os("FV_ROOT") {
            Some(r) => PathBuf::from(r).join("images"),
            None => PathBuf::from("/var/lib/ferrovisor/images"),
        }
    }

    fn manifest_path(&self, name: &str) -> PathBuf {
        self.root.join("images").join(format!("{name}.json"))
    }

    /// Directory of a layer given as `sha256:HEX`.
    pub fn layer_dir(&self, digest: &str) -> PathBuf {
        self.root
            .join("layers/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    pub fn get(&self, name: &str) -> Result<ImageManifest, ImageError> {
        validate_name(name)?;
        let path = self.manifest_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ImageError::NotFound(name.into()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|source| ImageError::Json { path, source })
    }

    pub fn list(&self) -> Vec<ImageManifest> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("images"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".json")
                    .map(String::from)
            })
            .collect();
        names.sort();
        names.iter().filter_map(|n| self.get(n).ok()).collect()
    }

    /// Lower dirs for overlayfs: top layer first.
    pub fn lower_dirs(&self, m: &ImageManifest) -> Vec<PathBuf> {
        m.layers.iter().rev().map(|d| self.layer_dir(d)).collect()
    }

    /// Imports a rootfs directory or tarball (plain or gzip) as `name`.
    pub fn import(&self, source: &Path, name: &str) -> Result<ImageManifest, ImageError> {
        validate_name(name)?;
        if self.manifest_path(name).exists() {
            return Err(ImageError::Exists(name.into()));
        }
        let meta =
            std::fs::metadata(source).map_err(|_| ImageError::MissingSource(source.into()))?;
        let tmp_dir = self.root.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(io(&tmp_dir))?;
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io(&tmp_dir))?;
        let mut tar_file = tmp.reopen().map_err(io(tmp.path()))?;
        if meta.is_dir() {
            let mut b = tar::Builder::new(&mut tar_file);
            b.follow_symlinks(false);
            b.append_dir_all(".", source).map_err(io(source))?;
            b.finish().map_err(io(source))?;
        } else {
            let f = File::open(source).map_err(io(source))?;
            let mut r = BufReader::new(f);
            let mut magic = [0u8; 2];
            let n = r.read(&mut magic).map_err(io(source))?;
            let head = std::io::Cursor::new(magic[..n].to_vec());
            let chained = head.chain(r);
            let mut reader: Box<dyn Read> = if magic == [0x1f, 0x8b] {
                Box::new(flate2::read::GzDecoder::new(chained))
            } else {
                Box::new(chained)
            };
            std::io::copy(&mut reader, &mut tar_file).map_err(|source_err| {
                ImageError::Corrupt {
                    path: source.into(),
                    source: source_err,
                }
            })?;
        }
        tar_file.flush().map_err(io(tmp.path()))?;
        tar_file.seek(SeekFrom::Start(0)).map_err(io(tmp.path()))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut tar_file, &mut hasher).map_err(io(tmp.path()))?;
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = format!("sha256:{hex}");
        let layer = self.layer_dir(&digest);
        if !layer.exists() {
            tar_file.seek(SeekFrom::Start(0)).map_err(io(tmp.path()))?;
            let staging = tempfile::Builder::new()
                .prefix("layer-")
                .tempdir_in(&tmp_dir)
                .map_err(io(&tmp_dir))?;
            extract(&mut tar_file, staging.path(), source)?;
            let parent = self.root.join("layers/sha256");
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            let staged = staging.keep();
            if let Err(e) = std::fs::rename(&staged, &layer) {
                let _ = std::fs::remove_dir_all(&staged);
                return Err(io(&layer)(e));
            }
        } else {
            info!(%digest, "layer already stored");
        }
        let manifest = ImageManifest {
            name: name.into(),
            layers: vec![digest],
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            source: std::path::absolute(source).unwrap_or_else(|_| source.into()),
            config: None,
        };
        let dir = self.root.join("images");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = self.manifest_path(name);
        let text = serde_json::to_string_pretty(&manifest).map_err(|source| ImageError::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, text).map_err(io(&path))?;
        Ok(manifest)
    }

    /// Removes the image and the layers no other image uses.
    pub fn remove(&self, name: &str) -> Result<(), ImageError> {
        let m = self.get(name)?;
        let path = self.manifest_path(name);
        std::fs::remove_file(&path).map_err(io(&path))?;
        let used: Vec<String> = self.list().into_iter().flat_map(|i| i.layers).collect();
        for d in m.layers.iter().filter(|d| !used.contains(d)) {
            let dir = self.layer_dir(d);
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }
}

fn check_path(p: &Path) -> Result<(), &'static str> {
    if p.is_absolute() {
        return Err("is an absolute path");
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err("climbs out of the layer with '..'");
    }
    Ok(())
}

/// Refuses an entry whose parent directories include a symlink that
/// leaves the layer (absolute, or climbing with '..').
fn through_symlink(dst: &Path, path: &Path) -> Result<(), &'static str> {
    let mut prefix = dst.to_path_buf();
    let comps: Vec<_> = path.components().collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        prefix.push(c);
        if let Ok(target) = std::fs::read_link(&prefix) {
            if check_path(&target).is_err() {
                return Err("is below a symlink that leaves the layer");
            }
        }
    }
    Ok(())
}

/// Unpacks a tar into `dst`, refusing entries that would land outside it.
fn extract(tar_file: &mut File, dst: &Path, source: &Path) -> Result<(), ImageError> {
    let corrupt = |e: std::io::Error| ImageError::Corrupt {
        path: source.into(),
        source: e,
    };
    let mut archive = tar::Archive::new(tar_file);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(false);
    let mut count = 0usize;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let unsafe_entry = |problem| ImageError::UnsafeEntry {
            source_path: source.into(),
            entry: path.display().to_string(),
            problem,
        };
        check_path(&path).map_err(unsafe_entry)?;
        if entry.header().entry_type().is_hard_link() {
            if let Some(link) = entry.link_name().map_err(corrupt)? {
                check_path(&link)
                    .map_err(|_| unsafe_entry("is a hard link to a path outside the layer"))?;
            }
        }
        through_symlink(dst, &path).map_err(unsafe_entry)?;
        // unpack_in also refuses to write through a symlink that points
        // outside `dst` (e.g. an absolute `etc -> /etc` followed by `etc/x`).
        if !entry.unpack_in(dst).map_err(corrupt)? {
            return Err(unsafe_entry("would be written outside the layer"));
        }
        count += 1;
    }
    if count == 0 {
        return Err(corrupt(std::io::Error::other("archive has no entries")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs(dir: &Path) {
        std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
        std::fs::write(dir.join("bin/hello"), "hi").expect("write");
        std::os::unix::fs::symlink("/bin/hello", dir.join("link")).expect("symlink");
    }

    #[test]
    fn directory_and_tarball_share_one_layer() {
        let d = tempfile::tempdir().expect("tempdir");
        let src = d.path().join("src");
        rootfs(&src);
        let store = ImageStore::new(d.path().join("store"));
        let a = store.import(&src, "a").expect("import dir");
        assert_eq!(
            std::fs::read_to_string(store.layer_dir(&a.layers[0]).join("bin/hello")).expect("file"),
            "hi"
        );
        assert!(matches!(
            store.import(&src, "a"),
            Err(ImageError::Exists(_))
        ));
        let b = store.import(&src, "b").expect("import again");
        assert_eq!(a.layers, b.layers, "same content, same digest");
        // A gzipped tarball of the layer itself.
        let tgz = d.path().join("root.tar.gz");
        let f = File::create(&tgz).expect("create");
        let mut t = tar::Builder::new(flate2::write::GzEncoder::new(
            f,
            flate2::Compression::fast(),
        ));
        t.follow_symlinks(false);
        t.append_dir_all(".", &src).expect("tar");
        t.into_inner().expect("finish").finish().expect("gz");
        let c = store.import(&tgz, "c").expect("import tgz");
        assert!(store.layer_dir(&c.layers[0]).join("bin/hello").exists());
        assert_eq!(store.list().len(), 3);
        store.remove("a").expect("rm a");
        assert!(
            store.layer_dir(&b.layers[0]).exists(),
            "b still uses the layer"
        );
        store.remove("b").expect("rm b");
        assert!(!store.layer_dir(&b.layers[0]).exists() || c.layers == b.layers);
    }

    fn tar_with(d: &Path, build: impl FnOnce(&mut tar::Builder<File>)) -> PathBuf {
        let p = d.join("evil.tar");
        let mut b = tar::Builder::new(File::create(&p).expect("create"));
        build(&mut b);
        b.finish().expect("finish");
        p
    }

    fn raw_entry(b: &mut tar::Builder<File>, name: &str, kind: tar::EntryType, link: Option<&str>) {
        let mut h = tar::Header::new_gnu();
        // Write the name bytes directly: set_path refuses '..' itself.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        if let Some(l) = link {
            h.set_link_name(l).expect("link");
        }
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("append");
    }

    #[test]
    fn traversal_and_symlink_escapes_are_refused_and_nothing_is_left() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::new(d.path().join("store"));
        let dotdot = tar_with(d.path(), |b| {
            raw_entry(b, "../escape", tar::EntryType::Regular, None)
        });
        let e = store.import(&dotdot, "x").expect_err("..");
        assert!(e.to_string().contains("../escape"), "{e}");
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        let link = tar_with(d.path(), |b| {
            raw_entry(
                b,
                "etc",
                tar::EntryType::Symlink,
                Some(outside.to_str().expect("utf-8")),
            );
            raw_entry(b, "etc/passwd", tar::EntryType::Regular, None);
        });
        let e = store.import(&link, "y").expect_err("symlink escape");
        assert!(e.to_string().contains("etc/passwd"), "{e}");
        assert!(
            !outside.join("passwd").exists(),
            "wrote through the symlink"
        );
        assert!(store.list().is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("store/tmp"))
            .expect("tmp")
            .flatten()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(
            !d.path().join("store/layers/sha256").exists()
                || std::fs::read_dir(d.path().join("store/layers/sha256"))
                    .expect("dir")
                    .next()
                    .is_none()
        );
    }

    #[test]
    fn corrupt_and_missing_sources_are_named() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::new(d.path().join("store"));
        let junk = d.path().join("junk.tar");
        std::fs::write(&junk, vec![0x42u8; 1000]).expect("write");
        let e = store.import(&junk, "j").expect_err("corrupt");
        assert!(e.to_string().contains("junk.tar"), "{e}");
        let e = store
            .import(&d.path().join("nope"), "n")
            .expect_err("missing");
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(matches!(
            store.import(&junk, "../x"),
            Err(ImageError::BadName(_))
        ));
    }
}
