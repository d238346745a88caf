//! `gryt backup` / `gryt restore`: the workspace database (`.gryt/gryt.db`, where local
//! evolutions, pipeline runs and sync state live) to a checked backup file and back. A restore
//! checks the file completely before it replaces anything, refuses while a sync runs, and
//! keeps the database it replaced in `.gryt/backups/`.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::OpError;
use crate::store::Store;
use crate::store::backup::{self as files, io};
use crate::workspace::{DB_FILE, DIR, Workspace, WorkspaceError};

/// The sync lock's file in `.gryt/` (held by every sync; a restore takes it too).
const SYNC_LOCK: &str = "sync.lock";

/// What a backup wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub file: PathBuf,
    pub checksum_file: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub file: PathBuf,
    /// Where the replaced database now is (`None`: there was none).
    pub replaced: Option<PathBuf>,
}

/// Writes a consistent, checked copy of the workspace database to `out`, with `out.sha256`.
pub fn backup(ws: &Workspace, out: &Path) -> Result<BackupReport, OpError> {
    let (sha256, bytes) = files::backup(&ws.db_path(), out)?;
    Ok(BackupReport {
        file: out.to_path_buf(),
        checksum_file: files::checksum_path(out),
        sha256,
        bytes,
    })
}

/// Held while the restore swaps the database; unlocked explicitly on drop so a process
/// forked meanwhile cannot keep it.
struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock(dir: &Path) -> Result<Lock, OpError> {
    let path = dir.join(SYNC_LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpError::SyncRunning),
        Err(std::fs::TryLockError::Error(e)) => Err(io("lock", &path)(e).into()),
    }
}

/// Replaces the database of the workspace around `start` with the backup `file`. Works even
/// when the current database cannot be opened (that is when one needs it).
pub fn restore(start: &Path, file: &Path) -> Result<RestoreReport, OpError> {
    let root = crate::workspace::find_root(start).ok_or(WorkspaceError::NotARepo)?;
    let dir = root.join(DIR);
    files::verify_checksum(file)?;
    let _lock = lock(&dir)?;
    let staged = dir.join(format!("{DB_FILE}-restore"));
    let prepared = (|| -> Result<(), OpError> {
        std::fs::copy(file, &staged).map_err(io("copy", file))?;
        files::check_database(&staged, file)?;
        // Brings the copy to this gryt's schema before it goes live.
        drop(Store::open(&staged)?);
        files::settle(&staged)?;
        Ok(())
    })();
    if let Err(e) = prepared {
        let _ = std::fs::remove_file(&staged);
        files::remove_sidecars(&staged);
        return Err(e);
    }
    let live = dir.join(DB_FILE);
    let replaced = if live.exists() {
        let kept_dir = dir.join("backups");
        std::fs::create_dir_all(&kept_dir).map_err(io("create", &kept_dir))?;
        let stamp = time::OffsetDateTime::now_utc()
            .format(&time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        let mut kept = kept_dir.join(format!("gryt-{stamp}.db"));
        let mut n = 1;
        while kept.exists() {
            n += 1;
            kept = kept_dir.join(format!("gryt-{stamp}-{n}.db"));
        }
        // A damaged database may not checkpoint: then its WAL moves along with it.
        let settled = files::settle(&live).is_ok();
        std::fs::rename(&live, &kept).map_err(io("move", &live))?;
        if !settled {
            for suffix in ["-wal", "-shm"] {
                let (mut from, mut to) = (live.as_os_str().to_owned(), kept.as_os_str().to_owned());
                from.push(suffix);
                to.push(suffix);
                let _ = std::fs::rename(PathBuf::from(from), PathBuf::from(to));
            }
        }
        Some(kept)
    } else {
        None
    };
    files::remove_sidecars(&live);
    std::fs::rename(&staged, &live).map_err(io("move", &staged))?;
    Ok(RestoreReport {
        file: file.to_path_buf(),
        replaced,
    })
}
