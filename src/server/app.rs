//! The axum application: shared state, the route table (one list of method, path and
//! handler that both builds the router and is what [`routes`] reports, so docs/openapi.json
//! can be checked against it), the layers every response passes
//! through (server version header, declared and actual body limits, the JSON error body for
//! answers no handler wrote, tracing with query strings redacted), JSON fallbacks for unknown
//! routes and methods, and [`serve`] for a listener the caller bound (tests bind
//! `127.0.0.1:0`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::auth::{LoginLimiter, LoginLimits, TokenCache};
use super::clock::Clock;
use super::conn::JsonErrorIo;
use super::error::{ServiceError, ServiceResult, error_response};
use super::handlers::{accounts, health, openapi, projects, teams, webhooks};
use super::storage::Storage;
use crate::api::error::{NotFoundDetails, Resource};
use crate::api::{ErrorCode, SERVER_VERSION_HEADER};

/// Whether anyone may create an account (`open`) or only an admin (`closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    #[default]
    Open,
    Closed,
}

impl std::str::FromStr for Registration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Registration::Open),
            "closed" => Ok(Registration::Closed),
            _ => Err(format!(
                "registration must be `open` or `closed`, not `{s}`"
            )),
        }
    }
}

/// Behaviour knobs of a running server (plain data; the CLI fills it from flags and env).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub registration: Registration,
    /// Largest request body accepted, in bytes (413 above it).
    pub body_limit: usize,
    /// Most records per changes page, whatever the client asks.
    pub page_limit: u32,
    /// Lifetime of a login (device) token.
    pub token_ttl: Duration,
    pub login_limits: LoginLimits,
    /// Take the client address for login limits from `X-Forwarded-For` when the peer is on
    /// loopback (a reverse proxy on the same host). Off by default.
    pub trust_forwarded_for: bool,
    /// How long a JSON request body may take to arrive once its headers are in (408 after).
    pub body_timeout: Duration,
    /// How long a request's headers may take to arrive (the connection is closed after): a
    /// client that trickles them cannot hold a connection forever.
    pub header_timeout: Duration,
    /// Wall-clock time for token expiry, login-limit windows and timestamps.
    pub clock: Clock,
    /// How webhook deliveries are sent and retried.
    pub webhooks: super::webhooks::WebhookSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            registration: Registration::Open,
            body_limit: 8 * 1024 * 1024,
            page_limit: crate::api::sync::DEFAULT_PAGE_LIMIT,
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            login_limits: LoginLimits::default(),
            trust_forwarded_for: false,
            body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            clock: Clock::system(),
            webhooks: super::webhooks::WebhookSettings::default(),
        }
    }
}

struct Inner {
    storage: Arc<dyn Storage>,
    config: ServerConfig,
    limiter: LoginLimiter,
    /// Bounds concurrent argon2 work (≈19 MiB and tens of ms each) so a burst of logins
    /// cannot exhaust memory or the blocking pool.
    hashing: tokio::sync::Semaphore,
    tokens: TokenCache,
    feed: Feed,
    /// Wakes the webhook delivery worker (deliveries were written, an attempt ended).
    webhooks: tokio::sync::Notify,
}

