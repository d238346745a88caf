//! PostgreSQL backend of [`Storage`] (`gryt cloud serve --database postgres://…`), for
//! deployments that run their own database and several server processes on it.
//!
//! The driver is tokio-postgres. [`Storage`] calls block (the server runs them on blocking
//! threads), so each pooled connection ([`Conn`], pooled by r2d2) comes with a single-threaded
//! runtime of its own: the thread that runs a statement drives the connection itself, with no
//! hand-off to another thread and back for every round trip. The schema is the SQLite backend's migrations, run by
//! refinery under an advisory lock (two processes starting at once migrate once).
//!
//! Correct with several processes on one database:
//! - writers to one project are serialized by a row lock on the project (`SELECT … FOR
//!   UPDATE` at the start of every [`Storage::transact`]), so the rules' compare-and-swap on
//!   the head, the version lock, first-promoter-wins and the idempotency answers are decided
//!   by one writer at a time across every process, exactly as under SQLite's single writer;
//! - team rules run under a transaction-scoped advisory lock (the SQLite backend's
//!   `BEGIN IMMEDIATE`), so "the last owner" cannot be demoted by two owners at once;
//! - the unique indexes (version, rc tag, code name, names) stay the last word: `insert_new`
//!   is `ON CONFLICT DO NOTHING`, since a failed statement aborts a PostgreSQL transaction;
//! - the changes feed and the digest read one snapshot (`REPEATABLE READ`, read only).
//!
//! Ids, names and timestamps are compared and ordered byte-wise (`COLLATE "C"`), as SQLite
//! does, whatever collation the database was created with: the digest pages by id order.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};
use uuid::Uuid;

use super::schema::MIGRATIONS;
use super::{
    AccountRow, ClaimedDelivery, DeliveryOutcome, DeliveryRow, GenerationsSnapshot, NewDelivery,
    NewToken, ProjectRow, ProjectTx, RawPage, RecordColumns, Result, Storage, StorageError,
    StoredAnswer, TeamRow, TeamTx, TokenRow, WebhookRow,
};
use crate::api::accounts::{Member, Role, TokenKind};
use crate::api::digest::{self, DigestEntry};
use crate::api::import::Provenance;
use crate::api::records::{EvolutionRecord, GenerationRecord, Record};
use crate::domain::Version;
use crate::server::ServiceError;

/// Connections per server process. Four processes stay well inside PostgreSQL's default
/// `max_connections` (100).
pub const POOL_SIZE: usize = 16;

/// How long a request waits for a free connection, and for a new one to open.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// How long `/readyz` waits for a connection before it says the database is not ready.
const PING_WAIT: Duration = Duration::from_secs(2);

/// One database connection with the single-threaded runtime that drives it: whichever thread
/// blocks on a statement also polls the connection, so a round trip costs no thread hand-off.
/// Prepared statements are cached per connection.
pub(crate) struct Conn {
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    client: tokio_postgres::Client,
    statements: std::collections::HashMap<String, tokio_postgres::Statement>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Dropped wherever the pool lets it go, async threads included: never block there.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The connection settings in `url`, or why it is not a PostgreSQL URL.
pub(crate) fn config_of(url: &str) -> Result<tokio_postgres::Config> {
    tokio_postgres::Config::from_str(url).map_err(|e| {
        StorageError::Backend(format!(
            "`{}` is not a PostgreSQL connection URL: {e}",
            redact(url)
        ))
    })
}

impl Conn {
    /// Connects; the error names the cause, with `label` (the URL without its password).
    pub(crate) fn connect(config: &tokio_postgres::Config, label: &str) -> Result<Conn> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StorageError::Backend(format!("cannot start a runtime: {e}")))?;
        let (client, connection) = runtime.block_on(config.connect(NoTls)).map_err(|e| {
            let tls = match e.to_string().contains("TLS") {
                true => " (TLS to the database is not supported yet: use sslmode=disable on a private network or the Unix socket)",
                false => "",
            };
            StorageError::Unavailable(format!("cannot connect to {label}: {}{tls}", describe(&e)))
        })?;
        // Runs whenever a thread blocks on this runtime: the one running a statement.
        runtime.spawn(connection);
        Ok(Conn {
            runtime: Some(runtime),
            client,
            statements: std::collections::HashMap::new(),
        })
    }

    /// Runs `f` with the client on this connection's runtime (for work that needs the client
    /// itself, such as a transaction).
    pub(crate) fn with_client<'c, F, Fut>(&'c mut self, f: F) -> Fut::Output
    where
        F: FnOnce(&'c mut tokio_postgres::Client) -> Fut,
        Fut: std::future::Future,
    {
        let Conn {
            runtime, client, ..
        } = self;
        match runtime {
            Some(rt) => rt.block_on(f(client)),
            None => unreachable!("the runtime lives as long as the connection"),
        }
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.runtime {
            Some(rt) => rt.block_on(f),
            None => unreachable!("the runtime lives as long as the connection"),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<tokio_postgres::Statement> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.block(self.client.prepare(sql)).map_err(pg)?;
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    /// Runs one statement; the rows it returns.
    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        self.block(self.client.query(&st, params)).map_err(pg)
    }

    /// Runs one statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let st = self.statement(sql)?;
        self.block(self.client.execute(&st, params)).map_err(pg)
    }
}

/// Opens [`Conn`]s for the pool.
struct Connector {
    config: tokio_postgres::Config,
    /// The URL without its password, for errors.
    label: String,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Conn;
    type Error = StorageError;

    fn connect(&self) -> Result<Conn> {
        Conn::connect(&self.config, &self.label)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.block(conn.client.simple_query(""))
            .map(|_| ())
            .map_err(pg)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

type Pooled = r2d2::PooledConnection<Connector>;

/// Advisory lock keys (one namespace per purpose).
const MIGRATION_LOCK: i64 = 0x6772_7974_0001;
const TEAMS_LOCK: i64 = 0x6772_7974_0002;

/// `url` with any password replaced by `***`, for logs and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once("password=") {
        Some((before, after)) => {
            let rest = after.find('&').map_or("", |i| &after[i..]);
            format!("{before}password=***{rest}")
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Makes `schema` (lowercase letters, digits, `_`) in the database at `url` if it is missing,
/// and returns a URL whose connections work in it (`search_path`): several servers, or test
/// runs, each in their own schema of one database.
pub fn schema_url(url: &str, schema: &str) -> Result<String> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(StorageError::Backend(format!(
            "`{schema}` is not a schema name (lowercase letters, digits and _)"
        )));
    }
    let conn = Conn::connect(&config_of(url)?, &redact(url))?;
    conn.block(
        conn.client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")),
    )
    .map_err(pg)?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

pub struct PostgresStorage {
    pool: r2d2::Pool<Connector>,
    history_id: Uuid,
    url: String,
}

/// The error with its causes (tokio-postgres keeps "connection refused" and the like there).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn pg(e: tokio_postgres::Error) -> StorageError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let busy = [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::QUERY_CANCELED,
        ];
        if busy.contains(code) {
            return StorageError::Unavailable(db.message().to_string());
        }
        return StorageError::Backend(format!("{} ({})", db.message(), code.code()));
    }
    if e.is_closed() {
        return StorageError::Unavailable(format!(
            "the database connection closed: {}",
            describe(&e)
        ));
    }
    StorageError::Unavailable(format!("the database does not answer: {}", describe(&e)))
}

