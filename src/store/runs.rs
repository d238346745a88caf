//! Pipeline runs and their steps.

use rusqlite::{OptionalExtension, Row, params};

use super::{Result, Store, timestamp, timestamp_opt};

pub struct NewRun<'a> {
    pub id: &'a str,
    pub pipeline: &'a str,
    pub evolution_id: Option<&'a str>,
    pub started_by: &'a str,
    pub now: &'a str,
    pub pid: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRecord {
    pub name: String,
    pub command: String,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    pub timed_out: bool,
    pub duration_ms: i64,
    #[serde(skip)]
    pub stdout: String,
    #[serde(skip)]
    pub stderr: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineRun {
    pub id: String,
    #[serde(skip)]
    pub evolution_id: Option<String>,
    pub pipeline: String,
    /// rc tag of the evolution this run decided, if any.
    pub evolution: Option<String>,
    pub status: String,
    pub note: Option<String>,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    #[serde(skip)]
    pub runner_pid: Option<u32>,
}

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<PipelineRun> {
    let version: Option<String> = r.get(10)?;
    let rc: Option<u32> = r.get(11)?;
    let id: String = r.get(0)?;
    let record = || format!("pipeline run {id}");
    Ok(PipelineRun {
        started_at: timestamp(r, 5, &record)?,
        finished_at: timestamp_opt(r, 6, &record)?,
        id,
        evolution_id: r.get(9)?,
        pipeline: r.get(1)?,
        evolution: version.zip(rc).map(|(v, rc)| format!("{v}-rc.{rc}")),
        status: r.get(2)?,
        note: r.get(3)?,
        started_by: r.get(4)?,
        duration_ms: r.get(7)?,
        runner_pid: r.get(8)?,
    })
}

pub(super) const SELECT: &str =
    "SELECT r.id, r.pipeline, r.status, r.note, r.started_by, r.started_at,
    r.finished_at, r.duration_ms, r.runner_pid, r.evolution_id, g.version, e.rc
    FROM pipeline_runs r
    LEFT JOIN evolutions e ON e.id = r.evolution_id
    LEFT JOIN generations g ON g.id = e.generation_id";

/// The runs a process left `running` (index `runs_running`, migration 8).
pub(super) const RUNNING: &str = " WHERE r.status = 'running'";

impl Store {
    pub fn insert_run(&self, run: &NewRun<'_>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pipeline_runs (id, pipeline, evolution_id, status, started_by, started_at, runner_pid)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![run.id, run.pipeline, run.evolution_id, run.started_by, run.now, run.pid],
        )?;
        Ok(())
    }

    pub fn insert_step(&self, run_id: &str, position: usize, step: &StepRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pipeline_steps (run_id, position, name, command, exit_code, attempts,
               timed_out, duration_ms, stdout, stderr)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                run_id,
                position as i64,
                step.name,
                step.command,
                step.exit_code,
                step.attempts,
                step.timed_out,
                step.duration_ms,
                step.stdout,
                step.stderr
            ],
        )?;
        Ok(())
    }

    pub fn finish_run(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        now: &str,
        duration_ms: i64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE pipeline_runs SET status = ?2, note = ?3, finished_at = ?4, duration_ms = ?5,
               runner_pid = NULL WHERE id = ?1",
            params![id, status, note, now, duration_ms],
        )?;
        Ok(())
    }

    /// Runs, newest first.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<PipelineRun>> {
        let sql = format!("{SELECT} ORDER BY r.rowid DESC LIMIT ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([limit as i64], run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn pipeline_run(&self, id: &str) -> Result<Option<PipelineRun>> {
        let sql = format!("{SELECT} WHERE r.id = ?1");
        Ok(self.conn.query_row(&sql, [id], run_from_row).optional()?)
    }

    pub fn running_runs(&self) -> Result<Vec<PipelineRun>> {
        let sql = format!("{SELECT}{RUNNING}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn steps_of(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, command, exit_code, attempts, timed_out, duration_ms, stdout, stderr
             FROM pipeline_steps WHERE run_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([run_id], |r| {
            Ok(StepRecord {
                name: r.get(0)?,
                command: r.get(1)?,
                exit_code: r.get(2)?,
                attempts: r.get(3)?,
                timed_out: r.get(4)?,
                duration_ms: r.get(5)?,
                stdout: r.get(6)?,
                stderr: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Store {
    /// The commands of a run's steps, in order (an import carries them; the cloud does not).
    pub fn set_step_commands(&self, run_id: &str, commands: &[String]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE pipeline_steps SET command = ?3 WHERE run_id = ?1 AND position = ?2",
        )?;
        for (i, command) in commands.iter().enumerate() {
            stmt.execute(rusqlite::params![run_id, i as i64, command])?;
        }
        Ok(())
    }
}
