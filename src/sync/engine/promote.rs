//! Promotion through the cloud (execution modes hybrid and cloud): pull, check the gates
//! here, push what is pending for the version, then ask the cloud. The first promoter wins.
//!
//! Invariants: the local generation becomes promoted (and tagged) only after the cloud
//! accepted, in one transaction with the revision the cloud gave it; nothing changes locally
//! when the cloud refuses.

use super::{Cloud, PullReport, PushOptions, PushReport, cursor};
use crate::api::ErrorCode;
use crate::api::error::VersionHolderDetails;
use crate::api::sync::PromoteRequest;
use crate::domain::{GenerationStatus, RecordKind, Version};
use crate::ops::OpError;
use crate::ops::promote::{self as ops, PromoteOptions, PromoteReport};
use crate::store::Conflict;
use crate::sync::{ClientError, SyncError, convert};
use crate::workspace::Workspace;

/// How promotion pulls and pushes: the command line logs each sync and shows progress;
/// [`Direct`] just runs them.
pub trait Steps {
    fn pull(&mut self, ws: &Workspace, cloud: &Cloud<'_>) -> crate::sync::Result<PullReport>;
    fn push(
        &mut self,
        ws: &Workspace,
        cloud: &Cloud<'_>,
        opts: &PushOptions,
    ) -> crate::sync::Result<PushReport>;
}

/// [`Steps`] that run the engine's pull and push as they are.
pub struct Direct;

impl Steps for Direct {
    fn pull(&mut self, ws: &Workspace, cloud: &Cloud<'_>) -> crate::sync::Result<PullReport> {
        super::pull(ws, cloud, super::PullOptions::default(), &mut |_, _, _| {})
    }

