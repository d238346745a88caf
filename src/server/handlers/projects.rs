//! Project resources: status (head), the changes feed, the atomic push, promotion and
//! deletion of generations, and where a generation stands. Every route first resolves `TEAM/PROJECT` through the caller's
//! memberships, so another team's project answers exactly like a missing one.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{JsonBody, json};
use crate::api::accounts::Role;
use crate::api::error::Resource;
use crate::api::import::{ImportRequest, ImportResponse};
use crate::api::sync::{DeleteResponse, MAX_VERSIONS, MAX_WAIT_SECS, ProjectInfo};
use crate::api::{HEAD_HEADER, PromoteRequest, PromoteResponse, PushRequest, PushResponse};
use crate::domain::Version;
use crate::server::app::AppState;
use crate::server::auth::Auth;
use crate::server::error::{ServiceError, ServiceResult, rejection};
use crate::server::rules;
use crate::server::storage::{self, ProjectRow, Storage};
use crate::server::webhooks;

/// How many webhook deliveries a write queued (set inside its transaction), so the handler
/// wakes the delivery worker only when there is something to send.
#[derive(Clone, Default)]
struct Queued(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Queued {
    fn add(&self, n: usize) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Wakes the worker if the write queued deliveries and committed.
    fn wake<T>(&self, state: &AppState, result: &ServiceResult<T>) {
        if result.is_ok() && self.0.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            state.wake_webhooks();
        }
    }
}

pub(crate) fn find(
    storage: &dyn Storage,
    auth: &Auth,
    team: &str,
    project: &str,
) -> ServiceResult<ProjectRow> {
    storage
        .project(&auth.account.id, team, project)?
        .ok_or_else(|| ServiceError::not_found(Resource::Project, format!("{team}/{project}")))
}

fn with_head(mut response: Response, head: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&head.to_string()) {
        response.headers_mut().insert(HEAD_HEADER, v);
    }
    response
}

/// Which project and which server history an answer speaks of.
#[derive(Debug, Clone, Copy)]
struct Identity {
    project_id: Uuid,
    history_id: Uuid,
}

fn identity(storage: &dyn Storage, p: &ProjectRow) -> ServiceResult<Identity> {
    Ok(Identity {
        project_id: p.uuid()?,
        history_id: storage.history_id(),
    })
}

