//! Images: read-only layers stored once under their content digest
//! (sha256 of the uncompressed tar) and a small manifest per image name.
//! `import` takes a rootfs directory or a (gzipped) rootfs tarball, an OCI
//! image layout (directory or tarball) or a `docker save` tarball; OCI
//! whiteouts (`.wh.NAME`, `.wh..wh..opq`) become overlayfs whiteouts (a
//! 0/0 character device, the `trusted.overlay.opaque` xattr).
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
    #[error("{path}: {problem}")]
    Layout { path: PathBuf, problem: String },
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

    /// Imports `source` as `name`: a rootfs directory or tarball (plain or
    /// gzip), an OCI image layout (directory or tarball) or a `docker save`
    /// tarball. Nothing is left behind if it fails.
    pub fn import(&self, source: &Path, name: &str) -> Result<ImageManifest, ImageError> {
        validate_name(name)?;
        if self.manifest_path(name).exists() {
            return Err(ImageError::Exists(name.into()));
        }
        let meta =
            std::fs::metadata(source).map_err(|_| ImageError::MissingSource(source.into()))?;
        let tmp_dir = self.root.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(io(&tmp_dir))?;
        // Layers this import created, removed again if it fails.
        let mut created: Vec<PathBuf> = Vec::new();
        let result = self.import_layers(source, meta.is_dir(), &tmp_dir, &mut created);
        let (layers, config) = match result {
            Ok(x) => x,
            Err(e) => {
                for dir in created {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(e);
            }
        };
        let digest_list = layers;
        let manifest = ImageManifest {
            name: name.into(),
            layers: digest_list,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            source: std::path::absolute(source).unwrap_or_else(|_| source.into()),
            config,
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

    fn import_layers(
        &self,
        source: &Path,
        is_dir: bool,
        tmp_dir: &Path,
        created: &mut Vec<PathBuf>,
    ) -> Result<(Vec<String>, Option<RunConfig>), ImageError> {
        if is_dir {
            if source.join("manifest.json").is_file() || source.join("index.json").is_file() {
                return self.import_layout(source, source, tmp_dir, created);
            }
            let tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(io(tmp_dir))?;
            let mut tar_file = tmp.reopen().map_err(io(tmp.path()))?;
            let mut b = tar::Builder::new(&mut tar_file);
            b.follow_symlinks(false);
            b.append_dir_all(".", source).map_err(io(source))?;
            b.finish().map_err(io(source))?;
            drop(b);
            let d = self.store_tar(&mut tar_file, source, false, tmp_dir, created)?;
            return Ok((vec![d], None));
        }
        let tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(io(tmp_dir))?;
        let mut tar_file = tmp.reopen().map_err(io(tmp.path()))?;
        std::io::copy(&mut open_maybe_gz(source)?, &mut tar_file).map_err(|e| {
            ImageError::Corrupt {
                path: source.into(),
                source: e,
            }
        })?;
        if is_image_archive(&mut tar_file, source)? {
            let staging = tempfile::Builder::new()
                .prefix("archive-")
                .tempdir_in(tmp_dir)
                .map_err(io(tmp_dir))?;
            tar_file.seek(SeekFrom::Start(0)).map_err(io(tmp.path()))?;
            extract(&mut tar_file, staging.path(), source, false)?;
            return self.import_layout(staging.path(), source, tmp_dir, created);
        }
        let d = self.store_tar(&mut tar_file, source, false, tmp_dir, created)?;
        Ok((vec![d], None))
    }

    /// An OCI image layout or `docker save` tree at `dir` (`named` is what
    /// errors call it): its layers, bottom first, and its run config.
    fn import_layout(
        &self,
        dir: &Path,
        named: &Path,
        tmp_dir: &Path,
        created: &mut Vec<PathBuf>,
    ) -> Result<(Vec<String>, Option<RunConfig>), ImageError> {
        let (layer_files, config_file) = layout_files(dir, named)?;
        let config = match config_file {
            Some(f) => Some(read_run_config(&f, named)?),
            None => None,
        };
        let mut digests = Vec::new();
        for f in &layer_files {
            let tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(io(tmp_dir))?;
            let mut tar_file = tmp.reopen().map_err(io(tmp.path()))?;
            let shown = named.join(f.strip_prefix(dir).unwrap_or(f));
            std::io::copy(&mut open_maybe_gz(f)?, &mut tar_file).map_err(|e| {
                ImageError::Corrupt {
                    path: shown.clone(),
                    source: e,
                }
            })?;
            digests.push(self.store_tar(&mut tar_file, &shown, true, tmp_dir, created)?);
        }
        if digests.is_empty() {
            return Err(ImageError::Layout {
                path: named.into(),
                problem: "the image has no layers".into(),
            });
        }
        Ok((digests, config))
    }

    /// Hashes the uncompressed tar in `tar_file` and extracts it as a layer
    /// unless one with that digest is stored already.
    fn store_tar(
        &self,
        tar_file: &mut File,
        named: &Path,
        whiteouts: bool,
        tmp_dir: &Path,
        created: &mut Vec<PathBuf>,
    ) -> Result<String, ImageError> {
        tar_file.flush().map_err(io(named))?;
        tar_file.seek(SeekFrom::Start(0)).map_err(io(named))?;
        let mut hasher = Sha256::new();
        std::io::copy(tar_file, &mut hasher).map_err(io(named))?;
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = format!("sha256:{hex}");
        let layer = self.layer_dir(&digest);
        if layer.exists() {
            info!(%digest, "layer already stored");
            return Ok(digest);
        }
        tar_file.seek(SeekFrom::Start(0)).map_err(io(named))?;
        let staging = tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(tmp_dir)
            .map_err(io(tmp_dir))?;
        extract(tar_file, staging.path(), named, whiteouts)?;
        let parent = self.root.join("layers/sha256");
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &layer) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(io(&layer)(e));
        }
        created.push(layer);
        Ok(digest)
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

/// A file, gunzipped if it starts with the gzip magic.
fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>, ImageError> {
    let f = File::open(path).map_err(|_| ImageError::MissingSource(path.into()))?;
    let mut r = BufReader::new(f);
    let mut magic = [0u8; 4];
    let n = r.read(&mut magic).map_err(io(path))?;
    if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        return Err(ImageError::Layout {
            path: path.into(),
            problem: "zstd-compressed layers are not supported".into(),
        });
    }
    let chained = std::io::Cursor::new(magic[..n].to_vec()).chain(r);
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(chained))
    } else {
        Box::new(chained)
    })
}

