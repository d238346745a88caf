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
    #[error("{version} is already promoted in the cloud by {by} at {at}")]
    AlreadyPromoted {
        version: Version,
        by: String,
        at: String,
        /// Free versions to release the work as instead.
        free: Vec<Version>,
    },
    /// Records the version needs are in conflict with the cloud and were not pushed.
    #[error("{}", held_back_message(.conflicts))]
    HeldBack { conflicts: Vec<Conflict> },
    #[error("{0} is not in the cloud yet")]
    NotInCloud(Version),
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

/// A push's refusal, or the conflicts that held records back, as an error.
pub fn push_outcome(report: PushReport) -> Result<()> {
    if let Some(body) = report.rejected {
        return Err(SyncError::from(ClientError::Api {
            status: body.error.http_status(),
            body,
        })
        .into());
    }
    if !report.dry_run && !report.conflicts.is_empty() {
        return Err(PromoteError::HeldBack {
            conflicts: report.conflicts,
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
        .map(Vec::from)
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
    let version = opts.version.clone();
    if let Ok(g) = crate::ops::generation::get(ws, &version)
        && g.status == GenerationStatus::Promoted
    {
        return Err(PromoteError::AlreadyPromoted {
            free: free_versions(ws, &version.to_string()),
            version,
            by: g.promoted_by.unwrap_or_default(),
            at: g.promoted_at.unwrap_or_default(),
        });
    }
    let prepared = ops::prepare(ws, opts)?;
    let push = PushOptions {
        dry_run: false,
        version: Some(version.clone()),
        ..PushOptions::default()
    };
    push_outcome(steps.push(ws, cloud, &push)?)?;
    let g = &prepared.generation;
    let store = |e: crate::store::StoreError| PromoteError::Sync(e.into());
    let revision = ws
        .store
        .sync_state(RecordKind::Generation, &g.id)
        .map_err(store)?
        .and_then(|st| st.base_revision)
        .ok_or_else(|| PromoteError::NotInCloud(version.clone()))?;
    let base_seq = cursor(&ws.store, cloud)?;
    let id = convert::uuid(&g.id)?;
    let mut head_after: Option<u64> = None;
    let request = PromoteRequest { base_seq, revision };
    let (by, at, new_revision) = match cloud.client.promote(&cloud.project, id, &request) {
        Ok(resp) => {
            head_after = Some(resp.head);
            (
                resp.generation
                    .promoted_by
                    .unwrap_or_else(|| cloud.account.to_string()),
                resp.generation
                    .promoted_at
                    .unwrap_or_else(crate::clock::now_string),
                resp.generation.revision,
            )
        }
        // Our own earlier attempt won but its answer was lost: that is success.
        Err(ClientError::Api { body, .. })
            if body.error == ErrorCode::AlreadyPromoted
                && body
                    .details_as::<VersionHolderDetails>()
                    .and_then(|d| d.promoted_by)
                    .as_deref()
                    == Some(cloud.account) =>
        {
            let d = body
                .details_as::<VersionHolderDetails>()
                .expect("checked above");
            (
                cloud.account.to_string(),
                d.promoted_at.unwrap_or_else(crate::clock::now_string),
                revision + 1,
            )
        }
        Err(e) => return Err(SyncError::from(e).into()),
    };
    let gen_id = g.id.clone();
    let now = crate::clock::now_string();
    Ok(ops::finalize(ws, prepared, &by, &at, |st| {
        st.mark_synced(RecordKind::Generation, &gen_id, new_revision, &now)?;
        super::cursor_past_own_write(st, cloud, base_seq, head_after)?;
        Ok(())
    })?)
}
