//! Promotion and deletion of generations. Promotion re-checks everything on the server's
//! data: first promoter wins, the revision the client saw, no evolution of the generation
//! changed after `base_seq`, and the domain gates (`domain::gates::evaluate`).

use uuid::Uuid;

use super::{Actor, behind, details, holder_details};
use crate::api::error::Resource;
use crate::api::error::StaleRevisionDetails;
use crate::api::records::{EvolutionRecord, GenerationRecord, Record, RecordKind, Tombstone};
use crate::api::sync::{DeleteResponse, GateOutcome};
use crate::api::{ErrorCode, PromoteRequest, PromoteResponse};
use crate::domain::GenerationStatus;
use crate::domain::gates;
use crate::server::ServiceError;
use crate::server::storage::ProjectTx;

fn generation(tx: &mut dyn ProjectTx, id: Uuid) -> Result<GenerationRecord, ServiceError> {
    match tx.get(id)? {
        Some(Record::Generation(g)) => Ok(g),
        _ => Err(ServiceError::not_found(
            Resource::Generation,
            id.to_string(),
        )),
    }
}

fn stale(g: &GenerationRecord, base: u64) -> ServiceError {
    ServiceError::with(
        ErrorCode::StaleRevision,
        format!(
            "generation {} changed on the server (revision {}, yours {base}); pull first",
            g.version, g.revision
        ),
        StaleRevisionDetails {
            id: g.id.to_string(),
            kind: RecordKind::Generation.as_str().to_string(),
            base_revision: Some(base),
            current_revision: g.revision,
        },
    )
}

/// The gates of `domain::gates::evaluate` on `evolutions` of generation `g` (any order):
/// what `gryt promote` judges, on the server's data. Sorts `evolutions` oldest first.
pub(crate) fn gate_results(
    g: &GenerationRecord,
    evolutions: &mut [EvolutionRecord],
) -> Vec<gates::GateResult> {
    // The gates read attempts oldest first. Order by the instant, not the text: clients may
    // send RFC 3339 times with different offsets or precision. Each time is parsed once (a
    // generation may have thousands of evolutions).
    evolutions.sort_by_cached_key(|e| {
        let at = time::OffsetDateTime::parse(
            &e.started_at,
            &time::format_description::well_known::Rfc3339,
        )
        .ok();
        (at, e.rc)
    });
    let proofs = gates::proofs(
        g.changes.iter().map(|c| c.id.as_str()),
        evolutions.iter().map(|e| (e.change_id.as_str(), e.status)),
    );
    gates::evaluate(&proofs, None)
}

/// The outcomes of [`gate_results`] on the wire.
pub(crate) fn outcomes(results: &[gates::GateResult]) -> Vec<GateOutcome> {
    results
        .iter()
        .map(|r| GateOutcome {
            gate: r.gate.to_string(),
            passed: r.passed,
            detail: r.detail.clone(),
        })
        .collect()
}

/// The gates of [`gate_results`]: their outcomes when all pass, `gates_failed` otherwise.
pub(crate) fn check_gates(
    g: &GenerationRecord,
    mut evolutions: Vec<EvolutionRecord>,
) -> Result<Vec<GateOutcome>, ServiceError> {
    let results = gate_results(g, &mut evolutions);
    let outcomes = outcomes(&results);
    if !gates::all_passed(&results) {
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.detail.as_str())
            .collect();
        return Err(ServiceError::with(
            ErrorCode::GatesFailed,
            format!("{} cannot be promoted: {}", g.version, failed.join("; ")),
            serde_json::json!({ "gates": outcomes }),
        ));
    }
    Ok(outcomes)
}