fn pool_error(e: r2d2::Error) -> StorageError {
    StorageError::Unavailable(format!("no database connection: {e}"))
}

fn parse_record(body: &str) -> Result<Record> {
    serde_json::from_str(body).map_err(|e| StorageError::Corrupt(format!("record: {e}")))
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uuid_of(s: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| StorageError::Corrupt(format!("{what} {s}")))
}

fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StorageError::Corrupt(format!("role {s}")))
}

/// Reads column `i` of a row, a type mismatch being corrupt data.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> Result<T> {
    r.try_get(i)
        .map_err(|e| StorageError::Corrupt(format!("column {i}: {e}")))
}

fn account_from(r: &Row, at: usize) -> Result<AccountRow> {
    Ok(AccountRow {
        id: col(r, at)?,
        username: col(r, at + 1)?,
        password_hash: col(r, at + 2)?,
        created_at: col(r, at + 3)?,
    })
}

fn token_from(r: &Row) -> Result<TokenRow> {
    let kind: String = col(r, 2)?;
    Ok(TokenRow {
        id: uuid_of(&col::<String>(r, 0)?, "token id")?,
        account_id: col(r, 1)?,
        kind: TokenKind::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("token kind {kind}")))?,
        name: col(r, 3)?,
        created_at: col(r, 4)?,
        expires_at: col(r, 5)?,
        revoked_at: col(r, 6)?,
    })
}

fn team_role_from(r: &Row) -> Result<(TeamRow, Role)> {
    Ok((
        TeamRow {
            id: col(r, 0)?,
            name: col(r, 1)?,
            created_at: col(r, 2)?,
        },
        role_of(&col::<String>(r, 3)?)?,
    ))
}

const ACCOUNT_BY_NAME: &str =
    "SELECT id, username, password_hash, created_at FROM accounts WHERE username = $1";

fn first_account(rows: &[Row]) -> Result<Option<AccountRow>> {
    rows.first().map(|r| account_from(r, 0)).transpose()
}

const TOKEN_COLS: &str =
    "t.id, t.account_id, t.kind, t.name, t.created_at, t.expires_at, t.revoked_at";

const MEMBERS_SQL: &str = "SELECT a.username, m.role FROM team_members m
     JOIN accounts a ON a.id = m.account_id
     WHERE m.team_id = $1 ORDER BY a.username COLLATE \"C\"";

fn members_from(rows: &[Row]) -> Result<Vec<Member>> {
    rows.iter()
        .map(|r| {
            Ok(Member {
                username: col(r, 0)?,
                role: role_of(&col::<String>(r, 1)?)?,
            })
        })
        .collect()
}

const WEBHOOKS_SQL: &str =
    "SELECT id, project_id, url, secret, events, created_by, created_at FROM webhooks
     WHERE project_id = $1 ORDER BY id COLLATE \"C\"";

fn webhooks_from(rows: &[Row]) -> Result<Vec<WebhookRow>> {
    rows.iter()
        .map(|r| {
            Ok(WebhookRow {
                id: col(r, 0)?,
                project_id: col(r, 1)?,
                url: col(r, 2)?,
                secret: col(r, 3)?,
                events: col(r, 4)?,
                created_by: col(r, 5)?,
                created_at: col(r, 6)?,
            })
        })
        .collect()
}

/// Key of the history id in `server_meta`.
const HISTORY_ID: &str = "history_id";

/// The migrations as refinery runs them: the same statements as the SQLite backend's.
fn migrations() -> Result<Vec<refinery::Migration>> {
    const NAMES: [&str; 6] = [
        "initial",
        "server_meta",
        "digest",
        "kind_check",
        "record_copies",
        "webhooks",
    ];
    MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, sql)| {
            let name = NAMES.get(i).copied().unwrap_or("migration");
            refinery::Migration::unapplied(&format!("V{}__{name}", i + 1), sql)
                .map_err(|e| StorageError::Backend(format!("migration {}: {e}", i + 1)))
        })
        .collect()
}

impl PostgresStorage {
    /// Connects to the database at `url` (a `postgres://` URL or a key=value connection
    /// string), migrates it under an advisory lock, and opens a pool of [`POOL_SIZE`].
    pub fn open(url: &str) -> Result<PostgresStorage> {
        let config = config_of(url)?;
        let label = redact(url);
        let history_id = Conn::connect(&config, &label)?.with_client(prepare)?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE as u32)
            .min_idle(Some(2))
            .connection_timeout(POOL_WAIT)
            // A broken connection is noticed when it fails (and dropped when it goes back):
            // no extra round trip on every checkout.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(Connector { config, label })
            .map_err(pool_error)?;
        Ok(PostgresStorage {
            pool,
            history_id,
            url: redact(url),
        })
    }

    /// The database URL with its password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn conn(&self) -> Result<Pooled> {
        self.pool.get().map_err(pool_error)
    }

    /// Runs one statement on a pooled connection; the rows it returns.
    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.conn()?.query(sql, params)
    }

    /// Runs one statement on a pooled connection; the number of rows it changed.
    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.conn()?.execute(sql, params)
    }

    /// Gives the server a new history id (its history was rewound by a restore). Takes
    /// effect for servers that open the storage afterwards.
    pub fn rewind_history(&self) -> Result<Uuid> {
        let id = Uuid::now_v7();
        self.execute(
            "UPDATE server_meta SET value = $2 WHERE key = $1",
            &[&HISTORY_ID, &id.to_string()],
        )?;
        Ok(id)
    }

    /// Gives records without a content hash and slot both (see the SQLite backend). A row
    /// rewritten meanwhile keeps its cleared hash: the update names the seq it hashed.
    fn backfill_digest(&self, project_id: &str) -> Result<()> {
        let mut c = self.conn()?;
        let rows = c.query(
            "SELECT id, seq, body FROM records
             WHERE project_id = $1 AND (hash IS NULL OR slot IS NULL)",
            &[&project_id],
        )?;
        // A statement per few thousand rows, not a round trip per row (after a large push,
        // every one of its records is here).
        for chunk in rows.chunks(5_000) {
            let (mut ids, mut seqs, mut hashes, mut slots) = (
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
            );
            for r in chunk {
                let record = parse_record(&col::<String>(r, 2)?)?;
                ids.push(col::<String>(r, 0)?);
                seqs.push(col::<i64>(r, 1)?);
                hashes.push(digest::content_hash(&record));
                slots.push(i64::from(digest::slot(&record.id())));
            }
            c.execute(
                "UPDATE records r SET hash = u.hash, slot = u.slot
                 FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[])
                   AS u (id, seq, hash, slot)
                 WHERE r.project_id = $1 AND r.id = u.id AND r.seq = u.seq",
                &[&project_id, &ids, &seqs, &hashes, &slots],
            )?;
        }
        Ok(())
    }
}

