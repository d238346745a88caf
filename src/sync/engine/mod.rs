//! The sync engine: executes pulls and pushes against a [`Cloud`] project, keeping the local
//! store consistent at every step.
//!
//! Invariants:
//! - The cursor (the last head pulled) only moves inside the transaction that applied what
//!   it covers, so an interrupted pull resumes where it stopped.
//! - A push is recorded (`inflight_push`, or `inflight_push.2` for a batch sent while the
//!   answer of the one before is being stored) before it is sent and replayed byte for byte (same
//!   idempotency key) until it is answered — by the next push or pull, before anything else
//!   — so a lost answer never applies anything twice, and our own records never come back
//!   from the feed as someone else's change.
//!   Records become `synced` only in the transaction that stores the accepted answer.
//! - One sync at a time per repository (`.gryt/sync.lock`).

mod diff;
mod files;
mod import;
pub mod patch;
pub mod promote;
mod pull;
mod push;
pub mod resolve;
#[cfg(test)]
mod testing;
mod verify;

use std::fs::File;
use std::time::{Duration, Instant};

pub use diff::{
    Action, DiffOptions, DiffReport, Entry, FieldChange, diff, fields as compared_fields,
    pull_hunks,
};
pub use import::{ImportOptions, ImportReport, Sink, import};
pub use pull::{ConflictInfo, PullOptions, PullReport, pull};
pub use push::{PublishRefused, PushOptions, PushProgress, PushReport, push, push_with_progress};
pub use verify::{Difference, VerifyOptions, VerifyReport, verify};

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
/// Set while a full resync is under way (its value: why); the next pull starts it again.
pub const FULL_RESYNC: &str = "full_resync";
const PROJECT_ID: &str = "cloud_project_id";
const HISTORY_ID: &str = "cloud_history_id";

/// Which cloud project, in which server history, an answer speaks of — and, stored with the
/// cursor, which one this workspace's sync state belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity {
    pub project_id: Option<uuid::Uuid>,
    pub history_id: Option<uuid::Uuid>,
}

impl Identity {
    fn stored(store: &Store) -> Result<Identity> {
        let read = |key| -> Result<Option<uuid::Uuid>> {
            Ok(store.meta(key)?.and_then(|v| v.parse().ok()))
        };
        Ok(Identity {
            project_id: read(PROJECT_ID)?,
            history_id: read(HISTORY_ID)?,
        })
    }

    /// Stores what the answer told (a server that predates ids tells nothing).
    fn remember(self, store: &Store) -> crate::store::Result<()> {
        if let Some(p) = self.project_id {
            store.set_meta(PROJECT_ID, Some(&p.to_string()))?;
        }
        if let Some(h) = self.history_id {
            store.set_meta(HISTORY_ID, Some(&h.to_string()))?;
        }
        Ok(())
    }
}

/// Why this workspace's sync state does not belong to the cloud project as it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What happened, for people.
    pub why: String,
    /// Another project than the one the sync state was made with: the revisions remembered
    /// here mean nothing there.
    pub other_project: bool,
}

/// Why this workspace's sync state does not belong to what the cloud just answered (its
/// identity and head), or `None` when it does: another project linked, the cloud's history
/// rewound (a restore), a cursor beyond the head. Any of these makes the cursor and the
/// `synced` marks meaningless; a full resync ([`PullOptions::full`]) repairs them.
pub fn mismatch(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    answer: Identity,
    head: u64,
) -> Result<Option<Mismatch>> {
    let store = &ws.store;
    let stored = Identity::stored(store)?;
    let other = |why: String| {
        Ok(Some(Mismatch {
            why,
            other_project: true,
        }))
    };
    let rewound = |why: String| {
        Ok(Some(Mismatch {
            why,
            other_project: false,
        }))
    };
    if let (Some(now), Some(before)) = (answer.project_id, stored.project_id)
        && now != before
    {
        return other(format!(
            "{} is not the cloud project this repository last synced with",
            cloud.project
        ));
    }
    if let (Some(now), Some(before)) = (answer.history_id, stored.history_id)
        && now != before
    {
        return rewound(
            "the cloud's history was rewound since this repository last synced (its server was restored from a backup)"
                .to_string(),
        );
    }
    let scoped = store.meta(CURSOR_SCOPE)?.as_deref() == Some(cloud.scope().as_str());
    let cursor = cursor(store, cloud)?;
    if cursor > head {
        return rewound(format!(
            "this repository has pulled up to change {cursor} but the cloud's head is {head} (its history was rewound)"
        ));
    }
    if !scoped && stored.project_id.is_none() && store.any_in_cloud()? {
        return other(format!(
            "this repository's sync state belongs to another cloud project than {}",
            cloud.project
        ));
    }
    Ok(None)
}

/// Starts a full resync, in one transaction with its marker (so a kill before it finishes
/// leaves it to be started again, never half-prepared): open conflicts, recorded against the
/// cloud as it was, are superseded; for another project, the revisions remembered here are
/// forgotten too (every record is local only until the resync matches it there). Returns
/// how many conflicts were superseded.
pub(crate) fn start_full(ws: &Workspace, why: &str, other_project: bool) -> Result<usize> {
    let now = crate::clock::now_string();
    Ok(ws.store.tx(|s| -> crate::store::Result<usize> {
        s.set_meta(FULL_RESYNC, Some(why))?;
        if other_project {
            s.forget_sync_bases()?;
        }
        s.supersede_conflicts(&now)
    })?)
}

/// Before a push: when this workspace's sync state does not belong to the cloud project as
/// it is now (or a full resync was cut short), runs the full resync first and says why.
pub(crate) fn repair_if_out_of_step(ws: &Workspace, cloud: &Cloud<'_>) -> Result<Option<String>> {
    let why = match ws.store.meta(FULL_RESYNC)? {
        Some(why) => why,
        None => {
            let info = cloud.info()?;
            let answer = Identity {
                project_id: info.project_id,
                history_id: info.history_id,
            };
            let Some(m) = mismatch(ws, cloud, answer, info.head)? else {
                return Ok(None);
            };
            start_full(ws, &m.why, m.other_project)?;
            m.why
        }
    };
    let opts = PullOptions {
        full: true,
        ..PullOptions::default()
    };
    pull(ws, cloud, opts, &mut |_, _, _| {})?;
    Ok(Some(why))
}

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
/// account this workspace now acts as, and the project and history the answer came from
/// (`identity`: what it said of them). The only writer of the cursor: a pull page, a push
/// answer and a promotion of ours all come through here, always with the cursor's scope.
fn set_cursor(
    store: &Store,
    cloud: &Cloud<'_>,
    value: u64,
    identity: Identity,
) -> crate::store::Result<()> {
    if store.meta(ACCOUNT)?.as_deref() != Some(cloud.account) {
        store.set_meta(ACCOUNT, Some(cloud.account))?;
    }
    store.set_meta(CURSOR_SCOPE, Some(&cloud.scope()))?;
    store.set_meta(CURSOR, Some(&value.to_string()))?;
    identity.remember(store)
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
        set_cursor(store, cloud, base_seq + 1, Identity::default())?;
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
