//! Settling a conflict a pull recorded: keep your copy, take the cloud's, merge the two (a
//! draft generation changed on both sides), or move your generation to another version. Each strategy fits some conflict reasons only; one that does
//! not fit is refused and changes nothing.
//!
//! Invariants: a settled conflict is marked resolved in the same transaction that changes the
//! record's sync state. When the cloud's value must still come in, it waits in the conflict
//! row and the next pull applies it; the cursor never moves back (a push right after a
//! resolution is not `behind`).

use std::path::PathBuf;

use crate::api::records::Record;
use crate::domain::{ConflictReason as Reason, RecordKind, SyncStatus, Version};
use crate::ops::OpError;
use crate::store::{Conflict, StoreError};
use crate::sync::merge::{FieldConflict, MergeError};
use crate::workspace::{IoError, Workspace, io};

/// How to settle a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Your copy stays; the next push sends it over the cloud's.
    KeepLocal,
    /// The cloud's copy replaces yours on the next pull.
    KeepRemote,
    /// Your generation moves to another version (same-version conflicts).
    Rename,
    /// A record the cloud refused for good is deleted here (an evolution, with its runs).
    Discard,
    /// A record the cloud refused for good stays here and is never pushed.
    LocalOnly,
    /// A draft generation changed on both sides: the three-way merge against the last synced
    /// value (`sync::merge`) becomes your copy, and the next push sends it.
    Merge,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::KeepLocal => "keep-local",
            Strategy::KeepRemote => "keep-remote",
            Strategy::Rename => "rename",
            Strategy::Discard => "discard",
            Strategy::LocalOnly => "local-only",
            Strategy::Merge => "merge",
        }
    }
}

/// What a resolution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Your generation `from` is now `to`; the cloud's `from` comes in on the next pull.
    Renamed { from: Version, to: Version },
    /// Your copy of `subject` stays and the next push sends it.
    KeptLocal { subject: String },
    /// Your copy of `subject` is replaced by the cloud's on the next pull — or, when the
    /// cloud deleted the record, `deleted` on the next pull. Edits of its contract file that
    /// were never applied were moved to `backup`.
    KeptRemote {
        subject: String,
        deleted: bool,
        backup: Option<PathBuf>,
    },
    /// Nothing of yours held `subject`: the cloud's comes in on the next pull.
    CloudComesIn { subject: String },
    /// The refused `subject` was deleted here.
    Discarded { subject: String },
    /// The refused `subject` stays here, never pushed.
    KeptLocalOnly { subject: String },
    /// Your `subject` is now the merge of yours and the cloud's; the next push sends it.
    /// `from_cloud`: the fields the cloud's copy brought (`description`, `changes.FEAT-2`, …).
    Merged {
        subject: String,
        from_cloud: Vec<String>,
    },
    /// A contract file the database did not know held `version`: it was moved to `backup`.
    SetAside {
        version: Version,
        path: PathBuf,
        backup: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no open conflict #{0}")]
    NotFound(i64),
    #[error("cannot resolve conflict #{id} ({subject}, {}): {why}", reason.label())]
    Refused {
        id: i64,
        subject: String,
        kind: RecordKind,
        reason: Reason,
        strategy: Strategy,
        why: &'static str,
    },
    #[error("renaming needs the new version")]
    NeedsVersion,
    #[error("cannot merge conflict #{id} ({subject}): {why}")]
    CannotMerge {
        id: i64,
        subject: String,
        why: String,
    },
    #[error(
        "cannot merge conflict #{id} ({subject}): {} changed differently on both sides",
        match conflicts.len() { 1 => "1 field".to_string(), n => format!("{n} fields") }
    )]
    MergeConflicts {
        id: i64,
        subject: String,
        conflicts: Vec<FieldConflict>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T> = std::result::Result<T, ResolveError>;

/// The strategies that fit a conflict of this reason about a record of this kind (as
/// `resolve` takes them).
pub fn strategies(kind: RecordKind, reason: Reason) -> &'static str {
    match reason {
        Reason::BothChanged if kind == RecordKind::Generation => "keep-local|keep-remote|merge",
        Reason::BothChanged | Reason::ChangesInUse => "keep-local|keep-remote",
        Reason::VersionTaken => "rename --value VERSION",
        Reason::DeletedRemotely | Reason::MissingGeneration => "keep-remote",
        Reason::Refused => "discard|local-only",
    }
}

