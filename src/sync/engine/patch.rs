//! Patches: what a pull would change, as a text file people can review before applying it
//! (`gryt sync diff --output FILE`), apply later (`gryt patch apply FILE`), and undo
//! (`gryt patch apply --reverse FILE`).
//!
//! Format version 1, line by line:
//!
//! ```text
//! gryt-patch 1
//! # comments: where it was made, what each hunk changes field by field
//! @@ update generation v1.2.0 r3 -> r5
//! -{"kind":"generation","record":{…}}      the record here, at the revision it applies to
//! +{"kind":"generation","record":{…}}      the record after
//! ```
//!
//! One record per hunk: `-` alone deletes it, `+` alone adds it, both replace it. The `-`
//! line is the base: applying refuses a hunk unless the record here is exactly that (same
//! content, synced at that revision, no unapplied edits in its contract file); `--reverse`
//! swaps the sides. Everything applies in one transaction, or nothing does.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::files::Files;
use super::pull::{Before, Plan, Prior, PullReport, apply_all, plan_page, untracked_files};
use crate::api::records::{Record, RecordKind};
use crate::clock;
use crate::store::StoreError;
use crate::sync::SyncError;
use crate::sync::planner::{Op, same_content};
use crate::workspace::{ContractFile, Workspace};

/// The first line of a patch this gryt writes and reads.
pub const HEADER: &str = "gryt-patch 1";
/// Largest patch read.
pub const MAX_PATCH: u64 = 256 << 20;

/// One record a patch changes.
#[derive(Debug, Clone)]
pub struct Hunk {
    /// `v1.2.0`, `v1.2.0-rc.3`, `run of v1.2.0-rc.3`.
    pub subject: String,
    pub kind: RecordKind,
    /// The record as it is before (the base); `None`: the hunk adds it.
    pub before: Option<Record>,
    /// The record after; `None`: the hunk deletes it.
    pub after: Option<Record>,
}

impl Hunk {
    fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "new",
            (_, None) => "delete",
            _ => "update",
        }
    }

    /// `update generation v1.2.0`.
    pub fn title(&self) -> String {
        let action = self.action();
        match self.kind {
            RecordKind::Generation => format!("{action} generation {}", self.subject),
            RecordKind::Evolution => format!("{action} evolution {}", self.subject),
            // Its subject says it: `run of v1.2.0-rc.3`.
            RecordKind::PipelineRun => format!("{action} {}", self.subject),
        }
    }

    fn reversed(&self) -> Hunk {
        Hunk {
            before: self.after.clone(),
            after: self.before.clone(),
            ..self.clone()
        }
    }
}

/// Renders a patch: `about` lines become comments at the top.
pub fn render(about: &[String], hunks: &[Hunk]) -> String {
    let mut out = format!("{HEADER}\n");
    for line in about {
        let _ = writeln!(out, "# {line}");
    }
    for h in hunks {
        let revs = |r: &Option<Record>| r.as_ref().map(|r| format!("r{}", r.revision()));
        let _ = write!(out, "\n@@ {}", h.title());
        match (revs(&h.before), revs(&h.after)) {
            (Some(a), Some(b)) => {
                let _ = write!(out, " {a} -> {b}");
            }
            (Some(a), None) => {
                let _ = write!(out, " {a}");
            }
            (None, Some(b)) => {
                let _ = write!(out, " -> {b}");
            }
            (None, None) => {}
        }
        out.push('\n');
        let fields = |r: &Option<Record>| r.as_ref().and_then(super::diff::record_fields);
        for f in super::diff::compare(
            h.kind,
            fields(&h.before).as_ref(),
            fields(&h.after).as_ref(),
        ) {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("(none)".to_string(), |v| v.to_string())
            };
            let _ = writeln!(out, "# {}: {} -> {}", f.field, show(&f.from), show(&f.to));
        }
        for (sign, record) in [('-', &h.before), ('+', &h.after)] {
            if let Some(r) = record {
                let json = serde_json::to_string(r).unwrap_or_default();
                let _ = writeln!(out, "{sign}{json}");
            }
        }
    }
    out
}

