//! The blocking HTTP client for Gryt Cloud (docs/PROTOCOL.md): one typed method per endpoint,
//! bounded bodies, and retries with exponential backoff and jitter.
//!
//! Invariants:
//! - Only requests that are safe to repeat are retried: reads, pushes (they carry an
//!   idempotency key, so the server applies a repeated push once) and imports (idempotent:
//!   a record already there is answered `unchanged`). Register, login, logout,
//!   promote, delete and every other write are sent exactly once.
//! - Retried failures: network errors (connect, DNS, timeout, a dropped connection), 429
//!   (waiting `Retry-After` when it is short) and 502/503/504.
//! - Every answer body is read with a deliberate size cap; a body that is too large, or an
//!   error answer that is not the protocol's JSON, is a [`ClientError::Protocol`], never a panic.
//! - The token never appears in `Debug` output or in errors.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::api::accounts::{
    Account, AddMember, CreateApiKey, CreateNamed, IssuedToken, LoginRequest, Member, Project,
    RegisterRequest, Team, TokenInfo, WhoAmI,
};
use crate::api::sync::ProjectInfo;
use crate::api::{
    API_PREFIX, ChangesPage, ErrorBody, ErrorCode, PromoteRequest, PromoteResponse, PushResponse,
};

/// Cap for small answers (accounts, teams, lists).
const SMALL_BODY: u64 = 4 * 1024 * 1024;
/// Cap for a push answer (one result per record, up to 10,000 records).
const PUSH_BODY: u64 = 16 * 1024 * 1024;
/// Cap for a changes page (up to 1,000 records, each bounded by the server).
const PAGE_BODY: u64 = 64 * 1024 * 1024;
/// Longest `Retry-After` the client waits for by itself; longer waits are the user's call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body: it said no.
    #[error("{}", body.message)]
    Api { status: u16, body: ErrorBody },
    /// No answer: connection refused, DNS, timeout, TLS, a dropped connection.
    #[error("cannot reach the cloud at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An answer that is not the protocol: not JSON, the wrong shape, or too large.
    #[error("unexpected answer from the cloud: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The server's error code, when the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { body, .. } => Some(body.error),
            _ => None,
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Timeouts and the retry budget.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Whole request, from connecting to the last byte of the answer (one attempt).
    pub timeout: Duration,
    /// Extra attempts after the first, for requests that are safe to repeat.
    pub retries: u32,
    /// First backoff delay; it doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            retries: 4,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl ClientOptions {
    /// The defaults, adjusted by `GRYT_HTTP_RETRIES` (extra attempts) and
    /// `GRYT_HTTP_TIMEOUT` (seconds per attempt, also caps the connect timeout).
    pub fn from_env() -> Self {
        ClientOptions::default().with_env()
    }

    /// For syncs nobody asked for — the pre-commit hook, cloud mode's pull before and push
    /// after a command: give up fast (no retries, short timeouts) rather than hold up a
    /// commit or a command; the work stays pending for the next sync. The same variables
    /// adjust it.
    pub fn background() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            retries: 0,
            ..ClientOptions::default()
        }
        .with_env()
    }

    fn with_env(self) -> Self {
        let mut o = self;
        if let Some(n) = env_number("GRYT_HTTP_RETRIES") {
            o.retries = n.min(20) as u32;
        }
        if let Some(secs) = env_number("GRYT_HTTP_TIMEOUT").filter(|s| *s > 0) {
            o.timeout = Duration::from_secs(secs);
            o.connect_timeout = o.connect_timeout.min(o.timeout);
        }
        o
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Whether a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Once,
}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    opts: ClientOptions,
    /// Body bytes sent and received so far (progress bars, benchmarks); shared by clones.
    transferred: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("opts", &self.opts)
            .finish()
    }
}

impl Client {
    /// A client for the server at `base` (`http://host:port`, no trailing `/v1`).
    pub fn new(base: &str, token: Option<String>, opts: ClientOptions) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_global(Some(opts.timeout))
            .user_agent(format!("gryt/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token,
            opts,
            transferred: Default::default(),
        }
    }

    /// The same server and token, for long polls of up to `wait`: a timeout past it, and no
    /// retries (the caller polls again).
    pub fn for_long_polls(&self, wait: Duration) -> Client {
        let opts = ClientOptions {
            timeout: wait + self.opts.connect_timeout + Duration::from_secs(10),
            retries: 0,
            ..self.opts.clone()
        };
        Client::new(&self.base, self.token.clone(), opts)
    }