/// Settles open conflict `id` with `strategy` (`value`: the new version, for rename).
pub fn resolve(
    ws: &Workspace,
    id: i64,
    strategy: Strategy,
    value: Option<&Version>,
) -> Result<Resolved> {
    let conflict = ws
        .store
        .conflicts(false)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(ResolveError::NotFound(id))?;
    let c = &conflict;
    let local_id = c
        .local_value
        .as_ref()
        .and_then(|v| v["record"]["id"].as_str())
        .map(str::to_string);
    let refuse = |why| refuse(c, strategy, why);
    // A conflict an import recorded (`gryt import`: its records carry no cloud seq, unlike
    // a pulled record; a push the cloud refused records no incoming value at all) is about a
    // record that was not taken; yours was left as it was.
    if c.remote_seq == 0 && c.remote_value.is_some() && c.reason != Reason::Refused {
        return match strategy {
            Strategy::KeepLocal => {
                let now = crate::clock::now_string();
                ws.store.resolve_conflict(c.id, "keep-local", &now)?;
                Ok(Resolved::KeptLocal {
                    subject: c.subject.clone(),
                })
            }
            _ => Err(refuse(
                "an import recorded it: keep yours (keep-local), or move or delete yours and import again",
            )),
        };
    }
    match (strategy, c.reason) {
        (Strategy::Discard, Reason::Refused) => discard(ws, c),
        (Strategy::LocalOnly, Reason::Refused) => {
            let now = crate::clock::now_string();
            ws.store.resolve_conflict(c.id, "local-only", &now)?;
            Ok(Resolved::KeptLocalOnly {
                subject: c.subject.clone(),
            })
        }
        (Strategy::Discard | Strategy::LocalOnly, _) => Err(refuse(
            "discard and local-only settle records the cloud refused for good only",
        )),
        (_, Reason::Refused) => Err(refuse(
            "the cloud will never take this record as it is: discard it or keep it local only",
        )),
        (Strategy::Rename, Reason::VersionTaken) => rename(ws, c, local_id.as_deref(), value),
        (Strategy::Rename, _) => Err(refuse("rename resolves same-version conflicts only")),
        (Strategy::Merge, Reason::BothChanged) if c.record_kind == RecordKind::Generation => {
            merge(ws, c, local_id.as_deref(), false)
        }
        (Strategy::Merge, _) => Err(refuse(
            "merge combines a draft generation changed on both sides only (a promoted generation never changes; evolutions and runs are settled with keep-local or keep-remote)",
        )),
        (Strategy::KeepLocal, Reason::BothChanged | Reason::ChangesInUse) => {
            keep_local(ws, c, local_id.as_deref())
        }
        (Strategy::KeepLocal, _) => Err(refuse("your copy cannot win this one")),
        (Strategy::KeepRemote, Reason::VersionTaken) if local_id.is_none() => {
            set_aside_untracked(ws, c)
        }
        (Strategy::KeepRemote, Reason::VersionTaken) => Err(refuse(
            "the cloud's generation needs the version your local one holds",
        )),
        (Strategy::KeepRemote, _) => keep_remote(ws, c, local_id.as_deref()),
    }
}

/// A refused evolution is deleted here with its runs, in one transaction with the
/// resolution. Other kinds are not deleted by sync: keep them local only.
fn discard(ws: &Workspace, c: &Conflict) -> Result<Resolved> {
    if c.record_kind != RecordKind::Evolution {
        return Err(refuse(
            c,
            Strategy::Discard,
            "only an evolution can be discarded; keep this one local only (--strategy local-only)",
        ));
    }
    let now = crate::clock::now_string();
    ws.store.tx(|st| -> crate::store::Result<()> {
        st.delete_evolution(&c.record_id)?;
        st.resolve_conflict(c.id, "discard", &now)
    })?;
    Ok(Resolved::Discarded {
        subject: c.subject.clone(),
    })
}

fn refuse(c: &Conflict, strategy: Strategy, why: &'static str) -> ResolveError {
    ResolveError::Refused {
        id: c.id,
        subject: c.subject.clone(),
        kind: c.record_kind,
        reason: c.reason,
        strategy,
        why,
    }
}

fn settle(ws: &Workspace, c: &Conflict, resolution: &str) -> Result<()> {
    let now = crate::clock::now_string();
    Ok(ws.store.settle_for_remote(c.id, resolution, &now)?)
}

