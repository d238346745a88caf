//! The axum application: shared state, the route table, the layers every response passes
//! through (server version header, body limit, tracing), JSON fallbacks for unknown routes
//! and methods, and [`serve`] for a listener the caller bound (tests bind `127.0.0.1:0`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{delete, get, post};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::auth::{LoginLimiter, LoginLimits};
use super::error::{ServiceResult, error_response};
use super::handlers::{accounts, health, projects, teams};
use super::storage::Storage;
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
}

/// Shared by every handler: storage, configuration, the login limiter.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(storage: Arc<dyn Storage>, config: ServerConfig) -> Self {
        let limiter = LoginLimiter::new(config.login_limits);
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState(Arc::new(Inner {
            storage,
            config,
            limiter,
            hashing: tokio::sync::Semaphore::new(cpus.max(2)),
        }))
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    pub fn limiter(&self) -> &LoginLimiter {
        &self.0.limiter
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

async fn not_found() -> Response {
    error_response(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error_response(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

/// The complete route table.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit;
    let project = Router::new()
        .route("/", get(projects::info))
        .route("/changes", get(projects::changes))
        .route("/push", post(projects::push))
        .route("/generations/{id}", delete(projects::delete_generation))
        .route("/generations/{id}/promote", post(projects::promote));
    let api = Router::new()
        .route("/accounts", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/auth/whoami", get(accounts::whoami))
        .route("/tokens", get(accounts::list_tokens))
        .route("/tokens/{id}", delete(accounts::revoke_token))
        .route(
            "/api-keys",
            post(accounts::create_api_key).get(accounts::list_api_keys),
        )
        .route("/api-keys/{id}", delete(accounts::revoke_token))
        .route("/teams", post(teams::create_team).get(teams::list_teams))
        .route(
            "/teams/{team}/members",
            get(teams::members).post(teams::add_member),
        )
        .route(
            "/teams/{team}/members/{username}",
            delete(teams::remove_member),
        )
        .route(
            "/teams/{team}/projects",
            get(teams::projects).post(teams::create_project),
        )
        .nest("/projects/{team}/{project}", project);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest(crate::api::API_PREFIX, api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(version_header))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Serves the app on an already-bound listener until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
