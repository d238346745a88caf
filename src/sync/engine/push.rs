//! `gryt sync push`: every pending record in one atomic push (split into several only when
//! it exceeds the batch bounds), with an idempotency key; replayed byte for byte while its
//! answer is unknown.

use std::collections::HashSet;

use super::{Cloud, INFLIGHT_PUSH, LAST_PUSH, cursor, set_cursor, subject};
use crate::api::error::{ErrorBody, ErrorCode, TagTakenDetails};
use crate::api::records::{Record, RecordKind};
use crate::api::sync::{PushAction, PushRecord, PushRequest, PushResponse};
use crate::clock;
use crate::domain::{ConflictReason, GenerationStatus, SyncStatus, Version};
use crate::store::Store;
use crate::sync::client::ClientError;
use crate::sync::planner::same_content;
use crate::sync::{Result, SyncError, convert, io};
use crate::workspace::{Workspace, bytes_hash, write_atomic};

/// Bounds of one push request (the server accepts 10,000 records and 8 MiB).
const BATCH_RECORDS: usize = 5_000;
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Rounds of renumbering after `tag_taken` / `code_name_taken` before giving up.
const MAX_ROUNDS: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub dry_run: bool,
    /// Only this generation and its evolutions.
    pub version: Option<Version>,
    /// Only evolutions (and their runs), no generations.
    pub evolutions_only: bool,
    /// Records per request instead of the default (tests, a slow link).
    pub batch_records: Option<usize>,
    /// Also publish the generations promoted here before they were ever synced (all, or
    /// only `version`): each in a request of its own, with every one of its evolutions and
    /// their runs, since the cloud judges the gates on what arrives with it.
    pub publish: bool,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct PushReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// The cloud already had them exactly so.
    pub unchanged: Vec<String>,
    /// Unsynced evolutions moved to a free rc tag or code name the cloud did not hold.
    pub renumbered: Vec<String>,
    /// Records that cannot be pushed, with why.
    pub skipped: Vec<String>,
    /// Open conflicts whose records were not pushed (resolve them first).
    pub conflicts: Vec<crate::store::Conflict>,
    /// Set when the cloud refused the push; nothing of it was applied.
    pub rejected: Option<ErrorBody>,
    /// Generations promoted here before they were ever synced, left out because publishing
    /// them was not asked for (`PushOptions::publish`).
    pub unpublished: Vec<String>,
    /// Local promotions the cloud took, with their evolutions and runs.
    pub published: Vec<String>,
    /// Local promotions the cloud refused to publish (the version is taken there, or the
    /// gates do not hold on what was sent); nothing of them changed here.
    pub publish_refused: Vec<PublishRefused>,
    pub requests: u32,
    pub head: u64,
    pub dry_run: bool,
    /// The push first ran a full resync, and why: this workspace's sync state did not belong
    /// to the cloud project as it is now (another project linked, the cloud's history
    /// rewound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_resync: Option<String>,
}

/// A local promotion the cloud would not publish, with its answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishRefused {
    pub version: String,
    #[serde(flatten)]
    pub refusal: ErrorBody,
}

impl PushReport {
    /// Whether something this push was asked to consider did not reach the cloud for good
    /// or was left out: a refusal, records held back by conflicts, unpublished promotions.
    pub fn incomplete(&self) -> bool {
        !self.dry_run
            && (self.rejected.is_some()
                || !self.conflicts.is_empty()
                || !self.unpublished.is_empty()
                || !self.publish_refused.is_empty())
    }

    /// Lists a record the cloud accepted under what it did with it.
    fn add(&mut self, action: PushAction, name: String) {
        match action {
            PushAction::Created => self.created.push(name),
            PushAction::Updated => self.updated.push(name),
            PushAction::Unchanged => self.unchanged.push(name),
        }
    }
}

/// Told after each accepted batch: (records sent, records a push would consider).
pub type PushProgress<'a> = &'a mut dyn FnMut(usize, u64);

pub fn push(ws: &Workspace, cloud: &Cloud<'_>, opts: &PushOptions) -> Result<PushReport> {
    push_with_progress(ws, cloud, opts, None)
}