/// Your generation moves to `value`; the cloud's comes in on the next pull.
fn rename(
    ws: &Workspace,
    c: &Conflict,
    local_id: Option<&str>,
    value: Option<&Version>,
) -> Result<Resolved> {
    let value = value.ok_or(ResolveError::NeedsVersion)?;
    let local_id = local_id.ok_or_else(|| {
        refuse(
            c,
            Strategy::Rename,
            "no local generation holds the version any more",
        )
    })?;
    let version: Version = ws
        .store
        .version_of_generation(local_id)?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| refuse(c, Strategy::Rename, "the local generation is gone"))?;
    crate::ops::generation::rename(ws, &version, value)?;
    ws.store
        .set_sync_status(RecordKind::Generation, local_id, SyncStatus::NotSynced)?;
    settle(ws, c, &format!("rename to {value}"))?;
    Ok(Resolved::Renamed {
        from: version,
        to: value.clone(),
    })
}

/// Your copy stays; the next push overwrites the cloud's.
fn keep_local(ws: &Workspace, c: &Conflict, local_id: Option<&str>) -> Result<Resolved> {
    let local_id = local_id.unwrap_or(&c.record_id);
    let revision = c
        .remote_value
        .as_ref()
        .and_then(|v| v["record"]["revision"].as_u64())
        .unwrap_or(0);
    let now = crate::clock::now_string();
    ws.store.tx(|st| -> crate::store::Result<()> {
        st.mark_synced(c.record_kind, local_id, revision, &now)?;
        st.set_sync_status(c.record_kind, local_id, SyncStatus::Pending)?;
        if let Some(remote) = &c.remote_value {
            // Who made a record is the cloud's word and an update never changes it: without
            // this, a copy that took this account's name (pushed as new to another project
            // before a relink back) would differ from the cloud's forever.
            let author = ["created_by", "owner", "started_by"]
                .iter()
                .find_map(|k| remote["record"][k].as_str())
                .filter(|a| !a.is_empty());
            if let Some(author) = author {
                st.set_record_author(c.record_kind, local_id, author)?;
            }
            // `gryt sync diff` shows the push against what the cloud holds now.
            st.set_sync_base(
                c.record_kind,
                local_id,
                &super::compared_fields(c.record_kind, &remote["record"]),
            )?;
        }
        st.resolve_conflict(c.id, "keep-local", &now)
    })?;
    Ok(Resolved::KeptLocal {
        subject: c.subject.clone(),
    })
}

/// Your copy is marked unchanged at the revision before the cloud's, so the next pull takes
/// the cloud's (a contract file with unapplied edits is rewritten from the database first).
fn keep_remote(ws: &Workspace, c: &Conflict, local_id: Option<&str>) -> Result<Resolved> {
    let Some(local_id) = local_id else {
        settle(ws, c, "keep-remote")?;
        return Ok(Resolved::CloudComesIn {
            subject: c.subject.clone(),
        });
    };
    let revision = c
        .remote_value
        .as_ref()
        .and_then(|v| v["record"]["revision"].as_u64())
        .unwrap_or(1);
    let mut backup = None;
    if c.record_kind == RecordKind::Generation
        && let Some(g) = ws.store.generation_by_id(local_id)?
    {
        let text = crate::contract::render(&g.contract);
        let path = ws.contract_path(g.version());
        // Edits never applied to the database exist only in the file: keep them.
        let edited = matches!(
            ws.contract_file(&g),
            Ok(crate::workspace::ContractFile::Edited(_))
        );
        if edited {
            backup = Some(move_to_backups(ws, &path, g.version())?);
        }
        crate::workspace::write_atomic(&path, text.as_bytes()).map_err(io("write", &path))?;
        ws.store
            .set_file_hash(local_id, &crate::workspace::bytes_hash(text.as_bytes()))?;
    }
    let now = crate::clock::now_string();
    ws.store.tx(|st| -> crate::store::Result<()> {
        st.mark_synced(c.record_kind, local_id, revision.saturating_sub(1), &now)?;
        st.settle_for_remote(c.id, "keep-remote", &now)
    })?;
    Ok(Resolved::KeptRemote {
        subject: c.subject.clone(),
        deleted: c.reason == Reason::DeletedRemotely,
        backup,
    })
}

