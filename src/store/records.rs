//! Every record with its sync state, for comparing the whole store with the cloud
//! (`gryt sync verify`). Reads only.

use super::generations;
use super::{Evolution, Generation, PipelineRun, Result, StepRecord, Store, evolutions};
use crate::domain::SyncStatus;

/// The sync state a record has here: its status and the cloud revision it was last synced at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub sync_status: SyncStatus,
    pub base_revision: Option<u64>,
}

fn held(status: &str, base: Option<i64>) -> rusqlite::Result<Held> {
    Ok(Held {
        sync_status: SyncStatus::parse(status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("sync status `{status}`").into(),
            )
        })?,
        base_revision: base.map(|b| b as u64),
    })
}

impl Store {
    /// Every generation with its changes and sync state.
    pub fn all_generations(&self) -> Result<Vec<(Generation, Held)>> {
        let sql = format!(
            "SELECT {}, base_revision FROM generations",
            generations::COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows: Vec<(Generation, Option<i64>)> = stmt
            .query_map([], |r| {
                Ok((generations::generation_from_row(r)?, r.get(15)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (mut g, base) in rows {
            g.contract.changes = self.changes_of(&g.id)?;
            let h = held(g.sync_status.as_str(), base)?;
            out.push((g, h));
        }
        Ok(out)
    }

    /// Every evolution with its sync state, streamed to `f`.
    pub fn for_each_evolution<E: From<super::StoreError>>(
        &self,
        mut f: impl FnMut(Evolution, Held) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let sql = evolutions::SELECT.replacen(
            "e.sync_error FROM",
            "e.sync_error, e.base_revision FROM",
            1,
        );
        let mut stmt = self.conn.prepare(&sql).map_err(super::StoreError::from)?;
        let mut rows = stmt.query([]).map_err(super::StoreError::from)?;
        while let Some(r) = rows.next().map_err(super::StoreError::from)? {
            let e = evolutions::from_row(r).map_err(super::StoreError::from)?;
            let base: Option<i64> = r.get(15).map_err(super::StoreError::from)?;
            let h = held(e.sync_status.as_str(), base).map_err(super::StoreError::from)?;
            f(e, h)?;
        }
        Ok(())
    }

    /// Every pipeline run with its steps and sync state (runs keep no base revision).
    pub fn all_runs(&self) -> Result<Vec<(PipelineRun, Vec<StepRecord>, Held)>> {
        let ids: Vec<(String, String)> = self
            .conn
            .prepare("SELECT id, sync_status FROM pipeline_runs")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, status) in ids {
            if let Some(run) = self.pipeline_run(&id)? {
                let steps = self.steps_of(&id)?;
                out.push((run, steps, held(&status, None)?));
            }
        }
        Ok(out)
    }
}
