//! A gryt workspace on disk: the directory holding `.gryt/`, found by walking up from the
//! current directory. Owns the layout (contracts, pipelines, the database), configuration,
//! the acting user's name, and crash recovery: an evolution or run left `running` by a
//! process that no longer exists is marked failed ("interrupted") when the next command opens
//! the workspace.

pub mod config;
pub mod file;
pub mod statcache;

use std::path::{Path, PathBuf};

use crate::domain::{EvolutionStatus, Version};
use crate::store::{Store, StoreError};
use config::{Config, ConfigError, ConfigFile};

pub const DIR: &str = ".gryt";
pub const DB_FILE: &str = "gryt.db";

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("not a gryt repository (run gryt init)")]
    NotARepo,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T> = std::result::Result<T, WorkspaceError>;

/// A file operation that failed, said the same way in every area's error: "cannot {action}
/// {path}: {source}". Each area's error wraps it as its `Io` variant.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct IoError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: what was being done to which path when an I/O error came (`?` then turns
/// the [`IoError`] into the area's error).
pub fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IoError {
    let path = path.to_path_buf();
    move |source| IoError {
        action,
        path,
        source,
    }
}

/// See [`Workspace::contract_file`].
#[derive(Debug)]
pub enum ContractFile {
    Missing,
    Clean,
    /// Edits not applied to the database: the contract they hold, or why it does not load.
    Edited(
        std::result::Result<crate::domain::generation::Contract, crate::contract::ContractError>,
    ),
}

pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
    pub store: Store,
    user: std::cell::OnceCell<String>,
}

/// Whether `init` created the workspace or found one.
pub enum Init {
    Created(PathBuf),
    AlreadyThere(PathBuf),
}

impl Workspace {
    /// Finds the workspace containing `start` and opens it.
    pub fn discover(start: &Path) -> Result<Workspace> {
        Self::open(Self::root_of(start)?)
    }

    /// The root of the workspace containing `start` (what [`Workspace::discover`] opens).
    pub fn root_of(start: &Path) -> Result<PathBuf> {
        find_root(start).ok_or(WorkspaceError::NotARepo)
    }

    /// Opens the workspace at `root`, as found by [`Workspace::root_of`].
    pub fn open(root: PathBuf) -> Result<Workspace> {
        let config = load_config(Some(&root))?;
        let store = Store::open(&root.join(DIR).join(DB_FILE))?;
        let ws = Workspace {
            root,
            config,
            store,
            user: std::cell::OnceCell::new(),
        };
        ws.recover_interrupted()?;
        Ok(ws)
    }

