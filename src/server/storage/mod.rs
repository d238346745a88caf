//! The server's storage boundary: a small [`Storage`] trait (accounts, tokens, teams,
//! projects, the changes feed and one transactional entry point) and the [`ProjectTx`] view
//! the shared rules run against inside a write transaction. Backends store and fetch; they
//! decide nothing — every rule (CAS, version lock, immutability, ownership, idempotency,
//! gates) lives in `server::rules` so that SQLite and a later Postgres backend agree.

pub mod backup;
pub mod migrate;
#[cfg(feature = "pg")]
pub mod postgres;
mod schema;
pub mod sqlite;

use uuid::Uuid;

use crate::api::accounts::{Member, Role, TokenKind};
use crate::api::import::Provenance;
use crate::api::records::{EvolutionRecord, GenerationRecord, Record};
use crate::domain::Version;

#[cfg(feature = "pg")]
pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{what} `{name}` is already taken")]
    NameTaken { what: &'static str, name: String },
    #[error("storage is busy or unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Backend(String),
    #[error("corrupt data in storage: {0}")]
    Corrupt(String),
    #[error(
        "the data directory was written by a newer gryt (schema {found}, this gryt knows {known})"
    )]
    TooNew { found: i64, known: i64 },
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl ProjectRow {
    /// The project's id as a UUID (every id is made as one).
    pub fn uuid(&self) -> Result<Uuid> {
        Uuid::parse_str(&self.id)
            .map_err(|_| StorageError::Corrupt(format!("project id {}", self.id)))
    }
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: Uuid,
    pub account_id: String,
    pub kind: TokenKind,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: Uuid,
    pub account_id: String,
    pub kind: TokenKind,
    pub name: String,
    /// SHA-256 of the secret, hex; the secret itself is never stored.
    pub hash: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// A project as stored. `id` is its immutable identity (a UUID made at creation), also
/// served as `project_id`.
#[derive(Debug, Clone)]
pub struct ProjectRow {
    pub id: String,
    pub team: String,
    pub name: String,
    pub head: u64,
    pub created_at: String,
}

/// One page of the changes feed, with the records still as stored JSON (served verbatim).
#[derive(Debug, Clone)]
pub struct RawPage {
    pub bodies: Vec<String>,
    pub last_seq: Option<u64>,
    pub head: u64,
    pub more: bool,
}

/// A project's generations and their evolutions read from one consistent snapshot, for the
/// views (`server::rules::status`).
#[derive(Debug, Clone, Default)]
pub struct GenerationsSnapshot {
    pub head: u64,
    pub generations: Vec<GenerationRecord>,
    /// The live evolutions of those generations, oldest first (started_at, then rc).
    pub evolutions: Vec<EvolutionRecord>,
}

impl GenerationsSnapshot {
    /// The snapshot from the stored bodies of its generations and evolutions (as read).
    pub(crate) fn parse(
        head: u64,
        generations: &[String],
        evolutions: &[String],
    ) -> Result<GenerationsSnapshot> {
        let parse = |body: &String| {
            serde_json::from_str::<Record>(body)
                .map_err(|e| StorageError::Corrupt(format!("record: {e}")))
        };
        let mut snapshot = GenerationsSnapshot {
            head,
            generations: Vec::with_capacity(generations.len()),
            evolutions: Vec::with_capacity(evolutions.len()),
        };
        for body in generations {
            if let Record::Generation(g) = parse(body)? {
                snapshot.generations.push(g);
            }
        }
        for body in evolutions {
            if let Record::Evolution(e) = parse(body)? {
                snapshot.evolutions.push(e);
            }
        }
        Ok(snapshot)
    }
}

/// A stored answer to an accepted push, for idempotent replays.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub account_id: String,
    pub request_hash: String,
    pub response: String,
}

/// A project webhook as stored. `events` is the comma-separated event names; `secret` signs
/// its deliveries (kept in the database: the server needs it to sign).
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: String,
    pub project_id: String,
    pub url: String,
    pub secret: String,
    pub events: String,
    pub created_by: String,
    pub created_at: String,
}