/// Wakes long polls of the changes feed (`wait=`): a counter bumped after every write this
/// process committed, and a flag set when the server starts to stop. A waiter also looks at
/// storage again every [`Feed::RECHECK`], for writes made through other processes on the same
/// database.
pub struct Feed {
    writes: tokio::sync::watch::Sender<u64>,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Feed {
    /// How often a long poll reads storage again without being woken.
    pub const RECHECK: Duration = Duration::from_millis(500);

    fn new() -> Feed {
        Feed {
            writes: tokio::sync::watch::channel(0).0,
            stopping: tokio::sync::watch::channel(false).0,
        }
    }

    /// A write committed: every waiter looks again.
    pub fn wrote(&self) {
        self.writes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The server is stopping: waiters answer now, so draining does not wait for them.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// What a long poll waits on, taken before it reads storage, so a write committed
    /// between that read and the wait still wakes it.
    pub fn subscribe(&self) -> FeedWaiter {
        FeedWaiter {
            writes: self.writes.subscribe(),
            stopping: self.stopping.subscribe(),
        }
    }
}

/// One long poll's view of the [`Feed`].
pub struct FeedWaiter {
    writes: tokio::sync::watch::Receiver<u64>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl FeedWaiter {
    /// Waits until a write is committed here (since the subscription or the last wait), the
    /// server stops, [`Feed::RECHECK`] passes or `until`, whichever comes first.
    pub async fn wait(&mut self, until: tokio::time::Instant) {
        if *self.stopping.borrow_and_update() {
            return;
        }
        let recheck = tokio::time::Instant::now() + Feed::RECHECK;
        tokio::select! {
            _ = self.writes.changed() => {}
            _ = self.stopping.changed() => {}
            () = tokio::time::sleep_until(recheck.min(until)) => {}
        }
    }
}

/// Shared by every handler: storage, configuration, the login limiter.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(storage: Arc<dyn Storage>, config: ServerConfig) -> Self {
        let limiter = LoginLimiter::new(config.login_limits, config.clock.clone());
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState(Arc::new(Inner {
            storage,
            config,
            limiter,
            hashing: tokio::sync::Semaphore::new(cpus.max(2)),
            tokens: TokenCache::default(),
            feed: Feed::new(),
            webhooks: tokio::sync::Notify::new(),
        }))
    }

    /// What long polls of the changes feed wait on.
    pub fn feed(&self) -> &Feed {
        &self.0.feed
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    pub fn clock(&self) -> &Clock {
        &self.0.config.clock
    }

    /// Now, as the server stamps it (RFC 3339, whole seconds).
    pub fn now(&self) -> String {
        self.0.config.clock.now_rfc3339()
    }

    pub fn token_cache(&self) -> &TokenCache {
        &self.0.tokens
    }

    pub fn limiter(&self) -> &LoginLimiter {
        &self.0.limiter
    }

    /// Wakes the webhook delivery worker (a wake while it works is kept for its next wait).
    pub fn wake_webhooks(&self) {
        self.0.webhooks.notify_one();
    }

    /// Resolves when [`AppState::wake_webhooks`] is called.
    pub(crate) async fn webhooks_woken(&self) {
        self.0.webhooks.notified().await;
    }

    /// Like [`AppState::run`] for work that hashes passwords: at most one per CPU at a time.
    pub async fn run_hashing<T, F>(&self, f: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Storage) -> ServiceResult<T> + Send + 'static,
    {
        let _permit =
            self.0.hashing.acquire().await.map_err(|e| {
                super::ServiceError::Internal(format!("hashing semaphore closed: {e}"))
            })?;
        self.run(f).await
    }

    /// Runs blocking storage work (and anything else blocking, like argon2) off the async
    /// threads.
    pub async fn run<T, F>(&self, f: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Storage) -> ServiceResult<T> + Send + 'static,
    {
        let storage = Arc::clone(&self.0.storage);
        tokio::task::spawn_blocking(move || f(storage.as_ref()))
            .await
            .map_err(|e| super::ServiceError::Internal(format!("blocking task failed: {e}")))?
    }
}

async fn version_header(mut response: Response) -> Response {
    response.headers_mut().insert(
        SERVER_VERSION_HEADER,
        HeaderValue::from_static(concat!("gryt/", env!("CARGO_PKG_VERSION"))),
    );
    response
}

async fn not_found(uri: Uri) -> Response {
    ServiceError::with(
        ErrorCode::NotFound,
        "no such endpoint",
        NotFoundDetails {
            resource: Resource::Route,
            name: uri.path().to_string(),
        },
    )
    .into_response()
}

/// Gives answers that no handler wrote — axum's extractor rejections and any layer's — the
/// JSON error body: an error status without a JSON body gets the code of its status. The web
/// view's HTML pages (`text/html`) are its own answers and pass as they are.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let written =
        content_type.starts_with("application/json") || content_type.starts_with("text/html");
    if !(status.is_client_error() || status.is_server_error()) || written {
        return response;
    }
    let code = ErrorCode::for_status(status.as_u16());
    let message = match code {
        ErrorCode::BadRequest => "the request cannot be decoded (check the URL's encoding)",
        ErrorCode::RequestTimeout => "the request did not arrive in time",
        ErrorCode::PayloadTooLarge => "the request body is larger than this server accepts",
        _ => status.canonical_reason().unwrap_or("the request failed"),
    };
    let mut json = ServiceError::new(code, message).into_response();
    *json.status_mut() = status;
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// Refuses a body whose declared `Content-Length` is above the limit before reading any of
/// it — and so before hyper sends `100 Continue` to a client that waits for one.
async fn refuse_declared_oversize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let limit = u64::try_from(state.config().body_limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|n| n > limit) {
        return super::error::rejection(axum::http::StatusCode::PAYLOAD_TOO_LARGE, String::new())
            .into_response();
    }
    next.run(request).await
}

/// The span of one request. The query string is reduced to its parameter names: values
/// (cursors today, perhaps secrets tomorrow) stay out of the logs.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %redacted_uri(request.uri()),
        version = ?request.version(),
    )
}

