//! Project webhooks: which events a change makes, the delivery rows written in the change's
//! own transaction, and the worker that sends them (docs/SERVER.md, docs/PROTOCOL.md).
//!
//! A push, promotion, import or deletion runs through the wrappers here instead of calling its
//! rule directly: inside the same storage transaction they read the project's webhooks and,
//! for each event the change makes and each webhook subscribed to it, write one `pending`
//! delivery holding the signed-to-be JSON document. So a delivery exists exactly when the
//! change committed. Nothing is sent there: the request returns, wakes the worker, and the
//! worker (a tokio task of `serve`) claims due deliveries with a lease, POSTs each on a
//! blocking thread with a bounded timeout, and records the outcome — `delivered` on a 2xx,
//! else a retry with exponential backoff until the attempts run out (`failed`). A receiver
//! that hangs holds one worker slot until the timeout, never a request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::ServiceError;
use super::app::AppState;
use super::rules::{self, Actor, DecodedImport, DecodedPush};
use super::storage::{
    ClaimedDelivery, DeliveryOutcome, NewDelivery, ProjectRow, ProjectTx, WebhookRow,
};
use crate::api::import::{ImportAction, ImportKind, ImportResponse};
use crate::api::records::Record;
use crate::api::sync::DeleteResponse;
use crate::api::webhooks::{
    DELIVERY_HEADER, EVENT_HEADER, EventDocument, EventProject, SIGNATURE_HEADER, WebhookEvent,
};
use crate::api::{PromoteRequest, PromoteResponse, PushAction, PushResponse};
use crate::domain::GenerationStatus;
use crate::domain::generation::hex;

type Result<T> = std::result::Result<T, ServiceError>;

/// How deliveries are sent and retried (part of [`super::ServerConfig`]).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The wait before the first retry; each later one waits twice the one before.
    pub retry_base: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: u32,
    /// How long one attempt may take, connecting included.
    pub timeout: Duration,
    /// How often the worker looks for due deliveries without being woken (deliveries
    /// written by another process on the same database, leases run out).
    pub sweep: Duration,
    /// Attempts in flight at once per server process.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 10,
            timeout: Duration::from_secs(10),
            sweep: Duration::from_secs(5),
            concurrency: 8,
        }
    }
}

impl WebhookSettings {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doubled = 1u32 << attempts.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(doubled).min(self.retry_max)
    }

    /// How long a claim holds: an attempt's timeout with a margin, so a live worker never
    /// loses its claim to another, and a dead one's deliveries are taken over soon after.
    fn lease(&self) -> Duration {
        self.timeout.saturating_mul(2) + Duration::from_secs(5)
    }
}

/// A new signing secret: 256 random bits, hex.
pub fn new_secret() -> Result<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf)
        .map_err(|e| ServiceError::Internal(format!("no system randomness: {e}")))?;
    Ok(hex(&buf))
}

/// The `X-Gryt-Signature` value of `body`: `sha256=` and the hex HMAC-SHA256 with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Unix milliseconds now (delivery schedules and leases use the system clock: the worker
/// sleeps in real time).
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 with milliseconds, for a Unix-milliseconds instant.
pub fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The events a webhook row subscribes to.
pub fn events_of(hook: &WebhookRow) -> Vec<WebhookEvent> {
    hook.events
        .split(',')
        .filter_map(WebhookEvent::parse)
        .collect()
}

/// What one request changed, as events with the record each speaks of.
struct Change<'a> {
    project: &'a ProjectRow,
    actor: &'a Actor,
    via: &'static str,
    now: &'a str,
    events: Vec<(WebhookEvent, Record)>,
}

impl Change<'_> {
    /// Writes one pending delivery per event and subscribed webhook; how many.
    fn enqueue(self, tx: &mut dyn ProjectTx, hooks: &[WebhookRow]) -> Result<usize> {
        if self.events.is_empty() || hooks.is_empty() {
            return Ok(0);
        }
        let project = EventProject {
            team: self.project.team.clone(),
            name: self.project.name.clone(),
            project_id: self.project.uuid()?,
        };
        let due = now_ms();
        let mut written = 0;
        for hook in hooks {
            let subscribed = events_of(hook);
            let webhook_id = Uuid::parse_str(&hook.id)
                .map_err(|_| ServiceError::Internal(format!("webhook id {}", hook.id)))?;
            for (event, record) in &self.events {
                if !subscribed.contains(event) {
                    continue;
                }
                let delivery_id = Uuid::now_v7();
                let document = EventDocument {
                    event: *event,
                    delivery_id,
                    webhook_id,
                    occurred_at: self.now.to_string(),
                    project: project.clone(),
                    actor: self.actor.username.clone(),
                    via: self.via.to_string(),
                    record: record.clone(),
                };
                let body = serde_json::to_string(&document)
                    .map_err(|e| ServiceError::Internal(format!("encoding an event: {e}")))?;
                tx.insert_delivery(&NewDelivery {
                    id: delivery_id.to_string(),
                    webhook_id: hook.id.clone(),
                    event: event.as_str().to_string(),
                    body,
                    next_attempt_at: due,
                    created_at: self.now.to_string(),
                })?;
                written += 1;
            }
        }
        Ok(written)
    }
}