pub fn promote(
    tx: &mut dyn ProjectTx,
    actor: &Actor,
    id: Uuid,
    req: &PromoteRequest,
    now: &str,
) -> Result<PromoteResponse, ServiceError> {
    let mut g = generation(tx, id)?;
    match g.status {
        GenerationStatus::Promoted => {
            let d = holder_details(tx, &g)?;
            return Err(ServiceError::with(
                ErrorCode::AlreadyPromoted,
                format!(
                    "{} was already promoted by {} at {}",
                    g.version,
                    g.promoted_by.as_deref().unwrap_or("?"),
                    g.promoted_at.as_deref().unwrap_or("?")
                ),
                d,
            ));
        }
        GenerationStatus::Abandoned => {
            return Err(ServiceError::validation(format!(
                "{} is abandoned and cannot be promoted",
                g.version
            )));
        }
        GenerationStatus::Draft => {}
    }
    if req.revision != g.revision {
        return Err(stale(&g, req.revision));
    }
    let head = tx.head()?;
    let evolutions = tx.evolutions_of(g.id)?;
    if req.base_seq > head {
        return Err(ServiceError::validation(format!(
            "base_seq {} is ahead of the project head {head}",
            req.base_seq
        )));
    }
    if evolutions.iter().any(|e| e.seq > req.base_seq) {
        return Err(behind(head, req.base_seq));
    }
    let outcomes = check_gates(&g, evolutions)?;
    g.status = GenerationStatus::Promoted;
    g.promoted_by = Some(actor.username.clone());
    g.promoted_at = Some(now.to_string());
    g.revision += 1;
    g.seq = head + 1;
    tx.put(&Record::Generation(g.clone()))?;
    tx.set_head(g.seq)?;
    Ok(PromoteResponse {
        generation: g,
        head: head + 1,
        gates: outcomes,
        project_id: None,
        history_id: None,
    })
}

/// Deletes a draft generation and its evolutions (all by the actor), leaving tombstones in
/// the changes feed so every replica learns of it.
pub fn delete_generation(
    tx: &mut dyn ProjectTx,
    actor: &Actor,
    id: Uuid,
    revision: Option<u64>,
    now: &str,
) -> Result<DeleteResponse, ServiceError> {
    let g = generation(tx, id)?;
    match g.status {
        GenerationStatus::Promoted => {
            return Err(ServiceError::with(
                ErrorCode::PromotedImmutable,
                format!("generation {} is promoted and cannot be deleted", g.version),
                details(
                    serde_json::json!({"version": g.version.to_string(), "generation_id": g.id}),
                ),
            ));
        }
        GenerationStatus::Abandoned => {
            return Err(ServiceError::with(
                ErrorCode::NotDeletable,
                format!(
                    "generation {} is abandoned; only drafts can be deleted",
                    g.version
                ),
                serde_json::json!({"version": g.version.to_string(), "status": g.status}),
            ));
        }
        GenerationStatus::Draft => {}
    }
    if let Some(base) = revision
        && base != g.revision
    {
        return Err(stale(&g, base));
    }
    let evolutions = tx.evolutions_of(g.id)?;
    let mut others: Vec<String> = evolutions
        .iter()
        .filter(|e| e.owner != actor.username)
        .map(|e| e.owner.clone())
        .collect();
    others.sort();
    others.dedup();
    if !others.is_empty() {
        return Err(ServiceError::with(
            ErrorCode::NotDeletable,
            format!(
                "generation {} has evolutions by {}; it cannot be deleted",
                g.version,
                others.join(", ")
            ),
            serde_json::json!({"version": g.version.to_string(), "evolution_owners": others}),
        ));
    }
    let mut head = tx.head()?;
    let mut deleted = Vec::new();
    let targets = evolutions
        .iter()
        .map(|e| (e.id, RecordKind::Evolution, e.revision))
        .chain(std::iter::once((g.id, RecordKind::Generation, g.revision)));
    for (rid, kind, rev) in targets {
        head += 1;
        tx.put(&Record::Deleted(Tombstone {
            id: rid,
            record_kind: kind,
            deleted_by: actor.username.clone(),
            deleted_at: now.to_string(),
            revision: rev + 1,
            seq: head,
        }))?;
        deleted.push(rid);
    }
    tx.set_head(head)?;
    Ok(DeleteResponse {
        head,
        deleted,
        project_id: None,
        history_id: None,
    })
}