    /// Body bytes sent and received by this client so far, every attempt included.
    pub fn bytes_transferred(&self) -> u64 {
        self.transferred.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self, n: usize) {
        self.transferred
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    // --- accounts and tokens

    pub fn register(&self, req: &RegisterRequest) -> Result<Account> {
        self.post("/accounts", req, Repeat::Once)
    }

    pub fn login(&self, req: &LoginRequest) -> Result<IssuedToken> {
        self.post("/auth/login", req, Repeat::Once)
    }

    /// Revokes the token this client uses.
    pub fn logout(&self) -> Result<()> {
        self.send_empty("POST", "/auth/logout", Some(b"{}".to_vec()), Repeat::Once)
    }

    pub fn whoami(&self) -> Result<WhoAmI> {
        self.get("/auth/whoami", SMALL_BODY)
    }

    pub fn create_api_key(&self, req: &CreateApiKey) -> Result<IssuedToken> {
        self.post("/api-keys", req, Repeat::Once)
    }

    pub fn api_keys(&self) -> Result<Vec<TokenInfo>> {
        self.get("/api-keys", SMALL_BODY)
    }

    pub fn revoke_api_key(&self, id: Uuid) -> Result<()> {
        self.send_empty("DELETE", &format!("/api-keys/{id}"), None, Repeat::Once)
    }

    // --- teams and projects

    pub fn create_team(&self, name: &str) -> Result<Team> {
        let body = CreateNamed { name: name.into() };
        self.post("/teams", &body, Repeat::Once)
    }

    pub fn teams(&self) -> Result<Vec<Team>> {
        self.get("/teams", SMALL_BODY)
    }

    pub fn members(&self, team: &str) -> Result<Vec<Member>> {
        self.get(&format!("/teams/{}/members", seg(team)), SMALL_BODY)
    }

    /// Adds a member or changes their role; returns the members afterwards.
    pub fn add_member(&self, team: &str, req: &AddMember) -> Result<Vec<Member>> {
        self.post(&format!("/teams/{}/members", seg(team)), req, Repeat::Once)
    }

    pub fn remove_member(&self, team: &str, username: &str) -> Result<()> {
        let path = format!("/teams/{}/members/{}", seg(team), seg(username));
        self.send_empty("DELETE", &path, None, Repeat::Once)
    }

    pub fn create_project(&self, team: &str, name: &str) -> Result<Project> {
        let body = CreateNamed { name: name.into() };
        self.post(
            &format!("/teams/{}/projects", seg(team)),
            &body,
            Repeat::Once,
        )
    }

    pub fn projects(&self, team: &str) -> Result<Vec<Project>> {
        self.get(&format!("/teams/{}/projects", seg(team)), SMALL_BODY)
    }

    /// The cheap status request: the project and its head seq.
    pub fn project(&self, team: &str, project: &str) -> Result<ProjectInfo> {
        self.get(&project_path(team, project), SMALL_BODY)
    }

    // --- webhooks (project = `TEAM/PROJECT`)

    /// Adds a webhook; the answer carries its secret (shown this once).
    pub fn add_webhook(
        &self,
        project: &str,
        req: &crate::api::webhooks::CreateWebhook,
    ) -> Result<crate::api::webhooks::Webhook> {
        self.post(
            &format!("{}/webhooks", slug_path(project)),
            req,
            Repeat::Once,
        )
    }

    pub fn webhooks(&self, project: &str) -> Result<Vec<crate::api::webhooks::Webhook>> {
        self.get(&format!("{}/webhooks", slug_path(project)), SMALL_BODY)
    }

    pub fn remove_webhook(&self, project: &str, id: Uuid) -> Result<()> {
        let path = format!("{}/webhooks/{id}", slug_path(project));
        self.send_empty("DELETE", &path, None, Repeat::Once)
    }

    /// The webhook's newest deliveries (at most `limit`, the server's default when `None`),
    /// newest first.
    pub fn webhook_deliveries(
        &self,
        project: &str,
        id: Uuid,
        limit: Option<u32>,
    ) -> Result<Vec<crate::api::webhooks::Delivery>> {
        let mut path = format!("{}/webhooks/{id}/deliveries", slug_path(project));
        if let Some(limit) = limit {
            path.push_str(&format!("?limit={limit}"));
        }
        self.get(&path, PAGE_BODY)
    }

    // --- sync (project = `TEAM/PROJECT`)

    /// One page of the changes feed: records with seq > `since`, at most `limit` (server cap
    /// when `None`).
    pub fn changes(&self, project: &str, since: u64, limit: Option<u32>) -> Result<ChangesPage> {
        self.changes_with(project, since, limit, &[])
    }

    /// A page of the feed narrowed to the generations holding `versions` (all when empty):
    /// each, its evolutions and their runs. The page's `missing` names the versions the
    /// project does not hold.
    pub fn changes_with(
        &self,
        project: &str,
        since: u64,
        limit: Option<u32>,
        versions: &[crate::domain::Version],
    ) -> Result<ChangesPage> {
        let mut path = format!("{}/changes?since={since}", slug_path(project));
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        if !versions.is_empty() {
            let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
            path.push_str(&format!("&versions={}", list.join(",")));
        }
        self.get(&path, PAGE_BODY)
    }

    /// A long poll of the feed: at most one record after `since`, waiting up to `wait` for
    /// one to arrive (the server caps it). Answers the head; not retried (the caller polls
    /// again).
    pub fn wait_for_changes(&self, project: &str, since: u64, wait: Duration) -> Result<u64> {
        let path = format!(
            "{}/changes?since={since}&limit=1&wait={}",
            slug_path(project),
            wait.as_secs()
        );
        let url = format!("{}{API_PREFIX}{path}", self.base);
        let bytes = self
            .attempt("GET", &url, None, PAGE_BODY)
            .map_err(|f| f.err)?;
        let page: ChangesPage = decode(&bytes)?;
        Ok(page.head)
    }

    /// The longest a request may take (`GRYT_HTTP_TIMEOUT`).
    pub fn timeout(&self) -> Duration {
        self.opts.timeout
    }

    /// The project's digest: one hash per bucket of its live records (`bits` bucket bits).
    pub fn digest(&self, project: &str, bits: u8) -> Result<crate::api::digest::ProjectDigest> {
        let path = format!("{}/digest?bits={bits}", slug_path(project));
        self.get(&path, PAGE_BODY)
    }

    /// One page of a digest bucket's entries, after the id `after`.
    pub fn digest_bucket(
        &self,
        project: &str,
        bits: u8,
        bucket: u32,
        after: Option<Uuid>,
    ) -> Result<crate::api::digest::BucketPage> {
        let mut path = format!("{}/digest?bits={bits}&bucket={bucket}", slug_path(project));
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        self.get(&path, PAGE_BODY)
    }

    /// Where the generation holding `version` stands, computed by the cloud from its data.
    pub fn generation_status(
        &self,
        project: &str,
        version: &crate::domain::Version,
    ) -> Result<crate::api::status::GenerationStatusResponse> {
        let path = format!("{}/generations/{version}/status", slug_path(project));
        self.get(&path, PAGE_BODY)
    }

    /// One atomic push of an encoded `PushRequest`. Retried on network errors: the
    /// idempotency key makes that safe, and `body` goes out byte for byte (a replay must hash
    /// the same on the server).
    pub fn push_body(&self, project: &str, body: Vec<u8>) -> Result<PushResponse> {
        let path = format!("{}/push", slug_path(project));
        self.call("POST", &path, Some(body), Repeat::Safe, PUSH_BODY)
            .and_then(|b| decode(&b))
    }

    /// One page of the changes feed with each record kept as its JSON text, to be passed on
    /// as is (a copy forwards records without decoding them).
    pub fn changes_raw(
        &self,
        project: &str,
        since: u64,
        limit: Option<u32>,
    ) -> Result<RawChangesPage> {
        let mut path = format!("{}/changes?since={since}", slug_path(project));
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        self.get(&path, PAGE_BODY)
    }

    /// One import batch, an encoded `ImportRequest`. Retried on network errors: an import
    /// is idempotent (what arrived already is answered `unchanged`).
    pub fn import_body(
        &self,
        project: &str,
        body: Vec<u8>,
    ) -> Result<crate::api::import::ImportResponse> {
        let path = format!("{}/import", slug_path(project));
        self.call("POST", &path, Some(body), Repeat::Safe, PUSH_BODY)
            .and_then(|b| decode(&b))
    }

    /// Never retried: after a lost answer the caller sees `already_promoted` by itself.
    pub fn promote(
        &self,
        project: &str,
        generation: Uuid,
        req: &PromoteRequest,
    ) -> Result<PromoteResponse> {
        let path = format!("{}/generations/{generation}/promote", slug_path(project));
        self.post(&path, req, Repeat::Once)
    }

    // --- plumbing

    fn get<T: DeserializeOwned>(&self, path: &str, limit: u64) -> Result<T> {
        decode(&self.call("GET", path, None, Repeat::Safe, limit)?)
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        r: Repeat,
    ) -> Result<T> {
        decode(&self.call("POST", path, Some(to_json(body)?), r, SMALL_BODY)?)
    }

    fn send_empty(&self, method: &str, path: &str, body: Option<Vec<u8>>, r: Repeat) -> Result<()> {
        self.call(method, path, body, r, SMALL_BODY).map(drop)
    }

    /// Sends one request (retrying when allowed) and returns the body of a 2xx answer.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        repeat: Repeat,
        limit: u64,
    ) -> Result<Vec<u8>> {
        let url = format!("{}{API_PREFIX}{path}", self.base);
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(method, &url, body.as_deref(), limit) {
                Ok(bytes) => return Ok(bytes),
                Err(failure) => failure,
            };
            let wait = (repeat == Repeat::Safe && attempt < self.opts.retries)
                .then(|| self.retry_wait(&failure, attempt))
                .flatten();
            let Some(wait) = wait else {
                return Err(failure.err);
            };
            tracing::debug!(method, url, attempt, ?wait, "retrying");
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// How long to wait before repeating a failed request, or `None` to give up: the
    /// server's `Retry-After` when it is short, else backoff for network errors and
    /// retryable statuses.
    fn retry_wait(&self, failure: &Failure, attempt: u32) -> Option<Duration> {
        match (failure.retry_after, &failure.err) {
            (Some(wait), _) => (wait <= MAX_RETRY_AFTER).then_some(wait),
            (None, ClientError::Unreachable { .. }) => Some(self.backoff(attempt)),
            (None, ClientError::Api { status, .. }) if retryable_status(*status) => {
                Some(self.backoff(attempt))
            }
            _ => None,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        backoff_delay(
            attempt,
            self.opts.backoff,
            self.opts.max_backoff,
            fastrand::f64(),
        )
    }

    /// One exchange: the body of a 2xx answer, or the failure and any `Retry-After`.
    fn attempt(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        limit: u64,
    ) -> std::result::Result<Vec<u8>, Failure> {
        let unreachable = |reason: String| ClientError::Unreachable {
            url: self.base.clone(),
            reason,
        };
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "application/json");
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        self.count(body.map_or(0, <[u8]>::len));
        let sent = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(b.to_vec())
                .map_err(|e| ClientError::Protocol(format!("cannot build the request: {e}")))
                .and_then(|r| {
                    self.agent
                        .run(r)
                        .map_err(|e| transport_error(e, &unreachable))
                }),
            None => req
                .body(())
                .map_err(|e| ClientError::Protocol(format!("cannot build the request: {e}")))
                .and_then(|r| {
                    self.agent
                        .run(r)
                        .map_err(|e| transport_error(e, &unreachable))
                }),
        };
        let mut res = match sent {
            Ok(res) => res,
            Err(err) => {
                return Err(Failure {
                    err,
                    retry_after: None,
                });
            }
        };
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let limit = if (200..300).contains(&status) {
            limit
        } else {
            SMALL_BODY
        };
        let bytes = match res.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(b) => b,
            Err(e) => {
                return Err(Failure {
                    err: transport_error(e, &unreachable),
                    retry_after: None,
                });
            }
        };
        self.count(bytes.len());
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        Err(Failure {
            err: error_answer(status, &bytes, &self.base),
            retry_after: retry_after.filter(|_| retryable_status(status)),
        })
    }
}

