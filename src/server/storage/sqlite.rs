//! SQLite backend of [`Storage`]: one file (`gryt-server.db`) in the data directory, WAL
//! mode, one writer connection behind a mutex (SQLite serializes writers anyway, so this
//! avoids busy retries) and a small pool of reader connections for the changes feed and
//! lookups. SQL is kept portable (TEXT ids, BIGINT counters, partial unique indexes) so the
//! Postgres backend can share the schema's shape.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::schema::MIGRATIONS;
use super::{
    AccountRow, ClaimedDelivery, DeliveryOutcome, DeliveryRow, GenerationsSnapshot, NewDelivery,
    NewToken, ProjectRow, ProjectTx, RawPage, RecordColumns, Result, Storage, StorageError,
    StoredAnswer, TeamRow, TeamTx, TokenRow, WebhookRow,
};
use crate::api::accounts::{Member, Role, TokenKind};
use crate::api::digest::{self, DigestEntry};
use crate::api::import::Provenance;
use crate::api::records::{EvolutionRecord, GenerationRecord, Record};
use crate::domain::Version;
use crate::server::ServiceError;

/// File name of the server database inside the data directory.
pub const DB_FILE: &str = "gryt-server.db";

const READERS: usize = 64;

/// Days a push answer is kept for idempotent replays (pruned when the storage opens).
pub const IDEMPOTENCY_RETENTION_DAYS: i64 = 30;

pub struct SqliteStorage {
    path: PathBuf,
    history_id: Uuid,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
}

/// Copies the WAL back into the database on its own connection and thread, twice a second,
/// without blocking writers (`PASSIVE`): a push never waits for a checkpoint and its disk
/// sync. The writer's own automatic checkpoint stays as a backstop at 16 MiB of WAL, for
/// when readers keep the passive one from finishing. Stops when dropped.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(500);

    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = open_conn(path)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gryt-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Self::EVERY)
                {
                    // Busy or failed: the next round or the writer's backstop does it.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StorageError::Backend(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn backend(e: rusqlite::Error) -> StorageError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StorageError::Unavailable(e.to_string())
        }
        e => StorageError::Backend(e.to_string()),
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = 4096; PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(backend)?;
    Ok(conn)
}

/// `query_row` through the connection's statement cache: hot statements are parsed once.
fn query_cached<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

