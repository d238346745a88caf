//! Local rows ↔ wire records. Ids are the same on both sides (the client makes them, the
//! cloud keeps them); `revision` is the local `base_revision`.

use uuid::Uuid;

use super::SyncError;
use crate::api::records::{
    EvolutionRecord, GenerationRecord, PipelineRunRecord, Record, RunStatus, StepSummary,
};
use crate::store::{
    Evolution, Generation, PipelineRun, RemoteEvolution, RemoteGeneration, RemoteRun, StepRecord,
};

pub fn uuid(id: &str) -> Result<Uuid, SyncError> {
    Uuid::parse_str(id).map_err(|_| SyncError::Corrupt(format!("record id `{id}` is not a UUID")))
}

pub fn generation(g: &Generation, revision: Option<u64>) -> Result<Record, SyncError> {
    Ok(Record::Generation(GenerationRecord {
        id: uuid(&g.id)?,
        version: g.contract.version.clone(),
        description: g.contract.description.clone(),
        pipeline_template: g.contract.pipeline_template.clone(),
        changes: g.contract.changes.clone(),
        status: g.status,
        created_by: g.created_by.clone(),
        created_at: g.created_at.clone(),
        promoted_by: g.promoted_by.clone(),
        promoted_at: g.promoted_at.clone(),
        revision: revision.unwrap_or(0),
        seq: 0,
    }))
}

pub fn evolution(e: &Evolution, revision: Option<u64>) -> Result<Record, SyncError> {
    Ok(Record::Evolution(EvolutionRecord {
        id: uuid(&e.id)?,
        generation_id: uuid(&e.generation_id)?,
        change_id: e
            .change_id
            .parse()
            .map_err(|_| SyncError::Corrupt(format!("change id `{}`", e.change_id)))?,
        code_name: e.code_name.clone(),
        rc: e.rc,
        owner: e.owner.clone(),
        status: e.status,
        note: e.note.clone(),
        started_at: e.started_at.clone(),
        completed_at: e.completed_at.clone(),
        pipeline_run_id: e.pipeline_run_id.as_deref().map(uuid).transpose()?,
        revision: revision.unwrap_or(0),
        seq: 0,
    }))
}

pub fn run(r: &PipelineRun, steps: &[StepRecord]) -> Result<Record, SyncError> {
    let status = match r.status.as_str() {
        "pass" => RunStatus::Pass,
        "fail" => RunStatus::Fail,
        _ => RunStatus::Running,
    };
    Ok(Record::PipelineRun(PipelineRunRecord {
        id: uuid(&r.id)?,
        pipeline: r.pipeline.clone(),
        evolution_id: r.evolution_id.as_deref().map(uuid).transpose()?,
        status,
        note: r.note.clone(),
        started_by: r.started_by.clone(),
        started_at: r.started_at.clone(),
        finished_at: r.finished_at.clone(),
        duration_ms: r.duration_ms.map(|d| d.max(0) as u64),
        steps: steps
            .iter()
            .map(|s| StepSummary {
                name: s.name.clone(),
                exit_code: s.exit_code,
                duration_ms: s.duration_ms.max(0) as u64,
                attempts: s.attempts,
                timed_out: s.timed_out,
            })
            .collect(),
        revision: 0,
        seq: 0,
    }))
}

pub fn remote_generation<'a>(
    g: &'a GenerationRecord,
    id: &'a str,
    contract: &'a crate::domain::generation::Contract,
    file_hash: &'a str,
) -> RemoteGeneration<'a> {
    RemoteGeneration {
        id,
        contract,
        status: g.status,
        created_by: &g.created_by,
        created_at: &g.created_at,
        promoted_by: g.promoted_by.as_deref(),
        promoted_at: g.promoted_at.as_deref(),
        revision: g.revision,
        file_hash,
    }
}

pub fn remote_evolution<'a>(
    e: &'a EvolutionRecord,
    ids: &'a (String, String, Option<String>),
) -> RemoteEvolution<'a> {
    RemoteEvolution {
        id: &ids.0,
        generation_id: &ids.1,
        change_id: e.change_id.as_str(),
        code_name: &e.code_name,
        rc: e.rc,
        owner: &e.owner,
        status: e.status,
        note: e.note.as_deref(),
        started_at: &e.started_at,
        completed_at: e.completed_at.as_deref(),
        pipeline_run_id: ids.2.as_deref(),
        revision: e.revision,
    }
}

pub fn remote_run<'a>(
    r: &'a PipelineRunRecord,
    ids: &'a (String, Option<String>),
) -> RemoteRun<'a> {
    RemoteRun {
        id: &ids.0,
        pipeline: &r.pipeline,
        evolution_id: ids.1.as_deref(),
        status: match r.status {
            RunStatus::Pass => "pass",
            RunStatus::Fail => "fail",
            RunStatus::Running => "running",
        },
        note: r.note.as_deref(),
        started_by: &r.started_by,
        started_at: &r.started_at,
        finished_at: r.finished_at.as_deref(),
        duration_ms: r.duration_ms.map(|d| d as i64),
        steps: r
            .steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.exit_code,
                    s.duration_ms as i64,
                    s.attempts,
                    s.timed_out,
                )
            })
            .collect(),
    }
}
