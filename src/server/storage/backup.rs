//! Backup and restore of a server's data directory (`gryt cloud admin backup|restore`), and
//! the lock a running server holds on it.
//!
//! A backup is one SQLite file made with the online backup API (consistent while the server
//! writes), checked with `PRAGMA integrity_check`, with `FILE.sha256` beside it in
//! `sha256sum` format. A restore checks all of that on a staged copy inside the data
//! directory before it touches the live database, so a bad input changes nothing; it then
//! keeps the replaced database in `DIR/replaced/` and gives the server a new history id
//! (clients see their history was rewound and re-match their records).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::StorageError;
use super::schema::MIGRATIONS;
use super::sqlite::{DB_FILE, SqliteStorage};

/// The lock file a running server holds in its data directory.
pub const LOCK_FILE: &str = "gryt-server.lock";
/// Where a restore keeps the databases it replaced, inside the data directory.
pub const REPLACED_DIR: &str = "replaced";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no server database in {0} (expected {DB_FILE} there)")]
    NoDatabase(PathBuf),
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
    #[error("{path} is not a Gryt Cloud server database: {reason}")]
    NotServerDatabase { path: PathBuf, reason: String },
    #[error("{path} fails the integrity check: {report}")]
    Integrity { path: PathBuf, report: String },
    #[error("{path} was written by a newer gryt (schema {found}, this gryt knows {known})")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("a server is running on {0}")]
    ServerRunning(PathBuf),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Sqlite(String),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("the target database already holds Gryt Cloud data ({0})")]
    NotEmpty(String),
    #[error(
        "{table} differs after the copy (source: {expected}; copy: {actual}); nothing was kept"
    )]
    Mismatch {
        table: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type Result<T> = std::result::Result<T, AdminError>;

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AdminError + use<> {
    let path = path.to_path_buf();
    move |source| AdminError::Io { what, path, source }
}

fn sqlite(e: rusqlite::Error) -> AdminError {
    AdminError::Sqlite(e.to_string())
}

/// Held while a server serves a data directory (and while a restore replaces its database);
/// released when dropped, or when the process dies.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Unlock explicitly rather than by closing: a process forked meanwhile (before its
        // exec closes the descriptor) would otherwise keep the lock a moment longer.
        let _ = self.file.unlock();
    }
}

impl DataDirLock {
    /// Takes the data directory's lock, creating the directory if needed; refuses when a
    /// server (or a restore) holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        std::fs::create_dir_all(data_dir).map_err(io("create", data_dir))?;
        let path = data_dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(AdminError::ServerRunning(data_dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io("lock", &path)(e)),
        }
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

/// Writes `FILE.sha256` in `sha256sum` format (`HEX  NAME`), so `sha256sum -c` checks it too.
pub fn write_checksum(file: &Path, hex: &str) -> Result<PathBuf> {
    let path = checksum_path(file);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    std::fs::write(&path, format!("{hex}  {name}\n")).map_err(io("write", &path))?;
    Ok(path)
}

/// Checks `FILE` against `FILE.sha256`; returns the hash.
pub fn verify_checksum(file: &Path) -> Result<String> {
    let path = checksum_path(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AdminError::ChecksumMissing(path));
        }
        Err(e) => return Err(io("read", &path)(e)),
    };
    let expected = text
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| AdminError::ChecksumMalformed(path.clone()))?
        .to_ascii_lowercase();
    if !file.is_file() {
        return Err(io("read", file)(std::io::ErrorKind::NotFound.into()));
    }
    let actual = sha256_file(file)?;
    if actual != expected {
        return Err(AdminError::ChecksumMismatch {
            path: file.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(actual)
}

/// Runs `PRAGMA integrity_check` on an open database.
pub fn integrity_check(conn: &Connection, path: &Path) -> Result<()> {
    let mut st = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| not_server_db(path, e))?;
    let lines: Vec<String> = st
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| not_server_db(path, e))?;
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(());
    }
    Err(AdminError::Integrity {
        path: path.to_path_buf(),
        report: lines.into_iter().take(5).collect::<Vec<_>>().join("; "),
    })
}