/// Whether a tar holds an image (top-level `manifest.json`, `index.json`
/// or `oci-layout`) rather than a root filesystem.
fn is_image_archive(tar_file: &mut File, named: &Path) -> Result<bool, ImageError> {
    tar_file.flush().map_err(io(named))?;
    tar_file.seek(SeekFrom::Start(0)).map_err(io(named))?;
    let corrupt = |e: std::io::Error| ImageError::Corrupt {
        path: named.into(),
        source: e,
    };
    let mut archive = tar::Archive::new(&mut *tar_file);
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?;
        let p = path.strip_prefix("./").unwrap_or(&path);
        if [
            Path::new("manifest.json"),
            Path::new("index.json"),
            Path::new("oci-layout"),
        ]
        .contains(&p)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn read_json(path: &Path, named: &Path) -> Result<serde_json::Value, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|e| ImageError::Layout {
        path: named.into(),
        problem: format!(
            "{}: {e}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
    })?;
    serde_json::from_str(&text).map_err(|e| ImageError::Layout {
        path: named.into(),
        problem: format!(
            "{}: {e}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
    })
}

/// `blobs/sha256/HEX` for a descriptor's `sha256:HEX` digest.
fn blob(dir: &Path, named: &Path, digest: Option<&str>) -> Result<PathBuf, ImageError> {
    let d = digest.unwrap_or("");
    let hex = d.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::Layout {
            path: named.into(),
            problem: format!("bad digest {d:?}: expected sha256:<64 hex digits>"),
        });
    }
    Ok(dir.join("blobs/sha256").join(hex))
}

/// A relative path named inside the image, checked to stay inside it.
fn inside(dir: &Path, named: &Path, rel: Option<&str>) -> Result<PathBuf, ImageError> {
    let rel = rel.unwrap_or("");
    check_path(Path::new(rel)).map_err(|problem| ImageError::UnsafeEntry {
        source_path: named.into(),
        entry: rel.into(),
        problem,
    })?;
    if rel.is_empty() {
        return Err(ImageError::Layout {
            path: named.into(),
            problem: "manifest.json: empty path".into(),
        });
    }
    Ok(dir.join(rel))
}

