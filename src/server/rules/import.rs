//! The import rule: records copied from another project keep the authorship they carry
//! (`created_by`, `promoted_by`/`promoted_at`, `owner`, `started_by`) — unlike a push, which
//! stamps the pushing account. Only the team's owners may import (the handler checks).
//!
//! One batch is one transaction. Bad input (an invalid record, an id twice, a promoted
//! generation without its promoter) refuses the whole batch before anything is read. Every
//! well-formed record then gets its own outcome: `created` (new seq, provenance kept),
//! `unchanged` (identical content already there), `skipped` (a tombstone: nothing to copy)
//! or `conflict` (something at the destination is in the way, answered with the code a push
//! would get). Conflicts are never written and nothing is overwritten; the rest of the batch
//! is applied. So a repeated import copies nothing, and an interrupted one completes.
//!
//! An evolution or pipeline run may arrive before its generation or evolution: the changes
//! feed orders records by their last change, and a generation promoted (or edited) after its
//! evolutions were made comes after them. The parent's rules are checked when it is already
//! at the destination: a promoted generation takes no new evolution there, and an
//! evolution must prove one of its generation's changes.

use std::collections::HashSet;

use uuid::Uuid;

use super::{Actor, holder_details};
use crate::api::error::{StaleRevisionDetails, TagTakenDetails};
use crate::api::import::{
    ImportAction, ImportKind, ImportRequest, ImportResponse, ImportResult, MAX_COPIED_FROM_LEN,
    MAX_IMPORT_RECORDS, Provenance,
};
use crate::api::records::{GenerationRecord, PipelineRunRecord, Record};
use crate::api::{ErrorBody, ErrorCode};
use crate::domain::GenerationStatus;
use crate::server::ServiceError;
use crate::server::storage::ProjectTx;

/// An import whose records passed the checks, ready for the rule.
#[derive(Debug, Clone)]
pub struct DecodedImport {
    pub copied_from: String,
    pub dry_run: bool,
    pub records: Vec<Record>,
}

fn invalid(index: usize, record: &Record, field: &str, reason: &str) -> ServiceError {
    let kind = ImportKind::of(record);
    ServiceError::with(
        ErrorCode::Validation,
        format!("records[{index}] ({}): {field}: {reason}", kind.as_str()),
        serde_json::json!({
            "index": index, "kind": kind, "id": record.id(), "field": field, "reason": reason,
        }),
    )
}

/// Checks the batch with the domain rules and the authorship an import must carry.
pub fn decode_import(req: ImportRequest) -> Result<DecodedImport, ServiceError> {
    let from = req.copied_from.trim();
    if from.is_empty()
        || from.chars().count() > MAX_COPIED_FROM_LEN
        || from.chars().any(char::is_control)
    {
        return Err(ServiceError::validation(format!(
            "copied_from must be 1-{MAX_COPIED_FROM_LEN} printable characters (e.g. https://host#team/project)"
        )));
    }
    if req.records.len() > MAX_IMPORT_RECORDS {
        return Err(ServiceError::validation(format!(
            "an import carries at most {MAX_IMPORT_RECORDS} records; split it"
        )));
    }
    let mut seen = HashSet::with_capacity(req.records.len());
    for (i, record) in req.records.iter().enumerate() {
        if record.id().is_nil() {
            return Err(invalid(i, record, "id", "must not be the nil UUID"));
        }
        if !seen.insert(record.id()) {
            return Err(invalid(
                i,
                record,
                "id",
                "the same record appears twice in one import",
            ));
        }
        if matches!(record, Record::Deleted(_)) {
            continue;
        }
        record
            .validate()
            .map_err(|p| invalid(i, record, &p.field, &p.reason))?;
        let missing = match record {
            Record::Generation(g) => {
                let promoted = g.status == GenerationStatus::Promoted;
                if promoted != g.promoted_by.is_some() {
                    return Err(invalid(
                        i,
                        record,
                        "promoted_by",
                        "a promoted generation names its promoter and time, any other none",
                    ));
                }
                g.created_by.trim().is_empty().then_some("created_by")
            }
            Record::Evolution(e) => e.owner.trim().is_empty().then_some("owner"),
            Record::PipelineRun(r) => r.started_by.trim().is_empty().then_some("started_by"),
            Record::Deleted(_) => None,
        };
        if let Some(field) = missing {
            return Err(invalid(
                i,
                record,
                field,
                "an imported record keeps its author: give it",
            ));
        }
    }
    Ok(DecodedImport {
        copied_from: from.to_string(),
        dry_run: req.dry_run,
        records: req.records,
    })
}