    /// Creates `.gryt/` under `path` (which must exist), or reports that it is there.
    pub fn init(path: &Path) -> Result<Init> {
        let root = path.canonicalize().map_err(io("open", path))?;
        let dir = root.join(DIR);
        if dir.join(DB_FILE).exists() {
            return Ok(Init::AlreadyThere(root));
        }
        for sub in ["generations", "pipelines", "backups"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io("create", &p))?;
        }
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            write_atomic(
                &ignore,
                b"# The local database and backups are per-machine state: never commit them.\n\
                  gryt.db\ngryt.db-*\nbackups/\n*.tmp\nsync.lock\n",
            )
            .map_err(io("write", &ignore))?;
        }
        let config = dir.join("config");
        if !config.exists() {
            let mut file = ConfigFile {
                path: config,
                ..ConfigFile::default()
            };
            file.values
                .insert("execution_mode".to_string(), "local".to_string());
            file.save()?;
        }
        Store::create(&dir.join(DB_FILE))?;
        Ok(Init::Created(root))
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(DIR)
    }

    pub fn generations_dir(&self) -> PathBuf {
        generations_dir_in(&self.root)
    }

    pub fn pipelines_dir(&self) -> PathBuf {
        self.dir().join("pipelines")
    }

    pub fn contract_path(&self, version: &Version) -> PathBuf {
        self.generations_dir().join(version.file_name())
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir().join(DB_FILE)
    }

    /// `.gryt/generations/v1.2.0.yaml`, relative to the root, for messages.
    pub fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Every `vX.Y.Z.yaml` in the generations directory, by version. Other files are ignored.
    pub fn contract_files(&self) -> Result<Vec<(Version, PathBuf)>> {
        let mut files: Vec<_> = contract_entries_in(&self.generations_dir())?
            .into_iter()
            .map(|(v, entry)| (v, entry.path()))
            .collect();
        // Unstable: the names are canonical, so no two have the same version.
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// How a generation's contract file compares with the database. Cheap when unchanged:
    /// the bytes' hash is compared first, the file is parsed only when they differ (so a
    /// reformatted but equivalent file is still clean).
    pub fn contract_file(&self, g: &crate::store::Generation) -> Result<ContractFile> {
        let path = self.contract_path(g.version());
        let shown = PathBuf::from(self.display_path(&path));
        match file_hash(&path).map_err(io("read", &shown))? {
            None => Ok(ContractFile::Missing),
            Some(h) if Some(&h) == g.file_hash.as_ref() => Ok(ContractFile::Clean),
            Some(_) => match crate::contract::load(&path, Some(g.version())) {
                Ok(c) if c == g.contract => Ok(ContractFile::Clean),
                Ok(c) => Ok(ContractFile::Edited(Ok(c))),
                Err(e) => Ok(ContractFile::Edited(Err(e.relative_to(&self.root)))),
            },
        }
    }

    /// The acting user: `user.name` from config, else git's `user.name`, else the OS user.
    ///
    /// In a repository linked to the cloud (and not in local mode) it is the cloud account the
    /// last sync acted as: the cloud stamps evolutions with their owner's account, and
    /// ownership checks must agree on both sides.
    pub fn user(&self) -> &str {
        self.user.get_or_init(|| {
            let linked = self.config.get("cloud.project").is_some()
                && self.config.execution_mode() != config::ExecutionMode::Local;
            let account = linked
                .then(|| self.store.meta("account").ok().flatten())
                .flatten();
            account.unwrap_or_else(|| resolve_user(&self.config, Some(&self.root)))
        })
    }

    /// Marks evolutions and runs whose process died as failed, so nothing stays `running`
    /// forever. One indexed query when there is nothing to do.
    fn recover_interrupted(&self) -> Result<()> {
        let evolutions = self.store.running_evolutions()?;
        let runs = self.store.running_runs()?;
        let dead = |pid: Option<u32>| pid.is_none_or(|p| !process_alive(p));
        if evolutions.iter().all(|e| !dead(e.runner_pid))
            && runs.iter().all(|r| !dead(r.runner_pid))
        {
            return Ok(());
        }
        let now = crate::clock::now_string();
        self.store.tx(|s| -> Result<()> {
            for e in evolutions.iter().filter(|e| dead(e.runner_pid)) {
                s.decide_evolution(&e.id, EvolutionStatus::Fail, Some("interrupted"), &now)?;
                s.audit(
                    &now,
                    &e.owner,
                    "evolution.decided",
                    &e.tag().to_string(),
                    serde_json::json!({"status": "fail", "note": "interrupted", "code_name": e.code_name}),
                )?;
            }
            for r in runs.iter().filter(|r| dead(r.runner_pid)) {
                s.finish_run(&r.id, "fail", Some("interrupted"), &now, 0)?;
            }
            Ok(())
        })
    }
}