/// The layer files (bottom first) and config file of an image tree.
fn layout_files(dir: &Path, named: &Path) -> Result<(Vec<PathBuf>, Option<PathBuf>), ImageError> {
    let bad = |problem: String| ImageError::Layout {
        path: named.into(),
        problem,
    };
    if dir.join("manifest.json").is_file() {
        // docker save: [{"Config": "x.json", "Layers": ["a/layer.tar", ...]}]
        let m = read_json(&dir.join("manifest.json"), named)?;
        let first = m
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| bad("manifest.json: expected a non-empty array".into()))?;
        let layers = first["Layers"]
            .as_array()
            .ok_or_else(|| bad("manifest.json: [0].Layers is missing".into()))?
            .iter()
            .map(|l| inside(dir, named, l.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let config = match first["Config"].as_str() {
            Some(c) => Some(inside(dir, named, Some(c))?),
            None => None,
        };
        return Ok((layers, config));
    }
    let index = read_json(&dir.join("index.json"), named)?;
    let mut desc = index["manifests"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .ok_or_else(|| bad("index.json: manifests is empty".into()))?;
    // Follow nested indexes (multi-platform images) a few levels.
    for _ in 0..4 {
        let m = read_json(&blob(dir, named, desc["digest"].as_str())?, named)?;
        if let Some(next) = m["manifests"].as_array() {
            let pick = next
                .iter()
                .find(|d| {
                    d["platform"]["architecture"] == std::env::consts::ARCH
                        || (std::env::consts::ARCH == "x86_64"
                            && d["platform"]["architecture"] == "amd64")
                        || (std::env::consts::ARCH == "aarch64"
                            && d["platform"]["architecture"] == "arm64")
                })
                .or_else(|| next.first())
                .cloned()
                .ok_or_else(|| bad("image index: manifests is empty".into()))?;
            desc = pick;
            continue;
        }
        let layers = m["layers"]
            .as_array()
            .ok_or_else(|| bad("image manifest: layers is missing".into()))?
            .iter()
            .map(|l| blob(dir, named, l["digest"].as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let config = match m["config"]["digest"].as_str() {
            Some(d) => Some(blob(dir, named, Some(d))?),
            None => None,
        };
        return Ok((layers, config));
    }
    Err(bad("image indexes nested too deeply".into()))
}

/// The `config` of an OCI or docker image config JSON.
fn read_run_config(path: &Path, named: &Path) -> Result<RunConfig, ImageError> {
    let v = read_json(path, named)?;
    let c = &v["config"];
    let strings = |x: &serde_json::Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(RunConfig {
        env: strings(&c["Env"]),
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        working_dir: c["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .map(String::from),
    })
}

/// Turns an OCI whiteout entry into its overlayfs form: `.wh.NAME` becomes
/// a 0/0 character device NAME, `.wh..wh..opq` marks the directory opaque.
fn apply_whiteout(dst: &Path, path: &Path, named: &Path) -> Result<(), ImageError> {
    let fail = |e: std::io::Error| ImageError::Io {
        path: named.join(path),
        source: e,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = dst.join(path.parent().unwrap_or(Path::new("")));
    std::fs::create_dir_all(&parent).map_err(fail)?;
    if name == ".wh..wh..opq" {
        let c_path = std::ffi::CString::new(parent.as_os_str().as_encoded_bytes())
            .map_err(|e| fail(std::io::Error::other(e)))?;
        // SAFETY: both strings are NUL-terminated and outlive the call;
        // the value is 1 byte long as passed.
        let r = unsafe {
            libc::setxattr(
                c_path.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        if r != 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        return Ok(());
    }
    let target = parent.join(name.trim_start_matches(".wh."));
    let _ = std::fs::remove_file(&target);
    nix::sys::stat::mknod(
        &target,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .map_err(|e| fail(e.into()))
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
/// With `whiteouts`, OCI whiteout entries become overlayfs whiteouts.
fn extract(
    tar_file: &mut File,
    dst: &Path,
    source: &Path,
    whiteouts: bool,
) -> Result<(), ImageError> {
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
        if whiteouts
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".wh."))
        {
            apply_whiteout(dst, &path, source)?;
            count += 1;
            continue;
        }
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

    fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(data.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data.as_bytes())
                .expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn sha(data: &[u8]) -> String {
        let hex: String = Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }

    /// A two-layer OCI layout: the second layer whites out etc/old and
    /// makes dir/ opaque.
    fn oci_layout(dir: &Path) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("mkdir");
        let put = |data: &[u8]| -> String {
            let d = sha(data);
            std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).expect("blob");
            d
        };
        let l1 = layer_tar(&[("bin/hello", "1"), ("etc/old", "x"), ("dir/a", "a")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&l1).expect("gz");
        let l1 = put(&gz.finish().expect("gz"));
        let l2 = put(&layer_tar(&[
            ("etc/.wh.old", ""),
            ("dir/.wh..wh..opq", ""),
            ("dir/b", "b"),
        ]));
        let cfg = put(br#"{"config":{"Env":["A=1"],"Entrypoint":["/bin/hello"],"Cmd":["x"]}}"#);
        let manifest = put(
            serde_json::json!({"schemaVersion": 2, "config": {"digest": cfg},
                "layers": [{"digest": l1}, {"digest": l2}]})
            .to_string()
            .as_bytes(),
        );
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
        std::fs::write(
            dir.join("index.json"),
            serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": manifest}]})
                .to_string(),
        )
        .expect("write");
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn oci_layout_dir_and_tarball_with_whiteouts() {
        if !is_root() {
            eprintln!("SKIP: whiteouts need root (mknod, trusted xattrs)");
            return;
        }
        let d = tempfile::tempdir().expect("tempdir");
        let layout = d.path().join("layout");
        oci_layout(&layout);
        let store = ImageStore::new(d.path().join("store"));
        let m = store.import(&layout, "oci").expect("import layout");
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.default_command(), vec!["/bin/hello", "x"]);
        assert_eq!(
            m.config.as_ref().map(|c| c.env.clone()),
            Some(vec!["A=1".into()])
        );
        let top = store.layer_dir(&m.layers[1]);
        use std::os::unix::fs::FileTypeExt;
        let wh = std::fs::symlink_metadata(top.join("etc/old")).expect("whiteout");
        assert!(wh.file_type().is_char_device(), "{wh:?}");
        assert!(!top.join("etc/.wh.old").exists());
        let mut buf = [0u8; 4];
        let c = std::ffi::CString::new(top.join("dir").as_os_str().as_encoded_bytes())
            .expect("cstring");
        // SAFETY: NUL-terminated strings and a buffer of the size passed.
        let n = unsafe {
            libc::getxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!((n, buf[0]), (1, b'y'));
        // The same layout as a tarball: the same layers.
        let tarball = d.path().join("layout.tar");
        let mut b = tar::Builder::new(File::create(&tarball).expect("create"));
        b.append_dir_all(".", &layout).expect("tar");
        b.finish().expect("finish");
        let t = store.import(&tarball, "oci2").expect("import tarball");
        assert_eq!(t.layers, m.layers);
    }

    #[test]
    fn docker_save_tarball() {
        let d = tempfile::tempdir().expect("tempdir");
        let src = d.path().join("save");
        std::fs::create_dir_all(src.join("aaa")).expect("mkdir");
        std::fs::write(src.join("aaa/layer.tar"), layer_tar(&[("bin/sh", "sh")])).expect("w");
        std::fs::write(src.join("cfg.json"), r#"{"config":{"Cmd":["/bin/sh"]}}"#).expect("w");
        std::fs::write(
            src.join("manifest.json"),
            r#"[{"Config":"cfg.json","RepoTags":["x:latest"],"Layers":["aaa/layer.tar"]}]"#,
        )
        .expect("w");
        let tarball = d.path().join("save.tar");
        let mut b = tar::Builder::new(File::create(&tarball).expect("create"));
        b.append_dir_all(".", &src).expect("tar");
        b.finish().expect("finish");
        let store = ImageStore::new(d.path().join("store"));
        let m = store.import(&tarball, "dk").expect("import");
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.default_command(), vec!["/bin/sh"]);
        assert!(store.layer_dir(&m.layers[0]).join("bin/sh").exists());
    }

    #[test]
    fn bad_layouts_are_refused_and_leave_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::new(d.path().join("store"));
        let src = d.path().join("save");
        std::fs::create_dir_all(src.join("aaa")).expect("mkdir");
        std::fs::write(src.join("aaa/layer.tar"), layer_tar(&[("bin/sh", "sh")])).expect("w");
        let cases = [
            (r#"[{"Layers":["../etc/shadow"]}]"#, "../etc/shadow"),
            (r#"[{"Layers":["/etc/shadow"]}]"#, "/etc/shadow"),
            (r#"{"not":"an array"}"#, "manifest.json"),
            // The first layer is stored, the second is missing: both go.
            (
                r#"[{"Layers":["aaa/layer.tar","bbb/layer.tar"]}]"#,
                "bbb/layer.tar",
            ),
        ];
        for (manifest, named) in cases {
            std::fs::write(src.join("manifest.json"), manifest).expect("w");
            let e = store.import(&src, "bad").expect_err(manifest);
            assert!(e.to_string().contains(named), "{e}");
            assert!(e.is_bad_input(), "{e}");
            assert!(store.list().is_empty());
            let layers = d.path().join("store/layers/sha256");
            assert!(
                std::fs::read_dir(&layers)
                    .map(|mut r| r.next().is_none())
                    .unwrap_or(true),
                "layer left after {manifest}"
            );
        }
        std::fs::remove_file(src.join("manifest.json")).expect("rm");
        std::fs::write(
            src.join("index.json"),
            r#"{"manifests":[{"digest":"sha256:zz"}]}"#,
        )
        .expect("w");
        let e = store.import(&src, "bad").expect_err("bad digest");
        assert!(e.to_string().contains("sha256:zz"), "{e}");
    }
}