pub async fn info(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
) -> ServiceResult<Response> {
    let (p, id) = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            let id = identity(s, &p)?;
            Ok((p, id))
        })
        .await?;
    let head = p.head;
    Ok(with_head(
        json(
            StatusCode::OK,
            ProjectInfo {
                team: p.team,
                name: p.name,
                head: p.head,
                created_at: p.created_at,
                project_id: Some(id.project_id),
                history_id: Some(id.history_id),
            },
        ),
        head,
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct ChangesQuery {
    #[serde(default)]
    since: u64,
    limit: Option<u32>,
    /// Seconds to wait for a record after `since` when there is none yet (a long poll).
    wait: Option<u32>,
    /// Comma-separated versions: only those generations, their evolutions and their runs.
    versions: Option<String>,
}

/// The versions of `versions=`: each a valid version, written as the records hold it.
fn narrowed_to(versions: Option<&str>) -> ServiceResult<Option<Vec<String>>> {
    let Some(list) = versions else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let version: crate::domain::Version = v.parse().map_err(|e| {
            ServiceError::new(
                crate::api::ErrorCode::Validation,
                format!("versions: `{v}` is not a version: {e}"),
            )
        })?;
        let version = version.to_string();
        if !out.contains(&version) {
            out.push(version);
        }
    }
    if out.is_empty() || out.len() > MAX_VERSIONS {
        return Err(ServiceError::new(
            crate::api::ErrorCode::Validation,
            format!("versions: name between 1 and {MAX_VERSIONS} versions, separated by commas"),
        ));
    }
    Ok(Some(out))
}

/// `GET …/changes`: one page of the feed. With `wait=N` and nothing after `since` yet, the
/// answer waits up to N seconds (at most [`MAX_WAIT_SECS`]) for a record to arrive: woken at
/// once by a write through this process, and looking at storage again every
/// [`crate::server::app::Feed::RECHECK`] for writes through other processes. A stopping server
/// answers waiting requests at once.
pub async fn changes(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> ServiceResult<Response> {
    let Query(q) = query.map_err(|r| rejection(r.status(), r.body_text()))?;
    let cap = state.config().page_limit;
    let limit = q.limit.unwrap_or(cap).clamp(1, cap);
    let since = q.since;
    let versions = narrowed_to(q.versions.as_deref())?;
    let wait = Duration::from_secs(u64::from(q.wait.unwrap_or(0).min(MAX_WAIT_SECS)));
    let until = tokio::time::Instant::now() + wait;
    let auth = std::sync::Arc::new(auth);
    // Subscribed before the first read: a write committed after any read wakes the wait.
    let mut waiter = state.feed().subscribe();
    let (page, missing, id) = loop {
        let (auth, team, project, versions) = (
            auth.clone(),
            team.clone(),
            project.clone(),
            versions.clone(),
        );
        let (page, missing, id) = state
            .run(move |s| {
                let p = find(s, &auth, &team, &project)?;
                let (page, missing) = match versions {
                    None => (s.changes(&p.id, since, limit)?, Vec::new()),
                    Some(wanted) => {
                        let (page, found) = s.changes_of(&p.id, &wanted, since, limit)?;
                        let missing = wanted.into_iter().filter(|v| !found.contains(v)).collect();
                        (page, missing)
                    }
                };
                Ok((page, missing, identity(s, &p)?))
            })
            .await?;
        // Wait only while the client is level with the head: a cursor beyond it is answered
        // at once (the client learns that its state belongs to another history).
        let level = page.bodies.is_empty() && since == page.head;
        if !level || tokio::time::Instant::now() >= until || state.feed().is_stopping() {
            break (page, missing, id);
        }
        waiter.wait(until).await;
    };
    // The stored bodies are already the JSON of each record: splice them, do not re-encode.
    let size: usize = page.bodies.iter().map(|b| b.len() + 1).sum();
    let mut out = String::with_capacity(size + 96);
    out.push_str("{\"records\":[");
    for (i, b) in page.bodies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(b);
    }
    let next = page.last_seq.unwrap_or(since);
    out.push_str(&format!(
        "],\"next\":{next},\"head\":{},\"more\":{},\"project_id\":\"{}\",\"history_id\":\"{}\"",
        page.head, page.more, id.project_id, id.history_id
    ));
    if !missing.is_empty() {
        let missing = serde_json::to_string(&missing)
            .map_err(|e| ServiceError::Internal(format!("encoding versions: {e}")))?;
        out.push_str(&format!(",\"missing\":{missing}"));
    }
    out.push('}');
    let response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        out,
    )
        .into_response();
    Ok(with_head(response, page.head))
}

#[derive(Debug, serde::Deserialize)]
pub struct DigestQuery {
    bits: Option<u8>,
    bucket: Option<u32>,
    after: Option<Uuid>,
    limit: Option<u32>,
}