/// A changes page whose records are still the server's JSON text.
#[derive(Debug, serde::Deserialize)]
pub struct RawChangesPage {
    pub records: Vec<Box<serde_json::value::RawValue>>,
    pub next: u64,
    pub head: u64,
    pub more: bool,
}

struct Failure {
    err: ClientError,
    retry_after: Option<Duration>,
}

/// 429 (too many requests) and 502/503/504 (a proxy or the server is briefly not answering).
fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502..=504)
}

fn transport_error(e: ureq::Error, unreachable: &dyn Fn(String) -> ClientError) -> ClientError {
    use ureq::Error as E;
    match e {
        E::BodyExceedsLimit(n) => {
            ClientError::Protocol(format!("the answer is larger than {}", human_bytes(n)))
        }
        E::Json(e) => ClientError::Protocol(format!("the answer is not valid JSON: {e}")),
        E::Protocol(e) => ClientError::Protocol(format!("not an HTTP answer: {e}")),
        E::BadUri(u) => ClientError::Protocol(format!("bad URL {u}")),
        E::Http(e) => ClientError::Protocol(format!("bad request: {e}")),
        E::HostNotFound => unreachable("host not found".into()),
        E::ConnectionFailed => unreachable("connection failed".into()),
        E::Timeout(t) => unreachable(format!("timed out ({t})")),
        E::Io(e) => unreachable(e.to_string()),
        other => unreachable(other.to_string()),
    }
}

