use super::super::error::CommandError;
use super::super::ui::{self, Ui};
use super::super::{version_arg, workspace};
use crate::domain::{ConflictReason as Reason, RecordKind};
use crate::domain::{SyncStatus, Version};
use crate::store::Conflict;
use crate::sync::SyncError;
use crate::sync::engine;
use crate::workspace::Workspace;

/// List conflicts a pull recorded (both sides changed, or the same version from elsewhere)
#[derive(Debug, clap::Args)]
pub struct ConflictsArgs {
    /// Include resolved conflicts
    #[arg(long)]
    pub all: bool,
}

/// Resolve a conflict: keep your local copy, take the cloud's, or rename your generation
///
/// keep-local: your copy stays and your next push overwrites the cloud's (changed-on-both-sides
/// conflicts only). keep-remote: your copy is replaced by the cloud's on the next pull. rename
/// --value VERSION: your generation moves to a free version and the cloud's comes in on the next
/// pull (same-version conflicts). `gryt generation delete VERSION --local-only` is the other way
/// out of a same-version conflict.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The conflict's number (gryt sync conflicts)
    pub id: i64,
    #[arg(long, value_enum)]
    pub strategy: Strategy,
    /// With rename: the new version for your generation
    #[arg(long, value_parser = version_arg)]
    pub value: Option<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    KeepLocal,
    KeepRemote,
    Rename,
}

fn s<T>(r: crate::store::Result<T>) -> Result<T, CommandError> {
    r.map_err(|e| SyncError::from(e).into())
}

pub fn cmd_conflicts(ui: &Ui, args: ConflictsArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let list = s(ws.store.conflicts(args.all))?;
    if ui.json {
        return ui.json(&list);
    }
    if list.is_empty() {
        ui.status("No conflicts");
        return Ok(());
    }
    let mut t = ui::table(&["id", "kind", "subject", "reason", "detected", "resolved"]);
    for c in &list {
        t.add_row(vec![
            c.id.to_string(),
            c.record_kind.to_string(),
            c.subject.clone(),
            c.reason.label(),
            c.detected_at.clone(),
            c.resolution.clone().unwrap_or_default(),
        ]);
    }
    ui.line(ui::render(&t))?;
    if list.iter().any(|c| c.resolution.is_none()) {
        ui.status(
            "Resolve one with `gryt sync resolve ID --strategy keep-local|keep-remote|rename`",
        );
    }
    Ok(())
}

pub fn cmd_resolve(ui: &Ui, args: ResolveArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let conflict = s(ws.store.conflicts(false))?
        .into_iter()
        .find(|c| c.id == args.id)
        .ok_or_else(|| {
            CommandError::user(format!("no open conflict #{}", args.id))
                .hint("list them with `gryt sync conflicts`")
        })?;
    let local_id = conflict
        .local_value
        .as_ref()
        .and_then(|v| v["record"]["id"].as_str())
        .map(str::to_string);
    let done = match (args.strategy, conflict.reason) {
        (Strategy::Rename, Reason::VersionTaken) => {
            rename(&ws, &conflict, local_id.as_deref(), args.value.as_ref())?
        }
        (Strategy::Rename, _) => {
            return Err(refuse(
                &conflict,
                "rename resolves same-version conflicts only",
            ));
        }
        (Strategy::KeepLocal, Reason::BothChanged | Reason::ChangesInUse) => {
            keep_local(&ws, &conflict, local_id.as_deref())?
        }
        (Strategy::KeepLocal, reason) => {
            return Err(
                refuse(&conflict, "your copy cannot win this one").hint(match reason {
                    Reason::VersionTaken => format!(
                        "rename yours (--strategy rename --value VERSION), or delete it: gryt generation delete {} --local-only",
                        conflict.subject
                    ),
                    Reason::MissingGeneration => {
                        "nothing of yours is at stake: it lands by itself when its generation arrives (gryt sync pull)".to_string()
                    }
                    _ => format!("the strategies that fit: {}", strategies(reason)),
                }),
            );
        }
        (Strategy::KeepRemote, Reason::VersionTaken) if local_id.is_none() => {
            set_aside_untracked(&ws, &conflict)?
        }
        (Strategy::KeepRemote, Reason::VersionTaken) => {
            return Err(refuse(&conflict, "the cloud's generation needs the version your local one holds")
                .hint(format!("rename yours: --strategy rename --value VERSION, or delete it: gryt generation delete {} --local-only", conflict.subject)));
        }
        (Strategy::KeepRemote, _) => keep_remote(&ws, &conflict, local_id.as_deref())?,
    };
    ui.line(done)?;
    if args.strategy == Strategy::KeepLocal {
        ui.status("Run `gryt sync push` to send your version");
    } else {
        ui.status("Run `gryt sync pull` to bring in the cloud's version, then `gryt sync push`");
    }
    Ok(())
}

/// The strategies `resolve` accepts for a conflict of this reason.
pub fn strategies(reason: Reason) -> &'static str {
    match reason {
        Reason::BothChanged | Reason::ChangesInUse => "keep-local|keep-remote",
        Reason::VersionTaken => "rename --value VERSION",
        Reason::DeletedRemotely | Reason::MissingGeneration | Reason::Refused => "keep-remote",
    }
}