/// The version is held here only by a contract file the database does not know (say, one
/// committed to git that differs from the cloud's): it moves to .gryt/backups/ and the
/// cloud's generation comes in on the next pull.
fn set_aside_untracked(ws: &Workspace, c: &Conflict) -> Result<Resolved> {
    let version: Version = c.subject.parse().map_err(|_| {
        refuse(
            c,
            Strategy::KeepRemote,
            "the conflict does not name a version",
        )
    })?;
    let path = ws.contract_path(&version);
    let backup = match path.exists() {
        true => move_to_backups(ws, &path, &version)?,
        false => backup_path(ws, &version),
    };
    settle(ws, c, "keep-remote (file set aside)")?;
    Ok(Resolved::SetAside {
        version,
        path,
        backup,
    })
}

/// Where a contract file of `version` set aside now goes: `.gryt/backups/vX.Y.Z.yaml.<time>`.
fn backup_path(ws: &Workspace, version: &Version) -> PathBuf {
    ws.dir().join("backups").join(format!(
        "{}.{}",
        version.file_name(),
        crate::clock::now_string().replace(':', "")
    ))
}

/// Moves the contract file at `path` to `.gryt/backups/`; returns where it went.
fn move_to_backups(ws: &Workspace, path: &std::path::Path, version: &Version) -> Result<PathBuf> {
    let backup = backup_path(ws, version);
    std::fs::create_dir_all(backup.parent().expect("backups dir"))
        .and_then(|()| std::fs::rename(path, &backup))
        .map_err(io("move aside", path))?;
    Ok(backup)
}

/// Who settled a conflict without being asked: a pull with `sync.auto_resolve merge`.
pub const AUTO: &str = "auto";

