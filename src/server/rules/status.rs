//! Where a project's generations stand, computed from the cloud's data: one generation's
//! changes with the evolutions proving each and whether it is ready for promotion
//! ([`generation_status`]), and the release line of a project ([`release_line`]). Written
//! once against [`Storage`]: the JSON endpoint (`GET …/generations/{version}/status`) and the
//! web pages (`server::web`) show the same thing. Readiness is judged by the gates promotion
//! runs (`promote::gate_results`, i.e. `domain::gates::evaluate`), on the same evolutions.

use std::collections::HashMap;

use uuid::Uuid;

use super::promote::{gate_results, outcomes};
use crate::api::records::{EvolutionRecord, GenerationRecord};
use crate::api::status::{ChangeStatus, EvolutionStatusEntry, GenerationStatusResponse};
use crate::domain::gates;
use crate::domain::{EvolutionStatus, GenerationStatus, RcTag, Version};
use crate::server::ServiceError;
use crate::server::storage::{ProjectRow, Storage};

/// The status of `version` in `project`, read from one snapshot; `None` when no live
/// generation holds the version.
pub fn generation_status(
    storage: &dyn Storage,
    project: &ProjectRow,
    version: &Version,
) -> Result<Option<GenerationStatusResponse>, ServiceError> {
    let snapshot = storage.generations(&project.id, Some(version))?;
    let Some(g) = snapshot.generations.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(status_of(&g, snapshot.evolutions, snapshot.head)))
}

/// Where generation `g` stands with its live `evolutions` (any order), at project head `head`.
pub fn status_of(
    g: &GenerationRecord,
    mut evolutions: Vec<EvolutionRecord>,
    head: u64,
) -> GenerationStatusResponse {
    let results = gate_results(g, &mut evolutions);
    let ready = g.status == GenerationStatus::Draft && gates::all_passed(&results);
    // Evolutions are oldest first now; each goes to its change.
    let mut by_change: HashMap<&str, Vec<&EvolutionRecord>> = HashMap::new();
    for e in &evolutions {
        by_change.entry(e.change_id.as_str()).or_default().push(e);
    }
    let changes: Vec<ChangeStatus> = g
        .changes
        .iter()
        .map(|c| {
            let evs = by_change.get(c.id.as_str()).map_or(&[][..], Vec::as_slice);
            ChangeStatus {
                kind: c.kind,
                id: c.id.clone(),
                title: c.title.clone(),
                assignee: c.assignee.clone(),
                proven: evs.iter().any(|e| e.status == EvolutionStatus::Pass),
                evolutions: evs.iter().map(|e| entry(&g.version, e)).collect(),
            }
        })
        .collect();
    GenerationStatusResponse {
        generation_id: g.id,
        version: g.version.clone(),
        status: g.status,
        created_by: g.created_by.clone(),
        created_at: g.created_at.clone(),
        promoted_by: g.promoted_by.clone(),
        promoted_at: g.promoted_at.clone(),
        proven: changes.iter().filter(|c| c.proven).count() as u64,
        changes,
        ready,
        gates: outcomes(&results),
        head,
        project_id: None,
        history_id: None,
    }
}

fn entry(version: &Version, e: &EvolutionRecord) -> EvolutionStatusEntry {
    EvolutionStatusEntry {
        id: e.id,
        rc: e.rc,
        tag: RcTag {
            version: version.clone(),
            rc: e.rc,
        }
        .to_string(),
        code_name: e.code_name.clone(),
        owner: e.owner.clone(),
        status: e.status,
        started_at: e.started_at.clone(),
        completed_at: e.completed_at.clone(),
    }
}

/// One generation of a release line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationSummary {
    pub id: Uuid,
    pub version: Version,
    pub status: GenerationStatus,
    pub created_by: String,
    pub created_at: String,
    pub promoted_by: Option<String>,
    pub promoted_at: Option<String>,
    pub changes: usize,
    /// Changes with a passing evolution.
    pub proven: usize,
    pub evolutions: usize,
    /// A draft whose gates all pass.
    pub ready: bool,
}

/// A project's generations, newest version first, at project head `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseLine {
    pub head: u64,
    pub generations: Vec<GenerationSummary>,
}

/// The release line of `project`, read from one snapshot.
pub fn release_line(
    storage: &dyn Storage,
    project: &ProjectRow,
) -> Result<ReleaseLine, ServiceError> {
    let snapshot = storage.generations(&project.id, None)?;
    let mut by_generation: HashMap<Uuid, Vec<EvolutionRecord>> = HashMap::new();
    for e in snapshot.evolutions {
        by_generation.entry(e.generation_id).or_default().push(e);
    }
    let mut generations: Vec<GenerationSummary> = snapshot
        .generations
        .iter()
        .map(|g| {
            let mut evs = by_generation.remove(&g.id).unwrap_or_default();
            let results = gate_results(g, &mut evs);
            let passed: std::collections::HashSet<&str> = evs
                .iter()
                .filter(|e| e.status == EvolutionStatus::Pass)
                .map(|e| e.change_id.as_str())
                .collect();
            GenerationSummary {
                id: g.id,
                version: g.version.clone(),
                status: g.status,
                created_by: g.created_by.clone(),
                created_at: g.created_at.clone(),
                promoted_by: g.promoted_by.clone(),
                promoted_at: g.promoted_at.clone(),
                changes: g.changes.len(),
                proven: g
                    .changes
                    .iter()
                    .filter(|c| passed.contains(c.id.as_str()))
                    .count(),
                evolutions: evs.len(),
                ready: g.status == GenerationStatus::Draft && gates::all_passed(&results),
            }
        })
        .collect();
    generations.sort_by(|a, b| b.version.cmp(&a.version));
    Ok(ReleaseLine {
        head: snapshot.head,
        generations,
    })
}
