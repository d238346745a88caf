//! Backup files of the workspace database: a consistent copy made with SQLite's online
//! backup API, checked with `PRAGMA integrity_check`, with `FILE.sha256` beside it in
//! `sha256sum` format; and the checks a restore runs on such a file before it replaces
//! anything (checksum, integrity, a gryt workspace schema this gryt can read).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists already; a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("the checksum file {0} is missing")]
    ChecksumMissing(PathBuf),
    #[error("the checksum file {0} is not in sha256sum format (HEX  NAME)")]
    ChecksumMalformed(PathBuf),
    #[error("{path} does not match its checksum (expected {expected}, found {actual})")]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path} is not a gryt workspace database: {reason}")]
    NotWorkspaceDatabase { path: PathBuf, reason: String },
    #[error("{path} fails the integrity check: {report}")]
    Integrity { path: PathBuf, report: String },
    #[error("{path} was written by a newer gryt (schema {found}, this gryt knows {known})")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Sqlite(String),
}

pub type Result<T> = std::result::Result<T, BackupError>;

pub(crate) fn io(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

fn sqlite(e: rusqlite::Error) -> BackupError {
    BackupError::Sqlite(e.to_string())
}

fn not_workspace_db(path: &Path, reason: impl std::fmt::Display) -> BackupError {
    BackupError::NotWorkspaceDatabase {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(io("read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(crate::domain::generation::hex(&hasher.finalize()))
}

/// `FILE.sha256`
pub fn checksum_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Writes `FILE.sha256` as `sha256sum` does (`HEX  NAME`), so `sha256sum -c` checks it too.
pub fn write_checksum(file: &Path, hex: &str) -> Result<PathBuf> {
    let path = checksum_path(file);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    std::fs::write(&path, format!("{hex}  {name}\n")).map_err(io("write", &path))?;
    Ok(path)
}

/// Checks `FILE` against `FILE.sha256`.
pub fn verify_checksum(file: &Path) -> Result<()> {
    let path = checksum_path(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::ChecksumMissing(path));
        }
        Err(e) => return Err(io("read", &path)(e)),
    };
    let expected = text
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| BackupError::ChecksumMalformed(path.clone()))?
        .to_ascii_lowercase();
    let actual = sha256_file(file)?;
    if actual != expected {
        return Err(BackupError::ChecksumMismatch {
            path: file.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks that `db` is a sound gryt workspace database this gryt can open; errors name it
/// `path` (the file the user gave, when `db` is a staged copy of it).
pub fn check_database(db: &Path, path: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| not_workspace_db(path, e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_workspace_db(path, e))?;
    let report: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| not_workspace_db(path, e))?;
    if report != ["ok"] {
        return Err(BackupError::Integrity {
            path: path.to_path_buf(),
            report: report.into_iter().take(5).collect::<Vec<_>>().join("; "),
        });
    }
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('generations', 'changes', 'evolutions', 'pipeline_runs')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| not_workspace_db(path, e))?;
    if version < 1 || tables != 4 {
        return Err(not_workspace_db(path, "it has no gryt workspace tables"));
    }
    let known = super::LATEST_SCHEMA;
    if version > known {
        return Err(BackupError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    Ok(())
}

/// Copies the database at `db` to `out` (which must not exist) with the online backup API,
/// in one read snapshot (writers go on meanwhile), checks the copy, and writes `out.sha256`.
/// Returns the copy's hash and size.
pub fn backup(db: &Path, out: &Path) -> Result<(String, u64)> {
    for path in [out.to_path_buf(), checksum_path(out)] {
        if path.exists() {
            return Err(BackupError::Exists(path));
        }
    }
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| not_workspace_db(db, e))?;
    src.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite)?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = (|| {
        {
            let mut dst = Connection::open(&partial).map_err(sqlite)?;
            let backup = rusqlite::backup::Backup::new(&src, &mut dst).map_err(sqlite)?;
            while backup.step(-1).map_err(sqlite)? != rusqlite::backup::StepResult::Done {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        check_database(&partial, out)?;
        settle(&partial)?;
        let sha256 = sha256_file(&partial)?;
        let bytes = std::fs::metadata(&partial)
            .map_err(io("read", &partial))?
            .len();
        std::fs::rename(&partial, out).map_err(io("write", out))?;
        write_checksum(out, &sha256)?;
        Ok((sha256, bytes))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
        remove_sidecars(&partial);
    }
    result
}

/// Folds the WAL into the database file so the file alone holds everything, and removes the
/// emptied `-wal`/`-shm` beside it. Fails when another connection keeps the WAL in use.
pub fn settle(db: &Path) -> Result<()> {
    {
        let conn =
            Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(sqlite)?;
        if busy != 0 {
            return Err(BackupError::Sqlite(format!(
                "{} is in use by another gryt; let it finish and try again",
                db.display()
            )));
        }
    }
    remove_sidecars(db);
    Ok(())
}

/// Removes `-wal` and `-shm` beside a database.
pub fn remove_sidecars(db: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}
