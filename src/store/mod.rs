//! The local SQLite store (`.gryt/gryt.db`): the only place with SQL for it. [`Store`] owns
//! the connection, runs the embedded refinery migrations, refuses databases written by a
//! newer gryt, and converts rows ↔ domain values. Every multi-step mutation runs inside
//! [`Store::tx`], so it is applied whole or not at all.

/// The condition of the partial indexes a push reads (`generations_to_push`,
/// `evolutions_to_push`, `runs_to_push`; migration 5), word for word, with `$prefix` before
/// each column (`"e."` or `""`). SQLite uses a partial index only for a query whose `WHERE`
/// repeats the index's condition exactly, so every such query takes it from here.
/// An OR chain, not `IN (…)`: SQLite builds a temporary B-tree per evaluation of a constant
/// list of more than two values (see migration 5).
macro_rules! pushable {
    ($prefix:literal) => {
        concat!(
            "(",
            $prefix,
            "sync_status = 'not_synced' OR ",
            $prefix,
            "sync_status = 'pending' OR ",
            $prefix,
            "sync_status = 'failed')"
        )
    };
}

mod audit;
pub mod backup;
mod counts;
mod evolutions;
mod generations;
mod records;
mod runs;
mod sync;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub use audit::{AuditEvent, NewAuditEvent};
pub use counts::GenerationState;
pub use evolutions::{Evolution, NewEvolution};
pub use generations::{AssignedChange, Generation, GenerationSummary, NewGeneration};
pub use records::Held;
pub use runs::{NewRun, PipelineRun, StepRecord};
pub use sync::{
    Conflict, OverviewRow, RemoteEvolution, RemoteGeneration, RemoteRun, SyncLogEntry, SyncState,
};

mod embedded {
    refinery::embed_migrations!("migrations");
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error(
        "{path} was written by a newer gryt (schema {found}; this gryt knows schema {known} at most)"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("{path} is not a gryt database: {reason}")]
    NotADatabase { path: String, reason: String },
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl From<rusqlite::Error> for StoreError {
    /// A value refused while converting a row ([`corrupt`]) comes back as the
    /// [`StoreError::Corrupt`] it was, not wrapped in rusqlite's conversion error.
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::FromSqlConversionFailure(i, t, inner) => {
                match inner.downcast::<StoreError>() {
                    Ok(store) => *store,
                    Err(inner) => {
                        StoreError::Sqlite(rusqlite::Error::FromSqlConversionFailure(i, t, inner))
                    }
                }
            }
            e => StoreError::Sqlite(e),
        }
    }
}

pub struct Store {
    conn: Connection,
    /// Whether this connection is inside [`Store::tx`], and wrote outside one since the
    /// store's revision last moved (`counts.rs`).
    writes: std::sync::Arc<counts::Writes>,
}

/// Highest migration version embedded in this binary (a test checks it against the files;
/// asking refinery on every open would compile its file-name regex on every command).
const LATEST_SCHEMA: i64 = 8;

fn latest_schema() -> i64 {
    LATEST_SCHEMA
}

impl Store {
    /// Creates the database at `path` (or opens it if it exists) and migrates it. Only
    /// `gryt init` creates; every other command uses [`Store::open`].
    pub fn create(path: &Path) -> Result<Store> {
        Self::open_with(path, true)
    }

