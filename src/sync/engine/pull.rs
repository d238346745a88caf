//! `gryt sync pull`: the changes since the cursor, page by page; each page is planned against
//! a snapshot of the local records it touches and applied in one transaction together with
//! the cursor.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::files::Files;
use super::{Cloud, FULL_RESYNC, Identity, LAST_PULL, cursor, set_cursor};
use crate::api::records::{EvolutionRecord, Record, RecordKind};
use crate::api::sync::ChangesPage;
use crate::clock;
use crate::domain::{ConflictReason, EvolutionStatus, GenerationStatus, Version};
use crate::store::{Conflict, NewAuditEvent, Store};
use crate::sync::planner::{self, FileState, Local, LocalRecord, Op};
use crate::sync::{Result, SyncError, convert};
use crate::workspace::{ContractFile, Workspace, bytes_hash};

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub dry_run: bool,
    /// Page size to ask for (the server caps it).
    pub page_limit: Option<u32>,
    /// Read the whole project from seq 0 and match every local record again (a full resync).
    pub full: bool,
    /// Only these generations, their evolutions and their runs, read from seq 0 (a narrowed
    /// pull). The cursor stays where it is: the next pull reads everything after it, these
    /// records included (seen again, they change nothing).
    pub only: Vec<Version>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct PullReport {
    /// Versions and rc tags that arrived.
    pub new: Vec<String>,
    /// Versions and rc tags that changed in the cloud and were fast-forwarded here.
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub conflicts: Vec<ConflictInfo>,
    /// Drafts changed on both sides that the pull merged (`sync.auto_resolve merge`): their
    /// conflicts are settled (`gryt sync conflicts --all`, by `auto`); the next push sends them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<ConflictInfo>,
    /// Unsynced local evolutions that moved to a free rc tag: `v1.0.0-rc.1 → v1.0.0-rc.2`.
    pub renumbered: Vec<String>,
    /// A full resync, and why: asked for (`--full`), or what did not match (another project
    /// linked, the cloud's history rewound, a cursor beyond the head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_resync: Option<String>,
    /// Full resync: records the cloud holds an older revision of (it lost ours in a restore);
    /// the next push sends them again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resend: Vec<String>,
    /// Full resync: records this workspace had synced that the cloud does not hold; they are
    /// local only now, and the next push sends them as new.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local_only: Vec<String>,
    /// Full resync: other people's evolutions and runs the cloud lost, kept here and not
    /// sent (only their owners can send them again): `v1.0.0-rc.2 (bob)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub others_lost: Vec<String>,
    /// Full resync: open conflicts recorded against the cloud as it was, settled as
    /// superseded (what still differs is recorded again in `conflicts`).
    #[serde(skip_serializing_if = "is_zero")]
    pub conflicts_superseded: usize,
    /// Records received (all kinds, including runs and ones already known).
    pub records: usize,
    pub requests: u32,
    /// The cloud's head after the pull.
    pub head: u64,
    pub dry_run: bool,
    /// State changes applied and not yet in the audit trail: written at the end of the
    /// transaction that applied them.
    #[serde(skip)]
    pub(super) audit: Vec<NewAuditEvent>,
    /// What others did that this pull brought, for people watching (`gryt sync watch`):
    /// generations created and promoted, evolutions decided — at most [`MAX_EVENTS`], the
    /// rest counted in `events_dropped`.
    #[serde(skip)]
    pub events: Vec<NewAuditEvent>,
    #[serde(skip)]
    pub events_dropped: usize,
}

/// Most [`PullReport::events`] one pull keeps.
pub const MAX_EVENTS: usize = 1000;

