//! Sync errors: the engine's, conflict resolution's, and a cloud promotion's or a
//! version-scoped push's refusal, with the way out of each.

use super::{CommandError, ExitKind};
use crate::cli::ui::Ui;
use crate::domain::ConflictReason;
use crate::ops::OpError;
use crate::store::Conflict;
use crate::sync::SyncError;
use crate::sync::engine::promote::{self, PromoteError};
use crate::sync::engine::resolve::{self, ResolveError, Strategy};
use crate::workspace::Workspace;

/// A failed cloud promotion (or push) as the error to exit with, with the way out of each
/// refusal.
pub fn promote_error(ui: &Ui, ws: &Workspace, e: PromoteError) -> CommandError {
    use PromoteError as E;
    let message = e.to_string();
    match e {
        E::Sync(e) => e.into(),
        E::Op(e) => e.into(),
        E::HeldBack { conflicts } => held_back(ui, ws, &conflicts),
        E::AlreadyPromoted { free, pulled, .. } => {
            let mut err = CommandError::new(ExitKind::Rejected, message);
            if !pulled {
                err = err.hint("bring their promotion in: gryt sync pull");
            }
            match free.split_first() {
                Some((first, rest)) => err.hint(format!(
                    "release your work as another version: gryt generation new {first}{}",
                    rest.iter()
                        .map(|v| format!(" (or {v})"))
                        .collect::<String>()
                )),
                None => err,
            }
        }
        E::NotInCloud(_) => CommandError::user(message),
    }
}

/// Records in conflict are never pushed: say which, who holds what, and how to get out.
fn held_back(ui: &Ui, ws: &Workspace, conflicts: &[Conflict]) -> CommandError {
    let subjects: Vec<&str> = conflicts.iter().map(|c| c.subject.as_str()).collect();
    let mut err = CommandError::new(
        ExitKind::Rejected,
        format!(
            "not pushed, in conflict with the cloud: {}",
            ui.list(&subjects)
        ),
    );
    for c in conflicts {
        let remote = c.remote_value.as_ref().map(|v| &v["record"]);
        if c.reason == ConflictReason::VersionTaken {
            let by = remote
                .and_then(|r| r["created_by"].as_str())
                .unwrap_or("someone");
            let at = remote.and_then(|r| r["created_at"].as_str()).unwrap_or("");
            let holder = match remote.filter(|r| r["status"] == "promoted") {
                Some(r) => format!(
                    "{} is already promoted in the cloud by {} at {}",
                    c.subject,
                    r["promoted_by"].as_str().unwrap_or(by),
                    r["promoted_at"].as_str().unwrap_or(at),
                ),
                None => format!("{} is held in the cloud by {by} (created {at})", c.subject),
            };
            if c.local_value.is_none() {
                // Only a contract file the database does not know holds the version here:
                // there is no generation to rename.
                err = err.hint(format!(
                    "{holder}; your contract file of {} is not in the database: set it aside with gryt sync resolve {} --strategy keep-remote",
                    c.subject, c.id
                ));
                continue;
            }
            let free: Vec<String> = promote::free_versions(ws, &c.subject)
                .iter()
                .map(ToString::to_string)
                .collect();
            err = err.hint(format!(
                "{holder}; rename yours: gryt generation rename {} {}",
                c.subject,
                free.join(" (or ") + if free.len() > 1 { ")" } else { "" },
            ));
        } else {
            let why = match &c.error {
                Some(error) => format!("{} ({error})", c.reason.label()),
                None => c.reason.label(),
            };
            err = err.hint(format!(
                "{}: {why}; resolve it: gryt sync resolve {} --strategy {}",
                c.subject,
                c.id,
                resolve::strategies(c.reason),
            ));
        }
    }
    err
}

impl From<SyncError> for CommandError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Client(c) => c.into(),
            SyncError::Store(s) => OpError::from(s).into(),
            SyncError::Workspace(w) => w.into(),
            e @ SyncError::Locked { .. } => CommandError::user(e.to_string())
                .hint("wait for it to finish, then run the command again"),
            other => CommandError::user(other.to_string()),
        }
    }
}

impl From<ResolveError> for CommandError {
    fn from(e: ResolveError) -> Self {
        let message = e.to_string();
        match e {
            ResolveError::NotFound(_) => {
                CommandError::user(message).hint("list them with `gryt sync conflicts`")
            }
            ResolveError::NeedsVersion => {
                CommandError::usage("--strategy rename needs --value VERSION")
            }
            ResolveError::Refused {
                subject,
                reason,
                strategy,
                ..
            } => {
                let err = CommandError::user(message);
                let delete = format!("gryt generation delete {subject} --local-only");
                match (strategy, reason) {
                    (Strategy::KeepLocal, ConflictReason::VersionTaken) => err.hint(format!(
                        "rename yours (--strategy rename --value VERSION), or delete it: {delete}"
                    )),
                    (Strategy::KeepLocal, ConflictReason::MissingGeneration) => err.hint(
                        "nothing of yours is at stake: it lands by itself when its generation arrives (gryt sync pull)",
                    ),
                    (Strategy::KeepLocal, reason) => err.hint(format!(
                        "the strategies that fit: {}",
                        resolve::strategies(reason)
                    )),
                    (Strategy::KeepRemote, ConflictReason::VersionTaken) => err.hint(format!(
                        "rename yours: --strategy rename --value VERSION, or delete it: {delete}"
                    )),
                    _ => err,
                }
            }
            ResolveError::Store(s) => SyncError::from(s).into(),
            ResolveError::Op(o) => o.into(),
            ResolveError::Io(_) => CommandError::user(message),
        }
    }
}