/// `GET …/digest`: the bucket hashes of the project's records, or (with `bucket`) one page of
/// a bucket's entries (crate::api::digest defines both).
pub async fn digest(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
    query: Result<Query<DigestQuery>, QueryRejection>,
) -> ServiceResult<Response> {
    use crate::api::digest::{self as d, BucketPage, ProjectDigest};
    let Query(q) = query.map_err(|r| rejection(r.status(), r.body_text()))?;
    let bits = q.bits.unwrap_or(d::DEFAULT_BITS);
    if bits > d::MAX_BITS {
        return Err(ServiceError::validation(format!(
            "bits must be 0-{}, not {bits}",
            d::MAX_BITS
        )));
    }
    if let Some(b) = q.bucket
        && u64::from(b) >= 1u64 << bits
    {
        return Err(ServiceError::validation(format!(
            "bucket must be below {} with bits={bits}, not {b}",
            1u64 << bits
        )));
    }
    if q.bucket.is_none() && (q.after.is_some() || q.limit.is_some()) {
        return Err(ServiceError::validation(
            "after and limit page a bucket's entries: give bucket too",
        ));
    }
    let limit = q.limit.unwrap_or(d::MAX_ENTRIES).clamp(1, d::MAX_ENTRIES);
    let (head, body) = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            let id = identity(s, &p)?;
            Ok(match q.bucket {
                None => {
                    let (head, entries) = s.digest_entries(&p.id, (0, u32::MAX), None, None)?;
                    let body = serde_json::to_value(ProjectDigest {
                        bits,
                        head,
                        count: entries.len() as u64,
                        buckets: d::buckets(&entries, bits),
                        project_id: Some(id.project_id),
                        history_id: Some(id.history_id),
                    });
                    (head, body)
                }
                Some(bucket) => {
                    let slots = d::slots_of_bucket(bucket, bits);
                    let (head, mut entries) =
                        s.digest_entries(&p.id, slots, q.after, Some(limit + 1))?;
                    let more = entries.len() > limit as usize;
                    entries.truncate(limit as usize);
                    let body = serde_json::to_value(BucketPage {
                        bits,
                        bucket,
                        head,
                        entries,
                        more,
                        project_id: Some(id.project_id),
                        history_id: Some(id.history_id),
                    });
                    (head, body)
                }
            })
        })
        .await?;
    let body = body.map_err(|e| ServiceError::Internal(format!("encoding a digest: {e}")))?;
    Ok(with_head(json(StatusCode::OK, body), head))
}

/// Runs a write on the caller's project on a blocking thread. A project the caller cannot
/// see fails the outer result (answered without a head, like a missing project); the inner
/// result is the rule's decision, paired with the head as read before the write. An accepted
/// answer is stamped with the project's and the server history's ids.
async fn write<T, F>(
    state: &AppState,
    auth: Auth,
    team: String,
    project: String,
    f: F,
) -> ServiceResult<(u64, ServiceResult<T>)>
where
    T: Identified + Send + 'static,
    F: FnOnce(&dyn Storage, &ProjectRow, &rules::Actor, &str) -> ServiceResult<T> + Send + 'static,
{
    let now = state.now();
    let done = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            let id = identity(s, &p)?;
            let result = f(s, &p, &auth.actor(), &now).map(|mut answer| {
                answer.identify(id);
                answer
            });
            Ok((p.head, result))
        })
        .await;
    if let Ok((_, Ok(_))) = &done {
        state.feed().wrote();
    }
    done
}

/// An answer that names the project and the server history.
trait Identified {
    fn identify(&mut self, id: Identity);
}

macro_rules! identified {
    ($($t:ty),*) => {$(
        impl Identified for $t {
            fn identify(&mut self, id: Identity) {
                self.project_id = Some(id.project_id);
                self.history_id = Some(id.history_id);
            }
        }
    )*};
}

identified!(
    PushResponse,
    PromoteResponse,
    DeleteResponse,
    ImportResponse
);

/// The answer to a write: the body with the new head, or the rejection with the head the
/// request was judged against (`behind` details carry the exact head).
fn answer<T: serde::Serialize>(
    head_before: u64,
    result: ServiceResult<T>,
    head_after: impl Fn(&T) -> u64,
) -> Response {
    match result {
        Ok(body) => {
            let head = head_after(&body);
            with_head(json(StatusCode::OK, body), head)
        }
        Err(e) => with_head(e.into_response(), head_before),
    }
}

pub async fn push(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
    JsonBody(req, raw): JsonBody<PushRequest>,
) -> ServiceResult<Response> {
    let decoded = rules::decode_push(req, &raw)?;
    let queued = Queued::default();
    let q = queued.clone();
    let (head, result) = write(&state, auth, team, project, move |s, p, actor, now| {
        storage::transact(s, &p.id, |tx| {
            let (response, n) = webhooks::push(tx, p, actor, &decoded, now)?;
            q.add(n);
            Ok(response)
        })
    })
    .await?;
    queued.wake(&state, &result);
    Ok(answer(head, result, |r| r.head))
}

