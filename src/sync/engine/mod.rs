//! The sync engine: executes pulls and pushes against a [`Cloud`] project, keeping the local
//! store consistent at every step.
//!
//! Invariants:
//! - The cursor (the last head pulled) only moves inside the transaction that applied what
//!   it covers, so an interrupted pull resumes where it stopped.
//! - A push is recorded (`inflight_push`) before it is sent and replayed byte for byte (same
//!   idempotency key) until it is answered — by the next push or pull, before anything else
//!   — so a lost answer never applies anything twice, and our own records never come back
//!   from the feed as someone else's change.
//!   Records become `synced` only in the transaction that stores the accepted answer.
//! - One sync at a time per repository (`.gryt/sync.lock`).

mod diff;
pub mod promote;
mod pull;
mod push;
pub mod resolve;

use std::fs::File;
use std::time::{Duration, Instant};

pub use diff::{
    Action, DiffOptions, DiffReport, Entry, FieldChange, diff, fields as compared_fields,
};
pub use pull::{ConflictInfo, PullOptions, PullReport, pull};
pub use push::{PublishRefused, PushOptions, PushProgress, PushReport, push, push_with_progress};

use super::client::{Client, ClientError};
use super::{Result, SyncError, io};
use crate::api::sync::ProjectInfo;
use crate::domain::RecordKind;
use crate::store::Store;
use crate::workspace::Workspace;

/// A linked cloud project and the account acting on it: the one handle requests to the
/// project go through (lent by [`crate::sync::remote::Remote::cloud`]).
pub struct Cloud<'a> {
    pub client: &'a Client,
    pub url: &'a str,
    /// `TEAM/PROJECT`
    pub project: String,
    pub account: &'a str,
}

impl Cloud<'_> {
    /// The cheap status request: the project and its head.
    pub fn info(&self) -> std::result::Result<ProjectInfo, ClientError> {
        let (team, project) = self.project.split_once('/').unwrap_or(("", &self.project));
        self.client.project(team, project)
    }

    /// The cursor belongs to one server and project; relinking starts from zero.
    fn scope(&self) -> String {
        format!("{}|{}", self.url, self.project)
    }
}

const CURSOR: &str = "cursor";
const CURSOR_SCOPE: &str = "cursor_scope";
pub(crate) const INFLIGHT_PUSH: &str = "inflight_push";
/// The account this workspace last synced as: the local identity of a linked repository.
pub const ACCOUNT: &str = "account";
pub const LAST_PULL: &str = "last_pull";
pub const LAST_PUSH: &str = "last_push";

/// The last head pulled from this cloud project (0 when never, or linked elsewhere).
pub fn cursor(store: &Store, cloud: &Cloud<'_>) -> Result<u64> {
    if store.meta(CURSOR_SCOPE)?.as_deref() != Some(cloud.scope().as_str()) {
        return Ok(0);
    }
    Ok(store
        .meta(CURSOR)?
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

/// Moves the cursor (inside the transaction that applied what it covers) and records the
/// account this workspace now acts as. The only writer of the cursor: a pull page, a push
/// answer and a promotion of ours all come through here, always with the cursor's scope.
fn set_cursor(store: &Store, cloud: &Cloud<'_>, value: u64) -> crate::store::Result<()> {
    if store.meta(ACCOUNT)?.as_deref() != Some(cloud.account) {
        store.set_meta(ACCOUNT, Some(cloud.account))?;
    }
    store.set_meta(CURSOR_SCOPE, Some(&cloud.scope()))?;
    store.set_meta(CURSOR, Some(&value.to_string()))?;
    Ok(())
}

/// After a write of our own that the cloud answered with `head_after` (a promotion): when it
/// was the only write since `base_seq`, the cursor moves past it, so a pull does not fetch
/// it back. Called inside the transaction that records the write here.
pub(crate) fn cursor_past_own_write(
    store: &Store,
    cloud: &Cloud<'_>,
    base_seq: u64,
    head_after: Option<u64>,
) -> crate::store::Result<()> {
    if head_after == Some(base_seq + 1) && cursor(store, cloud).ok() == Some(base_seq) {
        set_cursor(store, cloud, base_seq + 1)?;
    }
    Ok(())
}

/// Held while a sync runs; released on drop.
pub struct SyncLock {
    _file: File,
}

/// Takes the repository's sync lock, waiting up to `wait` for another sync to finish.
pub fn lock(ws: &Workspace, wait: Duration) -> Result<SyncLock> {
    let path = ws.dir().join("sync.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(SyncLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(SyncError::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &path)(e).into()),
        }
    }
}

/// What a record is called for people: `v1.2.0`, `v1.2.0-rc.3`, `run of v1.2.0-rc.3`.
pub(crate) fn subject(store: &Store, kind: RecordKind, id: &str) -> Result<String> {
    Ok(match kind {
        RecordKind::Generation => store
            .version_of_generation(id)?
            .unwrap_or_else(|| id.to_string()),
        RecordKind::Evolution => match store.evolution(id)? {
            Some(e) => e.tag,
            None => id.to_string(),
        },
        RecordKind::PipelineRun => match store.pipeline_run(id)? {
            Some(r) => match r.evolution {
                Some(tag) => format!("run of {tag}"),
                None => format!("run of {}", r.pipeline),
            },
            None => id.to_string(),
        },
    })
}

/// Names of generations and evolutions in the cloud that this workspace has not pulled
/// (one bounded page of the changes feed; `sync status` shows them as cloud-only).
pub fn peek_unknown(ws: &Workspace, cloud: &Cloud<'_>, since: u64) -> Result<Vec<String>> {
    use crate::api::records::Record;
    let page = cloud.client.changes(&cloud.project, since, Some(200))?;
    let mut out = Vec::new();
    for r in &page.records {
        let id = r.id().to_string();
        let name = match r {
            Record::Generation(g) if ws.store.version_of_generation(&id)?.is_none() => {
                g.version.to_string()
            }
            Record::Evolution(e) if ws.store.evolution(&id)?.is_none() => {
                match ws
                    .store
                    .version_of_generation(&e.generation_id.to_string())?
                {
                    Some(v) => format!("{v}-rc.{}", e.rc),
                    None => page
                        .records
                        .iter()
                        .find_map(|g| match g {
                            Record::Generation(g) if g.id == e.generation_id => {
                                Some(format!("{}-rc.{}", g.version, e.rc))
                            }
                            _ => None,
                        })
                        .unwrap_or_else(|| format!("rc.{} ({})", e.rc, e.code_name)),
                }
            }
            _ => continue,
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}