/// Migrates the database (once, under an advisory lock), prunes old push answers and reads
/// (or makes) the history id.
async fn prepare(client: &mut tokio_postgres::Client) -> Result<Uuid> {
    let result = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg)?;
        let known = MIGRATIONS.len() as i64;
        let applied: Option<i32> = match client
            .query_opt("SELECT MAX(version) FROM refinery_schema_history", &[])
            .await
        {
            Ok(row) => row.and_then(|r| r.get(0)),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => None,
            Err(e) => return Err(pg(e)),
        };
        if let Some(found) = applied.map(i64::from)
            && found > known
        {
            return Err(StorageError::TooNew { found, known });
        }
        refinery::Runner::new(&migrations()?)
            .run_async(client)
            .await
            .map_err(|e| StorageError::Backend(format!("migrating the database: {e}")))?;
        let cutoff = crate::domain::timestamp::format(
            time::OffsetDateTime::now_utc()
                - time::Duration::days(super::sqlite::IDEMPOTENCY_RETENTION_DAYS),
        );
        client
            .execute("DELETE FROM idempotency WHERE created_at < $1", &[&cutoff])
            .await
            .map_err(pg)?;
        client
            .execute(
                "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&HISTORY_ID, &Uuid::now_v7().to_string()],
            )
            .await
            .map_err(pg)?;
        let value: String = client
            .query_one(
                "SELECT value FROM server_meta WHERE key = $1",
                &[&HISTORY_ID],
            )
            .await
            .map_err(pg)?
            .get(0);
        uuid_of(&value, "history id")
    }
    .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

impl Storage for PostgresStorage {
    fn history_id(&self) -> Uuid {
        self.history_id
    }

    fn ping(&self) -> Result<()> {
        // A readiness probe wants an answer in seconds, not the pool's wait for a request.
        let mut c = self.pool.get_timeout(PING_WAIT).map_err(pool_error)?;
        c.query("SELECT 1", &[]).map(|_| ())
    }

    fn create_account(&self, username: &str, password_hash: &str, now: &str) -> Result<AccountRow> {
        let row = AccountRow {
            id: Uuid::now_v7().to_string(),
            username: username.to_string(),
            password_hash: password_hash.to_string(),
            created_at: now.to_string(),
        };
        let inserted = self.execute(
            "INSERT INTO accounts (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO NOTHING",
            &[&row.id, &row.username, &row.password_hash, &row.created_at],
        )?;
        match inserted {
            1 => Ok(row),
            _ => Err(StorageError::NameTaken {
                what: "account",
                name: username.to_string(),
            }),
        }
    }

    fn account(&self, username: &str) -> Result<Option<AccountRow>> {
        first_account(&self.query(ACCOUNT_BY_NAME, &[&username])?)
    }