/// `POST …/import`: records copied from another project, with their authorship, by an owner
/// of the team (rules::import says what each record gets). A dry run judges the batch the
/// same way in a transaction that is rolled back.
pub async fn import(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
    JsonBody(req, _): JsonBody<ImportRequest>,
) -> ServiceResult<Response> {
    let decoded = rules::decode_import(req)?;
    let queued = Queued::default();
    let q = queued.clone();
    let (head, result) = write(
        &state,
        auth,
        team.clone(),
        project,
        move |s, p, actor, now| {
            let (_, role) = rules::teams::membership(s, actor, &team)?;
            if role != Role::Owner {
                return Err(ServiceError::new(
                    crate::api::ErrorCode::Forbidden,
                    format!("only owners of team {team} can import records into its projects"),
                ));
            }
            let run = |tx: &mut dyn storage::ProjectTx| {
                let (response, n) = webhooks::import(tx, p, actor, &decoded, now)?;
                q.add(n);
                Ok(response)
            };
            if decoded.dry_run {
                storage::rehearse(s, &p.id, run)
            } else {
                storage::transact(s, &p.id, run)
            }
        },
    )
    .await?;
    queued.wake(&state, &result);
    if let Ok(done) = &result
        && !done.dry_run
    {
        tracing::info!(
            created = done.created,
            conflicts = done.conflicts,
            "imported"
        );
    }
    Ok(answer(head, result, |r| r.head))
}

fn generation_id(id: &str) -> ServiceResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ServiceError::not_found(Resource::Generation, id))
}

pub async fn promote(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project, id)): Path<(String, String, String)>,
    JsonBody(req, _): JsonBody<PromoteRequest>,
) -> ServiceResult<Response> {
    let id = generation_id(&id)?;
    let queued = Queued::default();
    let q = queued.clone();
    let (head, result) = write(&state, auth, team, project, move |s, p, actor, now| {
        storage::transact(s, &p.id, |tx| {
            let (response, n) = webhooks::promote(tx, p, actor, id, &req, now)?;
            q.add(n);
            Ok(response)
        })
    })
    .await?;
    queued.wake(&state, &result);
    if let Ok(done) = &result {
        tracing::info!(version = %done.generation.version, by = ?done.generation.promoted_by, "promoted");
    }
    Ok(answer(head, result, |r| r.head))
}

/// `GET …/generations/{version}/status`: where the generation holding `version` stands,
/// computed on the server's data (`rules::status`). 400 for a malformed version, 404 for a
/// version no live generation holds.
pub async fn generation_status(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project, version)): Path<(String, String, String)>,
) -> ServiceResult<Response> {
    let parsed = version.parse::<Version>().map_err(|e| {
        ServiceError::new(
            crate::api::ErrorCode::BadRequest,
            format!("{e}; give a version like 2.0.0 or v2.0.0"),
        )
    })?;
    let answer = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            let id = identity(s, &p)?;
            let mut status = rules::status::generation_status(s, &p, &parsed)?
                .ok_or_else(|| ServiceError::not_found(Resource::Generation, version))?;
            status.project_id = Some(id.project_id);
            status.history_id = Some(id.history_id);
            Ok(status)
        })
        .await?;
    let head = answer.head;
    Ok(with_head(json(StatusCode::OK, answer), head))
}

#[derive(Debug, serde::Deserialize)]
pub struct DeleteQuery {
    revision: Option<u64>,
}

pub async fn delete_generation(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project, id)): Path<(String, String, String)>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> ServiceResult<Response> {
    let Query(q) = query.map_err(|r| rejection(r.status(), r.body_text()))?;
    let id = generation_id(&id)?;
    let queued = Queued::default();
    let added = queued.clone();
    let (head, result) = write(&state, auth, team, project, move |s, p, actor, now| {
        storage::transact(s, &p.id, |tx| {
            let (response, n) = webhooks::delete_generation(tx, p, actor, id, q.revision, now)?;
            added.add(n);
            Ok(response)
        })
    })
    .await?;
    queued.wake(&state, &result);
    Ok(answer(head, result, |r| r.head))
}