/// Settles open conflict `c` with the merge, for a pull with `sync.auto_resolve merge`:
/// `Ok(None)` when it does not merge cleanly (it stays open, as it was).
pub fn auto_merge(ws: &Workspace, c: &Conflict) -> Result<Option<Resolved>> {
    if c.reason != Reason::BothChanged
        || c.record_kind != RecordKind::Generation
        || c.remote_seq == 0
    {
        return Ok(None);
    }
    let local_id = c
        .local_value
        .as_ref()
        .and_then(|v| v["record"]["id"].as_str())
        .map(str::to_string);
    match merge(ws, c, local_id.as_deref(), true) {
        Ok(done) => Ok(Some(done)),
        Err(
            ResolveError::CannotMerge { .. }
            | ResolveError::MergeConflicts { .. }
            | ResolveError::Refused { .. },
        ) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The three-way merge of your draft and the cloud's against what the cloud held when it was
/// last in sync here. Clean, it becomes your copy (database and contract file) on top of the
/// cloud's revision, as keep-local would leave it: the next push sends it. Not clean, nothing
/// changes and the conflicting fields are the error.
fn merge(ws: &Workspace, c: &Conflict, local_id: Option<&str>, auto: bool) -> Result<Resolved> {
    let cannot = |why: String| ResolveError::CannotMerge {
        id: c.id,
        subject: c.subject.clone(),
        why,
    };
    let local_id = local_id.unwrap_or(&c.record_id);
    let g = ws
        .store
        .generation_by_id(local_id)?
        .ok_or_else(|| cannot("your generation is gone".into()))?;
    let remote = match c.remote_value.clone().map(serde_json::from_value::<Record>) {
        Some(Ok(Record::Generation(r))) => r,
        _ => return Err(cannot("the cloud's copy is not a generation".into())),
    };
    let Record::Generation(mut local) =
        crate::sync::convert::generation(&g, None).map_err(|e| cannot(e.to_string()))?
    else {
        return Err(cannot("your copy is not a generation".into()));
    };
    // Unapplied edits of the contract file are yours too: they are what is merged.
    let file = ws.contract_file(&g).map_err(|e| cannot(e.to_string()))?;
    let file_edited = match file {
        crate::workspace::ContractFile::Edited(Ok(contract)) => {
            local.description = contract.description;
            local.pipeline_template = contract.pipeline_template;
            local.changes = contract.changes;
            true
        }
        crate::workspace::ContractFile::Edited(Err(e)) => {
            return Err(cannot(format!(
                "its contract file does not load ({}); fix it, or apply it with `gryt generation update {}`",
                e.relative_to(&ws.root),
                g.version()
            )));
        }
        _ => false,
    };
    let base = match ws.store.sync_base(RecordKind::Generation, local_id)? {
        Some(base) => base,
        // Only the file was edited: the database still holds what was last synced.
        None if file_edited => {
            let here =
                crate::sync::convert::generation(&g, None).map_err(|e| cannot(e.to_string()))?;
            super::compared_fields(
                RecordKind::Generation,
                &serde_json::to_value(here).unwrap_or_default()["record"],
            )
        }
        None => {
            return Err(cannot(
                "what the cloud held when it was last in sync here is not known (edited before this workspace kept it): keep-local or keep-remote".into(),
            ));
        }
    };
    let (in_use, _) = ws.store.generation_usage(local_id)?;
    let merged = match crate::sync::merge::merge_generation(&base, &local, &remote, &in_use) {
        Ok(m) => m,
        Err(MergeError::Conflicts(conflicts)) => {
            return Err(ResolveError::MergeConflicts {
                id: c.id,
                subject: c.subject.clone(),
                conflicts,
            });
        }
        Err(MergeError::NotDraft { local, remote }) => {
            return Err(cannot(format!(
                "only drafts merge (yours is {local}, the cloud's is {remote}); a promoted generation never changes: keep-remote"
            )));
        }
        Err(MergeError::Invalid(why)) => {
            return Err(cannot(format!("the merged contract is not valid: {why}")));
        }
    };
    let mine = super::compared_fields(
        RecordKind::Generation,
        &serde_json::to_value(&local).unwrap_or_default(),
    );
    let result = super::compared_fields(
        RecordKind::Generation,
        &serde_json::to_value(crate::api::records::GenerationRecord {
            description: merged.description.clone(),
            pipeline_template: merged.pipeline_template.clone(),
            changes: merged.changes.clone(),
            ..local.clone()
        })
        .unwrap_or_default(),
    );
    let from_cloud = super::diff::compare(RecordKind::Generation, Some(&mine), Some(&result))
        .into_iter()
        .map(|f| f.field)
        .collect();
    let text = crate::contract::render(&merged);
    let file_hash = crate::workspace::bytes_hash(text.as_bytes());
    let path = ws.contract_path(g.version());
    let revision = remote.revision;
    let now = crate::clock::now_string();
    let resolution = if auto { "merge (auto)" } else { "merge" };
    ws.store.tx(|st| -> Result<()> {
        st.replace_contract(local_id, &merged, &now, &file_hash)?;
        st.mark_synced(RecordKind::Generation, local_id, revision, &now)?;
        st.set_sync_status(RecordKind::Generation, local_id, SyncStatus::Pending)?;
        if !remote.created_by.is_empty() {
            st.set_record_author(RecordKind::Generation, local_id, &remote.created_by)?;
        }
        let remote_value = serde_json::to_value(&remote).unwrap_or_default();
        st.set_sync_base(
            RecordKind::Generation,
            local_id,
            &super::compared_fields(RecordKind::Generation, &remote_value),
        )?;
        st.resolve_conflict(c.id, resolution, &now)?;
        if auto {
            st.set_conflict_resolved_by(c.id, AUTO)?;
        }
        st.audit(
            &now,
            if auto { AUTO } else { ws.user() },
            "generation.merged",
            &c.subject,
            serde_json::json!({"conflict": c.id, "from_cloud": &from_cloud}),
        )?;
        // The transaction commits only once the file is on disk.
        crate::workspace::write_atomic(&path, text.as_bytes())
            .map_err(crate::workspace::io("write", &path))?;
        Ok(())
    })?;
    Ok(Resolved::Merged {
        subject: c.subject.clone(),
        from_cloud,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_offered_for_generations_changed_on_both_sides_only() {
        assert_eq!(
            strategies(RecordKind::Generation, Reason::BothChanged),
            "keep-local|keep-remote|merge"
        );
        for kind in [RecordKind::Evolution, RecordKind::PipelineRun] {
            assert_eq!(
                strategies(kind, Reason::BothChanged),
                "keep-local|keep-remote"
            );
        }
        for reason in [
            Reason::ChangesInUse,
            Reason::VersionTaken,
            Reason::DeletedRemotely,
            Reason::MissingGeneration,
            Reason::Refused,
        ] {
            assert!(
                !strategies(RecordKind::Generation, reason).contains("merge"),
                "{reason:?}"
            );
        }
    }
}