/// Applies a decoded import inside the caller's transaction (see the module doc).
pub fn import(
    tx: &mut dyn ProjectTx,
    actor: &Actor,
    req: &DecodedImport,
    now: &str,
) -> Result<ImportResponse, ServiceError> {
    let start = tx.head()?;
    let mut ctx = Ctx {
        tx,
        head: start,
        provenance: Provenance {
            copied_from: req.copied_from.clone(),
            copied_by: actor.username.clone(),
            copied_at: now.to_string(),
        },
    };
    let mut response = ImportResponse {
        head: start,
        dry_run: req.dry_run,
        created: 0,
        unchanged: 0,
        skipped: 0,
        conflicts: 0,
        results: Vec::with_capacity(req.records.len()),
        project_id: None,
        history_id: None,
    };
    for record in &req.records {
        let result = ctx.one(record)?;
        match result.action {
            ImportAction::Created => response.created += 1,
            ImportAction::Unchanged => response.unchanged += 1,
            ImportAction::Skipped => response.skipped += 1,
            ImportAction::Conflict => response.conflicts += 1,
        }
        response.results.push(result);
    }
    if ctx.head != start {
        ctx.tx.set_head(ctx.head)?;
    }
    if !req.dry_run {
        response.head = ctx.head;
    }
    Ok(response)
}

struct Ctx<'a> {
    tx: &'a mut dyn ProjectTx,
    head: u64,
    provenance: Provenance,
}

/// The record with the fields only a server sets cleared, for content comparisons.
fn content(record: &Record) -> Record {
    let mut r = record.clone();
    r.stamp(0, 0);
    r
}

fn conflict(code: ErrorCode, message: String, details: serde_json::Value) -> ErrorBody {
    ErrorBody::new(code, message).with_details(details)
}

impl Ctx<'_> {
    fn one(&mut self, record: &Record) -> Result<ImportResult, ServiceError> {
        // The parent (an evolution's generation, a run's evolution) is read once.
        let parent = match record {
            Record::Evolution(e) => self.tx.get(e.generation_id)?,
            Record::PipelineRun(PipelineRunRecord {
                evolution_id: Some(eid),
                ..
            }) => self.tx.get(*eid)?,
            _ => None,
        };
        let mut result = ImportResult {
            kind: ImportKind::of(record),
            id: record.id(),
            name: name_of(record, parent.as_ref()),
            action: ImportAction::Created,
            seq: None,
            conflict: None,
        };
        if let Record::Deleted(_) = record {
            return self.tombstone(record, result);
        }
        let problem = parent_problem(record, parent.as_ref(), &result.name);
        if problem.is_none() {
            let mut copy = record.clone();
            copy.stamp(record.revision().max(1), self.head + 1);
            if self.tx.insert_new(&copy)? {
                self.head += 1;
                self.tx.set_provenance(copy.id(), &self.provenance)?;
                result.seq = Some(self.head);
                return Ok(result);
            }
        }
        // Something is in the way: say exactly what.
        match self.tx.get(record.id())? {
            Some(cur) if content(&cur) == content(record) => {
                result.action = ImportAction::Unchanged;
                result.seq = Some(cur.seq());
            }
            Some(cur) => {
                result.action = ImportAction::Conflict;
                result.conflict = Some(differs(&cur, record, &result.name));
            }
            None => {
                result.action = ImportAction::Conflict;
                result.conflict = Some(match problem {
                    Some(problem) => problem,
                    None => self.slot_holder(record, parent.as_ref(), &result.name)?,
                });
            }
        }
        Ok(result)
    }

    fn tombstone(
        &mut self,
        record: &Record,
        mut result: ImportResult,
    ) -> Result<ImportResult, ServiceError> {
        match self.tx.get(record.id())? {
            Some(cur @ (Record::Generation(_) | Record::Evolution(_) | Record::PipelineRun(_))) => {
                result.action = ImportAction::Conflict;
                result.conflict = Some(conflict(
                    ErrorCode::StaleRevision,
                    format!(
                        "{} was deleted at the source but is here; it is not deleted by a copy",
                        self.name_here(&cur)?
                    ),
                    super::details(StaleRevisionDetails {
                        id: cur.id().to_string(),
                        kind: ImportKind::of(&cur).as_str().to_string(),
                        base_revision: None,
                        current_revision: cur.revision(),
                    }),
                ));
            }
            _ => result.action = ImportAction::Skipped,
        }
        Ok(result)
    }

    /// How the destination names one of its records (tombstone conflicts).
    fn name_here(&mut self, record: &Record) -> Result<String, ServiceError> {
        let parent = match record {
            Record::Evolution(e) => self.tx.get(e.generation_id)?,
            _ => None,
        };
        Ok(name_of(record, parent.as_ref()))
    }

    /// A new record whose id is free but a slot (version, rc tag, code name) is held.
    fn slot_holder(
        &mut self,
        record: &Record,
        parent: Option<&Record>,
        name: &str,
    ) -> Result<ErrorBody, ServiceError> {
        match record {
            Record::Generation(g) => {
                if let Some(holder) = self.tx.generation_by_version(&g.version)? {
                    let details = holder_details(self.tx, &holder)?;
                    return Ok(conflict(
                        ErrorCode::VersionExists,
                        format!(
                            "version {} is already held here by another generation, created by {} at {}",
                            holder.version, holder.created_by, holder.created_at
                        ),
                        super::details(details),
                    ));
                }
            }
            Record::Evolution(e) => {
                let (holder, max) = self.tx.rc_usage(e.generation_id, e.rc)?;
                if let Some(holder) = holder {
                    let next = max.unwrap_or(e.rc).saturating_add(1);
                    let generation = match parent {
                        Some(Record::Generation(g)) => Some(g),
                        _ => None,
                    };
                    let tag = |rc: u32| match &generation {
                        Some(g) => format!("{}-rc.{rc}", g.version),
                        None => format!("rc.{rc}"),
                    };
                    return Ok(conflict(
                        ErrorCode::TagTaken,
                        format!(
                            "rc tag {} of evolution {name} is held here by another evolution",
                            tag(e.rc)
                        ),
                        super::details(TagTakenDetails {
                            evolution_id: holder.to_string(),
                            tag: tag(e.rc),
                            next_free_rc: next,
                            next_free_tag: tag(next),
                        }),
                    ));
                }
                if let Some(holder) = self.tx.evolution_by_code_name(&e.code_name)? {
                    return Ok(conflict(
                        ErrorCode::CodeNameTaken,
                        format!(
                            "code name {} is already used here by another evolution",
                            e.code_name
                        ),
                        serde_json::json!({"code_name": e.code_name, "evolution_id": holder}),
                    ));
                }
            }
            _ => {}
        }
        Err(ServiceError::Internal(format!(
            "record {} could not be inserted and nothing holds its slots",
            record.id()
        )))
    }
}