/// A delivery as recorded (its body left out).
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// A delivery to write, pending, in the transaction of the change it reports.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub body: String,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    pub created_at: String,
}

/// A pending delivery a worker claimed (until `claimed_until`, Unix milliseconds), with what
/// it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub event: String,
    pub body: String,
    pub attempts: i64,
    pub url: String,
    pub secret: String,
    pub claimed_until: i64,
}

/// The result of one attempt, recorded by [`Storage::finish_delivery`].
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    /// `delivered`, `pending` (a retry at `next_attempt_at`) or `failed`.
    pub status: &'static str,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

/// What the rules see of one project inside a write transaction. Every method reads or
/// writes that project only.
pub trait ProjectTx {
    fn head(&mut self) -> Result<u64>;
    fn set_head(&mut self, head: u64) -> Result<()>;
    /// Any record by id, tombstones included.
    fn get(&mut self, id: Uuid) -> Result<Option<Record>>;
    fn generation_by_version(&mut self, version: &Version) -> Result<Option<GenerationRecord>>;
    /// The live evolutions of a generation, oldest first (started_at, then rc).
    fn evolutions_of(&mut self, generation_id: Uuid) -> Result<Vec<EvolutionRecord>>;
    /// Id of the live evolution holding `rc` for the generation, and the highest rc used.
    fn rc_usage(&mut self, generation_id: Uuid, rc: u32) -> Result<(Option<Uuid>, Option<u32>)>;
    fn evolution_by_code_name(&mut self, code_name: &str) -> Result<Option<Uuid>>;
    /// Inserts or replaces the record with its id (revision and seq already stamped).
    fn put(&mut self, record: &Record) -> Result<()>;
    /// Inserts a record with an id not stored yet; `false`, and nothing written, when its id
    /// or a slot it takes (version, rc tag, code name) is already held.
    fn insert_new(&mut self, record: &Record) -> Result<bool>;
    fn answer(&mut self, key: &str) -> Result<Option<StoredAnswer>>;
    /// Records where an imported record was copied from (kept if it is there already).
    fn set_provenance(&mut self, id: Uuid, provenance: &Provenance) -> Result<()>;
    /// Where the record was copied from, if an import created it.
    fn provenance(&mut self, id: Uuid) -> Result<Option<Provenance>>;
    fn store_answer(&mut self, key: &str, answer: &StoredAnswer, now: &str) -> Result<()>;
    /// The project's webhooks, oldest first.
    fn webhooks(&mut self) -> Result<Vec<WebhookRow>>;
    /// Writes a pending delivery (committed with the change it reports, or not at all).
    fn insert_delivery(&mut self, delivery: &NewDelivery) -> Result<()>;
}