/// `user.name` from config, else git's `user.name`, else the OS user, else "unknown".
pub fn resolve_user(config: &Config, root: Option<&Path>) -> String {
    config
        .get("user.name")
        .map(str::to_string)
        .or_else(|| crate::git::user_name(root.unwrap_or(Path::new("."))))
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("USERNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The global config and, inside a workspace, its repo config.
pub fn load_config(root: Option<&Path>) -> Result<Config> {
    Ok(Config {
        global: ConfigFile::load(&config::global_path()?)?,
        repo: root
            .map(|r| ConfigFile::load(&r.join(DIR).join("config")))
            .transpose()?,
    })
}

/// Where the contract files of the workspace at `root` live.
pub fn generations_dir_in(root: &Path) -> PathBuf {
    root.join(DIR).join("generations")
}

/// The nearest directory at or above `start` that holds a gryt workspace.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .find(|dir| dir.join(DIR).join(DB_FILE).is_file())
        .map(Path::to_path_buf)
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes a file via a temporary sibling and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pid = PID.get_or_init(std::process::id);
    let tmp = dir.join(format!(".{name}.{pid}.tmp"));
    // The directory almost always exists (a pull writes thousands of files into one): make
    // it only when the write says it is missing.
    match std::fs::write(&tmp, bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&tmp, bytes)?;
        }
        other => other?,
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// SHA-256 of a contract file's bytes, hex; `None` when the file does not exist. Refuses
/// what [`file::read_limited`] refuses (a device, a FIFO, a file over the contract limit).
pub fn file_hash(path: &Path) -> std::io::Result<Option<String>> {
    match file::read_limited(path, crate::contract::MAX_CONTRACT_BYTES) {
        Ok(bytes) => Ok(Some(bytes_hash(&bytes))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn bytes_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::domain::generation::hex(&Sha256::digest(bytes))
}

/// The contract files in `dir`, in directory order, with their entries: a stat through an
/// entry ([`stat_entry`]) is relative to the open directory, and may come later or from
/// another thread.
pub fn contract_entries_in(dir: &Path) -> Result<Vec<(Version, std::fs::DirEntry)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read", dir)(e).into()),
    };
    let mut files = Vec::with_capacity(256);
    for entry in entries {
        let entry = entry.map_err(io("read", dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".yaml")) else {
            continue;
        };
        // `v` and a version is the file's canonical name: a version has no leading zeros
        // and nothing but its three numbers, so it reads back to the same text.
        let body = stem.strip_prefix('v').filter(|n| !n.starts_with('v'));
        if let Some(v) = body.and_then(|n| n.parse::<Version>().ok()) {
            files.push((v, entry));
        }
    }
    Ok(files)
}

/// One stat of a contract file, following a symlink; `None` when it is gone.
pub fn stat_entry(entry: &std::fs::DirEntry) -> Option<statcache::FileStat> {
    let meta = match entry.metadata() {
        Ok(m) if m.file_type().is_symlink() => std::fs::metadata(entry.path()).ok(),
        m => m.ok(),
    };
    meta.as_ref().map(statcache::FileStat::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only canonical `vX.Y.Z.yaml` names are contract files; every other name is ignored.
    #[test]
    fn contract_files_are_the_canonical_names_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "v1.0.0.yaml",
            "v10.2.0.yaml",
            "1.1.0.yaml",
            "vv1.2.0.yaml",
            "v01.3.0.yaml",
            "v1.4.0.yml",
            "v1.5.0.yaml.tmp",
            "V1.6.0.yaml",
            "v1.7.yaml",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let mut listed: Vec<_> = contract_entries_in(dir.path())
            .unwrap()
            .iter()
            .map(|(v, entry)| (v.to_string(), entry.file_name(), stat_entry(entry)))
            .collect();
        listed.sort_by(|a, b| a.1.cmp(&b.1));
        let stat = |name: &str| {
            Some(statcache::FileStat::of(
                &std::fs::metadata(dir.path().join(name)).unwrap(),
            ))
        };
        assert_eq!(
            listed,
            [
                ("v1.0.0".into(), "v1.0.0.yaml".into(), stat("v1.0.0.yaml")),
                (
                    "v10.2.0".into(),
                    "v10.2.0.yaml".into(),
                    stat("v10.2.0.yaml")
                ),
            ]
        );
        assert!(listed[0].2.unwrap().regular);
    }
}
