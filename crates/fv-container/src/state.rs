//! Container state on disk: `ROOT/containers/ID/state.json`, whose fields
//! are the runtime spec's state (ociVersion, id, status, pid, bundle,
//! annotations) plus what ferrovisor needs to find the container again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// State directory trouble; names the container or file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.', not starting with '.' or '-', at most 64 characters")]
    BadId(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
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

/// runtime-spec "State": the lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    /// Every process frozen (`pause`) until `resume`.
    Paused,
    Stopped,
}

impl Status {
    /// Created, running or paused: its process exists.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Ferrovisor's own fields, outside the spec's.
    #[serde(default)]
    pub ferrovisor: RecordExtra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordExtra {
    /// Start time of `pid` in clock ticks since boot (/proc/PID/stat field
    /// 22), so a reused pid is not mistaken for the container.
    #[serde(default)]
    pub pid_start_time: u64,
    #[serde(default)]
    pub cgroup_path: Option<PathBuf>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub oom_killed: bool,
}

impl ContainerRecord {
    /// The spec's state document (what `fv oci state` prints).
    pub fn oci_state(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "bundle": self.bundle,
        });
        if let Some(pid) = self.pid {
            if self.status != Status::Stopped {
                v["pid"] = pid.into();
            }
        }
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}

/// Checks a container id (it becomes a directory and a cgroup name).
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with(['.', '-'])
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::BadId(id.into()))
    }
}

/// `ROOT/containers`.
#[derive(Debug, Clone)]
pub struct StateStore {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateStore {
    pub fn new(root: impl Into<PathBuf>) -> StateStore {
        StateStore { root: root.into() }
    }

    /// The runtime root: `$FV_ROOT`, else `/run/ferrovisor`.
    /// `FV_ROOT`, else `/run/ferrovisor` for root and
    /// `$XDG_RUNTIME_DIR/ferrovisor` for other users (as runc's rootless
    /// default).
    pub fn default_root() -> PathBuf {
        if let Some(r) = std::env::var_os("FV_ROOT") {
            return PathBuf::from(r);
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if !nix::unistd::geteuid().is_root() => PathBuf::from(d).join("ferrovisor"),
            _ => PathBuf::from("/run/ferrovisor"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Claims `id`: creates its directory, failing if it exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        let parent = self.root.join("containers");
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let dir = self.dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(id.into()))
            }
            Err(e) => Err(io(&dir)(e)),
        }
    }

    pub fn exists(&self, id: &str) -> bool {
        validate_id(id).is_ok() && self.dir(id).join("state.json").exists()
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord, StateError> {
        validate_id(id)?;
        let path = self.dir(id).join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.into()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|source| StateError::Json { path, source })
    }

    /// Writes atomically (temp file + rename), so readers never see half.
    pub fn save(&self, rec: &ContainerRecord) -> Result<(), StateError> {
        let dir = self.dir(&rec.id);
        let tmp = dir.join("state.json.tmp");
        let path = dir.join("state.json");
        let text = serde_json::to_string_pretty(rec).map_err(|source| StateError::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// Loads, changes and saves `id`'s record under an exclusive lock
    /// (`flock` on `state.lock`), so two processes updating it at once
    /// (the monitor recording an exit code, a `state` query noticing the
    /// same exit) never lose each other's fields.
    pub fn update<R>(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord) -> R,
    ) -> Result<R, StateError> {
        validate_id(id)?;
        let path = self.dir(id).join("state.lock");
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.into()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io(&path)(e.into()))?;
        let mut rec = self.load(id)?;
        let out = change(&mut rec);
        self.save(&rec)?;
        Ok(out)
    }

    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        validate_id(id)?;
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }

    /// Ids with a state directory, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.root.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ContainerRecord {
        ContainerRecord {
            oci_version: "1.0.2".into(),
            id: id.into(),
            status: Status::Created,
            pid: Some(42),
            bundle: "/b".into(),
            annotations: BTreeMap::new(),
            ferrovisor: RecordExtra::default(),
        }
    }

    #[test]
    fn ids_are_checked() {
        for good in ["a", "web-1", "x.y_z", "A9"] {
            validate_id(good).expect(good);
        }
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "-x",
            "sp ace",
            &"x".repeat(65),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claim_save_load_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = StateStore::new(dir.path());
        s.claim("c1").expect("claim");
        assert!(matches!(s.claim("c1"), Err(StateError::Exists(_))));
        s.save(&record("c1")).expect("save");
        assert_eq!(s.load("c1").expect("load"), record("c1"));
        assert_eq!(s.ids(), vec!["c1".to_string()]);
        s.remove("c1").expect("remove");
        assert!(matches!(s.load("c1"), Err(StateError::NotFound(_))));
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        // Four writers bump a counter 50 times each through `update`; a
        // plain load/save would lose increments between them.
        let dir = tempfile::tempdir().expect("tempdir");
        let s = StateStore::new(dir.path());
        s.claim("c1").expect("claim");
        s.save(&record("c1")).expect("save");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        s.update("c1", |r| r.ferrovisor.created += 1)
                            .expect("update");
                    }
                });
            }
        });
        assert_eq!(s.load("c1").expect("load").ferrovisor.created, 200);
        s.remove("c1").expect("remove");
        assert!(matches!(
            s.update("c1", |_| ()),
            Err(StateError::NotFound(_))
        ));
    }

    #[test]
    fn oci_state_has_spec_fields_and_hides_pid_when_stopped() {
        let mut r = record("c1");
        let v = r.oci_state();
        assert_eq!(v["status"], "created");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["ociVersion"], "1.0.2");
        r.status = Status::Paused;
        assert_eq!(r.oci_state()["status"], "paused");
        assert_eq!(r.oci_state()["pid"], 42);
        assert_eq!(
            serde_json::from_str::<Status>("\"paused\"").expect("status"),
            Status::Paused
        );
        assert_eq!(Status::Paused.to_string(), "paused");
        r.status = Status::Stopped;
        assert!(r.oci_state().get("pid").is_none());
    }
}
