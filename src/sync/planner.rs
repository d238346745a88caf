//! The pull planner: pure. Given what this workspace has (a [`Local`] snapshot of the records
//! a page touches) and a page of records from the cloud, decide per record what a pull does.
//!
//! The rule that matters: a pull never overwrites or deletes local work. Only a record that is
//! `synced` (unchanged since its last sync) and whose contract file holds no unapplied edits
//! is fast-forwarded or deleted; anything else that differs becomes a recorded conflict.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use crate::api::records::{EvolutionRecord, GenerationRecord, Record, RecordKind};
use crate::domain::generation::Contract;
use crate::domain::{SyncStatus, Version, codename};

/// The contract file of a generation, as far as a pull cares.
#[derive(Debug, Clone, PartialEq)]
pub enum FileState {
    /// Matches the database (or absent: it will be written).
    Clean,
    /// Differs from the database; `Some` when it parses (so an identical incoming contract
    /// is not a conflict), `None` when it does not.
    Edited(Option<Contract>),
}

/// What this workspace holds of one record.
#[derive(Debug, Clone)]
pub struct LocalRecord {
    pub record: Record,
    pub sync_status: SyncStatus,
    pub base_revision: Option<u64>,
    /// Generations only.
    pub file: FileState,
    /// Generations only: change ids that local evolutions refer to.
    pub changes_in_use: BTreeSet<String>,
    /// Generations only: local evolutions that were never synced.
    pub unsynced_evolutions: usize,
}

/// The local state a page is planned against.
#[derive(Debug, Clone, Default)]
pub struct Local {
    pub records: HashMap<Uuid, LocalRecord>,
    /// Version → the local generation that holds it.
    pub versions: HashMap<Version, Uuid>,
    /// Contract files with no generation in the database, with the contract each holds
    /// (`None` when it does not load). A file holding exactly the incoming contract (a fresh
    /// clone of a repository whose contracts are committed) is adopted, not a conflict.
    pub untracked_files: HashMap<Version, Option<Contract>>,
    /// (generation, rc) → the local evolution that holds it.
    pub rc_slots: HashMap<(Uuid, u32), Uuid>,
    /// Code name → the local evolution that holds it.
    pub code_names: HashMap<String, Uuid>,
    /// A full resync (`gryt sync pull --full`, or a repair after the cloud's history or the
    /// linked project changed): the revisions this workspace remembers may belong to another
    /// history, so nothing is skipped on its revision alone; content decides (see
    /// [`plan_full`]).
    pub full: bool,
    /// An import (`gryt import`): the records come from a bundle, not from the cloud this
    /// workspace syncs with, so their revisions say nothing here. A record held here is
    /// never replaced: the same content is skipped, other content is a conflict (a pull
    /// would fast-forward a synced record).
    pub import: bool,
}

pub use crate::domain::ConflictReason;

#[derive(Debug, Clone)]
pub enum Op {
    /// Unknown here: add it.
    Insert(Record),
    /// Unchanged here since the last sync: take the cloud's version.
    FastForward(Record),
    /// Same content on both sides (e.g. our own push coming back): note the revision and take
    /// the server's stamps (who created it).
    Confirm(Record),
    /// Deleted in the cloud and unchanged here: delete it.
    Delete { kind: RecordKind, id: Uuid },
    /// An unsynced local evolution holds the rc tag or code name the cloud gave another one:
    /// move it aside (applied before the insert that needs the slot).
    Renumber {
        id: Uuid,
        rc: u32,
        code_name: Option<String>,
    },
    Conflict {
        kind: RecordKind,
        id: Uuid,
        reason: ConflictReason,
        /// The local record the conflict is with (for VersionTaken: the other generation).
        local: Option<Box<Record>>,
        remote: Box<Record>,
    },
    /// Already known at this revision or newer, or a tombstone of something never seen.
    Skip,
    /// Full resync: the cloud holds an older revision than the one this workspace synced (it
    /// lost the newer one in a restore). Ours is sent again, on top of `revision`.
    Resend {
        kind: RecordKind,
        id: Uuid,
        revision: u64,
    },
}