/// What the team rules see inside one write transaction: memberships and roles read there
/// cannot change before the transaction's own writes (no other writer runs meanwhile).
pub trait TeamTx {
    /// The team named `team` if the account is a member of it, with the account's role.
    fn membership(&mut self, account_id: &str, team: &str) -> Result<Option<(TeamRow, Role)>>;
    fn account(&mut self, username: &str) -> Result<Option<AccountRow>>;
    fn members(&mut self, team_id: &str) -> Result<Vec<Member>>;
    /// Adds, changes (`Some`) or removes (`None`) a membership.
    fn set_member(&mut self, team_id: &str, account_id: &str, role: Option<Role>) -> Result<()>;
    fn create_project(&mut self, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow>;
}

/// The storage backend. Calls block: the server runs them on blocking threads.
pub trait Storage: Send + Sync + 'static {
    /// Whether storage answers (`/readyz`).
    fn ping(&self) -> Result<()>;
    /// The server's history id: made when the storage is first opened, replaced only when
    /// its history is rewound (a restore). Fixed while the storage is open.
    fn history_id(&self) -> Uuid;
    fn create_account(&self, username: &str, password_hash: &str, now: &str) -> Result<AccountRow>;
    fn account(&self, username: &str) -> Result<Option<AccountRow>>;
    fn insert_token(&self, token: &NewToken) -> Result<()>;
    /// The token with this hash and its account, revoked or expired ones included.
    fn token(&self, hash: &str) -> Result<Option<(TokenRow, AccountRow)>>;
    /// The account's live (unrevoked) tokens and API keys.
    fn tokens(&self, account_id: &str) -> Result<Vec<TokenRow>>;
    /// Revokes one of the account's tokens; false when it has no such live token.
    fn revoke_token(&self, account_id: &str, token_id: Uuid, now: &str) -> Result<bool>;
    fn create_team(&self, name: &str, owner_account_id: &str, now: &str) -> Result<TeamRow>;
    /// The teams the account belongs to, with its role in each.
    fn teams(&self, account_id: &str) -> Result<Vec<(TeamRow, Role)>>;
    fn members(&self, team_id: &str) -> Result<Vec<Member>>;
    /// Runs `f` in one write transaction over teams and memberships: committed if it returns
    /// `Ok`, rolled back otherwise. What `f` reads stays true until it commits (SQLite:
    /// `BEGIN IMMEDIATE`), so a check and the write it allows are one step.
    fn transact_teams(
        &self,
        f: &mut dyn FnMut(&mut dyn TeamTx) -> std::result::Result<(), crate::server::ServiceError>,
    ) -> std::result::Result<(), crate::server::ServiceError>;
    fn create_project(&self, team: &TeamRow, name: &str, now: &str) -> Result<ProjectRow>;
    fn projects(&self, team: &TeamRow) -> Result<Vec<ProjectRow>>;
    /// `TEAM/PROJECT` if the account is a member of the team — otherwise `None`, exactly as
    /// for a project that does not exist.
    fn project(&self, account_id: &str, team: &str, project: &str) -> Result<Option<ProjectRow>>;
    /// Records with seq > `since`, in seq order, at most `limit`, from one consistent snapshot.
    fn changes(&self, project_id: &str, since: u64, limit: u32) -> Result<RawPage>;
    /// [`Storage::changes`] narrowed to the generations holding `versions`: each of them, its
    /// evolutions and their runs. Also the versions of `versions` the project holds.
    fn changes_of(
        &self,
        project_id: &str,
        versions: &[String],
        since: u64,
        limit: u32,
    ) -> Result<(RawPage, Vec<String>)>;
    /// The digest entries of the project's live records (tombstones left out) whose slot is
    /// within `slots` (first, last) and whose id sorts after `after`, in id order, at most
    /// `limit` (all when `None`); with the head, from one consistent snapshot.
    fn digest_entries(
        &self,
        project_id: &str,
        slots: (u32, u32),
        after: Option<Uuid>,
        limit: Option<u32>,
    ) -> Result<(u64, Vec<crate::api::digest::DigestEntry>)>;
    /// The project's live generations — only the one holding `version` when given (none if
    /// no generation holds it) — and their live evolutions, with the head, from one
    /// consistent snapshot. A read: no writer waits for it.
    fn generations(
        &self,
        project_id: &str,
        version: Option<&Version>,
    ) -> Result<GenerationsSnapshot>;
    /// Adds a webhook to its project unless the project has `limit` already (`false`).
    fn create_webhook(&self, hook: &WebhookRow, limit: usize) -> Result<bool>;
    /// The project's webhooks, oldest first.
    fn webhooks(&self, project_id: &str) -> Result<Vec<WebhookRow>>;
    /// Removes a webhook of the project and its deliveries; `false` when it has none by that id.
    fn delete_webhook(&self, project_id: &str, id: &str) -> Result<bool>;
    /// The newest `limit` deliveries of a webhook of the project, newest first; `None` when
    /// the project has no such webhook.
    fn deliveries(
        &self,
        project_id: &str,
        webhook_id: &str,
        limit: u32,
    ) -> Result<Option<Vec<DeliveryRow>>>;
    /// Claims up to `limit` pending deliveries due at `now` (Unix ms) that no one holds (or
    /// whose holder's lease ran out) until `until`: another worker, in any process, skips
    /// them meanwhile. Oldest due first.
    fn claim_deliveries(&self, now: i64, until: i64, limit: u32) -> Result<Vec<ClaimedDelivery>>;
    /// Records an attempt of a claimed delivery and releases the claim; nothing when the
    /// claim (`claimed_until`) is no longer the caller's.
    fn finish_delivery(
        &self,
        id: &str,
        claimed_until: i64,
        outcome: &DeliveryOutcome,
    ) -> Result<()>;
    /// Runs `f` in one write transaction on the project: committed if it returns `Ok`,
    /// rolled back otherwise. Writers to one project are serialized.
    fn transact(
        &self,
        project_id: &str,
        f: &mut dyn FnMut(
            &mut dyn ProjectTx,
        ) -> std::result::Result<(), crate::server::ServiceError>,
    ) -> std::result::Result<(), crate::server::ServiceError>;
}

