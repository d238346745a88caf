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
/// refusal. Local promotions a push left out exit 3 too: not everything was pushed.
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
        E::NotPublished {
            unpublished,
            refused,
        } => not_published(&message, &unpublished, &refused),
    }
}

/// Local promotions left out of a push (exit 3): how to publish them, or why the cloud would
/// not, and the way on. Nothing of them changed here.
fn not_published(
    message: &str,
    unpublished: &[String],
    refused: &[crate::sync::engine::PublishRefused],
) -> CommandError {
    use crate::api::ErrorCode;
    use crate::api::error::VersionHolderDetails;
    let mut err = CommandError::new(ExitKind::Rejected, message);
    if !unpublished.is_empty() {
        err = err.hint(format!(
            "publish {}: gryt sync push --promoted (the cloud takes a release if its version is free there and its evolutions prove every change)",
            if unpublished.len() == 1 { "it" } else { "them" }
        ));
    }
    for r in refused {
        let v = &r.version;
        match r.refusal.error {
            ErrorCode::VersionExists => {
                if let Some(d) = r.refusal.details_as::<VersionHolderDetails>() {
                    err = err.hint(super::cloud::holder(r.refusal.error, &d));
                    let free = d.suggested_versions.join(" (or ");
                    let close = if d.suggested_versions.len() > 1 {
                        ")"
                    } else {
                        ""
                    };
                    err = err.hint(format!(
                        "{v} stays promoted here, never published; to release its work in the cloud, make a free version and prove it there: gryt generation new {free}{close}"
                    ));
                }
            }
            _ => {
                err = err.hint(format!(
                    "the cloud judges the gates on the evolutions sent with {v}: every change needs a passing one here; {v} stays promoted here, never published"
                ));
            }
        }
    }
    err
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
            let local = c.local_value.as_ref().map(|v| &v["record"]);
            if local.is_some_and(|r| r["status"] == "promoted") {
                // Promoted here before it was ever synced: it cannot be renamed.
                err = err.hint(format!(
                    "{holder}; yours is promoted here and stays so, never published; to release its work in the cloud, make a free version and prove it there: gryt generation new {}",
                    free.join(" (or ") + if free.len() > 1 { ")" } else { "" },
                ));
                continue;
            }
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
                resolve::strategies(c.record_kind, c.reason),
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
            e @ SyncError::NotInCloud(_) => CommandError::user(e.to_string())
                .hint("see the versions the cloud holds with `gryt sync pull --dry-run`"),
            e @ SyncError::NeedsFullPull(_) => {
                CommandError::user(e.to_string()).hint("run `gryt sync pull` without versions")
            }
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
                kind,
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
                        resolve::strategies(kind, reason)
                    )),
                    (Strategy::KeepRemote, ConflictReason::VersionTaken) => err.hint(format!(
                        "rename yours: --strategy rename --value VERSION, or delete it: {delete}"
                    )),
                    _ => err,
                }
            }
            ResolveError::CannotMerge { .. } => CommandError::user(message)
                .hint("settle it with --strategy keep-local or --strategy keep-remote"),
            ResolveError::MergeConflicts { conflicts, .. } => {
                let mut message = message;
                for c in &conflicts {
                    message.push_str(&format!("\n  {}", merge_conflict_line(c)));
                }
                CommandError::user(message).hint(
                    "settle it with --strategy keep-local or --strategy keep-remote; or make your contract agree with the cloud's on those fields (gryt generation update) and merge again",
                )
            }
            ResolveError::Store(s) => SyncError::from(s).into(),
            ResolveError::Op(o) => o.into(),
            ResolveError::Io(_) => CommandError::user(message),
        }
    }
}

/// `FIELD: base B, yours L, cloud's R (note)`, values as JSON, `absent` for none.
pub fn merge_conflict_line(c: &crate::sync::merge::FieldConflict) -> String {
    let shown = |v: &Option<serde_json::Value>| match v {
        Some(v) => v.to_string(),
        None => "absent".to_string(),
    };
    format!(
        "{}: base {}, yours {}, cloud's {}{}",
        c.field,
        shown(&c.base),
        shown(&c.local),
        shown(&c.remote),
        c.note.map(|n| format!(" ({n})")).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorBody, ErrorCode};
    use crate::sync::engine::PublishRefused;

    /// A release the cloud would not publish: exit 3, who holds the version and the free
    /// ones (a promoted release cannot be renamed, so no rename is offered).
    #[test]
    fn a_refused_publication_names_the_holder_and_free_versions() {
        let refused = vec![PublishRefused {
            version: "v7.0.0".into(),
            refusal: ErrorBody {
                error: ErrorCode::VersionExists,
                message: "version v7.0.0 is already held by a generation created by bob at T"
                    .into(),
                details: serde_json::json!({"version": "v7.0.0", "generation_id": "g",
                    "created_by": "bob", "created_at": "T", "promoted": false,
                    "suggested_versions": ["v7.0.1", "v7.1.0"]}),
            },
        }];
        let message = promote::not_published_message(&["v8.0.0".into()], &refused);
        assert_eq!(
            message,
            "not pushed: v8.0.0 (promoted here before it was ever synced); v7.0.0 not published: version v7.0.0 is already held by a generation created by bob at T"
        );
        let e = not_published(&message, &["v8.0.0".into()], &refused);
        assert_eq!(e.kind, ExitKind::Rejected);
        assert!(e.hints[0].starts_with("publish it: gryt sync push --promoted"));
        assert_eq!(
            e.hints[1],
            "v7.0.0 is held by a generation that bob created at T"
        );
        assert!(
            e.hints[2].ends_with("gryt generation new v7.0.1 (or v7.1.0)"),
            "{:?}",
            e.hints
        );
        assert!(!e.hints.iter().any(|h| h.contains("rename")));
    }
}