/// Why a patch was not applied. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: String },
    #[error("{0}")]
    NotAPatch(String),
    #[error("hunk {number} ({title}) does not apply: {why}")]
    Stale {
        number: usize,
        title: String,
        why: String,
    },
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a patch. Every record is checked with the rules the cloud applies.
pub fn parse(text: &str) -> std::result::Result<Vec<Hunk>, PatchError> {
    let mut lines = text.lines().enumerate();
    match lines.next().map(|(_, l)| l.trim_end()) {
        Some(HEADER) => {}
        Some(l) if l.starts_with("gryt-patch ") => {
            return Err(PatchError::NotAPatch(format!(
                "the patch's format is `{}`; this gryt reads `{HEADER}`: upgrade gryt to apply it",
                l.escape_debug()
            )));
        }
        _ => {
            return Err(PatchError::NotAPatch(format!(
                "not a gryt patch (its first line is not `{HEADER}`; patches are made by `gryt sync diff --output`)"
            )));
        }
    }
    let bad = |line: usize, message: String| PatchError::Malformed {
        line: line + 1,
        message,
    };
    let mut hunks: Vec<(usize, Hunk)> = Vec::new();
    for (n, line) in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("@@") {
            hunks.push((
                n,
                Hunk {
                    subject: String::new(),
                    kind: RecordKind::Generation,
                    before: None,
                    after: None,
                },
            ));
            continue;
        }
        let (sign, json) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
        if sign != "-" && sign != "+" {
            return Err(bad(
                n,
                "not part of a gryt patch (lines are `#`, `@@`, `-` or `+`)".into(),
            ));
        }
        let Some((_, hunk)) = hunks.last_mut() else {
            return Err(bad(n, "a record before the first `@@` line".into()));
        };
        let record: Record =
            serde_json::from_str(json).map_err(|e| bad(n, format!("not a record: {e}")))?;
        let Some(kind) = record.kind() else {
            return Err(bad(n, "a tombstone has no place in a patch".into()));
        };
        record
            .validate()
            .map_err(|problem| bad(n, problem.to_string()))?;
        let side = if sign == "-" {
            &mut hunk.before
        } else {
            &mut hunk.after
        };
        if side.is_some() {
            return Err(bad(n, format!("a second `{sign}` record in one hunk")));
        }
        *side = Some(record);
        hunk.kind = kind;
    }
    let mut out = Vec::with_capacity(hunks.len());
    for (n, mut hunk) in hunks {
        match (&hunk.before, &hunk.after) {
            (None, None) => return Err(bad(n, "a hunk with no record".into())),
            (Some(a), Some(b)) if a.id() != b.id() || a.kind() != b.kind() => {
                return Err(bad(
                    n,
                    "the hunk's two records are not the same record".into(),
                ));
            }
            _ => {}
        }
        let r = hunk
            .after
            .as_ref()
            .or(hunk.before.as_ref())
            .expect("checked");
        hunk.subject = match r {
            Record::Generation(g) => g.version.to_string(),
            Record::Evolution(e) => format!("rc.{} ({})", e.rc, e.code_name),
            _ => format!("run {}", r.id()),
        };
        out.push(hunk);
    }
    // Evolutions are named by their generation's version when the patch carries it.
    let versions: HashMap<uuid::Uuid, String> = out
        .iter()
        .flat_map(|h| [&h.before, &h.after])
        .flatten()
        .filter_map(|r| match r {
            Record::Generation(g) => Some((g.id, g.version.to_string())),
            _ => None,
        })
        .collect();
    for h in &mut out {
        if let Some(Record::Evolution(e)) = h.after.as_ref().or(h.before.as_ref())
            && let Some(v) = versions.get(&e.generation_id)
        {
            h.subject = format!("{v}-rc.{}", e.rc);
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Each hunk applied: `update generation v1.2.0`.
    pub applied: Vec<String>,
    /// Unsynced local evolutions moved to a free rc tag for an added one.
    pub renumbered: Vec<String>,
    pub reverse: bool,
    pub dry_run: bool,
}

enum Stop {
    Failed(PatchError),
    DryRun,
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(e.into())
    }
}

