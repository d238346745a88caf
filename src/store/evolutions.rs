//! Evolutions: attempts to prove a change.

use rusqlite::{OptionalExtension, Row, params};

use super::{Result, Store, corrupt, timestamp, timestamp_opt};
use crate::domain::{EvolutionStatus, RcTag, RecordKind, SyncStatus, Version};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Evolution {
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub generation_id: String,
    pub version: Version,
    pub change_id: String,
    pub code_name: String,
    /// `vX.Y.Z-rc.N`, derived from the version and `rc`.
    pub tag: String,
    #[serde(skip)]
    pub rc: u32,
    pub owner: String,
    pub status: EvolutionStatus,
    pub note: Option<String>,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub pipeline_run_id: Option<String>,
    pub sync_status: SyncStatus,
    /// Why the cloud refused it (with `sync_status` `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_error: Option<String>,
    #[serde(skip)]
    pub runner_pid: Option<u32>,
}

impl Evolution {
    pub fn tag(&self) -> RcTag {
        RcTag {
            version: self.version.clone(),
            rc: self.rc,
        }
    }
}

pub struct NewEvolution<'a> {
    pub id: &'a str,
    pub generation_id: &'a str,
    pub change_id: &'a str,
    pub code_name: &'a str,
    pub rc: u32,
    pub owner: &'a str,
    pub now: &'a str,
}

pub(super) const SELECT: &str =
    "SELECT e.id, e.generation_id, g.version, e.change_id, e.code_name, e.rc,
    e.owner, e.status, e.note, e.started_at, e.completed_at, e.pipeline_run_id, e.sync_status,
    e.runner_pid, e.sync_error FROM evolutions e JOIN generations g ON g.id = e.generation_id";

/// The evolutions a process left `running` (index `evolutions_running`).
pub(super) const RUNNING: &str = " WHERE e.status = 'running'";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Evolution> {
    let version: String = r.get(2)?;
    let status: String = r.get(7)?;
    let sync: String = r.get(12)?;
    let rc: u32 = r.get(5)?;
    let record = || format!("evolution {version}-rc.{rc}");
    Ok(Evolution {
        id: r.get(0)?,
        generation_id: r.get(1)?,
        version: version.parse().map_err(|_| corrupt("version", &version))?,
        change_id: r.get(3)?,
        code_name: r.get(4)?,
        tag: format!("{version}-rc.{rc}"),
        rc,
        owner: r.get(6)?,
        status: EvolutionStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        note: r.get(8)?,
        started_at: timestamp(r, 9, &record)?,
        completed_at: timestamp_opt(r, 10, &record)?,
        pipeline_run_id: r.get(11)?,
        sync_status: SyncStatus::parse(&sync).ok_or_else(|| corrupt("sync status", &sync))?,
        runner_pid: r.get(13)?,
        sync_error: r.get("sync_error")?,
    })
}

/// The evolutions a push sends, in order; its `WHERE` is the partial index
/// `evolutions_to_push` (migrations 3 and 5), so a batch reads only pending rows.
pub(super) const EVOLUTIONS_TO_PUSH: &str = concat!(
    "SELECT e.id, e.generation_id, g.version, e.change_id, e.code_name, e.rc,
       e.owner, e.status, e.note, e.started_at, e.completed_at, e.pipeline_run_id,
       e.sync_status, e.runner_pid, e.base_revision, g.base_revision IS NOT NULL, e.sync_error
     FROM evolutions e JOIN generations g ON g.id = e.generation_id
     WHERE ",
    pushable!("e."),
    " AND e.sync_status <> 'failed' AND e.status <> 'running'
     ORDER BY e.generation_id, e.rc"
);