    /// Opens and, if it is older, migrates an existing database. A missing, empty or foreign
    /// file is refused rather than silently replaced by an empty store.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, create: bool) -> Result<Store> {
        use rusqlite::OpenFlags;
        let shown = path.display().to_string();
        let refuse = |reason: &str| StoreError::NotADatabase {
            path: shown.clone(),
            reason: reason.to_string(),
        };
        if !create {
            match std::fs::metadata(path) {
                Err(_) => return Err(refuse("the file is missing")),
                Ok(m) if m.len() == 0 => return Err(refuse("the file is empty")),
                Ok(_) => {}
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
            | if create {
                OpenFlags::SQLITE_OPEN_CREATE
            } else {
                OpenFlags::empty()
            };
        let mut conn = Connection::open_with_flags(path, flags)?;
        let not_db = |e: rusqlite::Error| StoreError::NotADatabase {
            path: shown.clone(),
            reason: e.to_string(),
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(not_db)?;
        let latest = latest_schema();
        if version == 0 && !create {
            return Err(refuse("it holds no gryt schema"));
        }
        if version > latest {
            return Err(StoreError::TooNew {
                path: shown,
                found: version,
                known: latest,
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(not_db)?;
        if mode != "wal" {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        }
        // mmap: reads come straight from the page cache instead of being copied per page.
        // temp_store: statement journals stay in memory (a pull spilled megabytes of them to
        // temporary files, one per transaction).
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456;
             PRAGMA temp_store = MEMORY;",
        )?;
        if version < latest {
            // Foreign keys off while migrations rebuild tables (SQLite's documented way to
            // change a table's constraints): dropping the old table must not cascade.
            // Each migration copies its rows verbatim, in one transaction with its history row.
            conn.execute_batch("PRAGMA foreign_keys = OFF")?;
            let migrated = embedded::migrations::runner().run(&mut conn);
            conn.execute_batch("PRAGMA foreign_keys = ON")?;
            migrated?;
            conn.execute_batch(&format!("PRAGMA user_version = {latest}"))?;
        }
        let writes = counts::Writes::watch(&mut conn)?;
        Ok(Store { conn, writes })
    }

    /// Runs `f` in one IMMEDIATE transaction: committed if it returns `Ok`, rolled back
    /// otherwise (also on panic, since the connection drops with the transaction open).
    pub fn tx<T, E>(
        &self,
        f: impl FnOnce(&Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        let _in_tx = self.writes.in_tx();
        let before = self.conn.total_changes();
        match f(self) {
            Ok(value) => {
                // A transaction that changed rows moves the revision with them, atomically.
                let moved = self.conn.total_changes() != before || self.writes.stray();
                let committed = match moved {
                    true => self.move_revision(),
                    false => Ok(()),
                }
                .and_then(|()| Ok(self.conn.execute_batch("COMMIT")?));
                if let Err(e) = committed {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(e.into());
                }
                if moved {
                    self.writes.settled();
                }
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Runs `f`'s reads in one (deferred) read transaction: one consistent snapshot, and one
    /// lock taken and released instead of one per statement. Only for reads: nothing `f`
    /// might write is kept apart from the rest (use [`Store::tx`]).
    pub fn read<T, E>(
        &self,
        f: impl FnOnce(&Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        if !self.conn.is_autocommit() {
            // Already inside a transaction: its snapshot is the one to read.
            return f(self);
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(StoreError::from)?;
        let result = f(self);
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    pub fn local_state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM local_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_local_state(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO local_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM local_state WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// A number that grows with every recorded state change; mixed into seeded randomness
    /// so that repeated commands under a fixed test seed still draw fresh ids.
    pub fn change_counter(&self) -> Result<u64> {
        // Runs without an evolution write no audit event, so they count separately.
        let n: i64 = self.conn.query_row(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM audit_events)
                  + (SELECT COUNT(*) FROM pipeline_runs) * 1000003",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    corrupt_error(format!("{what} `{value}`"))
}

fn corrupt_error(message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Corrupt(message)),
    )
}

/// A timestamp column of a row, checked: gryt writes every timestamp as RFC 3339
/// ([`crate::clock::format`]), so anything else means the database was damaged or edited.
/// `record` names the row in the message (`generation v1.2.0`); it is called only then.
fn timestamp(
    r: &rusqlite::Row<'_>,
    idx: usize,
    record: &dyn Fn() -> String,
) -> rusqlite::Result<String> {
    let value: String = r.get(idx)?;
    check_timestamp(r, idx, record, value)
}

/// [`timestamp`] for a column that may be NULL.
fn timestamp_opt(
    r: &rusqlite::Row<'_>,
    idx: usize,
    record: &dyn Fn() -> String,
) -> rusqlite::Result<Option<String>> {
    let value: Option<String> = r.get(idx)?;
    value
        .map(|v| check_timestamp(r, idx, record, v))
        .transpose()
}

fn check_timestamp(
    r: &rusqlite::Row<'_>,
    idx: usize,
    record: &dyn Fn() -> String,
    value: String,
) -> rusqlite::Result<String> {
    if crate::clock::is_timestamp(&value) {
        return Ok(value);
    }
    let column = r.as_ref().column_name(idx).unwrap_or("a timestamp column");
    Err(corrupt_error(format!(
        "{}: {column} is `{}`, not a timestamp",
        record(),
        value.escape_debug()
    )))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("gryt.db")).unwrap();
        (dir, store)
    }

    /// The steps of SQLite's plan for `sql`.
    pub fn plan(store: &Store, sql: &str) -> Vec<String> {
        store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// What a push reads goes through the partial indexes of migration 3: a query whose
    /// `WHERE` drifts from its index would walk every record again on each batch.
    #[test]
    fn push_candidates_are_read_through_their_partial_indexes() {
        let (_dir, store) = temp_store();
        let generations = format!(
            "SELECT id FROM generations {}",
            generations::GENERATIONS_TO_PUSH
        );
        for (sql, index) in [
            (evolutions::EVOLUTIONS_TO_PUSH, "evolutions_to_push"),
            (generations.as_str(), "generations_to_push"),
            (sync::RUNS_TO_PUSH, "runs_to_push"),
        ] {
            let plan = plan(&store, sql);
            assert!(
                plan.iter().any(|d| d.contains(&format!("INDEX {index}"))),
                "{index} unused: {plan:?}"
            );
        }
        let plan = plan(&store, sync::UNSYNCED_COUNT);
        for index in ["generations_to_push", "evolutions_to_push", "runs_to_push"] {
            assert!(
                plan.iter().any(|d| d.contains(&format!("INDEX {index}"))),
                "the unsynced count does not read {index}: {plan:?}"
            );
        }
    }

    /// What every command reads when it opens a workspace (runs and evolutions a dead
    /// process left `running`) goes through partial indexes, not every run and evolution.
    #[test]
    fn interrupted_work_is_found_through_partial_indexes() {
        let (_dir, store) = temp_store();
        let evolutions = format!("{}{}", evolutions::SELECT, evolutions::RUNNING);
        let runs = format!("{}{}", runs::SELECT, runs::RUNNING);
        for (sql, index) in [(&evolutions, "evolutions_running"), (&runs, "runs_running")] {
            let plan = plan(&store, sql);
            assert!(
                plan.iter().any(|d| d.contains(&format!("INDEX {index}"))),
                "{index} unused: {plan:?}"
            );
        }
    }

    /// No CHECK or partial index holds a constant `IN (…)` list of more than two values:
    /// SQLite builds a temporary B-tree for one each time a row is written (migration 5).
    #[test]
    fn the_schema_has_no_constant_lists_that_cost_every_write() {
        let (_dir, store) = temp_store();
        let mut stmt = store
            .conn
            .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL")
            .unwrap();
        let schema: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(schema.len() > 10, "{schema:?}");
        for (name, sql) in &schema {
            let upper = sql.to_uppercase();
            for (at, _) in upper.match_indices(" IN (") {
                let list = &upper[at + 5..];
                let list = &list[..list.find(')').unwrap_or(list.len())];
                assert!(
                    list.matches(',').count() < 2,
                    "{name} evaluates a constant list of more than two values: {sql}"
                );
            }
        }
    }

    /// A store of schema 4 with rows in every rebuilt table keeps them all through
    /// migration 5, and its foreign keys still hold and still cascade afterwards.
    #[test]
    fn migration_5_keeps_every_row_and_the_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gryt.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON")
            .unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(4))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 4;
             INSERT INTO generations (id, version, major, minor, patch, status, created_by,
               created_at, updated_at, content_hash, sync_status)
             VALUES ('g1', 'v1.0.0', 1, 0, 0, 'promoted', 'ana', 't', 't', 'h', 'synced'),
                    ('g2', 'v1.1.0', 1, 1, 0, 'draft', 'ana', 't', 't', 'h', 'pending');
             INSERT INTO changes VALUES ('g1', 'FEAT-1', 0, 'add', 'one', NULL, NULL),
                                        ('g2', 'BUG-2', 0, 'fix', 'two', 'd', 'p');
             INSERT INTO pipeline_runs (id, pipeline, evolution_id, status, started_by,
               started_at, sync_status) VALUES ('r1', 'ci', 'e1', 'pass', 'ana', 't', 'failed');
             INSERT INTO pipeline_steps (run_id, position, name, command, duration_ms)
               VALUES ('r1', 0, 'build', 'make', 5);
             INSERT INTO evolutions (id, generation_id, change_id, code_name, rc, owner, status,
               started_at, pipeline_run_id, sync_status)
             VALUES ('e1', 'g1', 'FEAT-1', 'amber-fox', 1, 'ana', 'pass', 't', 'r1', 'synced'),
                    ('e2', 'g2', 'BUG-2', 'brave-owl', 1, 'ana', 'running', 't', NULL,
                     'not_synced');",
        )
        .unwrap();
        let dump = |c: &Connection| -> Vec<String> {
            [
                "generations",
                "changes",
                "pipeline_runs",
                "pipeline_steps",
                "evolutions",
            ]
            .iter()
            .flat_map(|t| {
                let mut stmt = c
                    .prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2"))
                    .unwrap();
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    let row: Vec<String> = (0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect();
                    Ok(format!("{t}: {}", row.join(" | ")))
                })
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap()
            })
            .collect()
        };
        let before = dump(&conn);
        assert_eq!(before.len(), 8);
        drop(conn);

        let store = Store::open(&path).unwrap();
        // Migration 6 adds the changes' assignee, unset on every row that was there.
        let expected: Vec<String> = before
            .iter()
            .map(|row| match row.starts_with("changes: ") {
                true => format!("{row} | Null"),
                false => row.clone(),
            })
            .collect();
        assert_eq!(dump(&store.conn), expected);
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, LATEST_SCHEMA);
        let violations: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(violations, 0);
        assert_eq!(store.unsynced_count().unwrap(), 3);
        // The rules are the same: a bad status is refused, a missing change too, and a
        // generation's evolutions and changes go with it.
        assert!(
            store
                .conn
                .execute("UPDATE generations SET status = 'gone' WHERE id = 'g1'", [])
                .is_err()
        );
        assert!(
            store
                .conn
                .execute(
                    "INSERT INTO evolutions (id, generation_id, change_id, code_name, rc, owner,
                       started_at) VALUES ('e3', 'g1', 'NOPE-1', 'calm-elk', 2, 'ana', 't')",
                    [],
                )
                .is_err()
        );
        store
            .conn
            .execute("DELETE FROM generations WHERE id = 'g1'", [])
            .unwrap();
        let left: i64 = store
            .conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM evolutions) + (SELECT COUNT(*) FROM changes)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 2);
    }

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gryt.db");
        Store::create(&path).unwrap();
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_schema());
    }

    #[test]
    fn latest_schema_matches_the_migration_files() {
        let embedded = embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .max();
        assert_eq!(embedded, Some(LATEST_SCHEMA));
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gryt.db");
        Store::create(&path)
            .unwrap()
            .conn
            .execute_batch("PRAGMA user_version = 999")
            .unwrap();
        match Store::open(&path) {
            Err(StoreError::TooNew { found: 999, .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a newer database"),
        }
    }

    #[test]
    fn refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gryt.db");
        std::fs::write(&path, b"this is not sqlite at all, not even close........").unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::NotADatabase { .. })
        ));
    }

    #[test]
    fn open_refuses_missing_empty_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gryt.db");
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::NotADatabase { .. })
        ));
        assert!(!path.exists(), "open must not create");
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::NotADatabase { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(
            Store::open(&other),
            Err(StoreError::NotADatabase { .. })
        ));
    }

    #[test]
    fn tx_rolls_back_on_error() {
        let (_dir, store) = temp_store();
        let r: std::result::Result<(), StoreError> = store.tx(|s| {
            s.set_local_state("k", Some("v"))?;
            Err(StoreError::Corrupt("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(store.local_state("k").unwrap(), None);
    }
}