impl From<SyncError> for Stop {
    fn from(e: SyncError) -> Self {
        Stop::Failed(e.into())
    }
}

/// Applies (or with `reverse`, undoes) every hunk, in one transaction: a hunk whose base is
/// not what this workspace holds refuses the whole patch, naming it. `origin` names the
/// patch in the audit trail.
pub fn apply(
    ws: &Workspace,
    hunks: &[Hunk],
    reverse: bool,
    dry_run: bool,
    origin: &str,
) -> std::result::Result<ApplyReport, PatchError> {
    ws.store.prepare_for_sync();
    let files = match dry_run {
        true => Files::discard(),
        false => Files::threaded(),
    };
    let untracked = untracked_files(ws)?;
    let mut rng = clock::rng(ws.store.change_counter()?);
    let now = clock::now_string();
    let mut report = ApplyReport {
        reverse,
        dry_run,
        ..ApplyReport::default()
    };
    let mut pulled = PullReport::default();
    // Forward in the order a pull applies; backwards when undoing (runs before their
    // evolutions, evolutions before their generations).
    let order: Vec<(usize, Hunk)> = match reverse {
        false => hunks.iter().cloned().enumerate().collect(),
        true => hunks
            .iter()
            .enumerate()
            .rev()
            .map(|(i, h)| (i, h.reversed()))
            .collect(),
    };
    let outcome = ws.store.tx(|s| -> std::result::Result<(), Stop> {
        for (i, hunk) in &order {
            let stale = |why: String| {
                Stop::Failed(PatchError::Stale {
                    number: i + 1,
                    title: hunk.title(),
                    why,
                })
            };
            check_base(ws, hunk).map_err(|e| match e {
                Check::Stale(why) => stale(why),
                Check::Failed(e) => Stop::Failed(e.into()),
            })?;
            let ops = match (&hunk.before, &hunk.after) {
                (None, Some(after)) => {
                    let (ops, _) = plan_page(
                        ws,
                        std::slice::from_ref(after),
                        &untracked,
                        &mut rng,
                        Plan::Pull,
                    )?;
                    if let Some(Op::Conflict { reason, .. }) =
                        ops.iter().find(|op| matches!(op, Op::Conflict { .. }))
                    {
                        return Err(stale(format!(
                            "it would be a conflict here ({})",
                            reason.label()
                        )));
                    }
                    ops
                }
                (Some(_), Some(after)) => vec![Op::FastForward(after.clone())],
                (Some(before), None) => vec![Op::Delete {
                    kind: hunk.kind,
                    id: before.id(),
                }],
                (None, None) => Vec::new(),
            };
            let prior = prior_of(hunk);
            apply_all(ws, s, &files, &ops, &prior, &now, &mut pulled)?;
            report.applied.push(hunk.title());
        }
        let mut events = std::mem::take(&mut pulled.audit);
        for e in &mut events {
            if let Some(details) = e.details.as_object_mut() {
                details.remove("pulled");
                details.insert("patch".into(), origin.into());
            }
        }
        s.audit_many(&events)?;
        files.flush()?;
        match dry_run {
            true => Err(Stop::DryRun),
            false => Ok(()),
        }
    });
    match outcome {
        Ok(()) | Err(Stop::DryRun) => {}
        Err(Stop::Failed(e)) => return Err(e),
    }
    report.renumbered = pulled.renumbered;
    Ok(report)
}

/// What the record held before, for the writes: its version (a renamed generation's old
/// contract file is removed) and status.
fn prior_of(hunk: &Hunk) -> Prior {
    let mut prior = Prior::new();
    match &hunk.before {
        Some(Record::Generation(g)) => {
            prior.insert(g.id, Before::Generation(g.version.clone(), g.status));
        }
        Some(Record::Evolution(e)) => {
            prior.insert(e.id, Before::Evolution(e.status));
        }
        _ => {}
    }
    prior
}