/// A record as both backends store it in `records`: the columns the rules look it up by,
/// and its JSON body (the content hash and slot are filled in by the next digest).
pub(crate) struct RecordColumns {
    pub kind: &'static str,
    pub version: Option<String>,
    pub generation_id: Option<String>,
    pub rc: Option<i64>,
    pub code_name: Option<String>,
    pub started_at: Option<String>,
    pub body: String,
}

impl RecordColumns {
    pub fn of(record: &Record) -> Result<RecordColumns> {
        let body = serde_json::to_string(record)
            .map_err(|e| StorageError::Backend(format!("encoding a record: {e}")))?;
        let mut columns = RecordColumns {
            kind: "deleted",
            version: None,
            generation_id: None,
            rc: None,
            code_name: None,
            started_at: None,
            body,
        };
        match record {
            Record::Generation(g) => {
                columns.kind = "generation";
                columns.version = Some(g.version.to_string());
            }
            Record::Evolution(e) => {
                columns.kind = "evolution";
                columns.generation_id = Some(e.generation_id.to_string());
                columns.rc = Some(i64::from(e.rc));
                columns.code_name = Some(e.code_name.clone());
                columns.started_at = Some(e.started_at.clone());
            }
            Record::PipelineRun(_) => columns.kind = "pipeline_run",
            Record::Deleted(_) => {}
        }
        Ok(columns)
    }
}

/// Runs `f` through [`Storage::transact_teams`] and hands back its value.
pub fn transact_teams<T>(
    storage: &dyn Storage,
    mut f: impl FnMut(&mut dyn TeamTx) -> std::result::Result<T, crate::server::ServiceError>,
) -> std::result::Result<T, crate::server::ServiceError> {
    let mut out = None;
    storage.transact_teams(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StorageError::Backend("transaction returned no value".into()).into())
}

/// Runs `f` in a project write transaction and rolls it back whatever `f` decides: what `f`
/// wrote is seen by its own reads, then undone (dry runs).
pub fn rehearse<T>(
    storage: &dyn Storage,
    project_id: &str,
    mut f: impl FnMut(&mut dyn ProjectTx) -> std::result::Result<T, crate::server::ServiceError>,
) -> std::result::Result<T, crate::server::ServiceError> {
    const ROLLBACK: &str = "rehearsal: roll back";
    let mut out = None;
    let result = storage.transact(project_id, &mut |tx| {
        out = Some(f(tx)?);
        Err(crate::server::ServiceError::Internal(ROLLBACK.into()))
    });
    match (result, out) {
        (Err(crate::server::ServiceError::Internal(m)), Some(value)) if m == ROLLBACK => Ok(value),
        (Err(e), _) => Err(e),
        (Ok(()), _) => Err(StorageError::Backend("a rehearsal was committed".into()).into()),
    }
}

/// Runs `f` through [`Storage::transact`] and hands back its value.
pub fn transact<T>(
    storage: &dyn Storage,
    project_id: &str,
    mut f: impl FnMut(&mut dyn ProjectTx) -> std::result::Result<T, crate::server::ServiceError>,
) -> std::result::Result<T, crate::server::ServiceError> {
    let mut out = None;
    storage.transact(project_id, &mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StorageError::Backend("transaction returned no value".into()).into())
}
