//! Gryt Cloud, the server teams share (`gryt cloud serve`; docs/SERVER.md, docs/ARCHITECTURE.md).
//! It is the authority for the sync rules: a push is one atomic compare-and-swap, versions
//! are locked per project, promoted generations never change, evolutions belong to their
//! owner. Compiled only with the `server` feature; the client side never depends on it.
//!
//! Entry points for the CLI: [`run_serve`] (blocking; owns its tokio runtime) and
//! [`admin_add_user`]. Tests and embedders use [`router`]/[`serve`] with [`AppState`].

mod app;
pub mod auth;
pub mod clock;
mod conn;
mod error;
pub mod handlers;
pub mod rules;
pub mod storage;
pub mod web;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use app::{AppState, Registration, ServerConfig, router, routes, serve};
pub use auth::LoginLimits;
pub use clock::{Clock, ManualClock};
pub use error::{ServiceError, ServiceResult};
#[cfg(feature = "pg")]
pub use storage::PostgresStorage;
pub use storage::backup::{AdminError, BackupReport, DataDirLock, RestoreReport};
pub use storage::{SqliteStorage, Storage, StorageError};
pub use webhooks::WebhookSettings;

use crate::api::accounts::{Account, RegisterRequest};

/// Everything `gryt cloud serve` needs, as plain data (the CLI fills it from flags and
/// `GRYT_SERVER_*` variables).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (default `127.0.0.1:8787`).
    pub listen: SocketAddr,
    /// Directory holding the server database (created if missing); unused with `database`.
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://…`) instead of SQLite in `data_dir`.
    pub database: Option<String>,
    pub registration: Registration,
    /// Largest request body in bytes (default 8 MiB).
    pub body_limit: usize,
    /// Lifetime of login tokens (default 30 days).
    pub token_ttl: Duration,
    /// Behind a reverse proxy on the same host: rate-limit logins by `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// `tracing` filter, e.g. `info` or `gryt=debug,tower_http=info`; `RUST_LOG` wins when set.
    pub log_filter: String,
}

impl ServeOptions {
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

    pub fn new(data_dir: PathBuf) -> Self {
        let defaults = ServerConfig::default();
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir,
            database: None,
            registration: defaults.registration,
            body_limit: defaults.body_limit,
            token_ttl: defaults.token_ttl,
            trust_forwarded_for: defaults.trust_forwarded_for,
            log_filter: "info".to_string(),
        }
    }

    /// Serves the PostgreSQL database at `url` instead of a data directory.
    pub fn with_database(mut self, url: String) -> Self {
        self.database = Some(url);
        self
    }

    /// Where the storage is, for messages: the data directory, or the database URL without
    /// its password.
    pub fn storage_label(&self) -> String {
        match &self.database {
            Some(url) => format!("database {}", redact_url(url)),
            None => format!("data in {}", self.data_dir.display()),
        }
    }

    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            registration: self.registration,
            body_limit: self.body_limit,
            token_ttl: self.token_ttl,
            trust_forwarded_for: self.trust_forwarded_for,
            ..ServerConfig::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl From<ServiceError> for ServerError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Storage(s) => ServerError::Storage(s),
            other => ServerError::Rejected(other.body().message),
        }
    }
}

/// The default `--data` directory: `$XDG_DATA_HOME/gryt/server`, else
/// `~/.local/share/gryt/server`; `None` without a home directory.
pub fn default_data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("gryt").join("server"))
}

/// Opens the storage of a data directory (creating and migrating it).
pub fn open_storage(data_dir: &Path) -> Result<Arc<dyn Storage>, ServerError> {
    Ok(Arc::new(SqliteStorage::open(data_dir)?))
}

/// Opens (migrating) the PostgreSQL database at `url`.
#[cfg(feature = "pg")]
pub fn open_postgres(url: &str) -> Result<Arc<dyn Storage>, ServerError> {
    Ok(Arc::new(PostgresStorage::open(url)?))
}

#[cfg(not(feature = "pg"))]
pub fn open_postgres(_url: &str) -> Result<Arc<dyn Storage>, ServerError> {
    Err(ServerError::Rejected(
        "this gryt was built without PostgreSQL support (feature `pg`)".into(),
    ))
}

/// Opens what `opts` names: the PostgreSQL database, else SQLite in the data directory (then
/// with the directory's lock: one server per data directory).
fn open_configured(
    opts: &ServeOptions,
) -> Result<(Arc<dyn Storage>, Option<DataDirLock>), ServerError> {
    match &opts.database {
        Some(url) => Ok((open_postgres(url)?, None)),
        None => {
            let lock = DataDirLock::acquire(&opts.data_dir)?;
            Ok((open_storage(&opts.data_dir)?, Some(lock)))
        }
    }
}

/// Whether `s` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    #[cfg(feature = "pg")]
    return storage::postgres::redact(url);
    #[cfg(not(feature = "pg"))]
    url.to_string()
}