/// [`push`], telling `progress` after each batch (the total is counted only when asked).
pub fn push_with_progress(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &PushOptions,
    progress: Option<PushProgress<'_>>,
) -> Result<PushReport> {
    let mut report = PushReport {
        dry_run: opts.dry_run,
        // The last head known here until the cloud answers with a newer one.
        head: cursor(&ws.store, cloud)?,
        ..PushReport::default()
    };
    if !opts.dry_run {
        replay_inflight(ws, cloud, &mut report)?;
        // Pushing on a cursor and `synced` marks that belong elsewhere would leave out what
        // the cloud lost, or be refused: repair first (one cheap request when in step).
        report.full_resync = super::repair_if_out_of_step(ws, cloud)?;
        if report.full_resync.is_some() {
            report.head = cursor(&ws.store, cloud)?;
        }
    }
    // A parked remote evolution waiting for its generation holds back no local work.
    report.conflicts = ws
        .store
        .conflicts(false)?
        .into_iter()
        .filter(|c| c.reason != ConflictReason::MissingGeneration)
        .collect();
    ws.store.prepare_for_sync();
    let mut rng = clock::rng(ws.store.change_counter()?);
    let mut rounds = 0;
    let total = match (&progress, opts.dry_run) {
        (Some(_), false) => ws.store.unsynced_count()?,
        _ => 0,
    };
    let mut told = Told {
        sent: 0,
        total,
        progress,
    };
    // A dry run lists everything; a real push goes in bounded batches.
    let bounds = if opts.dry_run {
        UNBOUNDED
    } else {
        (opts.batch_records.unwrap_or(BATCH_RECORDS), BATCH_BYTES)
    };
    // The next batch (after the one on its way, if any), with the store's data_version read
    // before it: unchanged when its answer is stored, no other connection wrote meanwhile
    // (this one's own commits do not count).
    let read =
        |report: &mut PushReport, after: Option<&[Outgoing]>| -> Result<(i64, Vec<Outgoing>)> {
            let data_version = ws.store.data_version()?;
            Ok((data_version, outgoing(ws, opts, report, bounds, after)?))
        };
    let (mut data_version, mut batch) = read(&mut report, None)?;
    // The answer received last and not stored yet: stored while the next batch is on its way
    // (each request waits in a slot of its own until its answer is stored; see [`Slot`]).
    let mut answered: Option<Answered> = None;
    loop {
        if batch.is_empty() {
            match answered.take() {
                // Nothing more was read while the last batch was on its way: store its answer,
                // then look once more for records made pending meanwhile (edited elsewhere
                // during the request, say).
                Some(last) => {
                    store(ws, cloud, last, &mut report, &mut told)?;
                    (data_version, batch) = read(&mut report, None)?;
                    continue;
                }
                None => break,
            }
        }
        if opts.dry_run {
            // Runs travel with their evolutions and are not listed, as in a real push.
            for o in batch
                .into_iter()
                .filter(|o| o.wire.kind != RecordKind::PipelineRun)
            {
                let list = if o.base.is_none() {
                    &mut report.created
                } else {
                    &mut report.updated
                };
                list.push(o.subject);
            }
            break;
        }
        // On top of the head the last answer gave, stored or not.
        let cursor_now = cursor(&ws.store, cloud)?;
        let (base_seq, slot) = match &answered {
            Some(last) => (cursor_now.max(last.resp.head), last.slot.other()),
            None => (cursor_now, Slot::FIRST),
        };
        let (req, body) = saved_request(ws, base_seq, slot, &mut batch, &mut report)?;
        let (answer, next) = std::thread::scope(|scope| {
            let answer = scope.spawn(|| cloud.client.push_body(&cloud.project, body));
            // Meanwhile the last answer is stored, then the next batch is read: what this one
            // leaves. It is sent after this answer comes, and dropped if the cloud refuses
            // this batch.
            let stored = match answered.take() {
                Some(last) => store(ws, cloud, last, &mut report, &mut told),
                None => Ok(()),
            };
            let next = stored.map(|()| read(&mut report, Some(&batch)));
            match answer.join() {
                Ok(answer) => (answer, next),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        // The last answer could not be stored: both requests wait in their slots and are
        // replayed next time, in order.
        let next = next?;
        match answer {
            Ok(resp) => {
                answered = Some(Answered {
                    req,
                    batch,
                    data_version,
                    resp,
                    slot,
                });
                (data_version, batch) = next?;
            }
            Err(ClientError::Api { body, .. }) => {
                // A refused push applied nothing: forget it, and fix what we can fix here.
                forget_inflight(ws, slot)?;
                rounds += 1;
                if rounds < MAX_ROUNDS
                    && (move_aside(ws, &body, &mut rng, &mut report)?
                        || refused_for_good(ws, &batch, &body, &mut report)?)
                {
                    (data_version, batch) = read(&mut report, None)?;
                    continue;
                }
                report.rejected = Some(body);
                return Ok(report);
            }
            // Unknown outcome: the inflight record stays and is replayed next time.
            Err(e) => return Err(e.into()),
        }
    }
    if opts.publish {
        publish(ws, cloud, opts, &mut report, &mut rng)?;
    }
    Ok(report)
}

/// Publishes each generation promoted here before it was ever synced (the wanted ones): one
/// request per generation carrying it promoted with all its evolutions and their runs. The
/// cloud takes it only if the version is free there and the gates hold on what was sent;
/// such a refusal is reported per version and the others still go. Afterwards the release
/// is synced, and immutable in the cloud like any promotion.
fn publish(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &PushOptions,
    report: &mut PushReport,
    rng: &mut fastrand::Rng,
) -> Result<()> {
    let wanted = |version: &Version| opts.version.as_ref().is_none_or(|v| v == version);
    let promoted: Vec<_> = ws
        .store
        .generations_to_push()?
        .into_iter()
        .filter(|(g, base)| {
            base.is_none() && g.status == GenerationStatus::Promoted && wanted(g.version())
        })
        .map(|(g, _)| g)
        .collect();
    for g in promoted {
        let version = g.version().to_string();
        let mut rounds = 0;
        loop {
            let data_version = ws.store.data_version()?;
            let mut batch = promotion_batch(ws, &g)?;
            if opts.dry_run {
                report.created.extend(
                    batch
                        .into_iter()
                        .filter(|o| o.wire.kind != RecordKind::PipelineRun)
                        .map(|o| o.subject),
                );
                report.published.push(version);
                break;
            }
            let base_seq = cursor(&ws.store, cloud)?;
            let (req, body) = saved_request(ws, base_seq, Slot::FIRST, &mut batch, report)?;
            match cloud.client.push_body(&cloud.project, body) {
                Ok(resp) => {
                    let sent = Some((batch.as_slice(), data_version));
                    apply_answer(ws, cloud, &req, sent, &resp, Slot::FIRST, report)?;
                    // The cloud records the publishing account as the promoter.
                    ws.store.set_promoted_by(&g.id, cloud.account)?;
                    report.published.push(version);
                    break;
                }
                Err(ClientError::Api { body, .. }) => {
                    forget_inflight(ws, Slot::FIRST)?;
                    rounds += 1;
                    // A code name of one of its evolutions taken in the cloud: moved aside.
                    if rounds < MAX_ROUNDS && move_aside(ws, &body, rng, report)? {
                        continue;
                    }
                    match body.error {
                        ErrorCode::VersionExists | ErrorCode::GatesFailed => {
                            report.publish_refused.push(PublishRefused {
                                version,
                                refusal: body,
                            });
                            break;
                        }
                        _ => {
                            report.rejected = Some(body);
                            return Ok(());
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// A local promotion as one push: the generation, every one of its evolutions, their runs.
fn promotion_batch(ws: &Workspace, g: &crate::store::Generation) -> Result<Vec<Outgoing>> {
    let s = &ws.store;
    let mut batch = Vec::new();
    let mut push = |record: Record, subject: String| -> Result<()> {
        let wire = PushRecord::new(None, &record).map_err(|e| SyncError::Corrupt(e.to_string()))?;
        batch.push(Outgoing {
            wire,
            record,
            base: None,
            subject,
        });
        Ok(())
    };
    push(convert::generation(g, None)?, g.version().to_string())?;
    let evolutions = s.evolutions_of(&g.id)?;
    for e in &evolutions {
        push(convert::evolution(e, None)?, e.tag.clone())?;
    }
    let ids: HashSet<&str> = evolutions.iter().map(|e| e.id.as_str()).collect();
    for run_id in s.runs_to_push()? {
        let Some(run) = s.pipeline_run(&run_id)? else {
            continue;
        };
        if !run.evolution_id.as_deref().is_some_and(|e| ids.contains(e)) {
            continue;
        }
        let steps = s.steps_of(&run_id)?;
        push(convert::run(&run, &steps)?, format!("run {run_id}"))?;
    }
    Ok(batch)
}

/// Resends each push whose answer was lost, exactly as it was (same key), oldest first: the
/// cloud answers with the stored result if it had applied it, or evaluates it now. A pull does
/// this first too, so that our own records never come back to us from the feed as someone
/// else's change.
pub(super) fn replay_inflight(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    report: &mut PushReport,
) -> Result<()> {
    let mut saved = Vec::new();
    for slot in Slot::ALL {
        let Some(mark) = ws.store.meta(slot.key())? else {
            continue;
        };
        let body = inflight_body(ws, slot, &mark)
            .and_then(|body| Some((serde_json::from_slice::<PushRequest>(&body).ok()?, body)));
        match body {
            Some((req, body)) => saved.push((slot, req, body)),
            // Gone or damaged: its records are still pending. If the cloud had taken them,
            // the next push is `behind` and the pull confirms them as ours.
            None => forget_inflight(ws, slot)?,
        }
    }
    // Two at most (one sent while the answer of the other was being stored): the older one,
    // on the lower head, goes first.
    saved.sort_by_key(|(_, req, _)| req.base_seq);
    for (slot, req, body) in saved {
        report.requests += 1;
        match cloud.client.push_body(&cloud.project, body) {
            Ok(resp) => apply_answer(ws, cloud, &req, None, &resp, slot, report)?,
            // Not applied (a rejection stores nothing); the records are still pending.
            Err(ClientError::Api { .. }) => forget_inflight(ws, slot)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// An answer received and not stored yet.
struct Answered {
    req: PushRequest,
    batch: Vec<Outgoing>,
    data_version: i64,
    resp: PushResponse,
    slot: Slot,
}

/// The progress bar of a push, and what it was told so far.
struct Told<'a> {
    sent: usize,
    total: u64,
    progress: Option<PushProgress<'a>>,
}

/// Stores `last` and tells the progress bar.
fn store(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    last: Answered,
    report: &mut PushReport,
    told: &mut Told<'_>,
) -> Result<()> {
    let batch = Some((last.batch.as_slice(), last.data_version));
    apply_answer(ws, cloud, &last.req, batch, &last.resp, last.slot, report)?;
    told.sent += last.req.records.len();
    if let Some(progress) = told.progress.as_mut() {
        progress(told.sent, told.total);
    }
    Ok(())
}

/// Stores an accepted answer: records synced at their new revisions, the cursor at the new
/// head, the inflight push cleared — one transaction. `sent` is the batch the request was
/// built from and the store's `data_version` read before building it (`None` when
/// replaying: the records are decoded from the request and all compared).
fn apply_answer(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    req: &PushRequest,
    sent: Option<(&[Outgoing], i64)>,
    resp: &PushResponse,
    slot: Slot,
    report: &mut PushReport,
) -> Result<()> {
    let now = clock::now_string();
    ws.store.tx(|s| -> Result<()> {
        // Synced at their new revisions first, a few statements per kind.
        for kind in [
            RecordKind::Generation,
            RecordKind::Evolution,
            RecordKind::PipelineRun,
        ] {
            let rows: Vec<(String, u64, Option<&str>)> = resp
                .results
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| {
                    let author = (r.action == PushAction::Created).then_some(cloud.account);
                    (r.id.to_string(), r.revision, author)
                })
                .collect();
            s.mark_pushed_many(kind, &rows, &now)?;
        }
        // No other connection committed since the batch was read (and this transaction now
        // holds the write lock): no record can have been edited meanwhile.
        let untouched = match sent {
            Some((_, before)) => s.data_version()? == before,
            None => false,
        };
        let sent = sent.map(|(batch, _)| batch);
        for (i, (result, wire)) in resp.results.iter().zip(&req.records).enumerate() {
            let (kind, id) = (result.kind, result.id.to_string());
            let own = sent
                .and_then(|b| b.get(i))
                .filter(|o| o.record.id() == result.id);
            if untouched && let Some(o) = own {
                if result.kind != RecordKind::PipelineRun {
                    report.add(result.action, o.subject.clone());
                }
                continue;
            }
            // Edited again while the push was on its way: synced at this revision, but the
            // newer local content still has to go out. (The comparison ignores revisions.)
            let (current, loaded_name) = current_record_at(s, kind, &id, None)?;
            let pushed = match own {
                Some(o) => Ok(o.record.clone()),
                None => wire.decode(),
            };
            if let (Ok(pushed), Some(current)) = (pushed, &current)
                && !same_content(&pushed, current)
            {
                s.set_sync_status(kind, &id, SyncStatus::Pending)?;
                s.set_sync_base(
                    kind,
                    &id,
                    &super::compared_fields(result.kind, &wire.value()),
                )?;
            }
            if result.kind == RecordKind::PipelineRun {
                continue;
            }
            // Named from the row just loaded: what `subject` would read again.
            let name = match (loaded_name, &current) {
                (Some(name), _) => name,
                (None, Some(Record::Generation(g))) => g.version.to_string(),
                (None, _) => subject(s, kind, &id)?,
            };
            report.add(result.action, name);
        }
        let new_cursor = cursor(s, cloud)?.max(resp.head);
        let identity = super::Identity {
            project_id: resp.project_id,
            history_id: resp.history_id,
        };
        set_cursor(s, cloud, new_cursor, identity)?;
        s.set_meta(slot.key(), None)?;
        s.set_meta(LAST_PUSH, Some(&now))?;
        Ok(())
    })?;
    remove_inflight_file(ws, slot);
    report.head = resp.head;
    Ok(())
}

/// Where the body of a push whose answer is unknown waits: next to the database (ignored by
/// git with it), so that megabytes of request do not go through the store's log twice per
/// batch. The store holds its SHA-256, written before the request is sent.
const INFLIGHT_FILE: &str = "gryt.db-push";
/// The second slot's mark and file.
const INFLIGHT_PUSH_2: &str = "inflight_push.2";
const INFLIGHT_FILE_2: &str = "gryt.db-push.2";

/// Where a request waits until its answer is stored. Two: a push sends its next batch while
/// it stores the answer of the last, so at most two requests are unsettled at any moment,
/// each in its own slot; a replay sends them again oldest first (by their base head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot(usize);

impl Slot {
    const FIRST: Slot = Slot(0);
    const ALL: [Slot; 2] = [Slot(0), Slot(1)];

    fn other(self) -> Slot {
        Slot(1 - self.0)
    }

    /// The store's mark: the SHA-256 of the saved body.
    fn key(self) -> &'static str {
        [INFLIGHT_PUSH, INFLIGHT_PUSH_2][self.0]
    }

    fn path(self, ws: &Workspace) -> std::path::PathBuf {
        ws.dir().join([INFLIGHT_FILE, INFLIGHT_FILE_2][self.0])
    }
}

/// The request for `batch` (its wire records taken out) on top of `base_seq`, with a fresh
/// idempotency key, and its body saved in `slot` before it is sent (a lost answer is replayed
/// from it); counted as a request.
fn saved_request(
    ws: &Workspace,
    base_seq: u64,
    slot: Slot,
    batch: &mut [Outgoing],
    report: &mut PushReport,
) -> Result<(PushRequest, Vec<u8>)> {
    let req = PushRequest {
        base_seq,
        idempotency_key: clock::new_id(),
        records: batch.iter_mut().map(Outgoing::take_wire).collect(),
    };
    let body = serde_json::to_vec(&req).map_err(|e| SyncError::Corrupt(e.to_string()))?;
    let path = slot.path(ws);
    write_atomic(&path, &body).map_err(io("write", &path))?;
    ws.store.set_meta(slot.key(), Some(&bytes_hash(&body)))?;
    report.requests += 1;
    Ok((req, body))
}

/// Far above any body this client saves (batches stop at 4 MiB, a published release is one
/// generation's records): anything larger, or not a regular file, is not ours.
const INFLIGHT_MAX: u64 = 64 * 1024 * 1024;

/// The body saved in `slot`, if it is the one the store's mark names. (Before the body had a
/// file of its own, the mark was the body itself.)
fn inflight_body(ws: &Workspace, slot: Slot, mark: &str) -> Option<Vec<u8>> {
    if mark.starts_with('{') {
        return Some(mark.as_bytes().to_vec());
    }
    let body = crate::workspace::file::read_limited(&slot.path(ws), INFLIGHT_MAX).ok()?;
    (bytes_hash(&body) == mark).then_some(body)
}

fn forget_inflight(ws: &Workspace, slot: Slot) -> Result<()> {
    ws.store.set_meta(slot.key(), None)?;
    remove_inflight_file(ws, slot);
    Ok(())
}

/// After the mark is cleared the file means nothing: a failure to remove it is harmless (the
/// next push overwrites it).
fn remove_inflight_file(ws: &Workspace, slot: Slot) {
    let _ = std::fs::remove_file(slot.path(ws));
}

/// The record as stored now, and an evolution's rc tag (`v1.2.0-rc.3`) read with it.
pub(super) fn current_record(
    s: &Store,
    kind: RecordKind,
    id: &str,
) -> Result<(Option<Record>, Option<String>)> {
    let base = s.sync_state(kind, id)?.and_then(|st| st.base_revision);
    current_record_at(s, kind, id, base)
}

/// [`current_record`] carrying `base` as its revision (`None` for comparisons that ignore
/// revisions: one lookup less).
fn current_record_at(
    s: &Store,
    kind: RecordKind,
    id: &str,
    base: Option<u64>,
) -> Result<(Option<Record>, Option<String>)> {
    Ok(match kind {
        RecordKind::Generation => (
            s.generation_by_id(id)?
                .map(|g| convert::generation(&g, base))
                .transpose()?,
            None,
        ),
        RecordKind::Evolution => match s.evolution(id)? {
            Some(e) => (Some(convert::evolution(&e, base)?), Some(e.tag)),
            None => (None, None),
        },
        RecordKind::PipelineRun => (None, None),
    })
}

pub(super) struct Outgoing {
    pub wire: PushRecord,
    /// The record `wire` was made from.
    pub record: Record,
    pub base: Option<u64>,
    pub subject: String,
}

impl Outgoing {
    /// The wire record for the request, leaving `null` in its place (the request keeps it).
    fn take_wire(&mut self) -> PushRecord {
        PushRecord {
            kind: self.wire.kind,
            base_revision: self.wire.base_revision,
            record: std::mem::replace(
                &mut self.wire.record,
                serde_json::value::RawValue::NULL.to_owned(),
            ),
        }
    }
}

/// Batch bounds (records, bytes) that never stop a batch.
pub(super) const UNBOUNDED: (usize, usize) = (usize::MAX, usize::MAX);

/// The next batch of pending records within `(records, bytes)`: generations, then evolutions
/// whose generation the cloud has (or gets in this batch), then their runs. `after` is a
/// batch on its way that this one follows: its records are left out, and count as in the
/// cloud.
pub(super) fn outgoing(
    ws: &Workspace,
    opts: &PushOptions,
    report: &mut PushReport,
    (max_records, max_bytes): (usize, usize),
    after: Option<&[Outgoing]>,
) -> Result<Vec<Outgoing>> {
    let s = &ws.store;
    let mut batch = Vec::new();
    let mut bytes = 0;
    // Records of the batch ahead and of this one: not taken again, and evolutions (runs)
    // whose generation (evolution) is among them go.
    let mut in_batch: HashSet<String> = after
        .unwrap_or_default()
        .iter()
        .map(|o| o.record.id().to_string())
        .collect();
    let mut add = |batch: &mut Vec<Outgoing>,
                   record: Record,
                   base: Option<u64>,
                   subject: String|
     -> Result<bool> {
        if batch.len() >= max_records || bytes >= max_bytes {
            return Ok(false);
        }
        let wire = PushRecord::new(base, &record).map_err(|e| SyncError::Corrupt(e.to_string()))?;
        bytes += wire.record.get().len();
        batch.push(Outgoing {
            wire,
            record,
            base,
            subject,
        });
        Ok(true)
    };
    let wanted = |version: &Version| opts.version.as_ref().is_none_or(|v| v == version);
    let mut skipped = Vec::new();
    if !opts.evolutions_only {
        // One query with their sync state; a batch stops at its bounds.
        for (g, base) in s.generations_to_push()? {
            if !wanted(g.version()) || in_batch.contains(&g.id) {
                continue;
            }
            if base.is_none() && g.status == GenerationStatus::Promoted {
                // Published in requests of their own, when asked.
                let version = g.version().to_string();
                if !opts.publish && !report.unpublished.contains(&version) {
                    report.unpublished.push(version);
                }
                continue;
            }
            if base.is_none() && g.status != GenerationStatus::Draft {
                skipped.push(format!(
                    "{} ({} before it was ever synced; the cloud only takes drafts)",
                    g.version(),
                    g.status
                ));
                continue;
            }
            let name = g.version().to_string();
            if !add(&mut batch, convert::generation(&g, base)?, base, name)? {
                break;
            }
            in_batch.insert(g.id.clone());
        }
    }
    // Streamed with their own and their generation's sync state, until the batch is full.
    s.for_each_evolution_to_push(|e, base, parent_synced| -> Result<bool> {
        if !wanted(&e.version) || in_batch.contains(&e.id) {
            return Ok(true);
        }
        let parent_in_cloud = parent_synced || in_batch.contains(&e.generation_id);
        if !parent_in_cloud {
            return Ok(true);
        }
        let name = e.tag.clone();
        if !add(&mut batch, convert::evolution(&e, base)?, base, name)? {
            return Ok(false);
        }
        in_batch.insert(e.id);
        Ok(true)
    })?;
    for run_id in s.runs_to_push()? {
        if in_batch.contains(&run_id) {
            continue;
        }
        let Some(run) = s.pipeline_run(&run_id)? else {
            continue;
        };
        let Some(evolution) = run.evolution_id.clone() else {
            continue;
        };
        let evolution_in_cloud = in_batch.contains(&evolution)
            || s.sync_state(RecordKind::Evolution, &evolution)?
                .is_some_and(|st| st.base_revision.is_some());
        if !evolution_in_cloud
            || opts.version.as_ref().is_some_and(|v| {
                !run.evolution
                    .as_deref()
                    .unwrap_or("")
                    .starts_with(&format!("{v}-"))
            })
        {
            continue;
        }
        let steps = s.steps_of(&run_id)?;
        if !add(
            &mut batch,
            convert::run(&run, &steps)?,
            None,
            format!("run {run_id}"),
        )? {
            break;
        }
    }
    for s in skipped {
        if !report.skipped.contains(&s) {
            report.skipped.push(s);
        }
    }
    Ok(batch)
}

/// After `promoted_immutable` or `not_owner`, the records of the batch the cloud will never
/// take as they are: each becomes `failed` with the cloud's message and a `refused` conflict
/// (settled with `discard` or `local-only`), and the push goes on without them. Runs of an
/// evolution refused in the same round get no conflict of their own: they go (or stay) with
/// their evolution. Returns whether any record was set aside.
fn refused_for_good(
    ws: &Workspace,
    batch: &[Outgoing],
    body: &ErrorBody,
    report: &mut PushReport,
) -> Result<bool> {
    let refused: Vec<&Outgoing> = match body.error {
        ErrorCode::NotOwner => {
            let id = body.details["id"].as_str().unwrap_or_default();
            batch
                .iter()
                .filter(|o| o.record.id().to_string() == id)
                .collect()
        }
        ErrorCode::PromotedImmutable => {
            let Some(g) = body.details["generation_id"]
                .as_str()
                .and_then(|g| g.parse::<uuid::Uuid>().ok())
            else {
                return Ok(false);
            };
            let of_g = |evolution: &uuid::Uuid| -> Result<bool> {
                Ok(ws
                    .store
                    .evolution(&evolution.to_string())?
                    .is_some_and(|e| e.generation_id == g.to_string()))
            };
            let mut out = Vec::new();
            for o in batch {
                let hit = match &o.record {
                    Record::Generation(x) => x.id == g,
                    Record::Evolution(e) => e.generation_id == g,
                    Record::PipelineRun(p) => match &p.evolution_id {
                        Some(e) => of_g(e)?,
                        None => false,
                    },
                    Record::Deleted(_) => false,
                };
                if hit {
                    out.push(o);
                }
            }
            out
        }
        _ => return Ok(false),
    };
    if refused.is_empty() {
        return Ok(false);
    }
    let evolutions: HashSet<uuid::Uuid> = refused
        .iter()
        .filter_map(|o| match &o.record {
            Record::Evolution(e) => Some(e.id),
            _ => None,
        })
        .collect();
    let now = clock::now_string();
    ws.store.tx(|s| -> Result<()> {
        for o in &refused {
            let (kind, id) = (o.wire.kind, o.record.id().to_string());
            s.mark_refused(kind, &id, &body.message)?;
            if let Record::PipelineRun(p) = &o.record
                && p.evolution_id.is_some_and(|e| evolutions.contains(&e))
            {
                continue;
            }
            let mut conflict = crate::store::Conflict {
                id: 0,
                record_kind: kind,
                record_id: id,
                reason: ConflictReason::Refused,
                subject: o.subject.clone(),
                local_value: serde_json::to_value(&o.record).ok(),
                remote_value: None,
                remote_seq: 0,
                error: Some(body.message.clone()),
                detected_at: now.clone(),
                resolved_at: None,
                resolution: None,
                resolved_by: None,
            };
            conflict.id = s.insert_conflict(&conflict)?;
            report.conflicts.push(conflict);
        }
        Ok(())
    })?;
    Ok(true)
}

/// After `tag_taken` or `code_name_taken` for an evolution that was never synced, moves it to
/// a free rc tag or code name and says so. Returns whether the push is worth retrying.
fn move_aside(
    ws: &Workspace,
    body: &ErrorBody,
    rng: &mut fastrand::Rng,
    report: &mut PushReport,
) -> Result<bool> {
    let s = &ws.store;
    let target = match body.error {
        ErrorCode::TagTaken => body
            .details_as::<TagTakenDetails>()
            .map(|d| (d.evolution_id.to_string(), Some(d.next_free_rc))),
        ErrorCode::CodeNameTaken => body.details["code_name"]
            .as_str()
            .and_then(|name| s.evolution_id_by_code_name(name).ok().flatten())
            .map(|id| (id, None)),
        _ => None,
    };
    let Some((id, free_rc)) = target else {
        return Ok(false);
    };
    let Some(e) = s.evolution(&id)? else {
        return Ok(false);
    };
    if s.sync_state(RecordKind::Evolution, &id)?
        .is_some_and(|st| st.base_revision.is_some())
    {
        return Ok(false);
    }
    let (rc, code_name) = match free_rc {
        Some(free) => {
            let local_max = s.max_rc(&e.generation_id)?.unwrap_or(0);
            (free.max(local_max + 1), e.code_name.clone())
        }
        // Its own name counts as taken: it is in the store.
        None => (e.rc, s.unused_code_name(rng)?),
    };
    s.renumber_evolution(&id, rc, &code_name)?;
    let what = if free_rc.is_some() {
        "its rc tag is taken in the cloud"
    } else {
        "its code name is taken in the cloud"
    };
    report.renumbered.push(format!(
        "{} → {}-rc.{rc} {code_name} ({what})",
        e.tag, e.version
    ));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::engine::testing::{Setup, setup};

    /// What the push tests do with a [`Setup`]'s workspace by hand.
    trait ByHand {
        fn save(&self, slot: Slot, base_seq: u64, after: Option<&[Outgoing]>) -> Vec<Outgoing>;
        fn send(&self, slot: Slot) -> PushResponse;
        fn statuses(&self) -> Vec<String>;
    }

    impl ByHand for Setup {
        /// Saves the next one-record batch (after `after`) in `slot` on top of `base_seq`, as
        /// a push does before sending it.
        fn save(&self, slot: Slot, base_seq: u64, after: Option<&[Outgoing]>) -> Vec<Outgoing> {
            let opts = PushOptions::default();
            let mut report = PushReport::default();
            let mut batch =
                outgoing(&self.ws, &opts, &mut report, (1, BATCH_BYTES), after).unwrap();
            assert_eq!(batch.len(), 1);
            saved_request(&self.ws, base_seq, slot, &mut batch, &mut report).unwrap();
            batch
        }

        fn send(&self, slot: Slot) -> PushResponse {
            let mark = self.ws.store.meta(slot.key()).unwrap().unwrap();
            let body = inflight_body(&self.ws, slot, &mark).unwrap();
            self.client.push_body("acme/web", body).unwrap()
        }

        fn statuses(&self) -> Vec<String> {
            self.ws
                .store
                .list_generations()
                .unwrap()
                .iter()
                .map(|g| format!("{} {:?}", g.version, g.sync_status))
                .collect()
        }
    }

    /// Killed while a push had two requests unsettled — the second sent (and applied by the
    /// cloud) while the answer of the first was being stored: both are replayed from their
    /// slots, oldest first, whichever slot holds which, and each applies once.
    #[test]
    fn two_unsettled_requests_are_replayed_oldest_first_and_apply_once() {
        let t = setup();
        // The older request in the second slot, the newer in the first: the order comes
        // from their base heads, not from the slots.
        let first = t.save(Slot(1), 0, None);
        let answer = t.send(Slot(1));
        assert_eq!(answer.head, 1);
        t.save(Slot(0), answer.head, Some(&first));
        assert_eq!(t.send(Slot(0)).head, 2);
        for slot in Slot::ALL {
            assert!(slot.path(&t.ws).is_file());
        }
        // The store knows nothing of either answer.
        assert!(
            t.statuses().iter().all(|s| !s.ends_with(" Synced")),
            "{:?}",
            t.statuses()
        );

        let report = push(&t.ws, &t.cloud(), &PushOptions::default()).unwrap();
        assert_eq!(report.created, ["v1.0.0", "v2.0.0", "v3.0.0"], "{report:?}");
        assert_eq!(report.head, 3, "replays applied nothing twice");
        assert_eq!(report.requests, 3, "two replays and the last generation");
        for slot in Slot::ALL {
            assert!(!slot.path(&t.ws).exists());
            assert_eq!(t.ws.store.meta(slot.key()).unwrap(), None);
        }
        assert!(
            t.statuses().iter().all(|s| s.ends_with(" Synced")),
            "{:?}",
            t.statuses()
        );
        let again = push(&t.ws, &t.cloud(), &PushOptions::default()).unwrap();
        assert!(
            again.created.is_empty() && again.updated.is_empty(),
            "{again:?}"
        );
    }

    /// Killed after saving the second request and before sending it (the first was applied,
    /// its answer not stored): the first is answered from the cloud's stored answer, the
    /// second is evaluated now, on top of it.
    #[test]
    fn a_saved_request_never_sent_is_sent_on_replay_after_the_one_before_it() {
        let t = setup();
        let first = t.save(Slot(1), 0, None);
        assert_eq!(t.send(Slot(1)).head, 1);
        t.save(Slot(0), 1, Some(&first));
        let report = push(&t.ws, &t.cloud(), &PushOptions::default()).unwrap();
        assert_eq!(report.created, ["v1.0.0", "v2.0.0", "v3.0.0"], "{report:?}");
        assert_eq!(report.head, 3);
        assert!(
            t.statuses().iter().all(|s| s.ends_with(" Synced")),
            "{:?}",
            t.statuses()
        );
    }
}