/// `v1.2.0`; `v1.2.0-rc.1 (brave-calm-otter)` when the generation is known here, else the
/// code name; `ci run 0193…` for a pipeline run.
fn name_of(record: &Record, parent: Option<&Record>) -> String {
    match record {
        Record::Generation(g) => g.version.to_string(),
        Record::Evolution(e) => match parent {
            Some(Record::Generation(g)) => format!("{} ({})", e.tag(&g.version), e.code_name),
            _ => e.code_name.clone(),
        },
        Record::PipelineRun(r) => format!("{} run {}", r.pipeline, r.id),
        Record::Deleted(t) => format!("deleted {} {}", t.record_kind.as_str(), t.id),
    }
}

/// Why the record cannot join its parent here, when the parent is here already.
fn parent_problem(record: &Record, parent: Option<&Record>, name: &str) -> Option<ErrorBody> {
    match (record, parent?) {
        (Record::Evolution(_), Record::Generation(g)) if g.status == GenerationStatus::Promoted => {
            Some(conflict(
                ErrorCode::PromotedImmutable,
                format!(
                    "generation {} is promoted here and cannot take evolution {name}",
                    g.version
                ),
                promoted_details(g),
            ))
        }
        (Record::Evolution(e), Record::Generation(g)) => {
            g.change(e.change_id.as_str()).is_none().then(|| {
                conflict(
                    ErrorCode::Validation,
                    format!(
                        "generation {} here has no change {} for evolution {name}",
                        g.version, e.change_id
                    ),
                    serde_json::json!({"version": g.version.to_string(), "change_id": e.change_id}),
                )
            })
        }
        (Record::PipelineRun(_), Record::Evolution(_)) => None,
        (_, Record::Deleted(t)) => Some(conflict(
            ErrorCode::StaleRevision,
            format!("what {name} belongs to was deleted here"),
            serde_json::json!({"parent_id": t.id}),
        )),
        (_, other) => Some(conflict(
            ErrorCode::Validation,
            format!(
                "what {name} belongs to is a {} here",
                ImportKind::of(other).as_str()
            ),
            serde_json::json!({"parent_id": other.id()}),
        )),
    }
}

fn promoted_details(g: &GenerationRecord) -> serde_json::Value {
    serde_json::json!({
        "version": g.version.to_string(), "generation_id": g.id,
        "promoted_by": g.promoted_by, "promoted_at": g.promoted_at,
    })
}

/// The same id is here with other content (or as another kind, or deleted).
fn differs(cur: &Record, incoming: &Record, name: &str) -> ErrorBody {
    let kind = ImportKind::of(incoming).as_str();
    let id: Uuid = incoming.id();
    match cur {
        Record::Generation(g) if g.status == GenerationStatus::Promoted => conflict(
            ErrorCode::PromotedImmutable,
            format!("generation {name} is promoted here with other content and cannot be changed"),
            promoted_details(g),
        ),
        Record::Deleted(t) => conflict(
            ErrorCode::StaleRevision,
            format!("{kind} {name} was deleted here; a copy does not bring it back"),
            super::details(StaleRevisionDetails {
                id: id.to_string(),
                kind: kind.to_string(),
                base_revision: None,
                current_revision: t.revision,
            }),
        ),
        _ if ImportKind::of(cur) != ImportKind::of(incoming) => conflict(
            ErrorCode::Validation,
            format!(
                "the id of {kind} {name} belongs to a {} here",
                ImportKind::of(cur).as_str()
            ),
            serde_json::json!({"id": id}),
        ),
        _ => conflict(
            ErrorCode::StaleRevision,
            format!(
                "{kind} {name} is here with other content (revision {}); not overwritten",
                cur.revision()
            ),
            super::details(StaleRevisionDetails {
                id: id.to_string(),
                kind: kind.to_string(),
                base_revision: Some(incoming.revision()),
                current_revision: cur.revision(),
            }),
        ),
    }
}