impl PullReport {
    /// Takes the audit events applied so far (to write them), keeping the ones people
    /// watch for in `events`.
    fn take_audit(&mut self) -> Vec<NewAuditEvent> {
        let audit = std::mem::take(&mut self.audit);
        for e in &audit {
            if !matches!(
                e.action,
                "generation.created" | "generation.promoted" | "evolution.decided"
            ) {
                continue;
            }
            match self.events.len() < MAX_EVENTS {
                true => self.events.push(e.clone()),
                false => self.events_dropped += 1,
            }
        }
        audit
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConflictInfo {
    /// The recorded conflict's number (`gryt sync resolve ID`); absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub kind: RecordKind,
    pub subject: String,
    pub reason: ConflictReason,
}

/// Progress after each page: (records so far, cursor, head).
pub type Progress<'a> = &'a mut dyn FnMut(usize, u64, u64);

pub fn pull(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: PullOptions,
    progress: Progress<'_>,
) -> Result<PullReport> {
    pull_with(ws, cloud, opts, progress, None)
}

/// Sees each page's planned operations instead of applying them (`gryt sync diff`).
pub(super) type Visit<'a> = &'a mut dyn FnMut(&Store, &[Op]) -> Result<()>;

/// [`pull`], or with `visit` a dry run that hands each page's plan to it.
pub(super) fn pull_with(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: PullOptions,
    progress: Progress<'_>,
    mut visit: Option<Visit<'_>>,
) -> Result<PullReport> {
    let opts = PullOptions {
        dry_run: opts.dry_run || visit.is_some(),
        ..opts
    };
    let narrowed = !opts.only.is_empty();
    let mut report = PullReport {
        dry_run: opts.dry_run,
        ..PullReport::default()
    };
    let mut rng = clock::rng(ws.store.change_counter()?);
    ws.store.prepare_for_sync();
    if !opts.dry_run {
        // A push whose answer was lost is settled before anything comes in: were it still
        // unknown here, the feed would bring our own records back as changes of the cloud's
        // (and an edit made since, as a conflict with ourselves).
        super::push::replay_inflight(ws, cloud, &mut super::PushReport::default())?;
        land_settled(ws, &mut rng, &mut report)?;
    }
    if narrowed && let Some(why) = ws.store.meta(FULL_RESYNC)? {
        return Err(SyncError::NeedsFullPull(why));
    }
    // A full resync asked for, or one a kill cut short, starts (again) from seq 0.
    if opts.full && !narrowed && !opts.dry_run && ws.store.meta(FULL_RESYNC)?.is_none() {
        report.conflicts_superseded =
            super::start_full(ws, "asked for (gryt sync pull --full)", false)?;
    }
    let mut full =
        !narrowed && (opts.full || (!opts.dry_run && ws.store.meta(FULL_RESYNC)?.is_some()));
    let mut since = match full || narrowed {
        true => 0,
        false => cursor(&ws.store, cloud)?,
    };
    let untracked = untracked_files(ws)?;
    let mut page = cloud
        .client
        .changes_with(&cloud.project, since, opts.page_limit, &opts.only)?;
    if !page.missing.is_empty() {
        return Err(SyncError::NotInCloud(std::mem::take(&mut page.missing)));
    }
    let identity = |page: &ChangesPage| Identity {
        project_id: page.project_id,
        history_id: page.history_id,
    };
    let answered = identity(&page);
    if !full && let Some(m) = super::mismatch(ws, cloud, answered, page.head)? {
        if narrowed {
            return Err(SyncError::NeedsFullPull(m.why));
        }
        // The first answer tells this workspace's sync state belongs elsewhere: match every
        // record again, from seq 0 (a dry run only says so).
        report.full_resync = Some(m.why.clone());
        if !opts.dry_run {
            report.conflicts_superseded = super::start_full(ws, &m.why, m.other_project)?;
            report.requests += 1;
            full = true;
            since = 0;
            page = cloud.client.changes(&cloud.project, 0, opts.page_limit)?;
        }
    }
    if full && report.full_resync.is_none() {
        report.full_resync = ws.store.meta(FULL_RESYNC)?;
    }
    // Full resync: every live record the cloud holds, to find the ones it does not.
    let mut seen: HashSet<Uuid> = HashSet::new();
    let files = match opts.dry_run {
        true => Files::direct(),
        false => Files::threaded(),
    };
    loop {
        report.requests += 1;
        report.head = page.head;
        report.records += page.records.len();
        if page.next < since || (page.records.is_empty() && page.more) {
            return Err(SyncError::Corrupt(format!(
                "the cloud's changes feed went backwards or stalled (since {since}, next {})",
                page.next
            )));
        }
        let (next, more, head) = (page.next, page.more, page.head);
        let page_identity = identity(&page);
        let mut records = page.records;
        records.sort_by_key(apply_rank);
        if full {
            seen.extend(
                records
                    .iter()
                    .filter(|r| r.kind().is_some())
                    .map(Record::id),
            );
        }
        // The next page travels while this one is planned and applied. Its thread owns what
        // it uses: when this page fails, the error comes back at once (the request, if still
        // on its way, ends with the process).
        let ahead = more.then(|| {
            let (client, project, limit, only) = (
                cloud.client.clone(),
                cloud.project.clone(),
                opts.page_limit,
                opts.only.clone(),
            );
            std::thread::spawn(move || client.changes_with(&project, next, limit, &only))
        });
        let how = if full { Plan::Full } else { Plan::Pull };
        let (ops, prior) = plan_page(ws, &records, &untracked, &mut rng, how)?;
        if let Some(visit) = visit.as_mut() {
            visit(&ws.store, &ops)?;
        } else if opts.dry_run {
            describe(&ws.store, &ops, &mut report)?;
        } else {
            let now = clock::now_string();
            ws.store.tx(|s| -> Result<()> {
                apply_all(ws, s, &files, &ops, &prior, &now, &mut report)?;
                retry_parked(ws, s, &files, &untracked, &mut rng, &now, &mut report)?;
                // The page commits only once its contract files are on disk.
                files.flush()?;
                s.audit_many(&report.take_audit())?;
                if !narrowed {
                    set_cursor(s, cloud, next, page_identity)?;
                    s.set_meta(LAST_PULL, Some(&now))?;
                }
                Ok(())
            })?;
        }
        let ahead: Option<ChangesPage> = match ahead.map(|h| h.join()) {
            None => None,
            Some(Ok(fetched)) => Some(fetched?),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        };
        since = next;
        progress(report.records, since, head);
        match ahead {
            Some(fetched) => page = fetched,
            None => break,
        }
    }
    if !opts.dry_run && !narrowed && report.requests > 0 && report.records == 0 {
        ws.store.set_meta(LAST_PULL, Some(&clock::now_string()))?;
    }
    if !opts.dry_run {
        if full {
            finish_full(ws, &seen, &mut report)?;
        }
        answered.remember(&ws.store)?;
        if ws.config.auto_merge() {
            auto_merge(ws, &mut report)?;
        }
    }
    Ok(report)
}

/// `sync.auto_resolve merge`: each draft conflict this pull recorded that merges cleanly is
/// settled with the merge (by `auto`, in the conflict log); the others stay open, as recorded.
/// Each merge is its own transaction, after the pages: one cut short leaves its conflict open.
fn auto_merge(ws: &Workspace, report: &mut PullReport) -> Result<()> {
    use super::resolve::{self, ResolveError};
    let candidate = |info: &ConflictInfo| {
        info.reason == ConflictReason::BothChanged && info.kind == RecordKind::Generation
    };
    if !report.conflicts.iter().any(candidate) {
        return Ok(());
    }
    // Read once: a pull may record many.
    let mut recorded: HashMap<i64, Conflict> = ws
        .store
        .conflicts(false)?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut open = Vec::with_capacity(report.conflicts.len());
    for info in std::mem::take(&mut report.conflicts) {
        let conflict = info
            .id
            .filter(|_| candidate(&info))
            .and_then(|id| recorded.remove(&id));
        let merged = match conflict {
            Some(c) => resolve::auto_merge(ws, &c).map_err(|e| match e {
                ResolveError::Store(e) => SyncError::Store(e),
                ResolveError::Io(e) => SyncError::Io(e),
                other => SyncError::Corrupt(other.to_string()),
            })?,
            None => None,
        };
        match merged {
            Some(_) => report.merged.push(info),
            None => open.push(info),
        }
    }
    report.conflicts = open;
    Ok(())
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The end of a full resync, once the whole feed is in: what this workspace had synced and
/// the cloud does not hold becomes local only (the next push sends it as new), and the
/// workspace is in step again.
fn finish_full(ws: &Workspace, seen: &HashSet<Uuid>, report: &mut PullReport) -> Result<()> {
    ws.store.tx(|s| -> Result<()> {
        for (kind, id) in s.records_in_cloud()? {
            if seen.contains(&convert::uuid(&id)?) {
                continue;
            }
            lost_by_cloud(ws, s, kind, &id, None, report)?;
        }
        s.set_meta(FULL_RESYNC, None)?;
        Ok(())
    })
}

/// A record this workspace had synced that the cloud lost (it does not hold it, or only an
/// older revision, `resend_on`). It goes out again with the next push — a generation
/// whoever made it (drafts are everyone's to edit, and evolutions here may need it), but not
/// someone else's evolution or run: the cloud makes whoever sends one its owner, so only its
/// owner can send it again. Here it is kept, marked failed with why, and confirmed when the
/// owner's copy comes back.
fn lost_by_cloud(
    ws: &Workspace,
    s: &Store,
    kind: RecordKind,
    id: &str,
    resend_on: Option<u64>,
    report: &mut PullReport,
) -> Result<()> {
    let name = super::subject(s, kind, id)?;
    match s.record_author(kind, id)? {
        Some(author) if author != ws.user() && kind != RecordKind::Generation => {
            let why = format!(
                "the cloud lost it (its server was restored from a backup); only {author} can send it again"
            );
            s.mark_lost_elsewhere(kind, id, &why)?;
            report.others_lost.push(format!("{name} ({author})"));
        }
        _ => match resend_on {
            Some(revision) => {
                s.mark_resend(kind, id, revision)?;
                report.resend.push(name);
            }
            None => {
                s.mark_local_only(kind, id)?;
                report.local_only.push(name);
            }
        },
    }
    Ok(())
}

/// Contract files without a generation here, with what they hold.
pub(super) fn untracked_files(ws: &Workspace) -> Result<Untracked> {
    let known: HashSet<Version> = ws.store.versions()?.into_iter().collect();
    Ok(ws
        .contract_files()?
        .into_iter()
        .filter(|(v, _)| !known.contains(v))
        .map(|(v, path)| {
            let contract = crate::contract::load(&path, Some(&v)).ok();
            (v, contract)
        })
        .collect())
}

/// Applies the cloud's values that settled conflicts kept for this pull (`keep-remote`, a
/// rename out of the way): the cursor went past them when their conflict was recorded, so
/// the feed will not bring them again. Each is planned against the store as it is now: one
/// that conflicts again is recorded again, so no remote value is ever dropped. A newer value
/// of the same record in the feed follows and wins.
fn land_settled(ws: &Workspace, rng: &mut fastrand::Rng, report: &mut PullReport) -> Result<()> {
    let settled = ws.store.remote_pending()?;
    if settled.is_empty() {
        return Ok(());
    }
    let untracked = untracked_files(ws)?;
    let now = clock::now_string();
    let files = Files::direct();
    ws.store.tx(|s| -> Result<()> {
        for c in settled {
            let record: Option<Record> =
                c.remote_value.and_then(|v| serde_json::from_value(v).ok());
            if let Some(record) = record {
                let (ops, prior) = plan_page(
                    ws,
                    std::slice::from_ref(&record),
                    &untracked,
                    rng,
                    Plan::Pull,
                )?;
                for op in &ops {
                    apply(ws, s, &files, op, &prior, &now, report)?;
                }
            }
            s.remote_landed(c.id)?;
        }
        s.audit_many(&report.take_audit())?;
        Ok(())
    })
}

/// Generations (and tombstones, which keep their place among them) before evolutions before
/// runs: the feed lists a record once, at its latest change, so a generation changed after its
/// evolutions (promoted, say) comes after them. The sort is stable.
pub(super) fn apply_rank(r: &Record) -> u8 {
    match r {
        Record::Generation(_) | Record::Deleted(_) => 0,
        Record::Evolution(_) => 1,
        Record::PipelineRun(_) => 2,
    }
}

/// What the local records a page touches held before it was applied: the contract file to
/// remove when a generation's version changes, and the state changes to audit.
pub(super) type Prior = HashMap<Uuid, Before>;

pub(super) enum Before {
    Generation(Version, GenerationStatus),
    Evolution(EvolutionStatus),
}
/// Contract files without a generation here, with what they hold.
pub(super) type Untracked = HashMap<Version, Option<crate::domain::generation::Contract>>;

/// How a page is planned: a pull ([`Plan::Full`] for a full resync) or an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    Pull,
    Full,
    Import,
}

pub(super) fn plan_page(
    ws: &Workspace,
    records: &[Record],
    untracked: &Untracked,
    rng: &mut fastrand::Rng,
    how: Plan,
) -> Result<(Vec<Op>, Prior)> {
    // One read transaction for the snapshot's many small reads (a lock per statement
    // otherwise: thousands on a first pull).
    let mut local = ws.store.read(|_| snapshot(ws, records, untracked))?;
    local.full = how == Plan::Full;
    local.import = how == Plan::Import;
    let prior: Prior = local
        .records
        .iter()
        .filter_map(|(id, l)| match &l.record {
            Record::Generation(g) => Some((*id, Before::Generation(g.version.clone(), g.status))),
            Record::Evolution(e) => Some((*id, Before::Evolution(e.status))),
            _ => None,
        })
        .collect();
    let ops = planner::plan(&mut local, records, rng);
    Ok((ops, prior))
}

/// Evolutions parked as `missing_generation` conflicts land once their generation is here
/// (it may arrive in a later page than they did). Runs inside the page's transaction.
fn retry_parked(
    ws: &Workspace,
    s: &Store,
    files: &Files,
    untracked: &Untracked,
    rng: &mut fastrand::Rng,
    now: &str,
    report: &mut PullReport,
) -> Result<()> {
    let parked: Vec<(i64, Record)> = s
        .conflicts(false)?
        .into_iter()
        .filter(|c| c.reason == ConflictReason::MissingGeneration)
        .filter_map(|c| Some((c.id, serde_json::from_value(c.remote_value?).ok()?)))
        .filter(|(_, r): &(i64, Record)| match r {
            Record::Evolution(e) => s
                .version_of_generation(&e.generation_id.to_string())
                .ok()
                .flatten()
                .is_some(),
            _ => false,
        })
        .collect();
    // One at a time: a record may plan to several operations (renumber, then insert).
    for (id, record) in parked {
        let (ops, prior) = plan_page(
            ws,
            std::slice::from_ref(&record),
            untracked,
            rng,
            Plan::Pull,
        )?;
        if ops.iter().any(|op| matches!(op, Op::Conflict { .. })) {
            continue;
        }
        for op in &ops {
            apply(ws, s, files, op, &prior, now, report)?;
        }
        s.resolve_conflict(id, "arrived", now)?;
    }
    Ok(())
}

/// The local records a page touches, with what the planner needs to know about them.
fn snapshot(ws: &Workspace, page: &[Record], untracked: &Untracked) -> Result<Local> {
    let mut local = Local {
        untracked_files: untracked.clone(),
        ..Local::default()
    };
    // What the page's records hold here, in a few statements: on a first pull almost
    // nothing is, and each miss would be a lookup of its own.
    let (mut generation_ids, mut evolution_ids, mut versions, mut code_names) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in page {
        match r {
            Record::Generation(g) => {
                generation_ids.push(g.id.to_string());
                versions.push(g.version.to_string());
            }
            Record::Evolution(e) => {
                generation_ids.push(e.generation_id.to_string());
                evolution_ids.push(e.id.to_string());
                code_names.push(e.code_name.as_str());
            }
            _ => {}
        }
    }
    let s = &ws.store;
    let known_generations = s.holders(RecordKind::Generation, "id", &generation_ids)?;
    let known_evolutions = s.holders(RecordKind::Evolution, "id", &evolution_ids)?;
    let version_holders = s.holders(RecordKind::Generation, "version", &versions)?;
    let name_holders = s.holders(RecordKind::Evolution, "code_name", &code_names)?;
    let mut slot_generations = HashSet::new();
    for r in page {
        match r {
            Record::Generation(g) => {
                let id = g.id.to_string();
                if known_generations.contains_key(&id) {
                    load_generation(ws, &mut local, &id, Load::Whole)?;
                }
                if let Some(holder) = version_holders.get(&g.version.to_string()) {
                    load_generation(ws, &mut local, holder, Load::Whole)?;
                }
            }
            Record::Evolution(e) => {
                let id = e.id.to_string();
                if known_evolutions.contains_key(&id) {
                    load_evolution(s, &mut local, &id)?;
                }
                let gen_id = e.generation_id.to_string();
                if known_generations.contains_key(&gen_id) {
                    load_generation(ws, &mut local, &gen_id, Load::Parent)?;
                    slot_generations.insert(gen_id);
                }
                // The code name may be held by an evolution of any generation.
                if let Some(holder) = name_holders.get(&e.code_name) {
                    load_evolution(s, &mut local, holder)?;
                    local
                        .code_names
                        .insert(e.code_name.clone(), convert::uuid(holder)?);
                }
            }
            Record::PipelineRun(p) => load_run(s, &mut local, &p.id.to_string())?,
            Record::Deleted(t) => {
                let id = t.id.to_string();
                match t.record_kind {
                    RecordKind::Generation => load_generation(ws, &mut local, &id, Load::Whole)?,
                    RecordKind::Evolution => load_evolution(s, &mut local, &id)?,
                    RecordKind::PipelineRun => load_run(s, &mut local, &id)?,
                }
            }
        }
    }
    let slot_generations: Vec<String> = slot_generations.into_iter().collect();
    for (gen_id, id, rc, code_name) in s.evolution_slots(&slot_generations)? {
        let uuid = convert::uuid(&id)?;
        local.rc_slots.insert((convert::uuid(&gen_id)?, rc), uuid);
        local.code_names.insert(code_name, uuid);
    }
    // Holders of slots that page evolutions need must be loaded, so they can be moved.
    let holders: Vec<Uuid> = page
        .iter()
        .filter_map(|r| match r {
            Record::Evolution(e) => local.rc_slots.get(&(e.generation_id, e.rc)).copied(),
            _ => None,
        })
        .collect();
    for h in holders {
        load_evolution(&ws.store, &mut local, &h.to_string())?;
    }
    Ok(local)
}

/// How much of a local generation the planner needs.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// For a generation record or tombstone of the page: its file state and usage too.
    Whole,
    /// Only as the parent of arriving evolutions: its contract and sync state. (Generation
    /// records and tombstones come first in a page, [`apply_rank`], so one that also
    /// arrives is already loaded whole.)
    Parent,
}

fn load_generation(ws: &Workspace, local: &mut Local, id: &str, load: Load) -> Result<()> {
    let uuid = convert::uuid(id)?;
    if local.records.contains_key(&uuid) {
        return Ok(());
    }
    // The sync state comes from the same row, through a cached statement: records new here
    // (most of a first pull) cost one cheap lookup.
    let Some(state) = ws.store.sync_state(RecordKind::Generation, id)? else {
        return Ok(());
    };
    let Some(g) = ws.store.generation_by_id(id)? else {
        return Ok(());
    };
    let mut l = plain(convert::generation(&g, state.base_revision)?, state);
    if load == Load::Whole {
        l.file = match ws.contract_file(&g)? {
            ContractFile::Missing | ContractFile::Clean => FileState::Clean,
            ContractFile::Edited(Ok(c)) => FileState::Edited(Some(c)),
            ContractFile::Edited(Err(_)) => FileState::Edited(None),
        };
        (l.changes_in_use, l.unsynced_evolutions) = ws.store.generation_usage(id)?;
    }
    local.versions.insert(g.contract.version.clone(), uuid);
    local.records.insert(uuid, l);
    Ok(())
}

fn load_evolution(store: &Store, local: &mut Local, id: &str) -> Result<()> {
    let uuid = convert::uuid(id)?;
    if local.records.contains_key(&uuid) {
        return Ok(());
    }
    let Some(state) = store.sync_state(RecordKind::Evolution, id)? else {
        return Ok(());
    };
    let Some(e) = store.evolution(id)? else {
        return Ok(());
    };
    local.records.insert(
        uuid,
        plain(convert::evolution(&e, state.base_revision)?, state),
    );
    Ok(())
}

fn load_run(store: &Store, local: &mut Local, id: &str) -> Result<()> {
    let uuid = convert::uuid(id)?;
    if local.records.contains_key(&uuid) {
        return Ok(());
    }
    let Some(r) = store.pipeline_run(id)? else {
        return Ok(());
    };
    let state = store
        .sync_state(RecordKind::PipelineRun, id)?
        .ok_or_else(|| SyncError::Corrupt(id.into()))?;
    let steps = store.steps_of(id)?;
    local
        .records
        .insert(uuid, plain(convert::run(&r, &steps)?, state));
    Ok(())
}

fn plain(record: Record, state: crate::store::SyncState) -> LocalRecord {
    LocalRecord {
        record,
        sync_status: state.sync_status,
        base_revision: state.base_revision,
        file: FileState::Clean,
        changes_in_use: Default::default(),
        unsynced_evolutions: 0,
    }
}

/// Applies a page's operations in order inside its transaction, like [`apply`] one by one;
/// each run of consecutive evolution inserts and fast-forwards is written in one statement.
pub(super) fn apply_all(
    ws: &Workspace,
    s: &Store,
    files: &Files,
    ops: &[Op],
    prior: &Prior,
    now: &str,
    report: &mut PullReport,
) -> Result<()> {
    let mut i = 0;
    while i < ops.len() {
        let evolutions: Vec<(&EvolutionRecord, bool)> = ops[i..]
            .iter()
            .map_while(|op| match op {
                Op::Insert(Record::Evolution(e)) => Some((e, true)),
                Op::FastForward(Record::Evolution(e)) => Some((e, false)),
                _ => None,
            })
            .collect();
        if evolutions.is_empty() {
            apply(ws, s, files, &ops[i], prior, now, report)?;
            i += 1;
            continue;
        }
        let records: Vec<&EvolutionRecord> = evolutions.iter().map(|(e, _)| *e).collect();
        let names = write_evolutions(s, &records, now)?;
        for ((e, inserted), name) in evolutions.iter().zip(names) {
            audit_evolution(report, e, prior, &name);
            if *inserted {
                report.new.push(name);
            } else {
                report.updated.push(name);
            }
        }
        i += evolutions.len();
    }
    Ok(())
}

/// Notes the audit events of a record a pull wrote, named `name`: created, started,
/// promoted, decided — with the cloud's actor and time, marked `"pulled": true`. What was
/// here before (`prior`) tells a change from a record seen again. (Contract edits are not
/// events here: the cloud does not say who made them.)
fn audit_pulled(report: &mut PullReport, r: &Record, prior: &Prior, name: &str) {
    match r {
        Record::Generation(g) => {
            let mut event = pulled_event(report, name);
            let was = match prior.get(&g.id) {
                Some(Before::Generation(_, status)) => Some(*status),
                _ => None,
            };
            let changes = g.changes.len();
            if was.is_none() {
                let details = serde_json::json!({ "changes": changes });
                event(&g.created_at, &g.created_by, "generation.created", details);
            }
            if g.status == GenerationStatus::Promoted && was != Some(GenerationStatus::Promoted) {
                event(
                    g.promoted_at.as_deref().unwrap_or(&g.created_at),
                    g.promoted_by.as_deref().unwrap_or(&g.created_by),
                    "generation.promoted",
                    serde_json::json!({ "changes": changes }),
                );
            }
        }
        Record::Evolution(e) => audit_evolution(report, e, prior, name),
        _ => {}
    }
}

/// [`audit_pulled`] for an evolution: one event for what it became since this workspace last
/// saw it. One that arrives already decided is its `evolution.decided` alone, with when it
/// started in the details (a first pull of a large project writes one event per evolution,
/// not two).
fn audit_evolution(report: &mut PullReport, e: &EvolutionRecord, prior: &Prior, name: &str) {
    let mut event = pulled_event(report, name);
    let was = match prior.get(&e.id) {
        Some(Before::Evolution(status)) => Some(*status),
        _ => None,
    };
    let decided = matches!(e.status, EvolutionStatus::Pass | EvolutionStatus::Fail);
    match e.completed_at.as_deref() {
        Some(at) if decided && was != Some(e.status) => {
            let mut details = serde_json::json!({ "status": e.status, "code_name": e.code_name });
            if was.is_none() {
                details["change"] = e.change_id.as_str().into();
                details["started_at"] = e.started_at.as_str().into();
            }
            event(at, &e.owner, "evolution.decided", details);
        }
        _ if was.is_none() => {
            let details = serde_json::json!({ "code_name": e.code_name, "change": e.change_id });
            event(&e.started_at, &e.owner, "evolution.started", details);
        }
        _ => {}
    }
}

/// Adds an event about `name` to the report, marked as pulled: `(at, actor, action, details)`.
fn pulled_event<'a>(
    report: &'a mut PullReport,
    name: &'a str,
) -> impl FnMut(&str, &str, &'static str, serde_json::Value) + 'a {
    move |at, actor, action, mut details| {
        details["pulled"] = true.into();
        report.audit.push(NewAuditEvent {
            at: at.to_string(),
            actor: actor.to_string(),
            action,
            object: name.to_string(),
            details,
        });
    }
}

/// Writes evolutions as the cloud has them, in order, in as few statements as it can, and
/// names each by its rc tag as `subject` reads it: the stored version and the rc written
/// (one lookup per generation instead of reloading each evolution).
fn write_evolutions(s: &Store, es: &[&EvolutionRecord], now: &str) -> Result<Vec<String>> {
    let ids: Vec<(String, String, Option<String>)> = es
        .iter()
        .map(|e| {
            (
                e.id.to_string(),
                e.generation_id.to_string(),
                e.pipeline_run_id.map(|u| u.to_string()),
            )
        })
        .collect();
    let remote: Vec<_> = es
        .iter()
        .zip(&ids)
        .map(|(e, ids)| convert::remote_evolution(e, ids))
        .collect();
    s.upsert_remote_evolutions(&remote, now)?;
    let mut versions: HashMap<&str, Option<String>> = HashMap::new();
    let mut names = Vec::with_capacity(es.len());
    for (e, (id, generation_id, _)) in es.iter().zip(&ids) {
        let version = match versions.get(generation_id.as_str()) {
            Some(v) => v.clone(),
            None => {
                let v = s.version_of_generation(generation_id)?;
                versions.insert(generation_id, v.clone());
                v
            }
        };
        names.push(match version {
            Some(v) => format!("{v}-rc.{}", e.rc),
            None => id.clone(),
        });
    }
    Ok(names)
}

/// Applies one planned operation inside the page's transaction.
fn apply(
    ws: &Workspace,
    s: &Store,
    files: &Files,
    op: &Op,
    prior: &Prior,
    now: &str,
    report: &mut PullReport,
) -> Result<()> {
    match op {
        Op::Insert(r) | Op::FastForward(r) => {
            let name = write_record(ws, s, files, r, prior, now)?;
            if let Some(name) = name {
                audit_pulled(report, r, prior, &name);
                if matches!(op, Op::Insert(_)) {
                    report.new.push(name);
                } else {
                    report.updated.push(name);
                }
            }
        }
        Op::Confirm(r) => {
            let (kind, id) = (kind_of(r), r.id().to_string());
            s.mark_synced(kind, &id, r.revision(), now)?;
            let author = match r {
                Record::Generation(g) => &g.created_by,
                Record::Evolution(e) => &e.owner,
                Record::PipelineRun(p) => &p.started_by,
                Record::Deleted(_) => return Ok(()),
            };
            if !author.is_empty() {
                s.set_record_author(kind, &id, author)?;
            }
        }
        Op::Delete { kind, id } => {
            let id = id.to_string();
            let name = super::subject(s, *kind, &id)?;
            match kind {
                RecordKind::Generation => {
                    let version = s.version_of_generation(&id)?;
                    s.delete_generation(&id)?;
                    if let Some(v) = version.and_then(|v| v.parse::<Version>().ok()) {
                        files.remove(ws.contract_path(&v))?;
                    }
                }
                RecordKind::Evolution => s.delete_evolution(&id)?,
                RecordKind::PipelineRun => return Ok(()),
            }
            report.deleted.push(name);
        }
        Op::Renumber { id, rc, code_name } => {
            let id = id.to_string();
            let e = s
                .evolution(&id)?
                .ok_or_else(|| SyncError::Corrupt(id.clone()))?;
            let mut name = code_name.clone().unwrap_or_else(|| e.code_name.clone());
            // The planner drew the new name knowing only the names this page touches; one
            // held elsewhere in the store is drawn again against all of them.
            if code_name.is_some()
                && s.evolution_id_by_code_name(&name)?
                    .is_some_and(|holder| holder != id)
            {
                name = s.unused_code_name(&mut clock::rng(s.change_counter()?))?;
            }
            s.renumber_evolution(&id, *rc, &name)?;
            report
                .renumbered
                .push(format!("{} → {}-rc.{rc}", e.tag, e.version));
        }
        Op::Conflict {
            kind,
            id,
            reason,
            local,
            remote,
        } => {
            let subject = remote_subject(s, remote)?;
            let conflict_id = s.insert_conflict(&Conflict {
                id: 0,
                record_kind: *kind,
                record_id: id.to_string(),
                reason: *reason,
                subject: subject.clone(),
                local_value: local
                    .as_ref()
                    .map(|l| serde_json::to_value(l).unwrap_or_default()),
                remote_value: Some(serde_json::to_value(remote).unwrap_or_default()),
                remote_seq: remote.seq(),
                error: None,
                detected_at: now.to_string(),
                resolved_at: None,
                resolution: None,
                resolved_by: None,
            })?;
            if let Some(l) = local {
                s.set_sync_status(
                    kind_of(l),
                    &l.id().to_string(),
                    crate::domain::SyncStatus::Conflict,
                )?;
            }
            report.conflicts.push(ConflictInfo {
                id: Some(conflict_id),
                kind: *kind,
                subject,
                reason: *reason,
            });
        }
        Op::Resend { kind, id, revision } => {
            lost_by_cloud(ws, s, *kind, &id.to_string(), Some(*revision), report)?;
        }
        Op::Skip => {}
    }
    Ok(())
}

/// Writes an arriving record (and a generation's contract file). Returns its name for the
/// report; runs are not named.
fn write_record(
    ws: &Workspace,
    s: &Store,
    files: &Files,
    r: &Record,
    prior: &Prior,
    now: &str,
) -> Result<Option<String>> {
    match r {
        Record::Generation(g) => {
            let id = g.id.to_string();
            let contract = g.contract();
            let text = crate::contract::render(&contract);
            let hash = bytes_hash(text.as_bytes());
            // The planner fast-forwards a generation whose file holds unapplied edits only
            // when the cloud left its contract alone: the file keeps them.
            let keep_edits = match prior.get(&g.id) {
                Some(Before::Generation(old, _)) if *old == g.version => s
                    .generation_by_id(&id)?
                    .map(|here| ws.contract_file(&here))
                    .transpose()?
                    .is_some_and(|f| matches!(f, ContractFile::Edited(_))),
                _ => false,
            };
            s.upsert_remote_generation(&convert::remote_generation(g, &id, &contract, &hash), now)?;
            let before = prior.get(&g.id);
            if let Some(Before::Generation(old, _)) = before
                && *old != g.version
            {
                files.remove(ws.contract_path(old))?;
            }
            if !keep_edits {
                // A generation held here before may have its file already as it comes.
                files.write(
                    ws.contract_path(&g.version),
                    text.into_bytes(),
                    before.is_some(),
                )?;
            }
            Ok(Some(g.version.to_string()))
        }
        Record::Evolution(e) => Ok(write_evolutions(s, &[e], now)?.pop()),
        Record::PipelineRun(p) => {
            let ids = (p.id.to_string(), p.evolution_id.map(|u| u.to_string()));
            s.upsert_remote_run(&convert::remote_run(p, &ids))?;
            Ok(None)
        }
        Record::Deleted(_) => Ok(None),
    }
}

/// Names the records of a dry run without applying anything.
fn describe(s: &Store, ops: &[Op], report: &mut PullReport) -> Result<()> {
    // Evolutions of a generation arriving in the same page are named after it, as a real
    // pull names them.
    let arriving: HashMap<Uuid, Version> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Insert(Record::Generation(g)) | Op::FastForward(Record::Generation(g)) => {
                Some((g.id, g.version.clone()))
            }
            _ => None,
        })
        .collect();
    let remote_subject = |s: &Store, r: &Record| -> Result<String> {
        match r {
            Record::Evolution(e) if arriving.contains_key(&e.generation_id) => {
                Ok(format!("{}-rc.{}", arriving[&e.generation_id], e.rc))
            }
            _ => remote_subject(s, r),
        }
    };
    for op in ops {
        match op {
            Op::Insert(r) if r.kind() != Some(RecordKind::PipelineRun) => {
                report.new.push(remote_subject(s, r)?)
            }
            Op::FastForward(r) if r.kind() != Some(RecordKind::PipelineRun) => {
                report.updated.push(remote_subject(s, r)?)
            }
            Op::Delete { kind, id } => {
                report
                    .deleted
                    .push(super::subject(s, *kind, &id.to_string())?)
            }
            Op::Conflict {
                kind,
                reason,
                remote,
                ..
            } => report.conflicts.push(ConflictInfo {
                id: None,
                kind: *kind,
                subject: remote_subject(s, remote)?,
                reason: *reason,
            }),
            _ => {}
        }
    }
    Ok(())
}