/// Plans one page. `local` is updated as the plan goes, so later records of the same page see
/// the effect of earlier ones (a generation inserted, an rc slot taken).
pub fn plan(local: &mut Local, page: &[Record], rng: &mut fastrand::Rng) -> Vec<Op> {
    let mut ops = Vec::with_capacity(page.len());
    for remote in page {
        match remote {
            Record::Generation(g) => plan_generation(local, g, remote, &mut ops),
            Record::Evolution(e) => plan_evolution(local, e, remote, rng, &mut ops),
            Record::PipelineRun(_) => plan_plain(local, remote, &mut ops),
            Record::Deleted(t) => ops.push(match local.records.get(&t.id) {
                None => Op::Skip,
                Some(l) if is_clean(l) && l.unsynced_evolutions == 0 => {
                    forget(local, t.id);
                    Op::Delete {
                        kind: t.record_kind,
                        id: t.id,
                    }
                }
                Some(l) => conflict(
                    t.record_kind,
                    t.id,
                    ConflictReason::DeletedRemotely,
                    Some(&l.record),
                    remote,
                ),
            }),
        }
    }
    ops
}

fn is_clean(l: &LocalRecord) -> bool {
    l.sync_status == SyncStatus::Synced && l.file == FileState::Clean
}

fn conflict(
    kind: RecordKind,
    id: Uuid,
    reason: ConflictReason,
    local: Option<&Record>,
    remote: &Record,
) -> Op {
    Op::Conflict {
        kind,
        id,
        reason,
        local: local.cloned().map(Box::new),
        remote: Box::new(remote.clone()),
    }
}

fn forget(local: &mut Local, id: Uuid) {
    if let Some(l) = local.records.remove(&id)
        && let Record::Generation(g) = &l.record
    {
        local.versions.remove(&g.version);
    }
}

fn plan_generation(local: &mut Local, g: &GenerationRecord, remote: &Record, ops: &mut Vec<Op>) {
    let holder = local.versions.get(&g.version).copied();
    let foreign_file = holder.is_none()
        && local
            .untracked_files
            .get(&g.version)
            .is_some_and(|c| c.as_ref() != Some(&g.contract()));
    if holder.is_some_and(|h| h != g.id) || foreign_file {
        let other = holder
            .and_then(|h| local.records.get(&h))
            .map(|l| &l.record);
        ops.push(conflict(
            RecordKind::Generation,
            g.id,
            ConflictReason::VersionTaken,
            other,
            remote,
        ));
        return;
    }
    let Some(l) = local.records.get(&g.id) else {
        local.versions.insert(g.version.clone(), g.id);
        local.records.insert(g.id, synced(remote));
        ops.push(Op::Insert(remote.clone()));
        return;
    };
    if let Some(op) = already_known(l, remote, local) {
        ops.push(op);
        return;
    }
    let file_agrees = match &l.file {
        FileState::Clean => true,
        FileState::Edited(Some(c)) => *c == g.contract(),
        FileState::Edited(None) => false,
    };
    if same_content(&l.record, remote) && file_agrees {
        ops.push(Op::Confirm(remote.clone()));
        return;
    }
    if local.full
        && let Some(op) = plan_full(l, remote)
    {
        ops.push(op);
        return;
    }
    // Unapplied edits in the contract file, and the cloud changed only the generation's state
    // (a promotion, say), not its contract: they do not touch each other. The state is taken,
    // the file keeps its edits.
    let contract_kept = matches!(&l.record, Record::Generation(old)
        if old.version == g.version && old.contract() == g.contract());
    // An import replaces nothing: other content is a conflict, whatever the state here.
    let synced_here = l.sync_status == SyncStatus::Synced && !local.import;
    if synced_here && !file_agrees && contract_kept {
        local.records.insert(
            g.id,
            LocalRecord {
                changes_in_use: l.changes_in_use.clone(),
                unsynced_evolutions: l.unsynced_evolutions,
                file: l.file.clone(),
                ..synced(remote)
            },
        );
        ops.push(Op::FastForward(remote.clone()));
        return;
    }
    if !synced_here || !file_agrees {
        ops.push(conflict(
            RecordKind::Generation,
            g.id,
            ConflictReason::BothChanged,
            Some(&l.record),
            remote,
        ));
        return;
    }
    let removed_in_use = l.changes_in_use.iter().any(|c| g.change(c).is_none());
    if removed_in_use {
        ops.push(conflict(
            RecordKind::Generation,
            g.id,
            ConflictReason::ChangesInUse,
            Some(&l.record),
            remote,
        ));
        return;
    }
    if let Record::Generation(old) = &l.record
        && old.version != g.version
    {
        local.versions.remove(&old.version);
        local.versions.insert(g.version.clone(), g.id);
    }
    let changes_in_use = l.changes_in_use.clone();
    let unsynced = l.unsynced_evolutions;
    local.records.insert(
        g.id,
        LocalRecord {
            changes_in_use,
            unsynced_evolutions: unsynced,
            ..synced(remote)
        },
    );
    ops.push(Op::FastForward(remote.clone()));
}

