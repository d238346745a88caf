//! `gryt sync conflicts` and `gryt sync resolve`: list what a pull recorded, and settle one
//! conflict through the engine (`sync::engine::resolve`).

use super::super::error::CommandError;
use super::super::ui::{self, Ui};
use super::super::{version_arg, workspace};
use crate::domain::Version;
use crate::sync::SyncError;
use crate::sync::engine::resolve::{self as engine, Resolved};

/// List conflicts a pull recorded (both sides changed, or the same version from elsewhere)
#[derive(Debug, clap::Args)]
pub struct ConflictsArgs {
    /// Include resolved conflicts
    #[arg(long)]
    pub all: bool,
}

/// Resolve a conflict: keep your local copy, take the cloud's, merge them, or rename your
/// generation
///
/// keep-local: your copy stays and your next push overwrites the cloud's (changed-on-both-sides
/// conflicts only). merge: a draft generation changed on both sides becomes the three-way merge
/// of yours and the cloud's against the last synced copy (changes added on either side are
/// kept, a field changed on one side takes that side); your contract file is rewritten and your
/// next push sends it. A field changed differently on both sides is not merged: nothing changes,
/// the fields are listed, and the command fails. keep-remote: your copy is replaced by the cloud's on the next pull (or
/// deleted, when the cloud deleted it; unapplied edits of its contract file are moved to
/// .gryt/backups/). rename
/// --value VERSION: your generation moves to a free version and the cloud's comes in on the next
/// pull (same-version conflicts). `gryt generation delete VERSION --local-only` is the other way
/// out of a same-version conflict. A record the cloud refused for good (refused): discard
/// deletes it here (an evolution, with its runs); local-only keeps it here, never pushed.
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
    Discard,
    LocalOnly,
    Merge,
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
            match (&c.resolution, &c.resolved_by) {
                (Some(r), Some(by)) if !r.contains(by.as_str()) => format!("{r} (by {by})"),
                (r, _) => r.clone().unwrap_or_default(),
            },
        ]);
    }
    ui.line(ui::render(&t))?;
    if list.iter().any(|c| c.resolution.is_none()) {
        ui.status(
            "Resolve one with `gryt sync resolve ID --strategy keep-local|keep-remote|merge|rename`",
        );
    }
    Ok(())
}

pub fn cmd_resolve(ui: &Ui, args: ResolveArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let strategy = match args.strategy {
        Strategy::KeepLocal => engine::Strategy::KeepLocal,
        Strategy::KeepRemote => engine::Strategy::KeepRemote,
        Strategy::Rename => engine::Strategy::Rename,
        Strategy::Discard => engine::Strategy::Discard,
        Strategy::LocalOnly => engine::Strategy::LocalOnly,
        Strategy::Merge => engine::Strategy::Merge,
    };
    let done = engine::resolve(&ws, args.id, strategy, args.value.as_ref())?;
    let deletion = matches!(done, Resolved::KeptRemote { deleted: true, .. });
    ui.line(match done {
        Resolved::Renamed { from, to } => {
            format!("Renamed your {from} to {to}; the cloud's {from} comes in on the next pull")
        }
        Resolved::KeptLocal { subject } => {
            format!("Kept your {subject}; `gryt sync push` sends it over the cloud's")
        }
        Resolved::KeptRemote {
            subject,
            deleted,
            backup,
        } => {
            let what = match deleted {
                true => format!("Your {subject} will be deleted on the next pull, as in the cloud"),
                false => format!("Your {subject} will be replaced by the cloud's on the next pull"),
            };
            match backup {
                Some(b) => format!(
                    "{what}; the unapplied edits of its contract file were moved to {}",
                    ws.display_path(&b)
                ),
                None => what,
            }
        }
        Resolved::CloudComesIn { subject } => {
            format!("The cloud's {subject} comes in on the next pull")
        }
        Resolved::Discarded { subject } => format!("Discarded your {subject}"),
        Resolved::KeptLocalOnly { subject } => {
            format!("Kept your {subject} here only; it is never pushed")
        }
        Resolved::Merged {
            subject,
            from_cloud,
        } => match from_cloud.is_empty() {
            true => format!("Merged your {subject} with the cloud's (nothing new from the cloud)"),
            false => format!(
                "Merged your {subject} with the cloud's; from the cloud: {}",
                from_cloud.join(", ")
            ),
        },
        Resolved::SetAside {
            version,
            path,
            backup,
        } => format!(
            "Moved {} to {}; the cloud's {version} comes in on the next pull",
            ws.display_path(&path),
            ws.display_path(&backup)
        ),
    })?;
    if args.strategy == Strategy::KeepLocal {
        ui.status("Run `gryt sync push` to send your version");
    } else if args.strategy == Strategy::Merge {
        ui.status("Run `gryt sync push` to send the merge");
    } else if matches!(args.strategy, Strategy::Discard | Strategy::LocalOnly) {
        ui.status("Run `gryt sync` to send the rest");
    } else if deletion {
        ui.status("Run `gryt sync pull` to bring in the deletion");
    } else {
        ui.status("Run `gryt sync pull` to bring in the cloud's version, then `gryt sync push`");
    }
    Ok(())
}