/// The error answer of a non-2xx status: the protocol's JSON body, or a clear protocol error.
fn error_answer(status: u16, bytes: &[u8], base: &str) -> ClientError {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return ClientError::Api { status, body };
    }
    // A code this client does not know yet: keep the server's words, classify by status.
    #[derive(serde::Deserialize)]
    struct Loose {
        error: String,
        message: String,
    }
    if let Ok(l) = serde_json::from_slice::<Loose>(bytes) {
        let code = match status {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            413 => ErrorCode::PayloadTooLarge,
            422 => ErrorCode::Validation,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        let body = ErrorBody::new(code, format!("{} ({})", l.message, l.error));
        return ClientError::Api { status, body };
    }
    if matches!(status, 502..=504) {
        return ClientError::Unreachable {
            url: base.to_string(),
            reason: format!("HTTP {status} from a proxy or gateway"),
        };
    }
    ClientError::Protocol(format!(
        "HTTP {status} without a Gryt Cloud error body (is {base} a Gryt Cloud server?): {}",
        snippet(bytes)
    ))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    // Empty 2xx answers (204) decode as `()` through `null`.
    let bytes = if bytes.is_empty() { b"null" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        ClientError::Protocol(format!(
            "the answer is not what Gryt Cloud sends ({e}): {}",
            snippet(bytes)
        ))
    })
}

