//! The push rule: one request, applied whole or not at all. Records are applied
//! generations first, then evolutions, then pipeline runs (so a push may create a generation
//! and its evolutions together); each accepted write takes the next project seq.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, behind, holder_details, promote};
use crate::api::error::{StaleRevisionDetails, TagTakenDetails};
use crate::api::records::{
    EvolutionRecord, GenerationRecord, PipelineRunRecord, Record, RecordKind,
};
use crate::api::sync::{MAX_IDEMPOTENCY_KEY_LEN, MAX_PUSH_RECORDS};
use crate::api::{ErrorCode, PushAction, PushRequest, PushResponse, PushResult};
use crate::domain::GenerationStatus;
use crate::domain::generation::hex;
use crate::server::ServiceError;
use crate::server::storage::{ProjectTx, StoredAnswer};

/// A push whose records passed the domain checks, ready for the rules.
#[derive(Debug, Clone)]
pub struct DecodedPush {
    pub base_seq: u64,
    pub idempotency_key: String,
    /// SHA-256 of the request body, to tell a retry from a different request reusing a key.
    pub request_hash: String,
    /// (position in the request, base_revision, record)
    pub records: Vec<(usize, Option<u64>, Record)>,
}

fn invalid_record(
    index: usize,
    kind: RecordKind,
    id: Option<Uuid>,
    field: &str,
    reason: &str,
) -> ServiceError {
    ServiceError::with(
        ErrorCode::Validation,
        format!("records[{index}] ({}): {field}: {reason}", kind.as_str()),
        serde_json::json!({"index": index, "kind": kind, "id": id, "field": field, "reason": reason}),
    )
}

/// Decodes and checks every record with the domain rules; nothing touches storage yet.
pub fn decode_push(req: PushRequest, body: &[u8]) -> Result<DecodedPush, ServiceError> {
    let key = req.idempotency_key.trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ServiceError::validation(format!(
            "idempotency_key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} printable characters"
        )));
    }
    if req.records.len() > MAX_PUSH_RECORDS {
        return Err(ServiceError::validation(format!(
            "a push carries at most {MAX_PUSH_RECORDS} records; split it"
        )));
    }
    let mut seen = HashSet::new();
    let mut records = Vec::with_capacity(req.records.len());
    let base_seq = req.base_seq;
    for (i, pr) in req.records.iter().enumerate() {
        let (kind, base_revision) = (pr.kind, pr.base_revision);
        let record = pr
            .decode()
            .map_err(|e| invalid_record(i, kind, None, "record", &e.to_string()))?;
        let id = record.id();
        record
            .validate()
            .map_err(|p| invalid_record(i, kind, Some(id), &p.field, &p.reason))?;
        if !seen.insert(id) {
            return Err(invalid_record(
                i,
                kind,
                Some(id),
                "id",
                "the same record appears twice in one push",
            ));
        }
        records.push((i, base_revision, record));
    }
    let rank = |r: &Record| match r {
        Record::Generation(_) => 0,
        Record::Evolution(_) => 1,
        _ => 2,
    };
    records.sort_by_key(|(i, _, r)| (rank(r), *i));
    Ok(DecodedPush {
        base_seq,
        idempotency_key: key.to_string(),
        request_hash: hex(&Sha256::digest(body)),
        records,
    })
}