    fn insert_token(&self, t: &NewToken) -> Result<()> {
        self.execute(
            "INSERT INTO tokens (id, account_id, kind, name, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &t.id.to_string(),
                &t.account_id,
                &t.kind.as_str(),
                &t.name,
                &t.hash,
                &t.created_at,
                &t.expires_at,
            ],
        )
        .map(|_| ())
    }

    fn token(&self, hash: &str) -> Result<Option<(TokenRow, AccountRow)>> {
        self.query(
            &format!(
                "SELECT {TOKEN_COLS}, a.id, a.username, a.password_hash, a.created_at
                 FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1"
            ),
            &[&hash],
        )?
        .first()
        .map(|r| Ok((token_from(r)?, account_from(r, 7)?)))
        .transpose()
    }

    fn tokens(&self, account_id: &str) -> Result<Vec<TokenRow>> {
        self.query(
            &format!(
                "SELECT {TOKEN_COLS} FROM tokens t
                 WHERE t.account_id = $1 AND t.revoked_at IS NULL
                 ORDER BY t.created_at COLLATE \"C\", t.id COLLATE \"C\""
            ),
            &[&account_id],
        )?
        .iter()
        .map(token_from)
        .collect()
    }

    fn revoke_token(&self, account_id: &str, token_id: Uuid, now: &str) -> Result<bool> {
        self.execute(
            "UPDATE tokens SET revoked_at = $3
             WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
            &[&token_id.to_string(), &account_id, &now],
        )
        .map(|n| n == 1)
    }

    fn create_team(&self, name: &str, owner_account_id: &str, now: &str) -> Result<TeamRow> {
        let team = TeamRow {
            id: Uuid::now_v7().to_string(),
            name: name.to_string(),
            created_at: now.to_string(),
        };
        let mut c = self.conn()?;
        let mut tx = PgTx::begin(&mut c, "")?;
        let inserted = tx.execute(
            "INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&team.id, &team.name, &team.created_at],
        )?;
        if inserted == 0 {
            return Err(StorageError::NameTaken {
                what: "team",
                name: name.to_string(),
            });
        }
        tx.execute(
            "INSERT INTO team_members (team_id, account_id, role) VALUES ($1, $2, 'owner')",
            &[&team.id, &owner_account_id],
        )?;
        tx.commit()?;
        Ok(team)
    }

    fn teams(&self, account_id: &str) -> Result<Vec<(TeamRow, Role)>> {
        self.query(
            "SELECT t.id, t.name, t.created_at, m.role FROM teams t
             JOIN team_members m ON m.team_id = t.id WHERE m.account_id = $1
             ORDER BY t.name COLLATE \"C\"",
            &[&account_id],
        )?
        .iter()
        .map(team_role_from)
        .collect()
    }

    fn members(&self, team_id: &str) -> Result<Vec<Member>> {
        members_from(&self.query(MEMBERS_SQL, &[&team_id])?)
    }

    fn transact_teams(
        &self,
        f: &mut dyn FnMut(&mut dyn TeamTx) -> std::result::Result<(), ServiceError>,
    ) -> std::result::Result<(), ServiceError> {
        let mut c = self.conn()?;
        let mut view = PgTx::begin(
            &mut c,
            &format!("SELECT pg_advisory_xact_lock({TEAMS_LOCK})"),
        )?;
        f(&mut view)?;
        view.commit()?;
        Ok(())
    }

    fn create_project(&self, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow> {
        insert_project(&mut *self.conn()?, team, name, now)
    }

    fn projects(&self, team: &TeamRow) -> Result<Vec<ProjectRow>> {
        self.query(
            "SELECT id, name, head, created_at FROM projects WHERE team_id = $1
             ORDER BY name COLLATE \"C\"",
            &[&team.id],
        )?
        .iter()
        .map(|r| {
            Ok(ProjectRow {
                id: col(r, 0)?,
                team: team.name.clone(),
                name: col(r, 1)?,
                head: u64_of(col(r, 2)?),
                created_at: col(r, 3)?,
            })
        })
        .collect()
    }

    fn project(&self, account_id: &str, team: &str, project: &str) -> Result<Option<ProjectRow>> {
        self.query(
            "SELECT p.id, t.name, p.name, p.head, p.created_at FROM projects p
             JOIN teams t ON t.id = p.team_id
             JOIN team_members m ON m.team_id = t.id AND m.account_id = $1
             WHERE t.name = $2 AND p.name = $3",
            &[&account_id, &team, &project],
        )?
        .first()
        .map(|r| {
            Ok(ProjectRow {
                id: col(r, 0)?,
                team: col(r, 1)?,
                name: col(r, 2)?,
                head: u64_of(col(r, 3)?),
                created_at: col(r, 4)?,
            })
        })
        .transpose()
    }

    fn changes(&self, project_id: &str, since: u64, limit: u32) -> Result<RawPage> {
        // One statement reads one snapshot: the head and the page agree, in one round trip.
        let rows = self.query(
            "SELECT p.head, r.seq, r.body FROM projects p
             LEFT JOIN LATERAL (
                 SELECT seq, body FROM records
                 WHERE project_id = p.id AND seq > $2 ORDER BY seq LIMIT $3
             ) r ON true
             WHERE p.id = $1",
            &[&project_id, &i64_of(since), &(i64::from(limit) + 1)],
        )?;
        let head = u64_of(col(
            rows.first()
                .ok_or_else(|| StorageError::Corrupt(format!("no project {project_id}")))?,
            0,
        )?);
        let mut bodies = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last_seq = None;
        let mut more = false;
        for r in &rows {
            let Some(seq) = col::<Option<i64>>(r, 1)? else {
                continue; // no records past `since`
            };
            if bodies.len() == limit as usize {
                more = true;
                break;
            }
            last_seq = Some(u64_of(seq));
            bodies.push(col(r, 2)?);
        }
        Ok(RawPage {
            bodies,
            last_seq,
            head,
            more,
        })
    }

    fn changes_of(
        &self,
        project_id: &str,
        versions: &[String],
        since: u64,
        limit: u32,
    ) -> Result<(RawPage, Vec<String>)> {
        // One statement, one snapshot. Runs name their evolution only in the body: a scan of
        // the project's records after `since`, which a narrowed pull is rare enough to afford.
        let rows = self.query(
            "WITH gens AS (SELECT id, version FROM records WHERE project_id = $1
                 AND kind = 'generation' AND version = ANY($4)),
             evos AS (SELECT id FROM records WHERE project_id = $1
                 AND kind = 'evolution' AND generation_id IN (SELECT id FROM gens))
             SELECT p.head, (SELECT array_agg(version) FROM gens), r.seq, r.body FROM projects p
             LEFT JOIN LATERAL (
                 SELECT seq, body FROM records
                 WHERE project_id = p.id AND seq > $2 AND (
                     id IN (SELECT id FROM gens)
                     OR (kind = 'evolution' AND generation_id IN (SELECT id FROM gens))
                     OR (kind = 'pipeline_run'
                         AND (body::jsonb -> 'record' ->> 'evolution_id') IN (SELECT id FROM evos)))
                 ORDER BY seq LIMIT $3
             ) r ON true
             WHERE p.id = $1",
            &[
                &project_id,
                &i64_of(since),
                &(i64::from(limit) + 1),
                &versions,
            ],
        )?;
        let first = rows
            .first()
            .ok_or_else(|| StorageError::Corrupt(format!("no project {project_id}")))?;
        let head = u64_of(col(first, 0)?);
        let found: Vec<String> = col::<Option<Vec<String>>>(first, 1)?.unwrap_or_default();
        let mut bodies = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last_seq = None;
        let mut more = false;
        for r in &rows {
            let Some(seq) = col::<Option<i64>>(r, 2)? else {
                continue; // nothing past `since`
            };
            if bodies.len() == limit as usize {
                more = true;
                break;
            }
            last_seq = Some(u64_of(seq));
            bodies.push(col(r, 3)?);
        }
        let page = RawPage {
            bodies,
            last_seq,
            head,
            more,
        };
        Ok((page, found))
    }

    fn digest_entries(
        &self,
        project_id: &str,
        slots: (u32, u32),
        after: Option<Uuid>,
        limit: Option<u32>,
    ) -> Result<(u64, Vec<DigestEntry>)> {
        self.backfill_digest(project_id)?;
        let mut c = self.conn()?;
        let (head, rows) = c.with_client(|client| async move {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg)?;
            let head = project_head(&tx, project_id).await?;
            let after = after.map(|a| a.to_string()).unwrap_or_default();
            let limit = limit.map(i64::from);
            let rows = tx
                .query(
                    "SELECT kind, id, revision, hash, CASE WHEN hash IS NULL THEN body END
                     FROM records
                     WHERE project_id = $1 AND kind <> 'deleted' AND slot BETWEEN $2 AND $3
                       AND id COLLATE \"C\" > $4
                     ORDER BY id COLLATE \"C\" LIMIT $5",
                    &[
                        &project_id,
                        &i64::from(slots.0),
                        &i64::from(slots.1),
                        &after,
                        &limit,
                    ],
                )
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok::<_, StorageError>((head, rows))
        })?;
        {
            let entries = rows
                .iter()
                .map(|r| {
                    let kind: String = col(r, 0)?;
                    let hash = match col::<Option<String>>(r, 3)? {
                        Some(hash) => hash,
                        // Written after the backfill above: hashed here.
                        None => digest::content_hash(&parse_record(&col::<String>(r, 4)?)?),
                    };
                    Ok(DigestEntry {
                        kind: kind
                            .parse::<crate::api::RecordKind>()
                            .map_err(|_| StorageError::Corrupt(format!("record kind {kind}")))?,
                        id: uuid_of(&col::<String>(r, 1)?, "record id")?,
                        revision: u64_of(col(r, 2)?),
                        hash,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((head, entries))
        }
    }

    fn generations(
        &self,
        project_id: &str,
        version: Option<&Version>,
    ) -> Result<GenerationsSnapshot> {
        let version = version.map(ToString::to_string);
        let mut c = self.conn()?;
        let (head, generations, evolutions) = c.with_client(|client| async move {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg)?;
            let head = project_head(&tx, project_id).await?;
            let (generations, evolutions) = match &version {
                Some(v) => {
                    let g = tx
                        .query(
                            "SELECT id, body FROM records
                             WHERE project_id = $1 AND kind = 'generation' AND version = $2",
                            &[&project_id, v],
                        )
                        .await
                        .map_err(pg)?;
                    let e = match g.first() {
                        Some(row) => {
                            let id: String = col(row, 0)?;
                            tx.query(
                                "SELECT id, body FROM records
                                 WHERE project_id = $1 AND kind = 'evolution'
                                   AND generation_id = $2
                                 ORDER BY started_at COLLATE \"C\", rc",
                                &[&project_id, &id],
                            )
                            .await
                            .map_err(pg)?
                        }
                        None => Vec::new(),
                    };
                    (g, e)
                }
                None => {
                    let g = tx
                        .query(
                            "SELECT id, body FROM records
                             WHERE project_id = $1 AND kind = 'generation'",
                            &[&project_id],
                        )
                        .await
                        .map_err(pg)?;
                    let e = tx
                        .query(
                            "SELECT id, body FROM records
                             WHERE project_id = $1 AND kind = 'evolution'
                             ORDER BY started_at COLLATE \"C\", rc",
                            &[&project_id],
                        )
                        .await
                        .map_err(pg)?;
                    (g, e)
                }
            };
            tx.commit().await.map_err(pg)?;
            Ok::<_, StorageError>((head, generations, evolutions))
        })?;
        let bodies = |rows: &[Row]| -> Result<Vec<String>> {
            rows.iter().map(|r| col::<String>(r, 1)).collect()
        };
        let g: Vec<String> = bodies(&generations)?;
        let e: Vec<String> = bodies(&evolutions)?;
        GenerationsSnapshot::parse(head, &g, &e)
    }

    fn create_webhook(&self, hook: &WebhookRow, limit: usize) -> Result<bool> {
        let mut c = self.conn()?;
        let mut tx = PgTx::begin(&mut c, "")?;
        // The project's row lock: two processes adding at once count one after the other.
        tx.query(
            "SELECT head FROM projects WHERE id = $1 FOR UPDATE",
            &[&hook.project_id],
        )?;
        let held: i64 = tx
            .query(
                "SELECT COUNT(*) FROM webhooks WHERE project_id = $1",
                &[&hook.project_id],
            )?
            .first()
            .map(|r| col(r, 0))
            .transpose()?
            .unwrap_or(0);
        if usize::try_from(held).unwrap_or(usize::MAX) >= limit {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO webhooks (id, project_id, url, secret, events, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &hook.id,
                &hook.project_id,
                &hook.url,
                &hook.secret,
                &hook.events,
                &hook.created_by,
                &hook.created_at,
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn webhooks(&self, project_id: &str) -> Result<Vec<WebhookRow>> {
        webhooks_from(&self.query(WEBHOOKS_SQL, &[&project_id])?)
    }

    fn delete_webhook(&self, project_id: &str, id: &str) -> Result<bool> {
        let mut c = self.conn()?;
        let mut tx = PgTx::begin(&mut c, "")?;
        // The project's row lock, which every push holds for its whole transaction: a push
        // that read this webhook commits its deliveries first (removed below with the rest),
        // and one after this finds no webhook, so no delivery names a removed one.
        tx.query(
            "SELECT head FROM projects WHERE id = $1 FOR UPDATE",
            &[&project_id],
        )?;
        let found = !tx
            .query(
                "SELECT 1 FROM webhooks WHERE id = $1 AND project_id = $2",
                &[&id, &project_id],
            )?
            .is_empty();
        if !found {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
            &[&id],
        )?;
        tx.execute("DELETE FROM webhooks WHERE id = $1", &[&id])?;
        tx.commit()?;
        Ok(true)
    }

    fn deliveries(
        &self,
        project_id: &str,
        webhook_id: &str,
        limit: u32,
    ) -> Result<Option<Vec<DeliveryRow>>> {
        let mut c = self.conn()?;
        let found = !c
            .query(
                "SELECT 1 FROM webhooks WHERE id = $1 AND project_id = $2",
                &[&webhook_id, &project_id],
            )?
            .is_empty();
        if !found {
            return Ok(None);
        }
        let rows = c.query(
            "SELECT id, webhook_id, event, status, attempts, next_attempt_at,
                    last_status_code, last_error, created_at, delivered_at
             FROM webhook_deliveries WHERE webhook_id = $1
             ORDER BY id COLLATE \"C\" DESC LIMIT $2",
            &[&webhook_id, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    id: col(r, 0)?,
                    webhook_id: col(r, 1)?,
                    event: col(r, 2)?,
                    status: col(r, 3)?,
                    attempts: col(r, 4)?,
                    next_attempt_at: col(r, 5)?,
                    last_status_code: col(r, 6)?,
                    last_error: col(r, 7)?,
                    created_at: col(r, 8)?,
                    delivered_at: col(r, 9)?,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn claim_deliveries(&self, now: i64, until: i64, limit: u32) -> Result<Vec<ClaimedDelivery>> {
        // `SKIP LOCKED`: a row another process is claiming right now is left to it; one it
        // claimed already fails the lease condition when re-checked under the lock.
        let rows = self.query(
            "UPDATE webhook_deliveries d SET claimed_until = $2
             FROM webhooks w
             WHERE w.id = d.webhook_id AND d.id IN (
                 SELECT id FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $1
                   AND (claimed_until IS NULL OR claimed_until < $1)
                 ORDER BY next_attempt_at, id COLLATE \"C\" LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING d.id, d.event, d.body, d.attempts, w.url, w.secret",
            &[&now, &until, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    id: col(r, 0)?,
                    event: col(r, 1)?,
                    body: col(r, 2)?,
                    attempts: col(r, 3)?,
                    url: col(r, 4)?,
                    secret: col(r, 5)?,
                    claimed_until: until,
                })
            })
            .collect()
    }

    fn finish_delivery(&self, id: &str, claimed_until: i64, o: &DeliveryOutcome) -> Result<()> {
        self.execute(
            "UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5,
                 last_status_code = $6, last_error = $7, delivered_at = $8, claimed_until = NULL
             WHERE id = $1 AND claimed_until = $2",
            &[
                &id,
                &claimed_until,
                &o.status,
                &o.attempts,
                &o.next_attempt_at,
                &o.last_status_code,
                &o.last_error,
                &o.delivered_at,
            ],
        )
        .map(|_| ())
    }

    fn transact(
        &self,
        project_id: &str,
        f: &mut dyn FnMut(&mut dyn ProjectTx) -> std::result::Result<(), ServiceError>,
    ) -> std::result::Result<(), ServiceError> {
        let mut c = self.conn()?;
        let mut view = PgTx::project(&mut c, project_id)?;
        f(&mut view)?;
        view.commit()?;
        Ok(())
    }
}

async fn project_head(tx: &tokio_postgres::Transaction<'_>, project_id: &str) -> Result<u64> {
    let rows = tx
        .query("SELECT head FROM projects WHERE id = $1", &[&project_id])
        .await
        .map_err(pg)?;
    let row = rows
        .first()
        .ok_or_else(|| StorageError::Corrupt(format!("no project {project_id}")))?;
    Ok(u64_of(col(row, 0)?))
}

fn insert_project(c: &mut Conn, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow> {
    let project = ProjectRow {
        id: Uuid::now_v7().to_string(),
        team: team.name.clone(),
        name: name.to_string(),
        head: 0,
        created_at: now.to_string(),
    };
    let inserted = c.execute(
        "INSERT INTO projects (id, team_id, name, head, created_at) VALUES ($1, $2, $3, 0, $4)
         ON CONFLICT (team_id, name) DO NOTHING",
        &[&project.id, &team.id, &project.name, &project.created_at],
    )?;
    match inserted {
        1 => Ok(project),
        _ => Err(StorageError::NameTaken {
            what: "project",
            name: format!("{}/{name}", team.name),
        }),
    }
}

/// [`ProjectTx`] and [`TeamTx`] over one transaction begun by hand on a pooled connection
/// (`BEGIN` and its first statement in one round trip). Rolled back when dropped uncommitted —
/// an error or a panic in the rules — so a connection never goes back to the pool inside a
/// transaction. `project_id` is empty for team transactions.
///
/// Writes whose result the rules do not read (the head, a stored answer, a record replaced)
/// wait in `pending` and go out together, pipelined, before the next statement that reads, or
/// with `COMMIT`: a small push holds its project's lock for three round trips, not five.
struct PgTx<'a> {
    conn: &'a mut Conn,
    project_id: &'a str,
    /// The head as locked, and as set since (project transactions).
    head: Option<u64>,
    /// A project transaction not begun yet: `BEGIN` and this lock go out with the first
    /// statement the rules run (in one round trip, executed in that order), which then reads
    /// under the lock.
    opening: Option<String>,
    pending: Vec<(&'static str, Params)>,
    done: bool,
}

/// A statement's parameters, owned (for a write that waits).
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// A statement in flight, for [`pipelined`].
type InFlight<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>> + 'a>,
>;

/// Runs `futures` together and waits for all: tokio-postgres sends each request when its future
/// is first polled, so they go out in order before any answer is awaited (one round trip).
/// The first error wins (the statements after a failed one fail with "transaction aborted").
async fn pipelined(
    mut futures: Vec<InFlight<'_>>,
) -> std::result::Result<(), tokio_postgres::Error> {
    let mut done = vec![false; futures.len()];
    let mut first_error = None;
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (f, done) in futures.iter_mut().zip(done.iter_mut()) {
            if *done {
                continue;
            }
            match f.as_mut().poll(cx) {
                std::task::Poll::Ready(r) => {
                    *done = true;
                    if let Err(e) = r {
                        first_error.get_or_insert(e);
                    }
                }
                std::task::Poll::Pending => waiting = true,
            }
        }
        match waiting {
            true => std::task::Poll::Pending,
            false => std::task::Poll::Ready(()),
        }
    })
    .await;
    first_error.map_or(Ok(()), Err)
}

impl<'a> PgTx<'a> {
    /// Begins, and runs `first` (a statement without parameters, or nothing) with it.
    fn begin(conn: &'a mut Conn, first: &str) -> Result<PgTx<'a>> {
        let mut tx = PgTx {
            conn,
            project_id: "",
            head: None,
            opening: None,
            pending: Vec::new(),
            done: false,
        };
        let begun = tx
            .conn
            .block(tx.conn.client.simple_query(&format!("BEGIN; {first}")))
            .map_err(pg);
        if let Err(e) = begun {
            tx.rollback();
            return Err(e);
        }
        Ok(tx)
    }

    /// A transaction on `project_id` whose `BEGIN` and row lock go out with its first
    /// statement (see `opening`).
    fn project(conn: &'a mut Conn, project_id: &'a str) -> Result<PgTx<'a>> {
        // The id goes into the SQL text: it must be the UUID every project id is.
        let id = Uuid::parse_str(project_id)
            .map_err(|_| StorageError::Corrupt(format!("project id {project_id}")))?;
        Ok(PgTx {
            conn,
            project_id,
            head: None,
            // Every writer of this project, in every process, waits here for the one before.
            opening: Some(format!(
                "SELECT head FROM projects WHERE id = '{id}' FOR UPDATE"
            )),
            pending: Vec::new(),
            done: false,
        })
    }

    /// The head from the lock's answer.
    fn locked_head(&mut self, messages: Vec<tokio_postgres::SimpleQueryMessage>) -> Result<()> {
        let head = messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
                _ => None,
            })
            .ok_or_else(|| StorageError::Corrupt(format!("no project {}", self.project_id)))?;
        let head = head
            .parse::<u64>()
            .map_err(|_| StorageError::Corrupt(format!("head of project {}", self.project_id)))?;
        self.head = Some(head);
        Ok(())
    }

    /// Begins (with the lock) if that has not gone out yet, on its own.
    fn open(&mut self) -> Result<()> {
        let Some(lock) = self.opening.take() else {
            return Ok(());
        };
        let messages = self
            .conn
            .block(self.conn.client.simple_query(&format!("BEGIN; {lock}")))
            .map_err(pg)?;
        self.locked_head(messages)
    }

    /// Runs one statement that reads: with `BEGIN` and the lock when they have not gone out
    /// yet (one round trip), else after the writes waiting.
    fn read(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let Some(lock) = self.opening.take() else {
            self.flush(false)?;
            return self.conn.query(sql, params);
        };
        let st = self.conn.statement(sql)?;
        let client = &self.conn.client;
        let (_, locked, rows) = self
            .conn
            .block(async {
                tokio::try_join!(
                    client.batch_execute("BEGIN"),
                    client.simple_query(&lock),
                    client.query(&st, params),
                )
            })
            .map_err(pg)?;
        self.locked_head(locked)?;
        Ok(rows)
    }

    /// Sends the writes waiting, and `COMMIT`, in one round trip.
    fn commit(mut self) -> Result<()> {
        if self.opening.is_some() && self.pending.is_empty() {
            self.done = true;
            return Ok(()); // never begun, nothing written: nothing to commit
        }
        // On an error the drop rolls back: needed when it came before `COMMIT` went out,
        // harmless (a warning) when the failed `COMMIT` already ended the transaction.
        self.flush(true)?;
        self.done = true;
        Ok(())
    }

    /// Sends the writes waiting (and `COMMIT` when `commit`), pipelined.
    fn flush(&mut self, commit: bool) -> Result<()> {
        if self.pending.is_empty() && !commit {
            return Ok(());
        }
        self.open()?;
        let pending = std::mem::take(&mut self.pending);
        let statements = pending
            .iter()
            .map(|(sql, _)| self.conn.statement(sql))
            .collect::<Result<Vec<_>>>()?;
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = pending
            .iter()
            .map(|(_, ps)| {
                ps.iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect()
            })
            .collect();
        let client = &self.conn.client;
        let mut futures: Vec<InFlight<'_>> = statements
            .iter()
            .zip(&params)
            .map(|(st, ps)| Box::pin(async move { client.execute(st, ps).await.map(|_| ()) }) as _)
            .collect();
        if commit {
            futures.push(Box::pin(client.batch_execute("COMMIT")));
        }
        self.conn.block(pipelined(futures)).map_err(pg)
    }

    /// A write the rules do not read the result of: sent with the next flush.
    fn defer(&mut self, sql: &'static str, params: Params) {
        self.pending.push((sql, params));
    }

    fn rollback(&mut self) {
        self.done = true;
        if self.opening.is_some() {
            return; // never begun
        }
        // A connection that cannot even roll back is broken: the pool drops it.
        let _ = self.conn.block(self.conn.client.batch_execute("ROLLBACK"));
    }

    /// The project, for statement parameters (borrowed from the transaction, not from `self`).
    fn pid(&self) -> &'a str {
        self.project_id
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.read(sql, params)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.open()?;
        self.flush(false)?;
        self.conn.execute(sql, params)
    }

    fn records(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Record>> {
        self.query(sql, params)?
            .iter()
            .map(|r| parse_record(&col::<String>(r, 0)?))
            .collect()
    }

    /// `record`'s 13 columns in table order.
    fn record_params(&self, record: &Record) -> Result<Params> {
        let c = RecordColumns::of(record)?;
        Ok(vec![
            Box::new(self.pid().to_string()),
            Box::new(record.id().to_string()),
            Box::new(c.kind),
            Box::new(i64_of(record.seq())),
            Box::new(i64_of(record.revision())),
            Box::new(c.version),
            Box::new(c.generation_id),
            Box::new(c.rc),
            Box::new(c.code_name),
            Box::new(c.started_at),
            Box::new(c.body),
            Box::new(None::<String>),
            Box::new(None::<i64>),
        ])
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.rollback();
        }
    }
}

impl TeamTx for PgTx<'_> {
    fn membership(&mut self, account_id: &str, team: &str) -> Result<Option<(TeamRow, Role)>> {
        self.query(
            "SELECT t.id, t.name, t.created_at, m.role FROM teams t
             JOIN team_members m ON m.team_id = t.id WHERE m.account_id = $1 AND t.name = $2",
            &[&account_id, &team],
        )?
        .first()
        .map(team_role_from)
        .transpose()
    }

    fn account(&mut self, username: &str) -> Result<Option<AccountRow>> {
        first_account(&self.query(ACCOUNT_BY_NAME, &[&username])?)
    }

    fn members(&mut self, team_id: &str) -> Result<Vec<Member>> {
        members_from(&self.query(MEMBERS_SQL, &[&team_id])?)
    }

    fn set_member(&mut self, team_id: &str, account_id: &str, role: Option<Role>) -> Result<()> {
        match role {
            Some(role) => self.execute(
                "INSERT INTO team_members (team_id, account_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT (team_id, account_id) DO UPDATE SET role = excluded.role",
                &[&team_id, &account_id, &role.as_str()],
            ),
            None => self.execute(
                "DELETE FROM team_members WHERE team_id = $1 AND account_id = $2",
                &[&team_id, &account_id],
            ),
        }
        .map(|_| ())
    }

    fn create_project(&mut self, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow> {
        insert_project(self.conn, team, name, now)
    }
}

impl ProjectTx for PgTx<'_> {
    fn head(&mut self) -> Result<u64> {
        self.open()?;
        if let Some(head) = self.head {
            return Ok(head);
        }
        let rows = self.query("SELECT head FROM projects WHERE id = $1", &[&self.pid()])?;
        let row = rows
            .first()
            .ok_or_else(|| StorageError::Corrupt(format!("no project {}", self.project_id)))?;
        Ok(u64_of(col(row, 0)?))
    }

    fn set_head(&mut self, head: u64) -> Result<()> {
        self.open()?;
        let params: Params = vec![Box::new(self.pid().to_string()), Box::new(i64_of(head))];
        self.defer("UPDATE projects SET head = $2 WHERE id = $1", params);
        self.head = Some(head);
        Ok(())
    }

    fn get(&mut self, id: Uuid) -> Result<Option<Record>> {
        Ok(self
            .records(
                "SELECT body FROM records WHERE project_id = $1 AND id = $2",
                &[&self.pid(), &id.to_string()],
            )?
            .pop())
    }

    fn generation_by_version(&mut self, version: &Version) -> Result<Option<GenerationRecord>> {
        let found = self.records(
            "SELECT body FROM records
             WHERE project_id = $1 AND kind = 'generation' AND version = $2",
            &[&self.pid(), &version.to_string()],
        )?;
        Ok(found.into_iter().find_map(|r| match r {
            Record::Generation(g) => Some(g),
            _ => None,
        }))
    }

    fn evolutions_of(&mut self, generation_id: Uuid) -> Result<Vec<EvolutionRecord>> {
        let found = self.records(
            "SELECT body FROM records
             WHERE project_id = $1 AND kind = 'evolution' AND generation_id = $2
             ORDER BY started_at COLLATE \"C\", rc",
            &[&self.pid(), &generation_id.to_string()],
        )?;
        Ok(found
            .into_iter()
            .filter_map(|r| match r {
                Record::Evolution(e) => Some(e),
                _ => None,
            })
            .collect())
    }

    fn rc_usage(&mut self, generation_id: Uuid, rc: u32) -> Result<(Option<Uuid>, Option<u32>)> {
        let rows = self.query(
            "SELECT MAX(CASE WHEN rc = $3 THEN id END), MAX(rc) FROM records
             WHERE project_id = $1 AND kind = 'evolution' AND generation_id = $2",
            &[&self.pid(), &generation_id.to_string(), &i64::from(rc)],
        )?;
        let Some(row) = rows.first() else {
            return Ok((None, None));
        };
        let holder: Option<String> = col(row, 0)?;
        let max: Option<i64> = col(row, 1)?;
        let holder = holder.map(|h| uuid_of(&h, "id")).transpose()?;
        Ok((holder, max.and_then(|m| u32::try_from(m).ok())))
    }

    fn evolution_by_code_name(&mut self, code_name: &str) -> Result<Option<Uuid>> {
        self.query(
            "SELECT id FROM records
             WHERE project_id = $1 AND kind = 'evolution' AND code_name = $2",
            &[&self.pid(), &code_name],
        )?
        .first()
        .map(|r| uuid_of(&col::<String>(r, 0)?, "id"))
        .transpose()
    }

    fn put(&mut self, record: &Record) -> Result<()> {
        let params = self.record_params(record)?;
        self.defer(
            "INSERT INTO records (project_id, id, kind, seq, revision, version, generation_id,
                 rc, code_name, started_at, body, hash, slot)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (project_id, id) DO UPDATE SET kind = excluded.kind,
                 seq = excluded.seq, revision = excluded.revision, version = excluded.version,
                 generation_id = excluded.generation_id, rc = excluded.rc,
                 code_name = excluded.code_name, started_at = excluded.started_at,
                 body = excluded.body, hash = excluded.hash, slot = excluded.slot",
            params,
        );
        Ok(())
    }

    fn insert_new(&mut self, record: &Record) -> Result<bool> {
        // A failed statement would abort the whole transaction: a record whose id or slot
        // is held is simply not inserted.
        let params = self.record_params(record)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.execute(
            "INSERT INTO records (project_id, id, kind, seq, revision, version, generation_id,
                 rc, code_name, started_at, body, hash, slot)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT DO NOTHING",
            &refs,
        )
        .map(|n| n == 1)
    }

    fn answer(&mut self, key: &str) -> Result<Option<StoredAnswer>> {
        self.query(
            "SELECT account_id, request_hash, response FROM idempotency
             WHERE project_id = $1 AND key = $2",
            &[&self.pid(), &key],
        )?
        .first()
        .map(|r| {
            Ok(StoredAnswer {
                account_id: col(r, 0)?,
                request_hash: col(r, 1)?,
                response: col(r, 2)?,
            })
        })
        .transpose()
    }

    fn set_provenance(&mut self, id: Uuid, p: &Provenance) -> Result<()> {
        self.open()?;
        let params: Params = vec![
            Box::new(self.pid().to_string()),
            Box::new(id.to_string()),
            Box::new(p.copied_from.clone()),
            Box::new(p.copied_by.clone()),
            Box::new(p.copied_at.clone()),
        ];
        self.defer(
            "INSERT INTO record_copies (project_id, id, copied_from, copied_by, copied_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, id) DO NOTHING",
            params,
        );
        Ok(())
    }

    fn provenance(&mut self, id: Uuid) -> Result<Option<Provenance>> {
        self.query(
            "SELECT copied_from, copied_by, copied_at FROM record_copies
             WHERE project_id = $1 AND id = $2",
            &[&self.pid(), &id.to_string()],
        )?
        .first()
        .map(|r| {
            Ok(Provenance {
                copied_from: col(r, 0)?,
                copied_by: col(r, 1)?,
                copied_at: col(r, 2)?,
            })
        })
        .transpose()
    }

    fn store_answer(&mut self, key: &str, a: &StoredAnswer, now: &str) -> Result<()> {
        let params: Params = vec![
            Box::new(self.pid().to_string()),
            Box::new(key.to_string()),
            Box::new(a.account_id.clone()),
            Box::new(a.request_hash.clone()),
            Box::new(a.response.clone()),
            Box::new(now.to_string()),
        ];
        self.defer(
            "INSERT INTO idempotency (project_id, key, account_id, request_hash, response, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            params,
        );
        Ok(())
    }
    fn webhooks(&mut self) -> Result<Vec<WebhookRow>> {
        let rows = self.query(WEBHOOKS_SQL, &[&self.pid()])?;
        webhooks_from(&rows)
    }

    fn insert_delivery(&mut self, d: &NewDelivery) -> Result<()> {
        let params: Params = vec![
            Box::new(d.id.clone()),
            Box::new(d.webhook_id.clone()),
            Box::new(d.event.clone()),
            Box::new(d.body.clone()),
            Box::new(d.next_attempt_at),
            Box::new(d.created_at.clone()),
        ];
        self.defer(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, body, status, attempts,
                 next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)",
            params,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage in a fresh schema of the database `GRYT_TEST_POSTGRES` names; `None` (said)
    /// without one, a failure under `CI=true`.
    fn storage(test: &str) -> Option<PostgresStorage> {
        let Ok(url) = std::env::var("GRYT_TEST_POSTGRES") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: CI must run the PostgreSQL tests (GRYT_TEST_POSTGRES)");
            }
            eprintln!("SKIPPED {test}: no PostgreSQL (GRYT_TEST_POSTGRES)");
            return None;
        };
        let schema = format!("u_{}_{}", test, std::process::id());
        Some(PostgresStorage::open(&schema_url(&url, &schema).unwrap()).unwrap())
    }

    fn generation(version: &str, seq: u64) -> Record {
        serde_json::from_value(serde_json::json!({"kind": "generation",
            "record": {"id": Uuid::now_v7(), "version": version,
            "changes": [{"type": "add", "id": "A-1", "title": "Login"}],
            "status": "draft", "created_at": "2026-01-01T00:00:00Z", "revision": 1, "seq": seq}}))
        .unwrap()
    }

    /// A write that waits for the commit (here: a record replaced into a version another
    /// generation holds) and fails there fails the whole transaction: nothing of it stays,
    /// and the connection is clean for the next one.
    #[test]
    fn a_write_refused_at_commit_undoes_the_whole_transaction() {
        let Some(storage) = storage("refused_at_commit") else {
            return;
        };
        let now = "2026-01-01T00:00:00Z";
        let account = storage.create_account("ann", "h", now).unwrap();
        let team = storage.create_team("acme", &account.id, now).unwrap();
        let project = storage.create_project(&team, "web", now).unwrap();
        let (a, b) = (generation("1.0.0", 1), generation("2.0.0", 2));
        storage
            .transact(&project.id, &mut |tx| {
                assert!(tx.insert_new(&a)?);
                assert!(tx.insert_new(&b)?);
                tx.set_head(2)?;
                Ok(())
            })
            .unwrap();
        let Record::Generation(mut clash) = b.clone() else {
            unreachable!()
        };
        clash.version = "1.0.0".parse().unwrap();
        clash.seq = 3;
        let clash = Record::Generation(clash);
        for _ in 0..2 {
            let refused = storage.transact(&project.id, &mut |tx| {
                tx.set_head(3)?;
                tx.put(&clash)?;
                Ok(())
            });
            assert!(refused.is_err(), "the version is held");
            assert_eq!(storage.changes(&project.id, 0, 10).unwrap().head, 2);
        }
        let page = storage.changes(&project.id, 0, 10).unwrap();
        assert_eq!(page.bodies.len(), 2);
        assert!(page.bodies[1].contains("2.0.0"), "{}", page.bodies[1]);
    }

    /// A transaction whose only statements are writes that wait for the commit (nothing read
    /// first, so `BEGIN` and the lock have not gone out) still writes them.
    #[test]
    fn a_transaction_that_only_writes_commits_its_writes() {
        let Some(storage) = storage("only_writes") else {
            return;
        };
        let now = "2026-01-01T00:00:00Z";
        let account = storage.create_account("ann", "h", now).unwrap();
        let team = storage.create_team("acme", &account.id, now).unwrap();
        let project = storage.create_project(&team, "web", now).unwrap();
        let a = generation("1.0.0", 1);
        storage
            .transact(&project.id, &mut |tx| {
                tx.put(&a)?;
                Ok(())
            })
            .unwrap();
        let page = storage.changes(&project.id, 0, 10).unwrap();
        assert_eq!(page.bodies.len(), 1, "{:?}", page.bodies);
        assert!(page.bodies[0].contains("1.0.0"), "{}", page.bodies[0]);
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact("postgres://gryt:s3cret@db.internal:5432/gryt"),
            "postgres://gryt:***@db.internal:5432/gryt"
        );
        assert_eq!(
            redact("postgresql://gryt@127.0.0.1/gryt?password=s3cret&sslmode=disable"),
            "postgresql://gryt@127.0.0.1/gryt?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("postgres://127.0.0.1/gryt"),
            "postgres://127.0.0.1/gryt"
        );
    }
}