/// The project transaction as the rules see it, noting on the way what they read first of
/// each record (its state before the request) and every record they wrote: the events come
/// from what the rules did, with no extra reads.
struct Recording<'a> {
    inner: &'a mut dyn ProjectTx,
    /// Each record as first read (or `None`: new), before anything was written to it.
    before: HashMap<Uuid, Option<Record>>,
    /// The records written, in order (the last one of an id is its final state).
    written: Vec<Record>,
}

impl<'a> Recording<'a> {
    fn new(inner: &'a mut dyn ProjectTx) -> Recording<'a> {
        Recording {
            inner,
            before: HashMap::new(),
            written: Vec::new(),
        }
    }

    fn wrote(&mut self, record: &Record) {
        self.before.entry(record.id()).or_insert(None);
        self.written.push(record.clone());
    }

    /// The final state of a record written by the request.
    fn after(&self, id: Uuid) -> Option<&Record> {
        self.written.iter().rev().find(|r| r.id() == id)
    }
}

impl ProjectTx for Recording<'_> {
    fn head(&mut self) -> super::storage::Result<u64> {
        self.inner.head()
    }
    fn set_head(&mut self, head: u64) -> super::storage::Result<()> {
        self.inner.set_head(head)
    }
    fn get(&mut self, id: Uuid) -> super::storage::Result<Option<Record>> {
        let found = self.inner.get(id)?;
        self.before.entry(id).or_insert_with(|| found.clone());
        Ok(found)
    }
    fn generation_by_version(
        &mut self,
        version: &crate::domain::Version,
    ) -> super::storage::Result<Option<crate::api::records::GenerationRecord>> {
        self.inner.generation_by_version(version)
    }
    fn evolutions_of(
        &mut self,
        generation_id: Uuid,
    ) -> super::storage::Result<Vec<crate::api::records::EvolutionRecord>> {
        self.inner.evolutions_of(generation_id)
    }
    fn rc_usage(
        &mut self,
        generation_id: Uuid,
        rc: u32,
    ) -> super::storage::Result<(Option<Uuid>, Option<u32>)> {
        self.inner.rc_usage(generation_id, rc)
    }
    fn evolution_by_code_name(&mut self, code_name: &str) -> super::storage::Result<Option<Uuid>> {
        self.inner.evolution_by_code_name(code_name)
    }
    fn put(&mut self, record: &Record) -> super::storage::Result<()> {
        self.inner.put(record)?;
        self.wrote(record);
        Ok(())
    }
    fn insert_new(&mut self, record: &Record) -> super::storage::Result<bool> {
        let inserted = self.inner.insert_new(record)?;
        if inserted {
            self.wrote(record);
        }
        Ok(inserted)
    }
    fn answer(
        &mut self,
        key: &str,
    ) -> super::storage::Result<Option<super::storage::StoredAnswer>> {
        self.inner.answer(key)
    }
    fn set_provenance(
        &mut self,
        id: Uuid,
        provenance: &crate::api::import::Provenance,
    ) -> super::storage::Result<()> {
        self.inner.set_provenance(id, provenance)
    }
    fn provenance(
        &mut self,
        id: Uuid,
    ) -> super::storage::Result<Option<crate::api::import::Provenance>> {
        self.inner.provenance(id)
    }
    fn store_answer(
        &mut self,
        key: &str,
        answer: &super::storage::StoredAnswer,
        now: &str,
    ) -> super::storage::Result<()> {
        self.inner.store_answer(key, answer, now)
    }
    fn webhooks(&mut self) -> super::storage::Result<Vec<WebhookRow>> {
        self.inner.webhooks()
    }
    fn insert_delivery(&mut self, delivery: &NewDelivery) -> super::storage::Result<()> {
        self.inner.insert_delivery(delivery)
    }
}