/// `path?name=…&other=…`: the path as sent, each query value replaced by `…`. A parameter
/// name that does not look like one (long, or not `[A-Za-z0-9_.-]`) is replaced too.
pub fn redacted_uri(uri: &Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_string();
    };
    let names: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let plain = !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            match (plain, pair.contains('=')) {
                (true, true) => format!("{name}=…"),
                (true, false) => name.to_string(),
                (false, _) => "…".to_string(),
            }
        })
        .collect();
    format!("{path}?{}", names.join("&"))
}

async fn method_not_allowed() -> Response {
    error_response(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

/// One entry of the route table: a method, the full path (axum syntax, `{param}`) and the
/// handler. The method is given once and picks both the entry's name and the handler's
/// filter, so the list [`routes`] reports is exactly what [`router`] serves.
struct Route {
    method: Method,
    path: &'static str,
    endpoint: MethodRouter<AppState>,
}

impl Route {
    fn new<H, T>(method: Method, path: &'static str, handler: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
        Route {
            method,
            path,
            endpoint: on(filter, handler),
        }
    }

    fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
        Route::new(Method::GET, path, handler)
    }

    fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
        Route::new(Method::POST, path, handler)
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
        Route::new(Method::DELETE, path, handler)
    }
}

/// The complete route table. docs/openapi.json describes every entry (a test compares the
/// two); `GET` routes also answer `HEAD`.
fn route_table() -> Vec<Route> {
    vec![
        Route::get("/healthz", health::healthz),
        Route::get("/readyz", health::readyz),
        Route::get("/v1/openapi.json", openapi::openapi),
        Route::post("/v1/accounts", accounts::register),
        Route::post("/v1/auth/login", accounts::login),
        Route::post("/v1/auth/logout", accounts::logout),
        Route::get("/v1/auth/whoami", accounts::whoami),
        Route::get("/v1/tokens", accounts::list_tokens),
        Route::delete("/v1/tokens/{id}", accounts::revoke_token),
        Route::post("/v1/api-keys", accounts::create_api_key),
        Route::get("/v1/api-keys", accounts::list_api_keys),
        Route::delete("/v1/api-keys/{id}", accounts::revoke_token),
        Route::post("/v1/teams", teams::create_team),
        Route::get("/v1/teams", teams::list_teams),
        Route::get("/v1/teams/{team}/members", teams::members),
        Route::post("/v1/teams/{team}/members", teams::add_member),
        Route::delete("/v1/teams/{team}/members/{username}", teams::remove_member),
        Route::get("/v1/teams/{team}/projects", teams::projects),
        Route::post("/v1/teams/{team}/projects", teams::create_project),
        Route::get("/v1/projects/{team}/{project}", projects::info),
        Route::get("/v1/projects/{team}/{project}/changes", projects::changes),
        Route::get("/v1/projects/{team}/{project}/digest", projects::digest),
        Route::post("/v1/projects/{team}/{project}/push", projects::push),
        Route::post("/v1/projects/{team}/{project}/import", projects::import),
        Route::delete(
            "/v1/projects/{team}/{project}/generations/{id}",
            projects::delete_generation,
        ),
        Route::post(
            "/v1/projects/{team}/{project}/generations/{id}/promote",
            projects::promote,
        ),
        Route::get(
            "/v1/projects/{team}/{project}/generations/{version}/status",
            projects::generation_status,
        ),
        Route::post("/v1/projects/{team}/{project}/webhooks", webhooks::create),
        Route::get("/v1/projects/{team}/{project}/webhooks", webhooks::list),
        Route::delete(
            "/v1/projects/{team}/{project}/webhooks/{id}",
            webhooks::remove,
        ),
        Route::get(
            "/v1/projects/{team}/{project}/webhooks/{id}/deliveries",
            webhooks::deliveries,
        ),
    ]
}