/// A remote record's name: its version, or rc tag when its generation is known here.
pub(super) fn remote_subject(s: &Store, r: &Record) -> Result<String> {
    Ok(match r {
        Record::Generation(g) => g.version.to_string(),
        Record::Evolution(e) => match s.version_of_generation(&e.generation_id.to_string())? {
            Some(v) => format!("{v}-rc.{}", e.rc),
            None => format!("rc.{} ({})", e.rc, e.code_name),
        },
        Record::PipelineRun(p) => format!("run {}", p.id),
        Record::Deleted(t) => super::subject(s, t.record_kind, &t.id.to_string())?,
    })
}

/// The kind of a live record (a tombstone names the kind it deleted).
fn kind_of(r: &Record) -> RecordKind {
    match r {
        Record::Deleted(t) => t.record_kind,
        _ => r.kind().unwrap_or(RecordKind::Generation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::engine::push::{PushOptions, push};
    use crate::sync::engine::testing::setup;

    /// A page commits only once its contract files are on disk: when one cannot be written
    /// (here its temporary file's name is taken by a directory), the pull fails and the page
    /// is not applied — no record, cursor where it was — and the next pull applies it whole.
    #[test]
    fn a_page_whose_contract_file_cannot_be_written_is_not_applied() {
        let t = setup();
        let pushed = push(&t.ws, &t.cloud(), &PushOptions::default()).unwrap();
        assert_eq!(pushed.created.len(), 3, "{pushed:?}");

        let dir = tempfile::tempdir().unwrap();
        Workspace::init(dir.path()).unwrap();
        let ws = Workspace::discover(dir.path()).unwrap();
        let v2: Version = "2.0.0".parse().unwrap();
        let blocker =
            ws.generations_dir()
                .join(format!(".{}.{}.tmp", v2.file_name(), std::process::id()));
        std::fs::create_dir_all(&blocker).unwrap();
        let cloud = t.cloud();
        let before = cursor(&ws.store, &cloud).unwrap();

        let err = pull(&ws, &cloud, PullOptions::default(), &mut |_, _, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains(&v2.file_name()), "{err}");
        assert!(ws.store.list_generations().unwrap().is_empty());
        assert_eq!(
            cursor(&ws.store, &cloud).unwrap(),
            before,
            "the cursor did not move"
        );

        std::fs::remove_dir(&blocker).unwrap();
        let report = pull(&ws, &cloud, PullOptions::default(), &mut |_, _, _| {}).unwrap();
        assert_eq!(report.conflicts.len(), 0, "{report:?}");
        let list = ws.store.list_generations().unwrap();
        assert_eq!(list.len(), 3);
        for g in &list {
            let text = std::fs::read(ws.contract_path(&g.version)).unwrap();
            assert_eq!(Some(bytes_hash(&text)), g.file_hash, "{}", g.version);
        }
    }
}