/// How long requests in flight may run after SIGINT/SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Runs the server until SIGINT or SIGTERM, then drains requests in flight. Blocking: builds
/// its own tokio runtime. Logs through `tracing` to stderr.
pub fn run_serve(opts: ServeOptions) -> Result<(), ServerError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&opts.log_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    // One server per data directory: a second one, or a restore, is refused while it runs.
    // Any number of servers share one PostgreSQL database.
    let (storage, _lock) = open_configured(&opts)?;
    let label = opts.storage_label();
    let state = AppState::new(storage, opts.config());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        // The handlers are in place before anyone is told where to connect: a SIGTERM sent
        // right after the "listening" line is a clean stop, not the default kill.
        let signal = shutdown_signal();
        tracing::info!(%addr, storage = %label, registration = ?opts.registration, "gryt cloud listening");
        let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            signal.await;
            let _ = signalled.send(true);
        };
        // Requests in flight get SHUTDOWN_GRACE to finish; a stuck client cannot hold the
        // process forever (an unfinished push is rolled back, never half-applied).
        let deadline = async move {
            let _ = on_signal.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            served = serve(listener, state, shutdown) => served?,
            () = deadline => tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway"),
        }
        tracing::info!("gryt cloud stopped");
        Ok(())
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed by this call, not by
/// the first poll of the future it returns (call it inside the runtime).
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async fn wait(s: Option<&mut tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    async move {
        tokio::select! {
            () = wait(term.as_mut()) => {},
            () = wait(int.as_mut()) => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// Writes a consistent copy of the server database in `data_dir` to `out` (never over an
/// existing file), safe while the server runs, checked with `PRAGMA integrity_check`, with
/// `out.sha256` beside it.
pub fn admin_backup(data_dir: &Path, out: &Path) -> Result<BackupReport, AdminError> {
    storage::backup::backup(data_dir, out)
}

/// Replaces the server database in `data_dir` with the backup `file` (checksum, integrity and
/// schema checked first; refused while a server runs there). The replaced database is kept in
/// `data_dir/replaced/`; the server gets a new history id.
pub fn admin_restore(file: &Path, data_dir: &Path) -> Result<RestoreReport, AdminError> {
    storage::backup::restore(file, data_dir)
}

/// Copies the SQLite server in `from` into the empty PostgreSQL database at `to`, checking
/// every table before it commits (`gryt cloud admin migrate`).
#[cfg(feature = "pg")]
pub fn admin_migrate(from: &Path, to: &str) -> Result<storage::migrate::MigrateReport, AdminError> {
    storage::migrate::migrate(from, to)
}

#[cfg(not(feature = "pg"))]
pub fn admin_migrate(
    _from: &Path,
    _to: &str,
) -> Result<storage::migrate::MigrateReport, AdminError> {
    Err(AdminError::Postgres(
        "this gryt was built without PostgreSQL support (feature `pg`)".into(),
    ))
}

/// Gives the PostgreSQL server at `url` a new history id (after a restore from a dump).
pub fn admin_new_history(url: &str) -> Result<uuid::Uuid, ServerError> {
    #[cfg(feature = "pg")]
    return Ok(PostgresStorage::open(url)?.rewind_history()?);
    #[cfg(not(feature = "pg"))]
    Err(ServerError::Rejected(format!(
        "this gryt was built without PostgreSQL support (feature `pg`): {url}"
    )))
}

/// Creates an account directly in the data directory, without a running server (for closed
/// registration). The same name and password rules as `POST /v1/accounts`.
pub fn admin_add_user(
    data_dir: &Path,
    username: &str,
    password: &str,
) -> Result<Account, ServerError> {
    admin_add_user_to(&SqliteStorage::open(data_dir)?, username, password)
}

/// Creates an account in an open storage (see [`admin_add_user`]).
pub fn admin_add_user_to(
    storage: &dyn Storage,
    username: &str,
    password: &str,
) -> Result<Account, ServerError> {
    let req = RegisterRequest {
        username: username.to_string(),
        password: password.to_string(),
    };
    let now = Clock::system().now_rfc3339();
    Ok(handlers::accounts::create_account(storage, &req, &now)?)
}

/// A server on its own thread and tokio runtime, listening on 127.0.0.1:0 — for tests,
/// benchmarks and embedding. Stops gracefully on [`BackgroundServer::stop`] or drop.
pub struct BackgroundServer {
    pub addr: SocketAddr,
    /// Released once the server has stopped and closed its storage.
    lock: Option<DataDirLock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Opens (creating) the storage in `data_dir` and serves it on a free loopback port.
    pub fn start(data_dir: &Path, config: ServerConfig) -> Result<BackgroundServer, ServerError> {
        let lock = DataDirLock::acquire(data_dir)?;
        let storage = open_storage(data_dir)?;
        Self::start_on(storage, Some(lock), config)
    }

    /// Serves an open storage on a free loopback port (`lock`, if any, is released when the
    /// server stops).
    pub fn start_on(
        storage: Arc<dyn Storage>,
        lock: Option<DataDirLock>,
        config: ServerConfig,
    ) -> Result<BackgroundServer, ServerError> {
        let state = AppState::new(storage, config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = runtime.block_on(serve(listener, state, shutdown)) {
                tracing::error!(error = %e, "background server failed");
            }
        });
        Ok(BackgroundServer {
            addr,
            lock,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully and waits for the server thread.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.lock = None;
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.stop();
    }
}