/// [`rules::push`], with the deliveries of what it changed: `generation_created` (and
/// `promoted` for a generation published promoted), `generation_updated`, and
/// `evolution_decided` for an evolution that reached a decided status. The second value
/// is the number of deliveries written. A project without webhooks pays one read.
pub fn push(
    tx: &mut dyn ProjectTx,
    project: &ProjectRow,
    actor: &Actor,
    req: &DecodedPush,
    now: &str,
) -> Result<(PushResponse, usize)> {
    let hooks = tx.webhooks()?;
    if hooks.is_empty() {
        return Ok((rules::push(tx, actor, req, now)?, 0));
    }
    let mut seen = Recording::new(tx);
    let response = rules::push(&mut seen, actor, req, now)?;
    let mut events = Vec::new();
    for result in &response.results {
        if result.action == PushAction::Unchanged {
            continue;
        }
        let Some(after) = seen.after(result.id) else {
            continue;
        };
        match after {
            Record::Generation(g) if result.action == PushAction::Created => {
                events.push((WebhookEvent::GenerationCreated, after.clone()));
                if g.status == GenerationStatus::Promoted {
                    events.push((WebhookEvent::Promoted, after.clone()));
                }
            }
            Record::Generation(_) => {
                events.push((WebhookEvent::GenerationUpdated, after.clone()));
            }
            Record::Evolution(e) => {
                let was_decided = matches!(
                    seen.before.get(&result.id),
                    Some(Some(Record::Evolution(p))) if p.status.is_completed()
                );
                if e.status.is_completed() && !was_decided {
                    events.push((WebhookEvent::EvolutionDecided, after.clone()));
                }
            }
            _ => {}
        }
    }
    let change = Change {
        project,
        actor,
        via: "push",
        now,
        events,
    };
    let written = change.enqueue(seen.inner, &hooks)?;
    Ok((response, written))
}

/// [`rules::promote`], with the `promoted` deliveries.
pub fn promote(
    tx: &mut dyn ProjectTx,
    project: &ProjectRow,
    actor: &Actor,
    id: Uuid,
    req: &PromoteRequest,
    now: &str,
) -> Result<(PromoteResponse, usize)> {
    let response = rules::promote(tx, actor, id, req, now)?;
    let hooks = tx.webhooks()?;
    let change = Change {
        project,
        actor,
        via: "promote",
        now,
        events: vec![(
            WebhookEvent::Promoted,
            Record::Generation(response.generation.clone()),
        )],
    };
    let written = change.enqueue(tx, &hooks)?;
    Ok((response, written))
}

/// [`rules::import`], with a `generation_created` delivery per generation it created (a dry
/// run writes none: it is rolled back anyway).
pub fn import(
    tx: &mut dyn ProjectTx,
    project: &ProjectRow,
    actor: &Actor,
    req: &DecodedImport,
    now: &str,
) -> Result<(ImportResponse, usize)> {
    let hooks = match req.dry_run {
        true => Vec::new(),
        false => tx.webhooks()?,
    };
    if hooks.is_empty() {
        return Ok((rules::import(tx, actor, req, now)?, 0));
    }
    let mut seen = Recording::new(tx);
    let response = rules::import(&mut seen, actor, req, now)?;
    let events = response
        .results
        .iter()
        .filter(|r| r.kind == ImportKind::Generation && r.action == ImportAction::Created)
        .filter_map(|r| seen.after(r.id).cloned())
        .map(|record| (WebhookEvent::GenerationCreated, record))
        .collect();
    let tx = seen.inner;
    let change = Change {
        project,
        actor,
        via: "import",
        now,
        events,
    };
    let written = change.enqueue(tx, &hooks)?;
    Ok((response, written))
}

/// [`rules::delete_generation`], with the `generation_deleted` deliveries (the record is
/// the generation's tombstone).
pub fn delete_generation(
    tx: &mut dyn ProjectTx,
    project: &ProjectRow,
    actor: &Actor,
    id: Uuid,
    revision: Option<u64>,
    now: &str,
) -> Result<(DeleteResponse, usize)> {
    let response = rules::delete_generation(tx, actor, id, revision, now)?;
    let hooks = tx.webhooks()?;
    if hooks.is_empty() {
        return Ok((response, 0));
    }
    let events = match tx.get(id)? {
        Some(tombstone) => vec![(WebhookEvent::GenerationDeleted, tombstone)],
        None => Vec::new(),
    };
    let change = Change {
        project,
        actor,
        via: "delete",
        now,
        events,
    };
    let written = change.enqueue(tx, &hooks)?;
    Ok((response, written))
}

