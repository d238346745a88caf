//! Sync bookkeeping in the local store: the cursor and other metadata, records waiting to be
//! pushed, applying records that arrive from the cloud, conflicts and the sync log. The rules
//! (what to apply, what is a conflict) live in `sync::planner`; this file only reads and
//! writes rows.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::domain::generation::Contract;
use crate::domain::{ConflictReason, EvolutionStatus, GenerationStatus, RecordKind, SyncStatus};

/// The local sync state of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    pub sync_status: SyncStatus,
    pub base_revision: Option<u64>,
}

/// A generation as the cloud has it (what `upsert_remote_generation` writes).
pub struct RemoteGeneration<'a> {
    pub id: &'a str,
    pub contract: &'a Contract,
    pub status: GenerationStatus,
    pub created_by: &'a str,
    pub created_at: &'a str,
    pub promoted_by: Option<&'a str>,
    pub promoted_at: Option<&'a str>,
    pub revision: u64,
    pub file_hash: &'a str,
}

pub struct RemoteEvolution<'a> {
    pub id: &'a str,
    pub generation_id: &'a str,
    pub change_id: &'a str,
    pub code_name: &'a str,
    pub rc: u32,
    pub owner: &'a str,
    pub status: EvolutionStatus,
    pub note: Option<&'a str>,
    pub started_at: &'a str,
    pub completed_at: Option<&'a str>,
    pub pipeline_run_id: Option<&'a str>,
    pub revision: u64,
}

pub struct RemoteRun<'a> {
    pub id: &'a str,
    pub pipeline: &'a str,
    pub evolution_id: Option<&'a str>,
    pub status: &'a str,
    pub note: Option<&'a str>,
    pub started_by: &'a str,
    pub started_at: &'a str,
    pub finished_at: Option<&'a str>,
    pub duration_ms: Option<i64>,
    /// (name, exit code, duration ms, attempts, timed out)
    pub steps: Vec<(&'a str, Option<i32>, i64, u32, bool)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Conflict {
    pub id: i64,
    pub record_kind: RecordKind,
    pub record_id: String,
    pub reason: ConflictReason,
    /// What it is about, for people: `v1.2.0`, `v1.2.0-rc.3`.
    pub subject: String,
    pub local_value: Option<serde_json::Value>,
    pub remote_value: Option<serde_json::Value>,
    pub remote_seq: u64,
    /// The cloud's message, for a record it refused for good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub detected_at: String,
    pub resolved_at: Option<String>,
    pub resolution: Option<String>,
    /// Who settled it when nobody was asked: `auto` (a pull with `sync.auto_resolve`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

/// One record of [`Store::sync_overview`].
#[derive(Debug, Clone)]
pub struct OverviewRow {
    pub kind: RecordKind,
    /// Its version or rc tag.
    pub subject: String,
    pub sync_status: SyncStatus,
    /// Why the cloud refused it (`failed`).
    pub sync_error: Option<String>,
}

/// One sync attempt: `direction` (pull, push, promote, verify, full-pull), what started it
/// (`origin`: command, hook, cloud-mode) and how it ended (`result`: ok, rejected,
/// error, cancelled). The values are written by `cli::sync::attempt`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncLogEntry {
    pub started_at: String,
    pub direction: String,
    pub origin: String,
    pub counts: serde_json::Value,
    pub duration_ms: i64,
    pub result: String,
    pub error: Option<String>,
}

fn promotion_key(generation_id: &str) -> String {
    format!("promotion_in_flight:{generation_id}")
}

fn table(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Generation => "generations",
        RecordKind::Evolution => "evolutions",
        RecordKind::PipelineRun => "pipeline_runs",
    }
}

/// A value read back from the database that this version does not know.
fn unknown(e: crate::domain::UnknownValue) -> super::StoreError {
    super::StoreError::Corrupt(e.to_string())
}

/// A list as the JSON array that set-based statements read with `json_each`.
fn json_list(items: &[impl serde::Serialize]) -> Result<String> {
    serde_json::to_string(items)
        .map_err(|e| super::StoreError::Corrupt(format!("encoding a list of keys: {e}")))
}

/// The runs a push sends, in order: the partial index `runs_to_push` (migrations 3 and 5). Like the
/// generations and evolutions a push sends, never one the cloud refused (`failed`): those
/// wait for their `refused` conflict to be settled.
pub(super) const RUNS_TO_PUSH: &str = concat!(
    "SELECT id FROM pipeline_runs WHERE ",
    pushable!(""),
    " AND sync_status <> 'failed' AND status <> 'running' AND evolution_id IS NOT NULL
     ORDER BY rowid"
);