/// Applies a decoded push inside the caller's transaction. Any error leaves the
/// transaction to be rolled back by the caller: nothing of the push is applied.
pub fn push(
    tx: &mut dyn ProjectTx,
    actor: &Actor,
    req: &DecodedPush,
    now: &str,
) -> Result<PushResponse, ServiceError> {
    if let Some(answer) = tx.answer(&req.idempotency_key)? {
        if answer.request_hash != req.request_hash || answer.account_id != actor.account_id {
            return Err(ServiceError::new(
                ErrorCode::IdempotencyKeyReused,
                "this idempotency key was used for a different request; use a new key per push",
            ));
        }
        let mut first: PushResponse = serde_json::from_str(&answer.response)
            .map_err(|e| ServiceError::Internal(format!("stored answer: {e}")))?;
        first.replayed = true;
        return Ok(first);
    }
    let head = tx.head()?;
    if head > req.base_seq {
        return Err(behind(head, req.base_seq));
    }
    if req.base_seq > head {
        return Err(ServiceError::with(
            ErrorCode::Validation,
            format!(
                "base_seq {} is ahead of the project head {head}: this project was never at that point; pull from 0",
                req.base_seq
            ),
            serde_json::json!({"head": head, "base_seq": req.base_seq}),
        ));
    }
    let mut ctx = Ctx {
        tx,
        actor,
        head,
        now,
        generations: HashMap::new(),
        published: HashSet::new(),
        sent_evolutions: &req.records,
    };
    let mut results = Vec::with_capacity(req.records.len());
    for (index, base_revision, record) in &req.records {
        let result = match record {
            Record::Generation(g) => ctx.generation(*index, *base_revision, g),
            Record::Evolution(e) => ctx.evolution(*index, *base_revision, e),
            Record::PipelineRun(r) => ctx.run(*index, *base_revision, r),
            Record::Deleted(_) => Err(ServiceError::validation("tombstones cannot be pushed")),
        }?;
        results.push(result);
    }
    let head = ctx.head;
    tx_set_head(ctx.tx, head)?;
    let response = PushResponse {
        head,
        results,
        replayed: false,
        project_id: None,
        history_id: None,
    };
    let stored = serde_json::to_string(&response)
        .map_err(|e| ServiceError::Internal(format!("encoding answer: {e}")))?;
    ctx.tx.store_answer(
        &req.idempotency_key,
        &StoredAnswer {
            account_id: actor.account_id.clone(),
            request_hash: req.request_hash.clone(),
            response: stored,
        },
        now,
    )?;
    Ok(response)
}

fn tx_set_head(tx: &mut dyn ProjectTx, head: u64) -> Result<(), ServiceError> {
    Ok(tx.set_head(head)?)
}

struct Ctx<'a> {
    tx: &'a mut dyn ProjectTx,
    actor: &'a Actor,
    head: u64,
    now: &'a str,
    /// Generations read or written by this push, so evolutions do not re-read them.
    generations: HashMap<Uuid, GenerationRecord>,
    /// Generations this push publishes already promoted: their evolutions in the same push
    /// are accepted (and only those; afterwards the generation is immutable).
    published: HashSet<Uuid>,
    /// The push's records, for the evolutions a published promotion is judged on.
    sent_evolutions: &'a [(usize, Option<u64>, Record)],
}

fn stale(kind: RecordKind, id: Uuid, base: Option<u64>, current: u64) -> ServiceError {
    ServiceError::with(
        ErrorCode::StaleRevision,
        format!(
            "{} {id} changed on the server (revision {current}, yours {}); pull first",
            kind.as_str(),
            base.map_or("none".to_string(), |b| b.to_string())
        ),
        StaleRevisionDetails {
            id: id.to_string(),
            kind: kind.as_str().to_string(),
            base_revision: base,
            current_revision: current,
        },
    )
}

fn promoted_immutable(g: &GenerationRecord, what: &str) -> ServiceError {
    ServiceError::with(
        ErrorCode::PromotedImmutable,
        format!(
            "generation {} is promoted and cannot be changed ({what})",
            g.version
        ),
        serde_json::json!({
            "version": g.version.to_string(), "generation_id": g.id,
            "promoted_by": g.promoted_by, "promoted_at": g.promoted_at,
        }),
    )
}