fn refuse(c: &Conflict, why: &str) -> CommandError {
    CommandError::user(format!(
        "cannot resolve conflict #{} ({}, {}): {why}",
        c.id,
        c.subject,
        c.reason.label()
    ))
}

fn settle(ws: &Workspace, c: &Conflict, resolution: &str) -> Result<(), CommandError> {
    let now = crate::clock::now_string();
    s(ws.store.tx(|st| -> crate::store::Result<()> {
        st.resolve_conflict(c.id, resolution, &now)?;
        st.rewind_cursor(c.remote_seq)
    }))
}

/// Your generation moves to `value`; the cloud's comes in on the next pull.
fn rename(
    ws: &Workspace,
    c: &Conflict,
    local_id: Option<&str>,
    value: Option<&Version>,
) -> Result<String, CommandError> {
    let value =
        value.ok_or_else(|| CommandError::usage("--strategy rename needs --value VERSION"))?;
    let local_id =
        local_id.ok_or_else(|| refuse(c, "no local generation holds the version any more"))?;
    let version: Version = s(ws.store.version_of_generation(local_id))?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| refuse(c, "the local generation is gone"))?;
    crate::ops::generation::rename(ws, &version, value)?;
    s(ws.store
        .set_sync_status(RecordKind::Generation, local_id, SyncStatus::NotSynced))?;
    settle(ws, c, &format!("rename to {value}"))?;
    Ok(format!(
        "Renamed your {version} to {value}; the cloud's {version} comes in on the next pull"
    ))
}

/// Your copy stays; the next push overwrites the cloud's.
fn keep_local(
    ws: &Workspace,
    c: &Conflict,
    local_id: Option<&str>,
) -> Result<String, CommandError> {
    let local_id = local_id.unwrap_or(&c.record_id);
    let revision = c
        .remote_value
        .as_ref()
        .and_then(|v| v["record"]["revision"].as_u64())
        .unwrap_or(0);
    let now = crate::clock::now_string();
    s(ws.store.tx(|st| -> crate::store::Result<()> {
        st.mark_synced(c.record_kind, local_id, revision, &now)?;
        st.set_sync_status(c.record_kind, local_id, SyncStatus::Pending)?;
        // `gryt sync diff` shows the push against what the cloud holds now.
        if let Some(remote) = &c.remote_value {
            st.set_sync_base(
                c.record_kind,
                local_id,
                &engine::compared_fields(c.record_kind, &remote["record"]),
            )?;
        }
        st.resolve_conflict(c.id, "keep-local", &now)
    }))?;
    Ok(format!(
        "Kept your {}; `gryt sync push` sends it over the cloud's",
        c.subject
    ))
}

/// Your copy is marked unchanged at the revision before the cloud's, so the next pull takes
/// the cloud's (a contract file with unapplied edits is rewritten from the database first).
fn keep_remote(
    ws: &Workspace,
    c: &Conflict,
    local_id: Option<&str>,
) -> Result<String, CommandError> {
    let Some(local_id) = local_id else {
        settle(ws, c, "keep-remote")?;
        return Ok(format!(
            "The cloud's {} comes in on the next pull",
            c.subject
        ));
    };
    let revision = c
        .remote_value
        .as_ref()
        .and_then(|v| v["record"]["revision"].as_u64())
        .unwrap_or(1);
    if c.record_kind == RecordKind::Generation
        && let Some(g) = s(ws.store.generation_by_id(local_id))?
    {
        let text = crate::contract::render(&g.contract);
        let path = ws.contract_path(g.version());
        crate::workspace::write_atomic(&path, text.as_bytes())
            .map_err(|e| CommandError::user(format!("cannot write {}: {e}", path.display())))?;
        s(ws.store
            .set_file_hash(local_id, &crate::workspace::bytes_hash(text.as_bytes())))?;
    }
    let now = crate::clock::now_string();
    s(ws.store.tx(|st| -> crate::store::Result<()> {
        st.mark_synced(c.record_kind, local_id, revision.saturating_sub(1), &now)?;
        st.resolve_conflict(c.id, "keep-remote", &now)?;
        st.rewind_cursor(c.remote_seq)
    }))?;
    Ok(format!(
        "Your {} will be replaced by the cloud's on the next pull",
        c.subject
    ))
}

/// The version is held here only by a contract file the database does not know (say, one
/// committed to git that differs from the cloud's): it moves to .gryt/backups/ and the
/// cloud's generation comes in on the next pull.
fn set_aside_untracked(ws: &Workspace, c: &Conflict) -> Result<String, CommandError> {
    let version: Version = c
        .subject
        .parse()
        .map_err(|_| refuse(c, "the conflict does not name a version"))?;
    let path = ws.contract_path(&version);
    let backup = ws.dir().join("backups").join(format!(
        "{}.{}",
        version.file_name(),
        crate::clock::now_string().replace(':', "")
    ));
    if path.exists() {
        std::fs::create_dir_all(backup.parent().expect("backups dir"))
            .and_then(|()| std::fs::rename(&path, &backup))
            .map_err(|e| {
                CommandError::user(format!("cannot move {} aside: {e}", path.display()))
            })?;
    }
    settle(ws, c, "keep-remote (file set aside)")?;
    Ok(format!(
        "Moved {} to {}; the cloud's {version} comes in on the next pull",
        ws.display_path(&path),
        ws.display_path(&backup)
    ))
}