/// The upsert of `rows` remote evolutions: row k binds ?(b+1) … ?(b+11) with b = 11·k, and
/// ?1 is `now`. The id is also the remote id.
fn upsert_evolutions_sql(rows: usize) -> String {
    const PER_ROW: usize = 11;
    let values: Vec<String> = (0..rows)
        .map(|k| {
            let p = |i: usize| format!("?{}", 1 + PER_ROW * k + i);
            let fields: Vec<String> = (1..=10).map(p).collect();
            format!(
                "({}, NULL, {}, 'synced', {}, ?1)",
                fields.join(", "),
                p(1),
                p(11)
            )
        })
        .collect();
    format!(
        "INSERT INTO evolutions (id, generation_id, change_id, code_name, rc, owner, status,
           note, started_at, completed_at, pipeline_run_id, remote_id, sync_status,
           base_revision, last_synced_at)
         VALUES {}
         ON CONFLICT (id) DO UPDATE SET change_id = excluded.change_id,
           code_name = excluded.code_name, rc = excluded.rc, owner = excluded.owner,
           status = excluded.status, note = excluded.note, started_at = excluded.started_at,
           completed_at = excluded.completed_at, runner_pid = NULL,
           remote_id = excluded.remote_id, sync_status = 'synced',
           base_revision = excluded.base_revision, last_synced_at = excluded.last_synced_at,
           sync_error = NULL",
        values.join(", ")
    )
}

/// How many records a push would consider: counted in the three partial push indexes.
pub(super) const UNSYNCED_COUNT: &str = concat!(
    "SELECT (SELECT COUNT(*) FROM generations WHERE ",
    pushable!(""),
    ") + (SELECT COUNT(*) FROM evolutions WHERE ",
    pushable!(""),
    ") + (SELECT COUNT(*) FROM pipeline_runs WHERE ",
    pushable!(""),
    ")"
);