/// Sends one delivery; the receiver's status code, or why there was none.
fn send(d: &ClaimedDelivery, timeout: Duration) -> std::result::Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // A redirect is an answer like any other non-2xx: the body is never re-sent elsewhere.
        .max_redirects(0)
        .user_agent(format!("gryt/{} webhooks", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(&d.url)
        .header("content-type", "application/json")
        .header(EVENT_HEADER, &d.event)
        .header(DELIVERY_HEADER, &d.id)
        .header(SIGNATURE_HEADER, signature(&d.secret, d.body.as_bytes()))
        .body(d.body.as_bytes().to_vec())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let mut response = agent.run(request).map_err(|e| match e {
        ureq::Error::Timeout(t) => format!("no answer within {timeout:?} ({t})"),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        other => other.to_string(),
    })?;
    // Read (a little of) the answer so the connection ends cleanly; its content is unused.
    let _ = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec();
    Ok(response.status().as_u16())
}

/// The outcome of an attempt: delivered, retried later, or given up.
fn outcome(
    settings: &WebhookSettings,
    d: &ClaimedDelivery,
    sent: std::result::Result<u16, String>,
    now: &str,
) -> (DeliveryOutcome, Option<Duration>) {
    let attempts = d.attempts + 1;
    let (code, error) = match sent {
        Ok(code) if (200..300).contains(&code) => {
            return (
                DeliveryOutcome {
                    status: "delivered",
                    attempts,
                    next_attempt_at: now_ms(),
                    last_status_code: Some(i64::from(code)),
                    last_error: None,
                    delivered_at: Some(now.to_string()),
                },
                None,
            );
        }
        Ok(code) => (
            Some(i64::from(code)),
            format!("the receiver answered HTTP {code}"),
        ),
        Err(e) => (None, e),
    };
    let spent = u32::try_from(attempts).unwrap_or(u32::MAX);
    if spent >= settings.max_attempts {
        return (
            DeliveryOutcome {
                status: "failed",
                attempts,
                next_attempt_at: now_ms(),
                last_status_code: code,
                last_error: Some(error),
                delivered_at: None,
            },
            None,
        );
    }
    let wait = settings.backoff(spent);
    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    (
        DeliveryOutcome {
            status: "pending",
            attempts,
            next_attempt_at: now_ms().saturating_add(wait_ms),
            last_status_code: code,
            last_error: Some(error),
            delivered_at: None,
        },
        Some(wait),
    )
}

/// One attempt of a claimed delivery, recorded; wakes the worker when a retry falls due.
async fn attempt(state: AppState, delivery: ClaimedDelivery) {
    let settings = state.config().webhooks.clone();
    let timeout = settings.timeout;
    let (id, claimed_until) = (delivery.id.clone(), delivery.claimed_until);
    let sent = {
        let d = delivery.clone();
        tokio::task::spawn_blocking(move || send(&d, timeout))
            .await
            .unwrap_or_else(|e| Err(format!("the attempt failed: {e}")))
    };
    let (outcome, retry_in) = outcome(&settings, &delivery, sent, &state.now());
    if outcome.status == "delivered" {
        tracing::info!(delivery = %id, event = %delivery.event, "webhook delivered");
    } else {
        tracing::warn!(
            delivery = %id, event = %delivery.event, attempts = outcome.attempts,
            status = outcome.status, error = outcome.last_error.as_deref().unwrap_or(""),
            "webhook attempt failed"
        );
    }
    let recorded = state
        .run(move |s| Ok(s.finish_delivery(&id, claimed_until, &outcome)?))
        .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, "recording a webhook attempt failed");
    }
    if let Some(wait) = retry_in {
        let wake = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            wake.wake_webhooks();
        });
    }
}

/// The delivery worker: claims due deliveries while it has free slots, runs each attempt
/// in a task of its own, and sleeps until woken (a change wrote deliveries, an attempt
/// ended, a retry fell due) or until the next sweep. Runs until its task is aborted.
pub(crate) async fn worker(state: AppState) {
    let settings = state.config().webhooks.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let lease = i64::try_from(settings.lease().as_millis()).unwrap_or(i64::MAX);
    loop {
        let free = slots.available_permits();
        if free > 0 {
            let now = now_ms();
            let limit = u32::try_from(free).unwrap_or(u32::MAX);
            let claimed = state
                .run(move |s| Ok(s.claim_deliveries(now, now.saturating_add(lease), limit)?))
                .await;
            match claimed {
                Ok(claimed) => {
                    for delivery in claimed {
                        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                            return;
                        };
                        let state = state.clone();
                        tokio::spawn(async move {
                            attempt(state.clone(), delivery).await;
                            drop(permit);
                            state.wake_webhooks();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        tokio::select! {
            () = state.webhooks_woken() => {}
            () = tokio::time::sleep(settings.sweep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = WebhookSettings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(500),
            ..WebhookSettings::default()
        };
        let waits: Vec<u128> = (1..=6).map(|a| s.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500, 500]);
    }

    #[test]
    fn milliseconds_format_as_rfc3339() {
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