fn to_json<T: Serialize>(body: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| ClientError::Protocol(format!("cannot encode: {e}")))
}

/// The first bytes of a body, printable, for error messages.
fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if bytes.len() > MAX {
        s.push('…');
    }
    if s.trim().is_empty() {
        "(empty body)".into()
    } else {
        format!("`{}`", s.trim())
    }
}

fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{} MiB", n / (1024 * 1024))
    } else {
        format!("{n} bytes")
    }
}

/// Percent-encodes one path segment (names are restricted already; this keeps odd input from
/// changing the route).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn project_path(team: &str, project: &str) -> String {
    format!("/projects/{}/{}", seg(team), seg(project))
}

/// `TEAM/PROJECT` → `/projects/TEAM/PROJECT`.
fn slug_path(project: &str) -> String {
    let (team, name) = project.split_once('/').unwrap_or((project, ""));
    project_path(team, name)
}

/// Exponential backoff with jitter: `base · 2^attempt`, capped at `max`, then scaled into
/// [50 %, 100 %] by `rand` ∈ [0, 1) so clients that failed together do not retry together.
pub fn backoff_delay(attempt: u32, base: Duration, max: Duration, rand: f64) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    full.mul_f64(0.5 + 0.5 * rand.clamp(0.0, 1.0))
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past is 0.
fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let when = std::time::SystemTime::from(when);
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(backoff_delay(0, base, max, 0.999_999).as_millis(), 99);
        assert_eq!(backoff_delay(0, base, max, 0.0), Duration::from_millis(50));
        assert_eq!(backoff_delay(3, base, max, 0.0), Duration::from_millis(400));
        assert_eq!(backoff_delay(10, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(10, base, max, 1.0), max);
        assert_eq!(backoff_delay(u32::MAX, base, max, 1.0), max);
        for attempt in 0..8 {
            let d = backoff_delay(attempt, base, max, fastrand::f64());
            let full = base.saturating_mul(1 << attempt).min(max);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn error_answers() {
        let body = br#"{"error":"behind","message":"pull first","details":{"head":5}}"#;
        match error_answer(409, body, "http://x") {
            ClientError::Api { status: 409, body } => {
                assert_eq!(body.error, ErrorCode::Behind);
                assert_eq!(body.details["head"], 5);
            }
            other => panic!("{other:?}"),
        }
        let future = br#"{"error":"brand_new","message":"no"}"#;
        match error_answer(409, future, "http://x") {
            ClientError::Api { body, .. } => assert_eq!(body.message, "no (brand_new)"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            error_answer(502, b"<html>bad gateway</html>", "http://x"),
            ClientError::Unreachable { .. }
        ));
        let e = error_answer(404, b"<html>nope</html>", "http://x");
        assert!(matches!(e, ClientError::Protocol(_)), "{e:?}");
        assert!(e.to_string().contains("<html>nope</html>"), "{e}");
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(slug_path("acme/web"), "/projects/acme/web");
        assert_eq!(slug_path("a b/c?d"), "/projects/a%20b/c%3Fd");
        assert_eq!(seg("../x"), "..%2Fx");
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new(
            "http://127.0.0.1:1",
            Some("gryt_secret".into()),
            Default::default(),
        );
        assert!(!format!("{c:?}").contains("gryt_secret"));
    }
}