impl Store {
    /// Runs a statement through the connection's statement cache: sync touches the same few
    /// statements once per record, and parsing them each time dominated large pulls and pushes.
    fn exec_cached(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    /// `query_row` through the statement cache.
    fn row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .row_cached(
                "SELECT value FROM sync_metadata WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.exec_cached(
                "INSERT INTO sync_metadata (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM sync_metadata WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// Whether a promotion of generation `id` was sent to the cloud and never answered: the
    /// cloud may have promoted it, so the generation must not change here until a new
    /// `gryt promote` learns the outcome.
    pub fn promotion_in_flight(&self, id: &str) -> Result<bool> {
        Ok(self.meta(&promotion_key(id))?.is_some())
    }

    /// Marks (`true`, just before the request goes out) or clears (`false`, once the cloud
    /// answered) a promotion of generation `id` in flight.
    pub fn set_promotion_in_flight(&self, id: &str, in_flight: bool) -> Result<()> {
        let at = crate::clock::now_string();
        self.set_meta(&promotion_key(id), in_flight.then_some(at.as_str()))
    }

    /// SQLite's `data_version`: it changes when another connection commits to the database,
    /// so two equal readings mean nobody else wrote in between.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.row_cached("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// The sync state of a record.
    pub fn sync_state(&self, kind: RecordKind, id: &str) -> Result<Option<SyncState>> {
        let sql = match kind {
            RecordKind::PipelineRun => {
                "SELECT sync_status, NULL FROM pipeline_runs WHERE id = ?1".to_string()
            }
            _ => format!(
                "SELECT sync_status, base_revision FROM {} WHERE id = ?1",
                table(kind)
            ),
        };
        let row: Option<(String, Option<i64>)> = self
            .row_cached(&sql, [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(s, rev)| {
            Ok(SyncState {
                sync_status: s.parse().map_err(unknown)?,
                base_revision: rev.map(|r| r as u64),
            })
        })
        .transpose()
    }

    pub fn set_sync_status(&self, kind: RecordKind, id: &str, status: SyncStatus) -> Result<()> {
        let sql = format!("UPDATE {} SET sync_status = ?2 WHERE id = ?1", table(kind));
        self.exec_cached(&sql, params![id, status.as_str()])?;
        Ok(())
    }

    /// A record the cloud refused for good: `failed`, with the cloud's message (pipeline runs
    /// keep only the status). Pushes leave it out from then on.
    pub fn mark_refused(&self, kind: RecordKind, id: &str, error: &str) -> Result<()> {
        match kind {
            RecordKind::PipelineRun => self.exec_cached(
                "UPDATE pipeline_runs SET sync_status = 'failed' WHERE id = ?1",
                [id],
            )?,
            _ => self.exec_cached(
                &format!(
                    "UPDATE {} SET sync_status = 'failed', sync_error = ?2 WHERE id = ?1",
                    table(kind)
                ),
                params![id, error],
            )?,
        };
        Ok(())
    }

    /// Full resync: the cloud holds `revision` of a record this workspace synced at a later
    /// one (it lost that in a restore). Ours goes out again, on top of `revision`; a pending
    /// edit stays pending. A run (no revisions) is simply sent again.
    pub fn mark_resend(&self, kind: RecordKind, id: &str, revision: u64) -> Result<()> {
        match kind {
            RecordKind::PipelineRun => self.exec_cached(
                "UPDATE pipeline_runs SET sync_status = 'not_synced'
                 WHERE id = ?1 AND sync_status IN ('synced', 'failed')",
                [id],
            )?,
            _ => self.exec_cached(
                &format!(
                    "UPDATE {} SET base_revision = ?2, sync_error = NULL,
                       sync_status = CASE WHEN sync_status IN ('synced', 'failed') THEN 'pending'
                                          ELSE sync_status END
                     WHERE id = ?1",
                    table(kind)
                ),
                params![id, revision as i64],
            )?,
        };
        Ok(())
    }

    /// The records this workspace believes the cloud holds: synced once (a revision
    /// remembered), or a run marked synced. A full resync checks each against the feed.
    pub fn records_in_cloud(&self) -> Result<Vec<(RecordKind, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT 'generation', id FROM generations WHERE base_revision IS NOT NULL
             UNION ALL
             SELECT 'evolution', id FROM evolutions WHERE base_revision IS NOT NULL
             UNION ALL
             SELECT 'pipeline_run', id FROM pipeline_runs WHERE sync_status IN ('synced', 'failed')",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, id) = row?;
            out.push((kind.parse().map_err(unknown)?, id));
        }
        Ok(out)
    }

    /// Full resync: the open conflicts were recorded against the cloud as it was (another
    /// project, or a history since rewound), so they are settled as superseded, with the
    /// cloud values they kept for the next pull, and their records go back to what they are
    /// without them (pending, or local only); the resync records again whatever still
    /// differs. Returns how many open conflicts were superseded.
    pub fn supersede_conflicts(&self, now: &str) -> Result<usize> {
        for t in ["generations", "evolutions"] {
            self.conn.execute(
                &format!(
                    "UPDATE {t} SET sync_status = CASE WHEN base_revision IS NULL
                       THEN 'not_synced' ELSE 'pending' END WHERE sync_status = 'conflict'"
                ),
                [],
            )?;
        }
        self.conn.execute(
            "UPDATE pipeline_runs SET sync_status = 'not_synced' WHERE sync_status = 'conflict'",
            [],
        )?;
        for c in self.remote_pending()? {
            self.remote_landed(c.id)?;
        }
        Ok(self.conn.execute(
            "UPDATE conflicts SET resolved_at = ?1, resolution = 'superseded by a full resync'
             WHERE resolved_at IS NULL",
            [now],
        )?)
    }

    /// Another cloud project is linked: the revisions remembered here belong to the old one,
    /// so every record is local only (`not_synced`, no revision, never synced with this
    /// project: a draft can be renamed out of a version taken here) until a full resync finds
    /// it in the new one; an open conflict stays open until it is superseded.
    pub fn forget_sync_bases(&self) -> Result<()> {
        for t in ["generations", "evolutions"] {
            self.conn.execute(
                &format!(
                    "UPDATE {t} SET base_revision = NULL, remote_id = NULL, sync_error = NULL,
                       sync_status = CASE WHEN sync_status = 'conflict' THEN 'conflict'
                                          ELSE 'not_synced' END
                     WHERE base_revision IS NOT NULL OR remote_id IS NOT NULL
                        OR sync_status <> 'not_synced'"
                ),
                [],
            )?;
        }
        self.conn.execute(
            "UPDATE pipeline_runs SET sync_status = 'not_synced' WHERE sync_status <> 'not_synced'",
            [],
        )?;
        self.conn.execute("DELETE FROM sync_base", [])?;
        Ok(())
    }

    /// Full resync: someone else's evolution or run that the cloud lost. Kept, `failed` with
    /// why (a push leaves it out), with no revision: the owner's copy, when it comes back at
    /// any revision, is matched by content.
    pub fn mark_lost_elsewhere(&self, kind: RecordKind, id: &str, why: &str) -> Result<()> {
        self.mark_refused(kind, id, why)?;
        if kind != RecordKind::PipelineRun {
            self.exec_cached(
                &format!(
                    "UPDATE {} SET base_revision = NULL WHERE id = ?1",
                    table(kind)
                ),
                [id],
            )?;
        }
        Ok(())
    }

    /// Who made a record, as this workspace knows it (the cloud's word once synced).
    pub fn record_author(&self, kind: RecordKind, id: &str) -> Result<Option<String>> {
        let column = match kind {
            RecordKind::Generation => "created_by",
            RecordKind::Evolution => "owner",
            RecordKind::PipelineRun => "started_by",
        };
        Ok(self
            .row_cached(
                &format!("SELECT {column} FROM {} WHERE id = ?1", table(kind)),
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Whether any record was ever synced here (a revision remembered).
    pub fn any_in_cloud(&self) -> Result<bool> {
        Ok(self.row_cached(
            "SELECT EXISTS (SELECT 1 FROM generations WHERE base_revision IS NOT NULL)
                 OR EXISTS (SELECT 1 FROM evolutions WHERE base_revision IS NOT NULL)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Full resync: a record the cloud does not hold (another project is linked now, or the
    /// cloud lost it in a restore) becomes local only, so the next push sends it as new. An
    /// open conflict stays open.
    pub fn mark_local_only(&self, kind: RecordKind, id: &str) -> Result<()> {
        match kind {
            RecordKind::PipelineRun => self.exec_cached(
                "UPDATE pipeline_runs SET sync_status = 'not_synced' WHERE id = ?1",
                [id],
            )?,
            _ => {
                self.exec_cached(
                    &format!(
                        "UPDATE {} SET base_revision = NULL, remote_id = NULL, sync_error = NULL,
                           sync_status = CASE WHEN sync_status = 'conflict' THEN 'conflict'
                                              ELSE 'not_synced' END
                         WHERE id = ?1",
                        table(kind)
                    ),
                    [id],
                )?;
                self.exec_cached(
                    "DELETE FROM sync_base WHERE record_kind = ?1 AND record_id = ?2",
                    params![kind.as_str(), id],
                )?
            }
        };
        Ok(())
    }

    /// Records the cloud accepted (or confirmed) at `revision`.
    /// Records an import just wrote (as a pull writes them) become local records never
    /// synced: no base revision, nothing known of any cloud, pending for the next push.
    pub fn mark_imported(&self, kind: RecordKind, ids: &[String]) -> Result<()> {
        const CHUNK: usize = 500;
        let set = match kind {
            RecordKind::PipelineRun => "sync_status = 'not_synced'",
            _ => {
                "base_revision = NULL, remote_id = NULL, sync_error = NULL, \
                 last_synced_at = NULL, sync_status = 'not_synced'"
            }
        };
        for chunk in ids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("UPDATE {} SET {set} WHERE id IN ({marks})", table(kind));
            self.exec_cached(&sql, rusqlite::params_from_iter(chunk))?;
        }
        Ok(())
    }

    pub fn mark_synced(&self, kind: RecordKind, id: &str, revision: u64, now: &str) -> Result<()> {
        match kind {
            RecordKind::PipelineRun => {
                self.exec_cached(
                    "UPDATE pipeline_runs SET sync_status = 'synced' WHERE id = ?1",
                    [id],
                )?;
            }
            _ => {
                let sql = format!(
                    "UPDATE {} SET sync_status = 'synced', remote_id = id, base_revision = ?2,
                       last_synced_at = ?3, sync_error = NULL WHERE id = ?1",
                    table(kind)
                );
                self.exec_cached(&sql, params![id, revision as i64, now])?;
                // In sync again: the next edit saves a new base.
                self.exec_cached(
                    "DELETE FROM sync_base WHERE record_kind = ?1 AND record_id = ?2",
                    [kind.as_str(), id],
                )?;
            }
        }
        Ok(())
    }

    /// [`Store::mark_synced`] for many pushed records of one kind, `(id, revision, author)`
    /// each, taking the server's word for the author of those it created (`Some`).
    /// Generations and evolutions are set-based (one statement, the ids as a JSON array), so
    /// a large push answer is stored in a few statements rather than two or three per record.
    pub fn mark_pushed_many(
        &self,
        kind: RecordKind,
        rows: &[(String, u64, Option<&str>)],
        now: &str,
    ) -> Result<()> {
        let column = match kind {
            RecordKind::Generation => "created_by",
            RecordKind::Evolution => "owner",
            RecordKind::PipelineRun => {
                for (id, revision, author) in rows {
                    self.mark_synced(kind, id, *revision, now)?;
                    if let Some(a) = author {
                        self.set_record_author(kind, id, a)?;
                    }
                }
                return Ok(());
            }
        };
        if rows.is_empty() {
            return Ok(());
        }
        let json = json_list(rows)?;
        let t = table(kind);
        let sql = format!(
            "UPDATE {t} SET sync_status = 'synced', remote_id = {t}.id, base_revision = r.value ->> 1,
               last_synced_at = ?2, sync_error = NULL, {column} = COALESCE(r.value ->> 2, {t}.{column})
             FROM json_each(?1) AS r WHERE {t}.id = r.value ->> 0"
        );
        self.exec_cached(&sql, params![json, now])?;
        // In sync again: the next edit saves a new base.
        self.exec_cached(
            "DELETE FROM sync_base WHERE record_kind = ?1
               AND record_id IN (SELECT value ->> 0 FROM json_each(?2))",
            params![kind.as_str(), json],
        )?;
        Ok(())
    }

    /// Takes the server's word for who made a record (it sets `created_by`/`owner`/`started_by`
    /// to the pushing account).
    pub fn set_record_author(&self, kind: RecordKind, id: &str, account: &str) -> Result<()> {
        let column = match kind {
            RecordKind::Generation => "created_by",
            RecordKind::Evolution => "owner",
            RecordKind::PipelineRun => "started_by",
        };
        let sql = format!("UPDATE {} SET {column} = ?2 WHERE id = ?1", table(kind));
        self.exec_cached(&sql, params![id, account])?;
        Ok(())
    }

    /// Takes the server's word for who promoted a generation this workspace published (it
    /// records the publishing account).
    pub fn set_promoted_by(&self, id: &str, account: &str) -> Result<()> {
        self.exec_cached(
            "UPDATE generations SET promoted_by = ?2 WHERE id = ?1 AND status = 'promoted'",
            params![id, account],
        )?;
        Ok(())
    }

    pub fn version_of_generation(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .row_cached("SELECT version FROM generations WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// What local evolutions say about a generation: the change ids they prove, and how many
    /// of them were never synced.
    pub fn generation_usage(
        &self,
        id: &str,
    ) -> Result<(std::collections::BTreeSet<String>, usize)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT change_id, sync_status FROM evolutions WHERE generation_id = ?1",
        )?;
        let mut changes = std::collections::BTreeSet::new();
        let mut unsynced = 0;
        let rows = stmt.query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (change, status) = row?;
            changes.insert(change);
            if status != "synced" {
                unsynced += 1;
            }
        }
        Ok((changes, unsynced))
    }

    /// Which of `keys` a column of generations or evolutions holds, with the holder's id: one
    /// statement for a whole page of a pull instead of a lookup per record. `column` is
    /// `id`, `version` or `code_name`.
    pub fn holders(
        &self,
        kind: RecordKind,
        column: &str,
        keys: &[impl serde::Serialize],
    ) -> Result<HashMap<String, String>> {
        if !matches!(column, "id" | "version" | "code_name") {
            return Err(super::StoreError::Corrupt(format!("no lookup by {column}")));
        }
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let json = json_list(keys)?;
        let sql = format!(
            "SELECT {column}, id FROM {} WHERE {column} IN (SELECT value FROM json_each(?1))",
            table(kind)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([json], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn generation_id_by_version(&self, version: &str) -> Result<Option<String>> {
        Ok(self
            .row_cached(
                "SELECT id FROM generations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sync looks up a few dozen distinct statements per record; keep them all prepared.
    /// A sync writes in big transactions: checkpoint the WAL every 64 MiB instead of every
    /// 4 MiB (each checkpoint syncs the disk; this connection closes with the command).
    pub fn prepare_for_sync(&self) {
        self.conn.set_prepared_statement_cache_capacity(128);
        // Only a tuning knob: a store that refuses it syncs as before.
        let _ = self
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint = 16384;");
    }

    /// A reader of every row (`gryt export`): through SQLite's page cache instead of a memory
    /// map, so the process does not count the whole database file as resident.
    pub fn prepare_for_scan(&self) {
        // Only a tuning knob, as above.
        let _ = self.conn.execute_batch("PRAGMA mmap_size = 0;");
    }

    /// Finished runs that decided an evolution and were never pushed.
    pub fn runs_to_push(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(RUNS_TO_PUSH)?;
        Ok(stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Every generation and evolution with its sync status.
    pub fn sync_overview(&self) -> Result<Vec<OverviewRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT 'generation', version, sync_status, sync_error FROM generations
             UNION ALL
             SELECT 'evolution', g.version || '-rc.' || e.rc, e.sync_status, e.sync_error
               FROM evolutions e JOIN generations g ON g.id = e.generation_id
             ORDER BY 2",
        )?;
        let rows = stmt.query_map([], |r| {
            let (kind, status): (String, String) = (r.get(0)?, r.get(2)?);
            Ok(OverviewRow {
                kind: kind
                    .parse()
                    .map_err(|_| super::corrupt("record kind", &kind))?,
                subject: r.get(1)?,
                sync_status: status
                    .parse()
                    .map_err(|_| super::corrupt("sync status", &status))?,
                sync_error: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Counts of records by sync status: (generations, evolutions) per status.
    pub fn sync_counts(&self) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT 'generation', sync_status, COUNT(*) FROM generations GROUP BY sync_status
             UNION ALL
             SELECT 'evolution', sync_status, COUNT(*) FROM evolutions GROUP BY sync_status",
        )?;
        Ok(stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Records a push would consider (not synced yet, or edited since): generations,
    /// evolutions and pipeline runs together. For progress bars.
    pub fn unsynced_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(UNSYNCED_COUNT, [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Writes a generation as the cloud has it: inserted, or updated in place (its changes
    /// replaced). Callers have checked that no local evolution uses a change it removes.
    pub fn upsert_remote_generation(&self, g: &RemoteGeneration<'_>, now: &str) -> Result<()> {
        let v = &g.contract.version;
        self.exec_cached(
            "INSERT INTO generations (id, version, major, minor, patch, description, pipeline_template,
               status, created_by, created_at, updated_at, promoted_by, promoted_at, content_hash,
               file_hash, remote_id, sync_status, base_revision, last_synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?1, 'synced', ?16, ?11)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, major = excluded.major,
               minor = excluded.minor, patch = excluded.patch, description = excluded.description,
               pipeline_template = excluded.pipeline_template, status = excluded.status,
               created_by = excluded.created_by, updated_at = excluded.updated_at,
               promoted_by = excluded.promoted_by, promoted_at = excluded.promoted_at,
               content_hash = excluded.content_hash, file_hash = excluded.file_hash,
               remote_id = excluded.remote_id, sync_status = 'synced',
               base_revision = excluded.base_revision, last_synced_at = excluded.last_synced_at,
               sync_error = NULL",
            params![
                g.id,
                v.to_string(),
                v.major() as i64,
                v.minor() as i64,
                v.patch() as i64,
                g.contract.description,
                g.contract.pipeline_template,
                g.status.as_str(),
                g.created_by,
                g.created_at,
                now,
                g.promoted_by,
                g.promoted_at,
                g.contract.content_hash(),
                g.file_hash,
                g.revision as i64,
            ],
        )?;
        self.replace_changes(g.id, &g.contract.changes)
    }

    /// Writes evolutions as the cloud has them, in order: inserted, or updated in place. A
    /// hundred rows per statement: a page of a first pull is mostly evolutions, and one
    /// statement per row cost most of applying it.
    pub fn upsert_remote_evolutions(&self, es: &[RemoteEvolution<'_>], now: &str) -> Result<()> {
        const CHUNK: usize = 100;
        const PER_ROW: usize = 11;
        // The statement for a whole chunk is built once per process (a pull runs it a
        // hundred times per page); a shorter last chunk gets its own.
        static WHOLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        for chunk in es.chunks(CHUNK) {
            let shorter;
            let sql = if chunk.len() == CHUNK {
                WHOLE.get_or_init(|| upsert_evolutions_sql(CHUNK)).as_str()
            } else {
                shorter = upsert_evolutions_sql(chunk.len());
                shorter.as_str()
            };
            let revisions: Vec<i64> = chunk.iter().map(|e| e.revision as i64).collect();
            let statuses: Vec<&str> = chunk.iter().map(|e| e.status.as_str()).collect();
            let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(1 + PER_ROW * chunk.len());
            args.push(&now);
            for ((e, revision), status) in chunk.iter().zip(&revisions).zip(&statuses) {
                args.extend_from_slice(&[
                    &e.id as &dyn rusqlite::ToSql,
                    &e.generation_id,
                    &e.change_id,
                    &e.code_name,
                    &e.rc,
                    &e.owner,
                    status,
                    &e.note,
                    &e.started_at,
                    &e.completed_at,
                    revision,
                ]);
            }
            self.exec_cached(sql, args.as_slice())?;
        }
        // The run record may arrive later (runs come after evolutions in a push); link it only
        // when it exists, so the foreign key holds.
        for e in es {
            if let Some(run) = e.pipeline_run_id {
                self.exec_cached(
                    "UPDATE evolutions SET pipeline_run_id = ?2 WHERE id = ?1
                       AND EXISTS (SELECT 1 FROM pipeline_runs WHERE id = ?2)",
                    params![e.id, run],
                )?;
            }
        }
        Ok(())
    }

    pub fn upsert_remote_run(&self, r: &RemoteRun<'_>) -> Result<()> {
        self.exec_cached(
            "INSERT INTO pipeline_runs (id, pipeline, evolution_id, status, note, started_by,
               started_at, finished_at, duration_ms, sync_status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'synced')
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, note = excluded.note,
               finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
               sync_status = 'synced'",
            params![
                r.id,
                r.pipeline,
                r.evolution_id,
                r.status,
                r.note,
                r.started_by,
                r.started_at,
                r.finished_at,
                r.duration_ms
            ],
        )?;
        self.exec_cached("DELETE FROM pipeline_steps WHERE run_id = ?1", [r.id])?;
        for (i, (name, exit, ms, attempts, timed_out)) in r.steps.iter().enumerate() {
            self.exec_cached(
                "INSERT INTO pipeline_steps (run_id, position, name, command, exit_code, attempts,
                   timed_out, duration_ms) VALUES (?1, ?2, ?3, '', ?4, ?5, ?6, ?7)",
                params![r.id, i as i64, name, exit, attempts, timed_out, ms],
            )?;
        }
        if let Some(evolution) = r.evolution_id {
            self.exec_cached(
                "UPDATE evolutions SET pipeline_run_id = ?1 WHERE id = ?2 AND pipeline_run_id IS NULL",
                params![r.id, evolution],
            )?;
        }
        Ok(())
    }

    /// Deletes an evolution and its runs (one deleted in the cloud, or one the cloud refused
    /// that is discarded here). Its link to its run goes first: the run is referenced.
    pub fn delete_evolution(&self, id: &str) -> Result<()> {
        self.exec_cached(
            "UPDATE evolutions SET pipeline_run_id = NULL WHERE id = ?1",
            [id],
        )?;
        self.exec_cached(
            "DELETE FROM pipeline_runs WHERE evolution_id = ?1 AND id NOT IN
               (SELECT pipeline_run_id FROM evolutions WHERE pipeline_run_id IS NOT NULL AND id <> ?1)",
            [id],
        )?;
        self.exec_cached("DELETE FROM evolutions WHERE id = ?1", [id])?;
        self.exec_cached("DELETE FROM sync_base WHERE record_id = ?1", [id])?;
        Ok(())
    }

    /// Gives an unsynced evolution another rc number and code name (the cloud holds them).
    pub fn renumber_evolution(&self, id: &str, rc: u32, code_name: &str) -> Result<()> {
        self.exec_cached(
            "UPDATE evolutions SET rc = ?2, code_name = ?3 WHERE id = ?1",
            params![id, rc, code_name],
        )?;
        Ok(())
    }

    /// `(generation_id, id, rc, code_name)` of every evolution of these generations.
    pub fn evolution_slots(
        &self,
        generation_ids: &[String],
    ) -> Result<Vec<(String, String, u32, String)>> {
        if generation_ids.is_empty() {
            return Ok(Vec::new());
        }
        let json = json_list(generation_ids)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT generation_id, id, rc, code_name FROM evolutions
             WHERE generation_id IN (SELECT value FROM json_each(?1))",
        )?;
        Ok(stmt
            .query_map([json], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?)
    }

    pub fn evolution_id_by_code_name(&self, code_name: &str) -> Result<Option<String>> {
        Ok(self
            .row_cached(
                "SELECT id FROM evolutions WHERE code_name = ?1",
                [code_name],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn insert_conflict(&self, c: &Conflict) -> Result<i64> {
        // One open conflict per record: a newer remote value replaces the older one.
        self.exec_cached(
            "DELETE FROM conflicts WHERE record_id = ?1 AND resolved_at IS NULL",
            [&c.record_id],
        )?;
        self.exec_cached(
            "INSERT INTO conflicts (record_kind, record_id, reason, local_value, remote_value,
               detected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.record_kind.as_str(),
                c.record_id,
                serde_json::json!({"reason": c.reason, "subject": c.subject, "remote_seq": c.remote_seq, "error": c.error}).to_string(),
                c.local_value.as_ref().map(|v| v.to_string()),
                c.remote_value.as_ref().map(|v| v.to_string()),
                c.detected_at
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn conflicts(&self, include_resolved: bool) -> Result<Vec<Conflict>> {
        self.conflicts_where(if include_resolved {
            ""
        } else {
            "WHERE resolved_at IS NULL"
        })
    }

    fn conflicts_where(&self, filter: &str) -> Result<Vec<Conflict>> {
        let sql = format!(
            "SELECT id, record_kind, record_id, reason, local_value, remote_value, detected_at,
               resolved_at, resolution FROM conflicts {filter} ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            let meta: serde_json::Value =
                serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default();
            let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
            let kind: String = r.get(1)?;
            let reason = meta["reason"].as_str().unwrap_or_default();
            Ok(Conflict {
                id: r.get(0)?,
                record_kind: kind
                    .parse()
                    .map_err(|_| super::corrupt("conflict record kind", &kind))?,
                record_id: r.get(2)?,
                reason: reason
                    .parse()
                    .map_err(|_| super::corrupt("conflict reason", reason))?,
                subject: meta["subject"].as_str().unwrap_or_default().to_string(),
                remote_seq: meta["remote_seq"].as_u64().unwrap_or(0),
                error: meta["error"].as_str().map(str::to_string),
                local_value: json(r.get(4)?),
                remote_value: json(r.get(5)?),
                detected_at: r.get(6)?,
                resolved_at: r.get(7)?,
                resolution: r.get(8)?,
                resolved_by: meta["resolved_by"].as_str().map(str::to_string),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Settles a conflict whose remote value must still be applied here: resolved now, and
    /// the value waits in the row (the cursor has moved past it) until the next pull applies
    /// it, [`Store::remote_pending`].
    pub fn settle_for_remote(&self, id: i64, resolution: &str, now: &str) -> Result<()> {
        self.exec_cached(
            "UPDATE conflicts SET resolved_at = ?2, resolution = ?3,
               reason = json_set(reason, '$.remote_pending', json('true')) WHERE id = ?1",
            params![id, now, resolution],
        )?;
        Ok(())
    }

    /// Settled conflicts whose remote value the next pull applies, oldest first.
    pub fn remote_pending(&self) -> Result<Vec<Conflict>> {
        self.conflicts_where(
            "WHERE resolved_at IS NOT NULL AND json_extract(reason, '$.remote_pending') = 1",
        )
    }

    /// The remote value of a settled conflict was applied (or is held by a new conflict).
    pub fn remote_landed(&self, id: i64) -> Result<()> {
        self.exec_cached(
            "UPDATE conflicts SET reason = json_remove(reason, '$.remote_pending') WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Marks a settled conflict as settled by `who` without anyone asking (`auto`).
    pub fn set_conflict_resolved_by(&self, id: i64, who: &str) -> Result<()> {
        self.exec_cached(
            "UPDATE conflicts SET reason = json_set(reason, '$.resolved_by', ?2) WHERE id = ?1",
            params![id, who],
        )?;
        Ok(())
    }

    pub fn resolve_conflict(&self, id: i64, resolution: &str, now: &str) -> Result<()> {
        self.exec_cached(
            "UPDATE conflicts SET resolved_at = ?2, resolution = ?3 WHERE id = ?1",
            params![id, now, resolution],
        )?;
        Ok(())
    }

    pub fn log_sync(&self, e: &SyncLogEntry) -> Result<()> {
        self.exec_cached(
            "INSERT INTO sync_log (started_at, direction, origin, counts, duration_ms, result, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                e.started_at,
                e.direction,
                e.origin,
                e.counts.to_string(),
                e.duration_ms,
                e.result,
                e.error
            ],
        )?;
        Ok(())
    }

    /// Saves what the cloud holds of a record about to be edited here, when it is in sync
    /// (a no-op otherwise: a pending record keeps the base of its first edit). The JSON has
    /// the shape of `sync::engine::diff::fields` (a test there keeps the two equal).
    pub(super) fn remember_sync_base(&self, kind: RecordKind, id: &str) -> Result<()> {
        let sql = match kind {
            RecordKind::Generation => {
                "INSERT OR REPLACE INTO sync_base (record_kind, record_id, value)
                 SELECT 'generation', g.id, json_object('version', g.version,
                   'description', g.description, 'pipeline_template', g.pipeline_template,
                   'status', g.status, 'promoted_by', g.promoted_by, 'promoted_at', g.promoted_at,
                   'changes', json((SELECT json_group_object(c.change_id, json_object('type', c.type,
                     'title', c.title, 'description', c.description, 'pipeline', c.pipeline,
                     'assignee', c.assignee))
                     FROM changes c WHERE c.generation_id = g.id)))
                 FROM generations g WHERE g.id = ?1 AND g.sync_status = 'synced'"
            }
            RecordKind::Evolution => {
                "INSERT OR REPLACE INTO sync_base (record_kind, record_id, value)
                 SELECT 'evolution', id, json_object('change_id', change_id, 'rc', rc,
                   'code_name', code_name, 'status', status, 'note', note,
                   'completed_at', completed_at)
                 FROM evolutions WHERE id = ?1 AND sync_status = 'synced'"
            }
            RecordKind::PipelineRun => return Ok(()),
        };
        self.exec_cached(sql, [id])?;
        Ok(())
    }

    /// What the cloud held of a record when it was last in sync here, if it was edited since.
    pub fn sync_base(&self, kind: RecordKind, id: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self
            .row_cached(
                "SELECT value FROM sync_base WHERE record_kind = ?1 AND record_id = ?2",
                [kind.as_str(), id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Records what the cloud holds of a record (keep-local: the conflict's remote value).
    pub fn set_sync_base(
        &self,
        kind: RecordKind,
        id: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        self.exec_cached(
            "INSERT OR REPLACE INTO sync_base (record_kind, record_id, value) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), id, value.to_string()],
        )?;
        Ok(())
    }

    /// The sync log, newest first.
    pub fn sync_log(&self, limit: usize) -> Result<Vec<SyncLogEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT started_at, direction, origin, counts, duration_ms, result, error FROM sync_log
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(SyncLogEntry {
                started_at: r.get(0)?,
                direction: r.get(1)?,
                origin: r.get(2)?,
                counts: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                duration_ms: r.get(4)?,
                result: r.get(5)?,
                error: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewGeneration;
    use crate::store::tests::temp_store;

    fn generation(store: &Store, id: &str) {
        let text = "version: v1.0.0\nchanges:\n  - {type: add, id: FEAT-1, title: One}\n";
        let contract: Contract = crate::contract::parse(text).unwrap().0;
        store
            .insert_generation(&NewGeneration {
                id,
                contract: &contract,
                created_by: "ann",
                now: "2026-01-01T00:00:00Z",
                file_hash: "h",
            })
            .unwrap();
    }

    /// The log keeps each attempt's origin, newest first; a row written before the origin
    /// was recorded reads as a typed command.
    #[test]
    fn the_sync_log_keeps_the_origin() {
        let (_dir, store) = temp_store();
        store
            .conn
            .execute(
                "INSERT INTO sync_log (started_at, direction, counts, duration_ms, result)
                 VALUES ('T0', 'pull', '{}', 1, 'ok')",
                [],
            )
            .unwrap();
        store
            .log_sync(&SyncLogEntry {
                started_at: "T1".into(),
                direction: "push".into(),
                origin: "hook".into(),
                counts: serde_json::json!({"created": 1}),
                duration_ms: 2,
                result: "cancelled".into(),
                error: Some("interrupted".into()),
            })
            .unwrap();
        let log = store.sync_log(10).unwrap();
        let rows: Vec<(&str, &str, &str)> = log
            .iter()
            .map(|e| (e.started_at.as_str(), e.origin.as_str(), e.result.as_str()))
            .collect();
        assert_eq!(rows, [("T1", "hook", "cancelled"), ("T0", "command", "ok")]);
        assert_eq!(log[0].counts["created"], 1);
    }

    /// A conflict whose kind or reason this version does not know is an error, never taken
    /// for another value.
    #[test]
    fn unknown_values_from_the_database_are_errors() {
        let (_dir, store) = temp_store();
        generation(&store, "g1");
        let state = store.sync_state(RecordKind::Generation, "g1").unwrap();
        assert_eq!(state.unwrap().sync_status, SyncStatus::NotSynced);

        let conflict = Conflict {
            id: 0,
            record_kind: RecordKind::Evolution,
            record_id: "e1".into(),
            reason: ConflictReason::BothChanged,
            subject: "v1.0.0-rc.1".into(),
            local_value: None,
            remote_value: None,
            remote_seq: 7,
            error: None,
            detected_at: "2026-01-01T00:00:00Z".into(),
            resolved_at: None,
            resolution: None,
            resolved_by: None,
        };
        store.insert_conflict(&conflict).unwrap();
        let read = store.conflicts(false).unwrap();
        assert_eq!(
            (read[0].record_kind, read[0].reason, read[0].remote_seq),
            (RecordKind::Evolution, ConflictReason::BothChanged, 7)
        );
        store
            .conn
            .execute("UPDATE conflicts SET record_kind = 'pipeline_runs'", [])
            .unwrap();
        let err = store.conflicts(false).unwrap_err();
        assert!(err.to_string().contains("pipeline_runs"), "{err}");
        store
            .conn
            .execute(
                "UPDATE conflicts SET record_kind = 'evolution',
                   reason = json_object('reason', 'gone', 'subject', 'x', 'remote_seq', 1)",
                [],
            )
            .unwrap();
        let err = store.conflicts(false).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