/// Every (method, path) the server routes, in table order — what docs/openapi.json must
/// describe, no more and no less.
pub fn routes() -> Vec<(Method, &'static str)> {
    route_table()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// The application: the route table and the layers every answer passes through.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit;
    let table = route_table()
        .into_iter()
        .fold(Router::new(), |router, r| router.route(r.path, r.endpoint));
    // The web view's pages (server/web/) beside the API: their own router, not in the table.
    table
        .merge(super::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_declared_oversize,
        ))
        .layer(axum::middleware::map_response(version_header))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Serves the app on an already-bound listener until `shutdown` resolves, then finishes the
/// requests in flight. Answers hyper writes by itself (malformed requests) get the JSON
/// error body too ([`JsonErrorListener`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let header_timeout = state.config().header_timeout;
    // Webhook deliveries go out from this task, never from a request.
    let deliveries = tokio::spawn(super::webhooks::worker(state.clone()));
    let app = router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        );
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(
                TokioIo::new(JsonErrorIo::new(stream)),
                hyper_util::service::TowerToHyperService::new(service),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
    drop(listener);
    // Long polls answer now; the other requests in flight finish; idle connections close.
    state.feed().stop();
    graceful.shutdown().await;
    // Deliveries not sent yet stay pending in storage for the next start.
    deliveries.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// (A method and path twice would already fail every server start: axum refuses it.)
    fn every_route_but_the_health_checks_is_under_the_api_prefix() {
        for (method, path) in &routes() {
            let health = matches!(*path, "/healthz" | "/readyz");
            assert!(
                health || path.starts_with(&format!("{}/", crate::api::API_PREFIX)),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn request_logs_keep_query_names_not_values() {
        let cases = [
            ("/v1/projects/acme/web", "/v1/projects/acme/web"),
            (
                "/v1/projects/acme/web/changes?since=42&limit=1000",
                "/v1/projects/acme/web/changes?since=…&limit=…",
            ),
            ("/v1/x?token=gryt_secret&flag", "/v1/x?token=…&flag"),
            ("/v1/x?gryt_0123456789abcdef0123456789abcdef=1", "/v1/x?…"),
            ("/v1/x?a%20b=c", "/v1/x?…"),
            ("/v1/x?", "/v1/x?"),
        ];
        for (uri, logged) in cases {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(redacted_uri(&uri), logged);
        }
    }

    /// What the server logs for a real request (served on this thread, so a thread-local
    /// subscriber sees every event): the path and the query's names, never its values.
    #[test]
    fn request_logs_show_no_query_values() {
        use std::io::{Read, Write};
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .finish();
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(crate::server::SqliteStorage::open(dir.path()).unwrap());
        let state = AppState::new(storage, ServerConfig::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(serve(listener, state, std::future::pending()));
                // The client on a thread of its own; the server on this one.
                tokio::task::spawn_blocking(move || {
                    let mut stream = std::net::TcpStream::connect(addr).unwrap();
                    stream
                        .write_all(
                            b"GET /v1/projects/acme/web/changes?since=s3cr3t-cursor&limit=hidden-limit HTTP/1.1\r\n\
                              Host: gryt\r\nConnection: close\r\n\r\n",
                        )
                        .unwrap();
                    let mut answer = String::new();
                    stream.read_to_string(&mut answer).unwrap();
                    answer
                })
                .await
                .unwrap()
            })
        });
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("uri=/v1/projects/acme/web/changes?since=…&limit=…"),
            "{logged}"
        );
        assert!(logged.contains("status=401"), "{logged}");
        assert!(!logged.contains("s3cr3t-cursor"), "{logged}");
        assert!(!logged.contains("hidden-limit"), "{logged}");
    }
}