impl Ctx<'_> {
    /// Gives an accepted record the next seq, stores it, and says what happened.
    fn write(
        &mut self,
        kind: RecordKind,
        action: PushAction,
        mut record: Record,
    ) -> Result<PushResult, ServiceError> {
        let seq = self.next_seq();
        record.stamp(record.revision(), seq);
        self.tx.put(&record)?;
        Ok(PushResult {
            kind,
            id: record.id(),
            action,
            revision: record.revision(),
            seq,
        })
    }

    /// The common case of a push, in one statement: a record new to the cloud whose id and
    /// slots (version, rc tag, code name) are free. `None` when one is held (nothing
    /// written): the caller then checks it step by step and says exactly what is in the way.
    fn create(
        &mut self,
        kind: RecordKind,
        mut record: Record,
    ) -> Result<Option<PushResult>, ServiceError> {
        let seq = self.head + 1;
        record.stamp(record.revision(), seq);
        if !self.tx.insert_new(&record)? {
            return Ok(None);
        }
        self.head = seq;
        Ok(Some(PushResult {
            kind,
            id: record.id(),
            action: PushAction::Created,
            revision: record.revision(),
            seq,
        }))
    }

    fn next_seq(&mut self) -> u64 {
        self.head += 1;
        self.head
    }

    /// The existing record with this id, if it is of `kind`; a tombstone answers
    /// `stale_revision`, another kind answers `validation`.
    fn existing(
        &mut self,
        index: usize,
        kind: RecordKind,
        id: Uuid,
        base: Option<u64>,
    ) -> Result<Option<Record>, ServiceError> {
        match self.tx.get(id)? {
            None => {
                if base.is_some() {
                    return Err(invalid_record(
                        index,
                        kind,
                        Some(id),
                        "base_revision",
                        "the server has no such record; push it with base_revision null",
                    ));
                }
                Ok(None)
            }
            Some(Record::Deleted(t)) => Err(stale(kind, id, base, t.revision)),
            Some(r) if r.kind() != Some(kind) => Err(invalid_record(
                index,
                kind,
                Some(id),
                "id",
                "the id belongs to a record of another kind",
            )),
            Some(r) => Ok(Some(r)),
        }
    }

    fn generation(
        &mut self,
        index: usize,
        base: Option<u64>,
        incoming: &GenerationRecord,
    ) -> Result<PushResult, ServiceError> {
        let kind = RecordKind::Generation;
        if base.is_none() && incoming.status != GenerationStatus::Promoted {
            let mut next = incoming.clone();
            next.promoted_by = None;
            next.promoted_at = None;
            next.created_by = self.actor.username.clone();
            next.revision = 1;
            if let Some(result) = self.create(kind, Record::Generation(next.clone()))? {
                next.seq = result.seq;
                self.generations.insert(next.id, next);
                return Ok(result);
            }
        }
        let existing = match self.existing(index, kind, incoming.id, base)? {
            Some(Record::Generation(g)) => Some(g),
            _ => None,
        };
        let mut next = incoming.clone();
        next.promoted_by = None;
        next.promoted_at = None;
        let action = match &existing {
            None => {
                // Promoted before the project was linked: published whole, judged below.
                next.created_by = self.actor.username.clone();
                next.revision = 1;
                PushAction::Created
            }
            Some(cur) => {
                // Identical content is a no-op whatever the base: a retried or repeated sync
                // learns the current revision from the result.
                if cur.contract() == incoming.contract() && cur.status == incoming.status {
                    return Ok(unchanged(kind, cur.id, cur.revision, cur.seq));
                }
                if cur.status == GenerationStatus::Promoted {
                    return Err(promoted_immutable(cur, "a push changes it"));
                }
                if base != Some(cur.revision) {
                    return Err(stale(kind, cur.id, base, cur.revision));
                }
                if incoming.status == GenerationStatus::Promoted {
                    return Err(invalid_record(
                        index,
                        kind,
                        Some(incoming.id),
                        "status",
                        "a generation is promoted with the promote request, not by a push",
                    ));
                }
                self.check_changes_in_use(cur, incoming)?;
                next.created_by = cur.created_by.clone();
                next.created_at = cur.created_at.clone();
                next.revision = cur.revision + 1;
                PushAction::Updated
            }
        };
        if existing
            .as_ref()
            .is_none_or(|c| c.version != incoming.version)
            && let Some(holder) = self.tx.generation_by_version(&incoming.version)?
            && holder.id != incoming.id
        {
            let details = holder_details(self.tx, &holder)?;
            let promoted = if holder.status == GenerationStatus::Promoted {
                ", promoted"
            } else {
                ""
            };
            return Err(ServiceError::with(
                ErrorCode::VersionExists,
                format!(
                    "version {} is already held by a generation created by {} at {}{promoted}",
                    holder.version, holder.created_by, holder.created_at
                ),
                details,
            ));
        }
        if existing.is_none() && incoming.status == GenerationStatus::Promoted {
            next.promoted_at = incoming.promoted_at.clone();
            self.publish(&mut next)?;
        }
        let result = self.write(kind, action, Record::Generation(next.clone()))?;
        next.seq = result.seq;
        self.generations.insert(next.id, next);
        Ok(result)
    }

    /// A generation new to the cloud that arrives promoted (it was promoted before the
    /// workspace was linked): accepted only if the gates hold on the evolutions sent with it
    /// in this push, exactly as the promote request judges them. The promoter is the account
    /// publishing it; the promotion keeps its own time when it has one.
    fn publish(&mut self, g: &mut GenerationRecord) -> Result<(), ServiceError> {
        let sent: Vec<EvolutionRecord> = self
            .sent_evolutions
            .iter()
            .filter_map(|(_, _, r)| match r {
                Record::Evolution(e) if e.generation_id == g.id => Some(e.clone()),
                _ => None,
            })
            .collect();
        promote::check_gates(g, sent)?;
        g.promoted_by = Some(self.actor.username.clone());
        g.promoted_at = Some(
            g.promoted_at
                .clone()
                .unwrap_or_else(|| self.now.to_string()),
        );
        self.published.insert(g.id);
        Ok(())
    }

    fn check_changes_in_use(
        &mut self,
        cur: &GenerationRecord,
        incoming: &GenerationRecord,
    ) -> Result<(), ServiceError> {
        let removed: Vec<&str> = cur
            .changes
            .iter()
            .filter(|c| incoming.change(c.id.as_str()).is_none())
            .map(|c| c.id.as_str())
            .collect();
        if removed.is_empty() {
            return Ok(());
        }
        let used: Vec<String> = self
            .tx
            .evolutions_of(cur.id)?
            .into_iter()
            .filter(|e| removed.contains(&e.change_id.as_str()))
            .map(|e| e.change_id.to_string())
            .collect();
        if let Some(first) = used.first() {
            return Err(ServiceError::with(
                ErrorCode::ChangeInUse,
                format!(
                    "change {first} of {} has evolutions and cannot be removed",
                    cur.version
                ),
                serde_json::json!({"version": cur.version.to_string(), "changes": used}),
            ));
        }
        Ok(())
    }

    fn generation_of(
        &mut self,
        index: usize,
        e: &EvolutionRecord,
    ) -> Result<GenerationRecord, ServiceError> {
        if let Some(g) = self.generations.get(&e.generation_id) {
            return Ok(g.clone());
        }
        match self.tx.get(e.generation_id)? {
            Some(Record::Generation(g)) => {
                self.generations.insert(g.id, g.clone());
                Ok(g)
            }
            _ => Err(invalid_record(
                index,
                RecordKind::Evolution,
                Some(e.id),
                "generation_id",
                "no such generation in this project (push it first, or in the same push)",
            )),
        }
    }

    fn evolution(
        &mut self,
        index: usize,
        base: Option<u64>,
        incoming: &EvolutionRecord,
    ) -> Result<PushResult, ServiceError> {
        let kind = RecordKind::Evolution;
        if base.is_none()
            && let Ok(generation) = self.generation_of(index, incoming)
            && generation.status != GenerationStatus::Promoted
            && generation.change(incoming.change_id.as_str()).is_some()
        {
            let mut next = incoming.clone();
            next.owner = self.actor.username.clone();
            next.revision = 1;
            if let Some(result) = self.create(kind, Record::Evolution(next))? {
                return Ok(result);
            }
        }
        let existing = match self.existing(index, kind, incoming.id, base)? {
            Some(Record::Evolution(e)) => Some(e),
            _ => None,
        };
        let generation = self.generation_of(index, incoming)?;
        let mut next = incoming.clone();
        let action = match &existing {
            None => {
                if generation.status == GenerationStatus::Promoted
                    && !self.published.contains(&generation.id)
                {
                    return Err(promoted_immutable(&generation, "a new evolution"));
                }
                if generation.change(incoming.change_id.as_str()).is_none() {
                    return Err(invalid_record(
                        index,
                        kind,
                        Some(incoming.id),
                        "change_id",
                        &format!(
                            "{} has no change {}",
                            generation.version, incoming.change_id
                        ),
                    ));
                }
                let (holder, max) = self.tx.rc_usage(generation.id, incoming.rc)?;
                if let Some(holder) = holder {
                    let tag = incoming.tag(&generation.version);
                    let Some(free) = crate::domain::RcTag::next(&generation.version, max) else {
                        // No rc above the highest: nothing to suggest, so no `tag_taken`.
                        return Err(invalid_record(
                            index,
                            kind,
                            Some(incoming.id),
                            "rc",
                            &format!(
                                "rc tag {tag} is already used and {} has used the largest rc number ({})",
                                generation.version,
                                u32::MAX
                            ),
                        ));
                    };
                    return Err(ServiceError::with(
                        ErrorCode::TagTaken,
                        format!("rc tag {tag} is already used; the next free one is {free}"),
                        TagTakenDetails {
                            evolution_id: holder.to_string(),
                            tag: tag.to_string(),
                            next_free_rc: free.rc,
                            next_free_tag: free.to_string(),
                        },
                    ));
                }
                if self
                    .tx
                    .evolution_by_code_name(&incoming.code_name)?
                    .is_some()
                {
                    return Err(ServiceError::with(
                        ErrorCode::CodeNameTaken,
                        format!(
                            "code name {} is already used in this project",
                            incoming.code_name
                        ),
                        serde_json::json!({"code_name": incoming.code_name}),
                    ));
                }
                next.owner = self.actor.username.clone();
                next.revision = 1;
                PushAction::Created
            }
            Some(cur) => {
                let mut comparable = incoming.clone();
                comparable.owner = cur.owner.clone();
                comparable.revision = cur.revision;
                comparable.seq = cur.seq;
                if comparable == *cur {
                    return Ok(unchanged(kind, cur.id, cur.revision, cur.seq));
                }
                if generation.status == GenerationStatus::Promoted {
                    return Err(promoted_immutable(&generation, "an evolution changes"));
                }
                if cur.owner != self.actor.username {
                    return Err(ServiceError::with(
                        ErrorCode::NotOwner,
                        format!(
                            "evolution {} ({}) belongs to {}; only its owner can change it",
                            incoming.tag(&generation.version),
                            cur.code_name,
                            cur.owner
                        ),
                        serde_json::json!({"id": cur.id, "owner": cur.owner}),
                    ));
                }
                if base != Some(cur.revision) {
                    return Err(stale(kind, cur.id, base, cur.revision));
                }
                for (field, differs) in [
                    ("generation_id", cur.generation_id != incoming.generation_id),
                    ("change_id", cur.change_id != incoming.change_id),
                    ("rc", cur.rc != incoming.rc),
                    ("code_name", cur.code_name != incoming.code_name),
                ] {
                    if differs {
                        return Err(invalid_record(
                            index,
                            kind,
                            Some(cur.id),
                            field,
                            "cannot change once pushed",
                        ));
                    }
                }
                if cur.status.is_completed() && cur.status != incoming.status {
                    return Err(invalid_record(
                        index,
                        kind,
                        Some(cur.id),
                        "status",
                        &format!(
                            "the evolution was decided ({}) and cannot change",
                            cur.status
                        ),
                    ));
                }
                next.owner = cur.owner.clone();
                next.revision = cur.revision + 1;
                PushAction::Updated
            }
        };
        self.write(kind, action, Record::Evolution(next))
    }

    fn run(
        &mut self,
        index: usize,
        base: Option<u64>,
        incoming: &PipelineRunRecord,
    ) -> Result<PushResult, ServiceError> {
        let kind = RecordKind::PipelineRun;
        let existing = match self.existing(index, kind, incoming.id, base)? {
            Some(Record::PipelineRun(r)) => Some(r),
            _ => None,
        };
        if let Some(eid) = incoming.evolution_id
            && !matches!(self.tx.get(eid)?, Some(Record::Evolution(_)))
        {
            return Err(invalid_record(
                index,
                kind,
                Some(incoming.id),
                "evolution_id",
                "no such evolution in this project",
            ));
        }
        let mut next = incoming.clone();
        let action = match &existing {
            None => {
                next.started_by = self.actor.username.clone();
                next.revision = 1;
                PushAction::Created
            }
            Some(cur) => {
                let mut comparable = incoming.clone();
                comparable.started_by = cur.started_by.clone();
                comparable.revision = cur.revision;
                comparable.seq = cur.seq;
                if comparable == *cur {
                    return Ok(unchanged(kind, cur.id, cur.revision, cur.seq));
                }
                if cur.started_by != self.actor.username {
                    return Err(ServiceError::with(
                        ErrorCode::NotOwner,
                        format!(
                            "pipeline run {} belongs to {}; only its owner can change it",
                            cur.id, cur.started_by
                        ),
                        serde_json::json!({"id": cur.id, "owner": cur.started_by}),
                    ));
                }
                if base != Some(cur.revision) {
                    return Err(stale(kind, cur.id, base, cur.revision));
                }
                next.started_by = cur.started_by.clone();
                next.revision = cur.revision + 1;
                PushAction::Updated
            }
        };
        self.write(kind, action, Record::PipelineRun(next))
    }
}

fn unchanged(kind: RecordKind, id: Uuid, revision: u64, seq: u64) -> PushResult {
    PushResult {
        kind,
        id,
        action: PushAction::Unchanged,
        revision,
        seq,
    }
}