    fn push(
        &mut self,
        ws: &Workspace,
        cloud: &Cloud<'_>,
        opts: &PushOptions,
    ) -> crate::sync::Result<PushReport> {
        super::push(ws, cloud, opts)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The pull, the push or the cloud's answer failed (a refusal is a `ClientError::Api`).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A local check refused it (gates, status, unapplied edits, the git tag).
    #[error(transparent)]
    Op(#[from] OpError),
    /// Someone else won the race to promote it.
    #[error("{version} is already promoted in the cloud by {by} at {at}")]
    AlreadyPromoted {
        version: Version,
        by: String,
        at: String,
        /// Free versions to release the work as instead.
        free: Vec<Version>,
        /// Whether the promotion is here already (pulled), or only the cloud told.
        pulled: bool,
    },
    /// Records the version needs are in conflict with the cloud and were not pushed.
    #[error("{}", held_back_message(.conflicts))]
    HeldBack { conflicts: Vec<Conflict> },
    #[error("{0} is not in the cloud yet")]
    NotInCloud(Version),
    /// Releases promoted here before they were ever synced did not reach the cloud: not
    /// asked to publish them (`unpublished`), or the cloud refused them (`refused`).
    #[error("{}", not_published_message(.unpublished, .refused))]
    NotPublished {
        unpublished: Vec<String>,
        refused: Vec<super::PublishRefused>,
    },
}

/// `not pushed: v7.0.0 (promoted here before it was ever synced)`, or the cloud's refusal.
pub fn not_published_message(unpublished: &[String], refused: &[super::PublishRefused]) -> String {
    let mut parts = Vec::new();
    if !unpublished.is_empty() {
        parts.push(format!(
            "not pushed: {} (promoted here before it was ever synced)",
            unpublished.join(", ")
        ));
    }
    for r in refused {
        parts.push(format!(
            "{} not published: {}",
            r.version, r.refusal.message
        ));
    }
    parts.join("; ")
}

pub type Result<T> = std::result::Result<T, PromoteError>;

/// `not pushed, in conflict with the cloud: v1.0.0, v1.0.0-rc.2`.
pub fn held_back_message(conflicts: &[Conflict]) -> String {
    let subjects: Vec<&str> = conflicts.iter().map(|c| c.subject.as_str()).collect();
    format!(
        "not pushed, in conflict with the cloud: {}",
        subjects.join(", ")
    )
}

/// The conflicts that concern `version`: its generation, its evolutions and their runs (a
/// push of one version is judged on those alone; a conflict elsewhere holds back nothing it
/// sends).
pub fn conflicts_of(version: &Version, conflicts: Vec<Conflict>) -> Vec<Conflict> {
    let name = version.to_string();
    let rc = format!("{name}-rc.");
    let run = format!("run of {rc}");
    conflicts
        .into_iter()
        .filter(|c| c.subject == name || c.subject.starts_with(&rc) || c.subject.starts_with(&run))
        .collect()
}

/// A push's refusal, or the conflicts that held records back, as an error.
pub fn push_outcome(report: PushReport) -> Result<()> {
    if let Some(body) = report.rejected {
        return Err(SyncError::from(ClientError::Api {
            status: body.error.http_status(),
            body,
        })
        .into());
    }
    if report.dry_run {
        return Ok(());
    }
    if !report.conflicts.is_empty() {
        return Err(PromoteError::HeldBack {
            conflicts: report.conflicts,
        });
    }
    if !report.unpublished.is_empty() || !report.publish_refused.is_empty() {
        return Err(PromoteError::NotPublished {
            unpublished: report.unpublished,
            refused: report.publish_refused,
        });
    }
    Ok(())
}

/// The free versions to suggest instead of `version` (a subject such as `v1.0.0`), as far as
/// this workspace knows; none when it does not name a version or the store cannot tell.
pub fn free_versions(ws: &Workspace, version: &str) -> Vec<Version> {
    version
        .parse::<Version>()
        .ok()
        .and_then(|v| crate::ops::generation::free_versions(ws, &v).ok())
        .unwrap_or_default()
}

/// Promotes `opts.version` through the cloud: pull, gates here, push what the version needs,
/// then the cloud's promotion; then promoted and tagged here.
pub fn promote(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &PromoteOptions,
    steps: &mut dyn Steps,
) -> Result<PromoteReport> {
    steps.pull(ws, cloud)?;
    let version = &opts.version;
    if let Ok(g) = crate::ops::generation::get(ws, version)
        && g.status == GenerationStatus::Promoted
    {
        return promoted_before(ws, cloud, opts, g);
    }
    let prepared = ops::prepare(ws, opts)?;
    let push = PushOptions {
        dry_run: false,
        version: Some(version.clone()),
        ..PushOptions::default()
    };
    let mut pushed = steps.push(ws, cloud, &push)?;
    pushed.conflicts = conflicts_of(version, pushed.conflicts);
    push_outcome(pushed)?;
    let g = &prepared.generation;
    let revision = ws
        .store
        .sync_state(RecordKind::Generation, &g.id)
        .map_err(SyncError::from)?
        .and_then(|st| st.base_revision)
        .ok_or_else(|| PromoteError::NotInCloud(version.clone()))?;
    let base_seq = cursor(&ws.store, cloud)?;
    let request = PromoteRequest { base_seq, revision };
    let gen_id = g.id.clone();
    // Until the cloud answers, the cloud may hold it promoted: nothing may change it here.
    ws.store
        .set_promotion_in_flight(&gen_id, true)
        .map_err(SyncError::from)?;
    let accepted = ask_cloud(ws, cloud, version, convert::uuid(&g.id)?, &request);
    let unanswered = matches!(
        &accepted,
        Err(PromoteError::Sync(SyncError::Client(e))) if !matches!(e, ClientError::Api { .. })
    );
    if !unanswered {
        ws.store
            .set_promotion_in_flight(&gen_id, false)
            .map_err(SyncError::from)?;
    }
    let accepted = accepted?;
    let now = crate::clock::now_string();
    Ok(ops::finalize(
        ws,
        prepared,
        &accepted.by,
        &accepted.at,
        |st| {
            st.mark_synced(RecordKind::Generation, &gen_id, accepted.revision, &now)?;
            super::cursor_past_own_write(st, cloud, base_seq, accepted.head)?;
            Ok(())
        },
    )?)
}

/// The pull brought `g` in promoted. By this account and not finished here: our earlier
/// attempt won but its answer was lost, so finish it (promoted here, tagged). By this
/// account and finished here: refused as a local promotion would be. By someone else: they
/// won.
fn promoted_before(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &PromoteOptions,
    g: crate::store::Generation,
) -> Result<PromoteReport> {
    let version = opts.version.clone();
    let by = g.promoted_by.unwrap_or_default();
    if by != cloud.account {
        return Err(PromoteError::AlreadyPromoted {
            free: free_versions(ws, &version.to_string()),
            version,
            by,
            at: g.promoted_at.unwrap_or_default(),
            pulled: true,
        });
    }
    if ops::promoted_here(ws, &version)? {
        return Err(OpError::Promoted {
            version,
            action: "promoted again",
        }
        .into());
    }
    let at = g.promoted_at.unwrap_or_else(crate::clock::now_string);
    let prepared = ops::prepare_promoted(ws, opts)?;
    let id = g.id.clone();
    Ok(ops::finalize(ws, prepared, &by, &at, |st| {
        st.set_promotion_in_flight(&id, false)?;
        Ok(())
    })?)
}

/// What the cloud recorded for a promotion it accepted.
struct Accepted {
    by: String,
    at: String,
    revision: u64,
    /// The project's head after it, when the cloud answered this request.
    head: Option<u64>,
}

/// Asks the cloud to promote generation `id`. An `already_promoted` by this account is our
/// own earlier attempt whose answer was lost: success. By someone else: they won after our
/// pull, and their promotion is not here yet.
fn ask_cloud(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    version: &Version,
    id: uuid::Uuid,
    request: &PromoteRequest,
) -> Result<Accepted> {
    let body = match cloud.client.promote(&cloud.project, id, request) {
        Ok(resp) => {
            let g = resp.generation;
            return Ok(Accepted {
                by: g.promoted_by.unwrap_or_else(|| cloud.account.to_string()),
                at: g.promoted_at.unwrap_or_else(crate::clock::now_string),
                revision: g.revision,
                head: Some(resp.head),
            });
        }
        Err(ClientError::Api { body, .. }) if body.error == ErrorCode::AlreadyPromoted => body,
        Err(e) => return Err(SyncError::from(e).into()),
    };
    let d = body.details_as::<VersionHolderDetails>();
    let (by, at) = d
        .as_ref()
        .map(|d| (d.promoted_by.clone(), d.promoted_at.clone()))
        .unwrap_or_default();
    if by.as_deref() == Some(cloud.account) {
        return Ok(Accepted {
            by: cloud.account.to_string(),
            at: at.unwrap_or_else(crate::clock::now_string),
            revision: request.revision + 1,
            head: None,
        });
    }
    // The cloud knows every version; this workspace may not have pulled them all.
    let free: Vec<Version> = d
        .iter()
        .flat_map(|d| &d.suggested_versions)
        .filter_map(|v| v.parse().ok())
        .collect();
    Err(PromoteError::AlreadyPromoted {
        free: match free.is_empty() {
            true => free_versions(ws, &version.to_string()),
            false => free,
        },
        version: version.clone(),
        by: by.unwrap_or_else(|| "someone".to_string()),
        at: at.unwrap_or_default(),
        pulled: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(subject: &str) -> Conflict {
        Conflict {
            id: 1,
            record_kind: RecordKind::Generation,
            record_id: "id".into(),
            reason: crate::domain::ConflictReason::BothChanged,
            subject: subject.into(),
            local_value: None,
            remote_value: None,
            remote_seq: 1,
            error: None,
            detected_at: "T".into(),
            resolved_at: None,
            resolution: None,
            resolved_by: None,
        }
    }

    #[test]
    fn conflicts_of_a_version_are_its_generation_evolutions_and_runs() {
        let all = [
            "v6.0.0",
            "v6.0.0-rc.2",
            "run of v6.0.0-rc.2",
            "v7.0.0",
            "v7.0.0-rc.1",
            "run of v7.0.0-rc.1",
            "v6.0.10",
            "v16.0.0",
            "run of ci",
        ];
        let v6: Version = "6.0.0".parse().unwrap();
        let kept: Vec<String> = conflicts_of(&v6, all.iter().map(|s| conflict(s)).collect())
            .into_iter()
            .map(|c| c.subject)
            .collect();
        assert_eq!(kept, ["v6.0.0", "v6.0.0-rc.2", "run of v6.0.0-rc.2"]);
    }
}