fn execute_cached(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

fn parse_record(body: &str) -> Result<Record> {
    serde_json::from_str(body).map_err(|e| StorageError::Corrupt(format!("record: {e}")))
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StorageError::Backend(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let mut conn = open_conn(&path)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Backend(format!(
                "cannot switch {} to WAL mode (got {mode})",
                path.display()
            )));
        }
        let applied: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        let known = MIGRATIONS.len() as i64;
        if applied > known {
            return Err(StorageError::TooNew {
                found: applied,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        // Stored push answers only matter for retries; keep a month of them.
        let cutoff = crate::domain::timestamp::format(
            time::OffsetDateTime::now_utc() - time::Duration::days(IDEMPOTENCY_RETENTION_DAYS),
        );
        conn.execute("DELETE FROM idempotency WHERE created_at < ?1", [cutoff])
            .map_err(backend)?;
        let history_id = ensure_history_id(&conn)?;
        Ok(SqliteStorage {
            _checkpointer: Checkpointer::start(&path)?,
            path,
            history_id,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the server a new history id (its history was rewound by a restore). Takes
    /// effect for servers that open the storage afterwards.
    pub fn rewind_history(&self) -> Result<Uuid> {
        let id = Uuid::now_v7();
        self.write(|c| {
            c.execute(
                "UPDATE server_meta SET value = ?2 WHERE key = ?1",
                params![HISTORY_ID, id.to_string()],
            )
        })?;
        Ok(id)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map(|mut p| p.pop()).unwrap_or(None);
        let conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let out = f(&conn).map_err(backend);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < READERS
        {
            pool.push(conn);
        }
        out
    }

    /// The writer connection. A panic while it was held rolled its transaction back (the
    /// transaction is dropped), so a poisoned lock still guards a consistent connection.
    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.writer();
        f(&conn).map_err(backend)
    }
}

/// Gives records without a content hash and slot (written since the last digest, stored
/// before digests existed, or edited by hand with the hash cleared) both; `project_id`
/// limits it to one project.
fn backfill_digest(conn: &mut Connection, project_id: Option<&str>) -> Result<()> {
    let tx = conn.transaction().map_err(backend)?;
    let rows: Vec<(String, String, String)> = tx
        .prepare(
            "SELECT project_id, id, body FROM records
             WHERE (hash IS NULL OR slot IS NULL) AND (?1 IS NULL OR project_id = ?1)",
        )
        .and_then(|mut st| {
            st.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(backend)?;
    for (project_id, id, body) in rows {
        let record = parse_record(&body)?;
        tx.execute(
            "UPDATE records SET hash = ?3, slot = ?4 WHERE project_id = ?1 AND id = ?2",
            params![
                project_id,
                id,
                digest::content_hash(&record),
                i64::from(digest::slot(&record.id()))
            ],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// Key of the history id in `server_meta`.
const HISTORY_ID: &str = "history_id";

/// The stored history id, made (and stored) when there is none yet: a new server, or one
/// whose database predates history ids.
fn ensure_history_id(conn: &Connection) -> Result<Uuid> {
    conn.execute(
        "INSERT INTO server_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        params![HISTORY_ID, Uuid::now_v7().to_string()],
    )
    .map_err(backend)?;
    let value: String = conn
        .query_row(
            "SELECT value FROM server_meta WHERE key = ?1",
            [HISTORY_ID],
            |r| r.get(0),
        )
        .map_err(backend)?;
    Uuid::parse_str(&value).map_err(|_| StorageError::Corrupt(format!("history id {value}")))
}

fn account_from(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: r.get(at)?,
        username: r.get(at + 1)?,
        password_hash: r.get(at + 2)?,
        created_at: r.get(at + 3)?,
    })
}

fn token_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    let id: String = r.get(0)?;
    let kind: String = r.get(2)?;
    let bad = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad token {what}").into(),
        )
    };
    Ok(TokenRow {
        id: Uuid::parse_str(&id).map_err(|_| bad("id"))?,
        account_id: r.get(1)?,
        kind: TokenKind::parse(&kind).ok_or_else(|| bad("kind"))?,
        name: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

const TOKEN_COLS: &str =
    "t.id, t.account_id, t.kind, t.name, t.created_at, t.expires_at, t.revoked_at";

fn role_of(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad role {s}").into(),
        )
    })
}

impl Storage for SqliteStorage {
    fn history_id(&self) -> Uuid {
        self.history_id
    }

    fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)))
            .map(|_| ())
    }

    fn create_account(&self, username: &str, password_hash: &str, now: &str) -> Result<AccountRow> {
        let row = AccountRow {
            id: Uuid::now_v7().to_string(),
            username: username.to_string(),
            password_hash: password_hash.to_string(),
            created_at: now.to_string(),
        };
        let res = self.write(|c| {
            c.execute(
                "INSERT INTO accounts (id, username, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![row.id, row.username, row.password_hash, row.created_at],
            )
        });
        match res {
            Ok(_) => Ok(row),
            Err(StorageError::Backend(_)) if self.account(username)?.is_some() => {
                Err(StorageError::NameTaken {
                    what: "account",
                    name: username.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }

    fn account(&self, username: &str) -> Result<Option<AccountRow>> {
        self.read(|c| {
            query_cached(
                c,
                "SELECT id, username, password_hash, created_at FROM accounts WHERE username = ?1",
                [username],
                |r| account_from(r, 0),
            )
            .optional()
        })
    }

    fn insert_token(&self, t: &NewToken) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO tokens (id, account_id, kind, name, token_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id.to_string(),
                    t.account_id,
                    t.kind.as_str(),
                    t.name,
                    t.hash,
                    t.created_at,
                    t.expires_at
                ],
            )
            .map(|_| ())
        })
    }

    fn token(&self, hash: &str) -> Result<Option<(TokenRow, AccountRow)>> {
        self.read(|c| {
            query_cached(
                c,
                &format!(
                    "SELECT {TOKEN_COLS}, a.id, a.username, a.password_hash, a.created_at
                     FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = ?1"
                ),
                [hash],
                |r| Ok((token_from(r)?, account_from(r, 7)?)),
            )
            .optional()
        })
    }

    fn tokens(&self, account_id: &str) -> Result<Vec<TokenRow>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {TOKEN_COLS} FROM tokens t
                 WHERE t.account_id = ?1 AND t.revoked_at IS NULL ORDER BY t.created_at, t.id"
            ))?;
            st.query_map([account_id], token_from)?.collect()
        })
    }

    fn revoke_token(&self, account_id: &str, token_id: Uuid, now: &str) -> Result<bool> {
        self.write(|c| {
            c.execute(
                "UPDATE tokens SET revoked_at = ?3
                 WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL",
                params![token_id.to_string(), account_id, now],
            )
            .map(|n| n == 1)
        })
    }

    fn create_team(&self, name: &str, owner_account_id: &str, now: &str) -> Result<TeamRow> {
        let team = TeamRow {
            id: Uuid::now_v7().to_string(),
            name: name.to_string(),
            created_at: now.to_string(),
        };
        let mut conn = self.writer();
        let tx = conn.transaction().map_err(backend)?;
        match tx.execute(
            "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![team.id, team.name, team.created_at],
        ) {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::NameTaken {
                    what: "team",
                    name: name.to_string(),
                });
            }
            other => other.map_err(backend)?,
        };
        tx.execute(
            "INSERT INTO team_members (team_id, account_id, role) VALUES (?1, ?2, 'owner')",
            params![team.id, owner_account_id],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(team)
    }

    fn teams(&self, account_id: &str) -> Result<Vec<(TeamRow, Role)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT t.id, t.name, t.created_at, m.role FROM teams t
                 JOIN team_members m ON m.team_id = t.id WHERE m.account_id = ?1 ORDER BY t.name",
            )?;
            st.query_map([account_id], |r| {
                let role: String = r.get(3)?;
                Ok((
                    TeamRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                    },
                    role_of(&role)?,
                ))
            })?
            .collect()
        })
    }

    fn members(&self, team_id: &str) -> Result<Vec<Member>> {
        self.read(|c| members_on(c, team_id))
    }

    fn transact_teams(
        &self,
        f: &mut dyn FnMut(&mut dyn TeamTx) -> std::result::Result<(), ServiceError>,
    ) -> std::result::Result<(), ServiceError> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        f(&mut SqliteTeamTx { conn: &tx })?;
        tx.commit().map_err(backend)?;
        Ok(())
    }

    fn create_project(&self, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow> {
        insert_project(&self.writer(), team, name, now)
    }

    fn projects(&self, team: &TeamRow) -> Result<Vec<ProjectRow>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, name, head, created_at FROM projects WHERE team_id = ?1 ORDER BY name",
            )?;
            st.query_map([&team.id], |r| {
                Ok(ProjectRow {
                    id: r.get(0)?,
                    team: team.name.clone(),
                    name: r.get(1)?,
                    head: u64_of(r.get(2)?),
                    created_at: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    fn project(&self, account_id: &str, team: &str, project: &str) -> Result<Option<ProjectRow>> {
        self.read(|c| {
            query_cached(
                c,
                "SELECT p.id, t.name, p.name, p.head, p.created_at FROM projects p
                 JOIN teams t ON t.id = p.team_id
                 JOIN team_members m ON m.team_id = t.id AND m.account_id = ?1
                 WHERE t.name = ?2 AND p.name = ?3",
                params![account_id, team, project],
                |r| {
                    Ok(ProjectRow {
                        id: r.get(0)?,
                        team: r.get(1)?,
                        name: r.get(2)?,
                        head: u64_of(r.get(3)?),
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()
        })
    }

    fn changes(&self, project_id: &str, since: u64, limit: u32) -> Result<RawPage> {
        self.read(|c| {
            // One read transaction: the head and the page come from the same snapshot.
            c.execute_batch("BEGIN DEFERRED")?;
            let result = (|| {
                let head: i64 = query_cached(
                    c,
                    "SELECT head FROM projects WHERE id = ?1",
                    [project_id],
                    |r| r.get(0),
                )?;
                let mut st = c.prepare_cached(
                    "SELECT seq, body FROM records WHERE project_id = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3",
                )?;
                let mut bodies = Vec::with_capacity(limit as usize);
                let mut last_seq = None;
                let mut rows =
                    st.query(params![project_id, i64_of(since), i64::from(limit) + 1])?;
                let mut more = false;
                while let Some(r) = rows.next()? {
                    if bodies.len() == limit as usize {
                        more = true;
                        break;
                    }
                    last_seq = Some(u64_of(r.get(0)?));
                    bodies.push(r.get(1)?);
                }
                Ok(RawPage {
                    bodies,
                    last_seq,
                    head: u64_of(head),
                    more,
                })
            })();
            let _ = c.execute_batch("COMMIT");
            result
        })
    }

    fn changes_of(
        &self,
        project_id: &str,
        versions: &[String],
        since: u64,
        limit: u32,
    ) -> Result<(RawPage, Vec<String>)> {
        let wanted = serde_json::to_string(versions)
            .map_err(|e| StorageError::Backend(format!("encoding versions: {e}")))?;
        self.read(|c| {
            c.execute_batch("BEGIN DEFERRED")?;
            let result = (|| {
                let head: i64 = query_cached(
                    c,
                    "SELECT head FROM projects WHERE id = ?1",
                    [project_id],
                    |r| r.get(0),
                )?;
                let mut st = c.prepare_cached(
                    "SELECT version FROM records WHERE project_id = ?1 AND kind = 'generation'
                     AND version IN (SELECT value FROM json_each(?2))",
                )?;
                let found = st
                    .query_map(params![project_id, wanted], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                // Runs name their evolution only in the body: a scan of the project's
                // records after `since`, which a narrowed pull is rare enough to afford.
                let mut st = c.prepare_cached(
                    "WITH gens AS (SELECT id FROM records WHERE project_id = ?1
                         AND kind = 'generation' AND version IN (SELECT value FROM json_each(?4))),
                     evos AS (SELECT id FROM records WHERE project_id = ?1
                         AND kind = 'evolution' AND generation_id IN (SELECT id FROM gens))
                     SELECT seq, body FROM records WHERE project_id = ?1 AND seq > ?2 AND (
                         id IN (SELECT id FROM gens)
                         OR (kind = 'evolution' AND generation_id IN (SELECT id FROM gens))
                         OR (kind = 'pipeline_run'
                             AND json_extract(body, '$.record.evolution_id') IN (SELECT id FROM evos)))
                     ORDER BY seq LIMIT ?3",
                )?;
                let mut bodies = Vec::new();
                let mut last_seq = None;
                let mut more = false;
                let mut rows = st.query(params![
                    project_id,
                    i64_of(since),
                    i64::from(limit) + 1,
                    wanted
                ])?;
                while let Some(r) = rows.next()? {
                    if bodies.len() == limit as usize {
                        more = true;
                        break;
                    }
                    last_seq = Some(u64_of(r.get(0)?));
                    bodies.push(r.get(1)?);
                }
                let page = RawPage {
                    bodies,
                    last_seq,
                    head: u64_of(head),
                    more,
                };
                Ok((page, found))
            })();
            let _ = c.execute_batch("COMMIT");
            result
        })
    }

    fn digest_entries(
        &self,
        project_id: &str,
        slots: (u32, u32),
        after: Option<Uuid>,
        limit: Option<u32>,
    ) -> Result<(u64, Vec<DigestEntry>)> {
        backfill_digest(&mut self.writer(), Some(project_id))?;
        self.read(|c| {
            c.execute_batch("BEGIN DEFERRED")?;
            let result = (|| {
                let head: i64 = query_cached(
                    c,
                    "SELECT head FROM projects WHERE id = ?1",
                    [project_id],
                    |r| r.get(0),
                )?;
                let mut st = c.prepare_cached(
                    "SELECT kind, id, revision, hash FROM records
                     WHERE project_id = ?1 AND kind <> 'deleted' AND slot BETWEEN ?2 AND ?3
                       AND id > ?4
                     ORDER BY id LIMIT ?5",
                )?;
                let after = after.map(|a| a.to_string()).unwrap_or_default();
                let limit = limit.map_or(-1, i64::from);
                let rows = st.query_map(
                    params![
                        project_id,
                        i64::from(slots.0),
                        i64::from(slots.1),
                        after,
                        limit
                    ],
                    |r| {
                        let kind: String = r.get(0)?;
                        let id: String = r.get(1)?;
                        let bad = |what: &str| {
                            rusqlite::Error::FromSqlConversionFailure(
                                0,
                                rusqlite::types::Type::Text,
                                format!("bad record {what}").into(),
                            )
                        };
                        Ok(DigestEntry {
                            kind: kind
                                .parse::<crate::api::RecordKind>()
                                .map_err(|_| bad("kind"))?,
                            id: Uuid::parse_str(&id).map_err(|_| bad("id"))?,
                            revision: u64_of(r.get(2)?),
                            hash: r.get(3)?,
                        })
                    },
                )?;
                let entries = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((u64_of(head), entries))
            })();
            let _ = c.execute_batch("COMMIT");
            result
        })
    }

    fn generations(
        &self,
        project_id: &str,
        version: Option<&Version>,
    ) -> Result<GenerationsSnapshot> {
        let (head, generations, evolutions) = self.read(|c| {
            // One read transaction: the head and both lists come from the same snapshot.
            c.execute_batch("BEGIN DEFERRED")?;
            let result = (|| {
                let head: i64 = query_cached(
                    c,
                    "SELECT head FROM projects WHERE id = ?1",
                    [project_id],
                    |r| r.get(0),
                )?;
                let strings = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<_> {
                    c.prepare_cached(sql)?
                        .query_map(p, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, String)>>>()
                };
                let (generations, evolutions) = match version {
                    Some(v) => {
                        let g = strings(
                            "SELECT id, body FROM records
                             WHERE project_id = ?1 AND kind = 'generation' AND version = ?2",
                            &[&project_id, &v.to_string()],
                        )?;
                        let e = match g.first() {
                            Some((id, _)) => strings(
                                "SELECT id, body FROM records
                                 WHERE project_id = ?1 AND kind = 'evolution' AND generation_id = ?2
                                 ORDER BY started_at, rc",
                                &[&project_id, id],
                            )?,
                            None => Vec::new(),
                        };
                        (g, e)
                    }
                    None => (
                        strings(
                            "SELECT id, body FROM records
                             WHERE project_id = ?1 AND kind = 'generation'",
                            &[&project_id],
                        )?,
                        strings(
                            "SELECT id, body FROM records
                             WHERE project_id = ?1 AND kind = 'evolution'
                             ORDER BY started_at, rc",
                            &[&project_id],
                        )?,
                    ),
                };
                Ok((u64_of(head), generations, evolutions))
            })();
            let _ = c.execute_batch("COMMIT");
            result
        })?;
        let bodies = |rows: Vec<(String, String)>| rows.into_iter().map(|(_, b)| b).collect();
        let g: Vec<String> = bodies(generations);
        let e: Vec<String> = bodies(evolutions);
        GenerationsSnapshot::parse(head, &g, &e)
    }

    fn create_webhook(&self, hook: &WebhookRow, limit: usize) -> Result<bool> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let held: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM webhooks WHERE project_id = ?1",
                [&hook.project_id],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= limit {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO webhooks (id, project_id, url, secret, events, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                hook.id,
                hook.project_id,
                hook.url,
                hook.secret,
                hook.events,
                hook.created_by,
                hook.created_at
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(true)
    }

    fn webhooks(&self, project_id: &str) -> Result<Vec<WebhookRow>> {
        self.read(|c| webhooks_on(c, project_id))
    }

    fn delete_webhook(&self, project_id: &str, id: &str) -> Result<bool> {
        let mut conn = self.writer();
        let tx = conn.transaction().map_err(backend)?;
        let found = tx
            .query_row(
                "SELECT 1 FROM webhooks WHERE id = ?1 AND project_id = ?2",
                [id, project_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some();
        if !found {
            return Ok(false);
        }
        tx.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?1", [id])
            .map_err(backend)?;
        tx.execute("DELETE FROM webhooks WHERE id = ?1", [id])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(true)
    }

    fn deliveries(
        &self,
        project_id: &str,
        webhook_id: &str,
        limit: u32,
    ) -> Result<Option<Vec<DeliveryRow>>> {
        self.read(|c| {
            let found = c
                .query_row(
                    "SELECT 1 FROM webhooks WHERE id = ?1 AND project_id = ?2",
                    [webhook_id, project_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !found {
                return Ok(None);
            }
            let mut st = c.prepare(
                "SELECT id, webhook_id, event, status, attempts, next_attempt_at,
                        last_status_code, last_error, created_at, delivered_at
                 FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![webhook_id, i64::from(limit)], |r| {
                    Ok(DeliveryRow {
                        id: r.get(0)?,
                        webhook_id: r.get(1)?,
                        event: r.get(2)?,
                        status: r.get(3)?,
                        attempts: r.get(4)?,
                        next_attempt_at: r.get(5)?,
                        last_status_code: r.get(6)?,
                        last_error: r.get(7)?,
                        created_at: r.get(8)?,
                        delivered_at: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(rows))
        })
    }

    fn claim_deliveries(&self, now: i64, until: i64, limit: u32) -> Result<Vec<ClaimedDelivery>> {
        // One writer: the read and the claims below are one step for every worker.
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let claimed = {
            let mut st = tx
                .prepare_cached(
                    "SELECT d.id, d.event, d.body, d.attempts, w.url, w.secret
                     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
                       AND (d.claimed_until IS NULL OR d.claimed_until < ?1)
                     ORDER BY d.next_attempt_at, d.id LIMIT ?2",
                )
                .map_err(backend)?;
            st.query_map(params![now, i64::from(limit)], |r| {
                Ok(ClaimedDelivery {
                    id: r.get(0)?,
                    event: r.get(1)?,
                    body: r.get(2)?,
                    attempts: r.get(3)?,
                    url: r.get(4)?,
                    secret: r.get(5)?,
                    claimed_until: until,
                })
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?
        };
        for d in &claimed {
            execute_cached(
                &tx,
                "UPDATE webhook_deliveries SET claimed_until = ?2 WHERE id = ?1",
                params![d.id, until],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(claimed)
    }

    fn finish_delivery(&self, id: &str, claimed_until: i64, o: &DeliveryOutcome) -> Result<()> {
        self.write(|c| {
            execute_cached(
                c,
                "UPDATE webhook_deliveries SET status = ?3, attempts = ?4, next_attempt_at = ?5,
                     last_status_code = ?6, last_error = ?7, delivered_at = ?8,
                     claimed_until = NULL
                 WHERE id = ?1 AND claimed_until = ?2",
                params![
                    id,
                    claimed_until,
                    o.status,
                    o.attempts,
                    o.next_attempt_at,
                    o.last_status_code,
                    o.last_error,
                    o.delivered_at
                ],
            )
            .map(|_| ())
        })
    }

    fn transact(
        &self,
        project_id: &str,
        f: &mut dyn FnMut(&mut dyn ProjectTx) -> std::result::Result<(), ServiceError>,
    ) -> std::result::Result<(), ServiceError> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let mut view = SqliteTx {
            conn: &tx,
            project_id,
        };
        f(&mut view)?;
        tx.commit().map_err(backend)?;
        Ok(())
    }
}

fn webhooks_on(c: &Connection, project_id: &str) -> rusqlite::Result<Vec<WebhookRow>> {
    let mut st = c.prepare_cached(
        "SELECT id, project_id, url, secret, events, created_by, created_at FROM webhooks
         WHERE project_id = ?1 ORDER BY id",
    )?;
    st.query_map([project_id], |r| {
        Ok(WebhookRow {
            id: r.get(0)?,
            project_id: r.get(1)?,
            url: r.get(2)?,
            secret: r.get(3)?,
            events: r.get(4)?,
            created_by: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?
    .collect()
}

fn members_on(c: &Connection, team_id: &str) -> rusqlite::Result<Vec<Member>> {
    let mut st = c.prepare_cached(
        "SELECT a.username, m.role FROM team_members m JOIN accounts a ON a.id = m.account_id
         WHERE m.team_id = ?1 ORDER BY a.username",
    )?;
    st.query_map([team_id], |r| {
        let role: String = r.get(1)?;
        Ok(Member {
            username: r.get(0)?,
            role: role_of(&role)?,
        })
    })?
    .collect()
}

fn insert_project(c: &Connection, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow> {
    let project = ProjectRow {
        id: Uuid::now_v7().to_string(),
        team: team.name.clone(),
        name: name.to_string(),
        head: 0,
        created_at: now.to_string(),
    };
    match c.execute(
        "INSERT INTO projects (id, team_id, name, head, created_at) VALUES (?1, ?2, ?3, 0, ?4)",
        params![project.id, team.id, project.name, project.created_at],
    ) {
        Ok(_) => Ok(project),
        Err(e) if is_unique_violation(&e) => Err(StorageError::NameTaken {
            what: "project",
            name: format!("{}/{name}", team.name),
        }),
        Err(e) => Err(backend(e)),
    }
}

/// [`TeamTx`] over the writer connection inside `BEGIN IMMEDIATE`.
struct SqliteTeamTx<'a> {
    conn: &'a Connection,
}

impl TeamTx for SqliteTeamTx<'_> {
    fn membership(&mut self, account_id: &str, team: &str) -> Result<Option<(TeamRow, Role)>> {
        query_cached(
            self.conn,
            "SELECT t.id, t.name, t.created_at, m.role FROM teams t
             JOIN team_members m ON m.team_id = t.id WHERE m.account_id = ?1 AND t.name = ?2",
            params![account_id, team],
            |r| {
                let role: String = r.get(3)?;
                Ok((
                    TeamRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                    },
                    role_of(&role)?,
                ))
            },
        )
        .optional()
        .map_err(backend)
    }

    fn account(&mut self, username: &str) -> Result<Option<AccountRow>> {
        query_cached(
            self.conn,
            "SELECT id, username, password_hash, created_at FROM accounts WHERE username = ?1",
            [username],
            |r| account_from(r, 0),
        )
        .optional()
        .map_err(backend)
    }

    fn members(&mut self, team_id: &str) -> Result<Vec<Member>> {
        members_on(self.conn, team_id).map_err(backend)
    }

    fn set_member(&mut self, team_id: &str, account_id: &str, role: Option<Role>) -> Result<()> {
        match role {
            Some(role) => self.conn.execute(
                "INSERT INTO team_members (team_id, account_id, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (team_id, account_id) DO UPDATE SET role = excluded.role",
                params![team_id, account_id, role.as_str()],
            ),
            None => self.conn.execute(
                "DELETE FROM team_members WHERE team_id = ?1 AND account_id = ?2",
                params![team_id, account_id],
            ),
        }
        .map(|_| ())
        .map_err(backend)
    }

    fn create_project(&mut self, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow> {
        insert_project(self.conn, team, name, now)
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    project_id: &'a str,
}

impl SqliteTx<'_> {
    /// Runs `sql` with `record`'s 13 columns in table order; the inner result is the
    /// statement's own (a constraint that refused it).
    fn write_record(&self, sql: &str, record: &Record) -> Result<rusqlite::Result<()>> {
        let c = RecordColumns::of(record)?;
        let mut st = self.conn.prepare_cached(sql).map_err(backend)?;
        Ok(st
            .execute(params![
                self.project_id,
                record.id().to_string(),
                c.kind,
                i64_of(record.seq()),
                i64_of(record.revision()),
                c.version,
                c.generation_id,
                c.rc,
                c.code_name,
                c.started_at,
                c.body,
                // The content hash and slot are filled in by the next digest
                // (`fill_digest`): a push pays nothing for verifies that may never come.
                None::<String>,
                None::<i64>
            ])
            .map(|_| ()))
    }

    fn records(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Record>> {
        let mut st = self.conn.prepare_cached(sql).map_err(backend)?;
        let bodies: Vec<String> = st
            .query_map(p, |r| r.get(0))
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)?;
        bodies.iter().map(|b| parse_record(b)).collect()
    }
}

impl ProjectTx for SqliteTx<'_> {
    fn head(&mut self) -> Result<u64> {
        query_cached(
            self.conn,
            "SELECT head FROM projects WHERE id = ?1",
            [self.project_id],
            |r| r.get::<_, i64>(0),
        )
        .map(u64_of)
        .map_err(backend)
    }

    fn set_head(&mut self, head: u64) -> Result<()> {
        execute_cached(
            self.conn,
            "UPDATE projects SET head = ?2 WHERE id = ?1",
            params![self.project_id, i64_of(head)],
        )
        .map(|_| ())
        .map_err(backend)
    }

    fn get(&mut self, id: Uuid) -> Result<Option<Record>> {
        Ok(self
            .records(
                "SELECT body FROM records WHERE project_id = ?1 AND id = ?2",
                params![self.project_id, id.to_string()],
            )?
            .pop())
    }

    fn generation_by_version(&mut self, version: &Version) -> Result<Option<GenerationRecord>> {
        let found = self.records(
            "SELECT body FROM records WHERE project_id = ?1 AND kind = 'generation' AND version = ?2",
            params![self.project_id, version.to_string()],
        )?;
        Ok(found.into_iter().find_map(|r| match r {
            Record::Generation(g) => Some(g),
            _ => None,
        }))
    }

    fn evolutions_of(&mut self, generation_id: Uuid) -> Result<Vec<EvolutionRecord>> {
        let found = self.records(
            "SELECT body FROM records
             WHERE project_id = ?1 AND kind = 'evolution' AND generation_id = ?2
             ORDER BY started_at, rc",
            params![self.project_id, generation_id.to_string()],
        )?;
        Ok(found
            .into_iter()
            .filter_map(|r| match r {
                Record::Evolution(e) => Some(e),
                _ => None,
            })
            .collect())
    }

    fn rc_usage(&mut self, generation_id: Uuid, rc: u32) -> Result<(Option<Uuid>, Option<u32>)> {
        let (holder, max): (Option<String>, Option<i64>) = self
            .conn
            .prepare_cached(
                "SELECT MAX(CASE WHEN rc = ?3 THEN id END), MAX(rc) FROM records
                 WHERE project_id = ?1 AND kind = 'evolution' AND generation_id = ?2",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![self.project_id, generation_id.to_string(), i64::from(rc)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .map_err(backend)?;
        let holder = holder
            .map(|h| Uuid::parse_str(&h).map_err(|_| StorageError::Corrupt(format!("id {h}"))))
            .transpose()?;
        Ok((holder, max.and_then(|m| u32::try_from(m).ok())))
    }

    fn evolution_by_code_name(&mut self, code_name: &str) -> Result<Option<Uuid>> {
        let id: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT id FROM records WHERE project_id = ?1 AND kind = 'evolution' AND code_name = ?2",
            )
            .and_then(|mut st| st.query_row(params![self.project_id, code_name], |r| r.get(0)))
            .optional()
            .map_err(backend)?;
        id.map(|h| Uuid::parse_str(&h).map_err(|_| StorageError::Corrupt(format!("id {h}"))))
            .transpose()
    }

    fn put(&mut self, record: &Record) -> Result<()> {
        self.write_record(
            "INSERT INTO records (project_id, id, kind, seq, revision, version, generation_id,
                 rc, code_name, started_at, body, hash, slot)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (project_id, id) DO UPDATE SET kind = excluded.kind,
                 seq = excluded.seq, revision = excluded.revision, version = excluded.version,
                 generation_id = excluded.generation_id, rc = excluded.rc,
                 code_name = excluded.code_name, started_at = excluded.started_at,
                 body = excluded.body, hash = excluded.hash, slot = excluded.slot",
            record,
        )?
        .map_err(backend)
    }

    fn insert_new(&mut self, record: &Record) -> Result<bool> {
        // A failed INSERT undoes only itself: the transaction goes on.
        match self.write_record(
            "INSERT INTO records (project_id, id, kind, seq, revision, version, generation_id,
                 rc, code_name, started_at, body, hash, slot)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            record,
        )? {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    fn answer(&mut self, key: &str) -> Result<Option<StoredAnswer>> {
        query_cached(
            self.conn,
            "SELECT account_id, request_hash, response FROM idempotency
                 WHERE project_id = ?1 AND key = ?2",
            params![self.project_id, key],
            |r| {
                Ok(StoredAnswer {
                    account_id: r.get(0)?,
                    request_hash: r.get(1)?,
                    response: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(backend)
    }

    fn set_provenance(&mut self, id: Uuid, p: &Provenance) -> Result<()> {
        execute_cached(
            self.conn,
            "INSERT INTO record_copies (project_id, id, copied_from, copied_by, copied_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (project_id, id) DO NOTHING",
            params![
                self.project_id,
                id.to_string(),
                p.copied_from,
                p.copied_by,
                p.copied_at
            ],
        )
        .map(|_| ())
        .map_err(backend)
    }

    fn provenance(&mut self, id: Uuid) -> Result<Option<Provenance>> {
        query_cached(
            self.conn,
            "SELECT copied_from, copied_by, copied_at FROM record_copies
             WHERE project_id = ?1 AND id = ?2",
            params![self.project_id, id.to_string()],
            |r| {
                Ok(Provenance {
                    copied_from: r.get(0)?,
                    copied_by: r.get(1)?,
                    copied_at: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(backend)
    }

    fn store_answer(&mut self, key: &str, a: &StoredAnswer, now: &str) -> Result<()> {
        execute_cached(
            self.conn,
                "INSERT INTO idempotency (project_id, key, account_id, request_hash, response, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![self.project_id, key, a.account_id, a.request_hash, a.response, now],
            )
            .map(|_| ())
            .map_err(backend)
    }
    fn webhooks(&mut self) -> Result<Vec<WebhookRow>> {
        webhooks_on(self.conn, self.project_id).map_err(backend)
    }

    fn insert_delivery(&mut self, d: &NewDelivery) -> Result<()> {
        execute_cached(
            self.conn,
            "INSERT INTO webhook_deliveries (id, webhook_id, event, body, status, attempts,
                 next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6)",
            params![
                d.id,
                d.webhook_id,
                d.event,
                d.body,
                d.next_attempt_at,
                d.created_at
            ],
        )
        .map(|_| ())
        .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records stored without a content hash (before digests existed, or edited by hand with
    /// the hash cleared) get it when the storage opens.
    #[test]
    fn records_get_their_hash_from_the_next_digest() {
        let dir = tempfile::tempdir().unwrap();
        let record: Record = serde_json::from_value(serde_json::json!({"kind": "generation",
            "record": {"id": Uuid::now_v7(), "version": "1.0.0",
            "changes": [{"type": "add", "id": "A-1", "title": "Login"}],
            "status": "draft", "created_at": "2026-01-01T00:00:00Z", "revision": 1, "seq": 1}}))
        .unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let account = storage
            .create_account("ann", "h", "2026-01-01T00:00:00Z")
            .unwrap();
        let team = storage
            .create_team("acme", &account.id, "2026-01-01T00:00:00Z")
            .unwrap();
        let project = storage
            .create_project(&team, "web", "2026-01-01T00:00:00Z")
            .unwrap();
        storage
            .transact(&project.id, &mut |tx| Ok(tx.put(&record)?))
            .unwrap();
        let unhashed = |s: &SqliteStorage| -> i64 {
            s.write(|c| {
                c.query_row("SELECT count(*) FROM records WHERE hash IS NULL", [], |r| {
                    r.get(0)
                })
            })
            .unwrap()
        };
        assert_eq!(unhashed(&storage), 1, "a write computes no hash");
        let (_, entries) = storage
            .digest_entries(&project.id, (0, u32::MAX), None, None)
            .unwrap();
        assert_eq!(entries, vec![digest::entry(&record).unwrap()]);
        assert_eq!(unhashed(&storage), 0, "the digest keeps what it computed");
        // A row edited by hand with its hash cleared gets it again, in a storage opened anew.
        storage
            .write(|c| c.execute_batch("UPDATE records SET hash = NULL, slot = NULL"))
            .unwrap();
        drop(storage);
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let (_, entries) = storage
            .digest_entries(&project.id, (0, u32::MAX), None, None)
            .unwrap();
        assert_eq!(entries, vec![digest::entry(&record).unwrap()]);
    }

    /// A database made before history ids existed gets one when opened, and keeps it.
    #[test]
    fn an_older_database_gets_a_history_id_that_stays() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
        }
        let first = SqliteStorage::open(dir.path()).unwrap().history_id();
        let again = SqliteStorage::open(dir.path()).unwrap().history_id();
        assert_eq!(first, again);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            SqliteStorage::open(other.path()).unwrap().history_id(),
            first
        );
    }

    /// Migration 4 rebuilds `records`: every row and column of a schema-3 database stays,
    /// and the kind check and the unique slots still hold afterwards.
    #[test]
    fn migration_4_keeps_every_record_and_its_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let dump = |c: &Connection| -> Vec<String> {
            let mut stmt = c.prepare("SELECT * FROM records ORDER BY seq").unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join(" | "))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let before = {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 3;
                 INSERT INTO accounts VALUES ('a', 'ann', 'h', 't');
                 INSERT INTO teams VALUES ('t', 'acme', 't');
                 INSERT INTO projects VALUES ('p', 't', 'web', 3, 't');
                 INSERT INTO records VALUES
                   ('p', 'g1', 'generation', 1, 1, 'v1.0.0', NULL, NULL, NULL, NULL, '{}', 'h1', 7),
                   ('p', 'e1', 'evolution', 2, 2, NULL, 'g1', 1, 'amber-fox', 't', '{}', NULL, NULL),
                   ('p', 'x1', 'deleted', 3, 1, NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL);",
            )
            .unwrap();
            dump(&conn)
        };
        assert_eq!(before.len(), 3);
        drop(SqliteStorage::open(dir.path()).unwrap());
        let conn = Connection::open(&path).unwrap();
        assert_eq!(dump(&conn), before);
        let refused = |sql: &str| assert!(conn.execute_batch(sql).is_err(), "taken: {sql}");
        refused(
            "INSERT INTO records (project_id, id, kind, seq, revision, body) VALUES ('p', 'z', 'other', 9, 1, '{}')",
        );
        refused(
            "INSERT INTO records (project_id, id, kind, seq, revision, version, body) VALUES ('p', 'g2', 'generation', 9, 1, 'v1.0.0', '{}')",
        );
        refused(
            "INSERT INTO records (project_id, id, kind, seq, revision, generation_id, rc, body) VALUES ('p', 'e2', 'evolution', 9, 1, 'g1', 1, '{}')",
        );
        refused(
            "INSERT INTO records (project_id, id, kind, seq, revision, code_name, body) VALUES ('p', 'e3', 'evolution', 9, 1, 'amber-fox', '{}')",
        );
        refused(
            "INSERT INTO records (project_id, id, kind, seq, revision, body) VALUES ('p', 'y', 'deleted', 3, 1, '{}')",
        );
    }

    /// A database left at schema `n` (the first `n` migrations) holding one account, team,
    /// project and generation record, as an older server wrote it; and its file.
    fn at_schema(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..n] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA user_version = {n};
             INSERT INTO accounts VALUES ('a', 'ann', 'h', 't');
             INSERT INTO teams VALUES ('t', 'acme', 't');
             INSERT INTO projects VALUES ('p', 't', 'web', 1, 't');
             INSERT INTO records VALUES
               ('p', 'g1', 'generation', 1, 1, 'v1.0.0', NULL, NULL, NULL, NULL, '{{}}', 'h1', 7);"
        ))
        .unwrap();
        (dir, path)
    }

    /// Migration 5 adds `record_copies` to a schema-4 database: its records stay, and a
    /// record's provenance is kept once (a second copy of it does not replace the first).
    #[test]
    fn migration_5_adds_provenance_and_keeps_the_records() {
        let (dir, path) = at_schema(4);
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let id = Uuid::now_v7();
        let copy = |by: &str| Provenance {
            copied_from: "http://old#acme/web".into(),
            copied_by: by.into(),
            copied_at: "2026-01-01T00:00:00Z".into(),
        };
        let kept = super::super::transact(&storage, "p", |tx| {
            tx.set_provenance(id, &copy("ann"))?;
            tx.set_provenance(id, &copy("bob"))?;
            Ok(tx.provenance(id)?)
        })
        .unwrap();
        assert_eq!(kept, Some(copy("ann")));
        drop(storage);
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let body: String = conn
            .query_row("SELECT body FROM records WHERE id = 'g1'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(body, "{}");
    }

    /// Migration 6 adds the webhook tables to a schema-5 database: its projects and records
    /// stay, and a delivery must name a webhook that exists, with a known status.
    #[test]
    fn migration_6_adds_webhooks_and_keeps_the_records() {
        let (dir, path) = at_schema(5);
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let hook = WebhookRow {
            id: "w".into(),
            project_id: "p".into(),
            url: "http://127.0.0.1:9/x".into(),
            secret: "s".into(),
            events: "promoted".into(),
            created_by: "ann".into(),
            created_at: "t".into(),
        };
        assert!(storage.create_webhook(&hook, 20).unwrap());
        assert_eq!(storage.webhooks("p").unwrap()[0].url, hook.url);
        drop(storage);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let body: String = conn
            .query_row("SELECT body FROM records WHERE id = 'g1'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(body, "{}");
        let insert = |webhook: &str, status: &str| {
            conn.execute(
                "INSERT INTO webhook_deliveries (id, webhook_id, event, body, status, attempts,
                     next_attempt_at, created_at) VALUES (?1, ?2, 'promoted', '{}', ?3, 0, 0, 't')",
                params![format!("{webhook}-{status}"), webhook, status],
            )
        };
        insert("w", "pending").unwrap();
        insert("nope", "pending").unwrap_err();
        insert("w", "sent").unwrap_err();
    }

    /// Writes reach the database file without anyone asking for a checkpoint: the WAL is far
    /// below the writer's automatic threshold, so only the checkpointer copies them.
    #[test]
    fn the_checkpointer_copies_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let db = dir.path().join(DB_FILE);
        let size = || std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        // Let the migrations settle first, then write something new.
        std::thread::sleep(Checkpointer::EVERY * 3);
        let before = size();
        for i in 0..200 {
            storage
                .create_account(
                    &format!("user-{i}"),
                    &"h".repeat(200),
                    "2026-01-01T00:00:00Z",
                )
                .unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while size() <= before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            size() > before,
            "the database file never grew past {before} bytes"
        );
        drop(storage);
    }
}