fn not_server_db(path: &Path, e: impl std::fmt::Display) -> AdminError {
    AdminError::NotServerDatabase {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Checks that an open database is a sound Gryt Cloud server database this gryt can read.
fn check_server_db(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_server_db(path, e))?;
    integrity_check(conn, path)?;
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('accounts', 'teams', 'projects', 'records')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| not_server_db(path, e))?;
    if version < 1 || tables != 4 {
        return Err(not_server_db(path, "it has no Gryt Cloud tables"));
    }
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(AdminError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    Ok(())
}

/// What a backup wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub file: PathBuf,
    pub checksum_file: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// Writes a consistent copy of `data_dir`'s database to `out` (which must not exist), safe
/// while a server serves it; checks the copy and writes `out.sha256`.
pub fn backup(data_dir: &Path, out: &Path) -> Result<BackupReport> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(AdminError::NoDatabase(data_dir.to_path_buf()));
    }
    for path in [out.to_path_buf(), checksum_path(out)] {
        if path.exists() {
            return Err(AdminError::Exists(path));
        }
    }
    let src = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| not_server_db(&db, e))?;
    src.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite)?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = (|| {
        {
            let mut dst = Connection::open(&partial).map_err(sqlite)?;
            {
                let backup = rusqlite::backup::Backup::new(&src, &mut dst).map_err(sqlite)?;
                // All pages in one step, under one read snapshot: in WAL mode the server's
                // writers go on meanwhile, and the copy is that snapshot exactly.
                loop {
                    match backup.step(-1).map_err(sqlite)? {
                        rusqlite::backup::StepResult::Done => break,
                        _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                    }
                }
            }
            check_server_db(&dst, out)?;
        }
        let sha256 = sha256_file(&partial)?;
        let bytes = std::fs::metadata(&partial)
            .map_err(io("read", &partial))?
            .len();
        std::fs::rename(&partial, out).map_err(io("write", out))?;
        let checksum_file = write_checksum(out, &sha256)?;
        Ok(BackupReport {
            file: out.to_path_buf(),
            checksum_file,
            sha256,
            bytes,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// Where the database that was replaced now is (`None`: the directory had none).
    pub replaced: Option<PathBuf>,
    /// The server's new history id.
    pub history_id: Uuid,
}

/// Replaces `data_dir`'s database with the backup `file` after checking its checksum, its
/// integrity and its schema; refuses while a server runs on `data_dir`. The replaced database
/// is kept in `data_dir/replaced/`. The server gets a new history id.
pub fn restore(file: &Path, data_dir: &Path) -> Result<RestoreReport> {
    verify_checksum(file)?;
    let _lock = DataDirLock::acquire(data_dir)?;
    let staging = data_dir.join(format!(".restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io("create", &staging))?;
    let staged = (|| {
        let copy = staging.join(DB_FILE);
        std::fs::copy(file, &copy).map_err(io("copy", file))?;
        {
            let conn = Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
                .map_err(|e| not_server_db(file, e))?;
            check_server_db(&conn, file)?;
        }
        // Brings the copy to this gryt's schema (backfills included) and rewinds its history.
        let history_id = {
            let storage = SqliteStorage::open(&staging)?;
            storage.rewind_history()?
        };
        settle(&copy)?;
        Ok((copy, history_id))
    })();
    let (copy, history_id) = match staged {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let live = data_dir.join(DB_FILE);
    let replaced = if live.exists() {
        settle(&live)?;
        let dir = data_dir.join(REPLACED_DIR);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let stamp = time::OffsetDateTime::now_utc()
            .format(&time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        let mut kept = dir.join(format!("gryt-server-{stamp}.db"));
        let mut n = 1;
        while kept.exists() {
            n += 1;
            kept = dir.join(format!("gryt-server-{stamp}-{n}.db"));
        }
        std::fs::rename(&live, &kept).map_err(io("move", &live))?;
        Some(kept)
    } else {
        None
    };
    remove_sidecars(&live);
    std::fs::rename(&copy, &live).map_err(io("move", &copy))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(RestoreReport {
        replaced,
        history_id,
    })
}

/// Folds the WAL into the database file so the file alone holds everything, and removes the
/// emptied `-wal`/`-shm` beside it.
fn settle(db: &Path) -> Result<()> {
    {
        let conn =
            Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite)?;
        let (busy, _, _): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(sqlite)?;
        if busy != 0 {
            return Err(AdminError::Sqlite(format!(
                "{} is in use by another program; stop it and try again",
                db.display()
            )));
        }
    }
    remove_sidecars(db);
    Ok(())
}

fn remove_sidecars(db: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}