fn plan_evolution(
    local: &mut Local,
    e: &EvolutionRecord,
    remote: &Record,
    rng: &mut fastrand::Rng,
    ops: &mut Vec<Op>,
) {
    if !local.records.contains_key(&e.id) {
        // The generation must be here (or arrive earlier in this page) with the change the
        // evolution proves — a local generation in conflict may lack it.
        let parent_ok = local.records.get(&e.generation_id).is_some_and(|g| {
            matches!(&g.record, Record::Generation(g) if g.change(e.change_id.as_str()).is_some())
        });
        if !parent_ok {
            ops.push(conflict(
                RecordKind::Evolution,
                e.id,
                ConflictReason::MissingGeneration,
                None,
                remote,
            ));
            return;
        }
        // An import may only move evolutions that no cloud has seen: one that was synced
        // keeps its tag and name, and the arriving one is a conflict.
        if local.import
            && let Some(holder) = slot_holders(local, e)
                .into_iter()
                .filter_map(|h| local.records.get(&h))
                .find(|l| l.sync_status != SyncStatus::NotSynced)
        {
            ops.push(conflict(
                RecordKind::Evolution,
                e.id,
                ConflictReason::BothChanged,
                Some(&holder.record),
                remote,
            ));
            return;
        }
        free_slots(local, e, rng, ops);
        local.rc_slots.insert((e.generation_id, e.rc), e.id);
        local.code_names.insert(e.code_name.clone(), e.id);
        if let Some(g) = local.records.get_mut(&e.generation_id) {
            g.changes_in_use.insert(e.change_id.to_string());
        }
        local.records.insert(e.id, synced(remote));
        ops.push(Op::Insert(remote.clone()));
        return;
    }
    plan_plain(local, remote, ops);
}

/// The other local evolutions holding `e`'s rc slot and code name: (rc, name).
fn holders_of(local: &Local, e: &EvolutionRecord) -> (Option<Uuid>, Option<Uuid>) {
    let rc_holder = local
        .rc_slots
        .get(&(e.generation_id, e.rc))
        .copied()
        .filter(|h| *h != e.id);
    let name_holder = local
        .code_names
        .get(&e.code_name)
        .copied()
        .filter(|h| *h != e.id);
    (rc_holder, name_holder)
}

fn slot_holders(local: &Local, e: &EvolutionRecord) -> BTreeSet<Uuid> {
    let (rc, name) = holders_of(local, e);
    [rc, name].into_iter().flatten().collect()
}