impl Store {
    pub fn insert_evolution(&self, e: &NewEvolution<'_>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO evolutions (id, generation_id, change_id, code_name, rc, owner, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![e.id, e.generation_id, e.change_id, e.code_name, e.rc, e.owner, e.now],
        )?;
        Ok(())
    }

    pub fn max_rc(&self, generation_id: &str) -> Result<Option<u32>> {
        Ok(self.conn.query_row(
            "SELECT MAX(rc) FROM evolutions WHERE generation_id = ?1",
            [generation_id],
            |r| r.get(0),
        )?)
    }

    /// A code name no evolution here holds, drawn from `rng`.
    pub fn unused_code_name(&self, rng: &mut fastrand::Rng) -> Result<String> {
        let mut failed = None;
        let name = crate::domain::codename::generate_unique(rng, |n| {
            self.code_name_taken(n).unwrap_or_else(|e| {
                failed.get_or_insert(e);
                true
            })
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(name),
        }
    }

    pub fn code_name_taken(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM evolutions WHERE code_name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Cached: sync looks evolutions up once per record. The `CAST` matters: with a bare
    /// `?1` in this join SQLite re-prepares the statement at every new binding, which costs
    /// what the cache saves.
    pub fn evolution(&self, id: &str) -> Result<Option<Evolution>> {
        let sql = format!("{SELECT} WHERE e.id = CAST(?1 AS TEXT)");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([id], from_row).optional()?)
    }

    /// Evolutions with local work to push (not while running), in rc order per generation,
    /// streamed to `f` with their own `base_revision` and whether their generation was ever
    /// synced, until `f` answers `false`. One query instead of an id list and three lookups
    /// per id (a push batch stops long before the list ends).
    pub fn for_each_evolution_to_push<E: From<super::StoreError>>(
        &self,
        mut f: impl FnMut(Evolution, Option<u64>, bool) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
        let mut stmt = self
            .conn
            .prepare_cached(EVOLUTIONS_TO_PUSH)
            .map_err(super::StoreError::from)?;
        let mut rows = stmt.query([]).map_err(super::StoreError::from)?;
        while let Some(r) = rows.next().map_err(super::StoreError::from)? {
            let e = from_row(r).map_err(super::StoreError::from)?;
            let base: Option<i64> = r.get(14).map_err(super::StoreError::from)?;
            let parent_synced: bool = r.get(15).map_err(super::StoreError::from)?;
            if !f(e, base.map(|b| b as u64), parent_synced)? {
                break;
            }
        }
        Ok(())
    }

    pub fn evolution_by_code_name(&self, code_name: &str) -> Result<Option<Evolution>> {
        let sql = format!("{SELECT} WHERE e.code_name = ?1");
        Ok(self
            .conn
            .query_row(&sql, [code_name], from_row)
            .optional()?)
    }

    pub fn evolution_by_tag(&self, tag: &RcTag) -> Result<Option<Evolution>> {
        let sql = format!("{SELECT} WHERE g.version = ?1 AND e.rc = ?2");
        Ok(self
            .conn
            .query_row(&sql, params![tag.version.to_string(), tag.rc], from_row)
            .optional()?)
    }

    /// A generation's evolutions, oldest first.
    pub fn evolutions_of(&self, generation_id: &str) -> Result<Vec<Evolution>> {
        let sql = format!("{SELECT} WHERE e.generation_id = ?1 ORDER BY e.rc");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([generation_id], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn count_evolutions_of_change(&self, generation_id: &str, change_id: &str) -> Result<u32> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM evolutions WHERE generation_id = ?1 AND change_id = ?2",
            params![generation_id, change_id],
            |r| r.get(0),
        )?)
    }

    /// Claims a pending evolution for a run; false when it is no longer pending (another
    /// process got there first).
    pub fn start_running(&self, id: &str, run_id: &str, pid: u32) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE evolutions SET status = 'running', pipeline_run_id = ?2, runner_pid = ?3,
               note = NULL WHERE id = ?1 AND status = 'pending'",
            params![id, run_id, pid],
        )?;
        Ok(n == 1)
    }

    /// Records the decision. A synced evolution becomes pending (it has news to push).
    pub fn decide_evolution(
        &self,
        id: &str,
        status: EvolutionStatus,
        note: Option<&str>,
        now: &str,
    ) -> Result<()> {
        self.remember_sync_base(RecordKind::Evolution, id)?;
        self.conn.execute(
            "UPDATE evolutions SET status = ?2, note = ?3, completed_at = ?4, runner_pid = NULL,
               sync_status = CASE sync_status WHEN 'synced' THEN 'pending' ELSE sync_status END
             WHERE id = ?1",
            params![id, status.as_str(), note, now],
        )?;
        Ok(())
    }

    /// Evolutions marked running (their `runner_pid` names the process running them).
    pub fn running_evolutions(&self) -> Result<Vec<Evolution>> {
        let sql = format!("{SELECT}{RUNNING}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