enum Check {
    Stale(String),
    Failed(SyncError),
}

impl From<SyncError> for Check {
    fn from(e: SyncError) -> Self {
        Check::Failed(e)
    }
}

impl From<StoreError> for Check {
    fn from(e: StoreError) -> Self {
        Check::Failed(e.into())
    }
}

impl From<crate::workspace::WorkspaceError> for Check {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        Check::Failed(e.into())
    }
}

/// The record here must be the hunk's base: absent for an added record; otherwise the same
/// content, synced at the base's revision, with no unapplied edits in its contract file.
fn check_base(ws: &Workspace, hunk: &Hunk) -> std::result::Result<(), Check> {
    let s = &ws.store;
    let record = hunk
        .after
        .as_ref()
        .or(hunk.before.as_ref())
        .expect("parsed");
    let id = record.id().to_string();
    let kind = hunk.kind;
    let here = match kind {
        RecordKind::PipelineRun => match s.pipeline_run(&id)? {
            Some(r) => Some(crate::sync::convert::run(&r, &s.steps_of(&id)?)?),
            None => None,
        },
        _ => super::push::current_record(s, kind, &id)?.0,
    };
    let Some(before) = &hunk.before else {
        return match here {
            None => Ok(()),
            Some(_) => Err(Check::Stale("the record is here already".into())),
        };
    };
    let Some(here) = here else {
        return Err(Check::Stale("the record is not here".into()));
    };
    if !same_content(&here, before) {
        return Err(Check::Stale(
            "the record here is not the one the patch was made against".into(),
        ));
    }
    if kind != RecordKind::PipelineRun {
        let state = s.sync_state(kind, &id)?;
        let status = state.as_ref().map(|st| st.sync_status);
        if status != Some(crate::domain::SyncStatus::Synced) {
            return Err(Check::Stale(format!(
                "it has changed here since its last sync ({})",
                status.map_or("unknown", |st| st.as_str())
            )));
        }
        let base = state.and_then(|st| st.base_revision);
        if base != Some(before.revision()) {
            return Err(Check::Stale(format!(
                "it is at revision {} here, the patch applies to revision {}",
                base.map_or("none".to_string(), |b| b.to_string()),
                before.revision()
            )));
        }
    }
    if let Record::Generation(g) = before {
        if let Some(here) = s.generation_by_id(&id)?
            && matches!(ws.contract_file(&here)?, ContractFile::Edited(_))
        {
            return Err(Check::Stale(format!(
                "its contract file {} has edits not applied",
                ws.display_path(&ws.contract_path(&g.version))
            )));
        }
        let (in_use, unsynced) = s.generation_usage(&id)?;
        match &hunk.after {
            Some(Record::Generation(after)) => {
                if let Some(c) = in_use.iter().find(|c| after.change(c).is_none()) {
                    return Err(Check::Stale(format!(
                        "evolutions here prove change {c}, which it removes"
                    )));
                }
            }
            None if !in_use.is_empty() || unsynced > 0 => {
                return Err(Check::Stale(
                    "it has evolutions here; delete them first".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_patches_are_refused_with_the_line() {
        let cases = [
            ("", "not a gryt patch"),
            ("gryt-patch 2\n", "upgrade gryt"),
            ("gryt-patch 1\n+{}\n", "line 2: a record before the first"),
            (
                "gryt-patch 1\n@@ x\n+{\"kind\":\"generation\"}\n",
                "line 3: not a record",
            ),
            ("gryt-patch 1\n@@ x\n\n", "line 2: a hunk with no record"),
            (
                "gryt-patch 1\n@@ x\nrm -rf /\n",
                "line 3: not part of a gryt patch",
            ),
            (
                "gryt-patch 1\n@@ x\n+{\"kind\":\"deleted\",\"record\":{\"id\":\"00000000-0000-0000-0000-000000000001\",\"record_kind\":\"generation\",\"deleted_by\":\"a\",\"deleted_at\":\"2026-01-01T00:00:00Z\"}}\n",
                "line 3: a tombstone",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