/// Moves unsynced local evolutions out of the rc slot and code name the cloud gave `e`.
fn free_slots(local: &mut Local, e: &EvolutionRecord, rng: &mut fastrand::Rng, ops: &mut Vec<Op>) {
    let (rc_holder, name_holder) = holders_of(local, e);
    for holder in slot_holders(local, e) {
        let Some(Record::Evolution(mine)) = local.records.get(&holder).map(|l| l.record.clone())
        else {
            continue;
        };
        let mut rc = mine.rc;
        if rc_holder == Some(holder) {
            let max = local
                .rc_slots
                .keys()
                .filter(|(g, _)| *g == e.generation_id)
                .map(|(_, rc)| *rc)
                .max()
                .unwrap_or(0);
            rc = max.max(e.rc) + 1;
            local.rc_slots.remove(&(e.generation_id, mine.rc));
            local.rc_slots.insert((e.generation_id, rc), holder);
        }
        let code_name = (name_holder == Some(holder)).then(|| {
            let name = codename::generate_unique(rng, |n| {
                n == e.code_name || local.code_names.contains_key(n)
            });
            local.code_names.remove(&mine.code_name);
            local.code_names.insert(name.clone(), holder);
            name
        });
        if let Some(l) = local.records.get_mut(&holder)
            && let Record::Evolution(m) = &mut l.record
        {
            m.rc = rc;
            if let Some(n) = &code_name {
                m.code_name = n.clone();
            }
        }
        ops.push(Op::Renumber {
            id: holder,
            rc,
            code_name,
        });
    }
}

/// Evolutions and runs already known here.
fn plan_plain(local: &mut Local, remote: &Record, ops: &mut Vec<Op>) {
    let id = remote.id();
    let kind = remote.kind().expect("not a tombstone");
    let Some(l) = local.records.get(&id) else {
        local.records.insert(id, synced(remote));
        ops.push(Op::Insert(remote.clone()));
        return;
    };
    if let Some(op) = already_known(l, remote, local) {
        ops.push(op);
    } else if same_content(&l.record, remote) {
        ops.push(Op::Confirm(remote.clone()));
    } else if let Some(op) = local.full.then(|| plan_full(l, remote)).flatten() {
        ops.push(op);
    } else if l.sync_status == SyncStatus::Synced && !local.import {
        local.records.insert(id, synced(remote));
        ops.push(Op::FastForward(remote.clone()));
    } else {
        ops.push(conflict(
            kind,
            id,
            ConflictReason::BothChanged,
            Some(&l.record),
            remote,
        ));
    }
}

/// A remote revision this workspace already synced (or newer) needs nothing.
///
/// Whatever the local state: a pending edit of a record the cloud has not changed since is
/// just waiting to be pushed, not a conflict (a settled conflict's kept remote value, or a
/// replayed push, brings such records again). A full resync and an import decide on
/// content alone.
fn already_known(l: &LocalRecord, remote: &Record, local: &Local) -> Option<Op> {
    let by_revision = !local.full && !local.import;
    (by_revision && l.base_revision.is_some_and(|b| b >= remote.revision())).then_some(Op::Skip)
}

/// A full resync's decision for a record held on both sides with different content, where the
/// revision this workspace synced says more than its status: newer here than in the cloud (the
/// cloud lost it in a restore) → send ours again; the same revision with other content (the
/// cloud's history forked) → a conflict, whatever the status. `None`: decide as a pull does.
fn plan_full(l: &LocalRecord, remote: &Record) -> Option<Op> {
    let kind = remote.kind()?;
    match l.base_revision {
        Some(b) if b > remote.revision() => Some(Op::Resend {
            kind,
            id: remote.id(),
            revision: remote.revision(),
        }),
        Some(b) if b == remote.revision() => Some(conflict(
            kind,
            remote.id(),
            ConflictReason::BothChanged,
            Some(&l.record),
            remote,
        )),
        _ => None,
    }
}

fn synced(remote: &Record) -> LocalRecord {
    LocalRecord {
        record: remote.clone(),
        sync_status: SyncStatus::Synced,
        base_revision: Some(remote.revision()),
        file: FileState::Clean,
        changes_in_use: BTreeSet::new(),
        unsynced_evolutions: 0,
    }
}

/// Whether two copies of a record say the same thing, ignoring what only the server assigns
/// (revision, seq, and the account names it stamps).
pub fn same_content(a: &Record, b: &Record) -> bool {
    fn strip(r: &Record) -> Record {
        let mut r = r.clone();
        r.stamp(0, 0);
        match &mut r {
            Record::Generation(g) => g.created_by.clear(),
            Record::Evolution(e) => e.owner.clear(),
            Record::PipelineRun(p) => p.started_by.clear(),
            Record::Deleted(_) => {}
        }
        r
    }
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests;
