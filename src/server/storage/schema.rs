//! The server database schema as append-only migrations. Portable SQL on purpose (TEXT
//! ids, BIGINT counters, partial unique indexes): the Postgres backend will run the same
//! statements. `records` holds every synced record of every project, one row per id, with
//! the columns the rules look up; `body` is the record's JSON as served by the changes feed.
//! `server_meta` holds server-wide values such as the history id (made and backfilled by
//! the storage when it opens, since plain SQL cannot make a UUID portably).

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
/// Append only: never edit a released entry.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind       TEXT NOT NULL CHECK (kind IN ('device', 'api_key')),
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE INDEX tokens_by_account ON tokens (account_id);
CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE team_members (
    team_id    TEXT NOT NULL REFERENCES teams (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    PRIMARY KEY (team_id, account_id)
);
CREATE INDEX team_members_by_account ON team_members (account_id);
CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id),
    name       TEXT NOT NULL,
    head       BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (team_id, name)
);
CREATE TABLE records (
    project_id    TEXT NOT NULL REFERENCES projects (id),
    id            TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('generation', 'evolution', 'pipeline_run', 'deleted')),
    seq           BIGINT NOT NULL,
    revision      BIGINT NOT NULL,
    version       TEXT,
    generation_id TEXT,
    rc            BIGINT,
    code_name     TEXT,
    started_at    TEXT,
    body          TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX records_by_seq ON records (project_id, seq);
CREATE UNIQUE INDEX records_version ON records (project_id, version) WHERE kind = 'generation';
CREATE UNIQUE INDEX records_rc ON records (project_id, generation_id, rc) WHERE kind = 'evolution';
CREATE UNIQUE INDEX records_code_name ON records (project_id, code_name) WHERE kind = 'evolution';
CREATE TABLE idempotency (
    project_id   TEXT NOT NULL REFERENCES projects (id),
    key          TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (project_id, key)
);
"#,
    // Identity: the server's history id, replaced whenever its history is rewound (restore).
    r#"
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // Digest: each record's content hash and slot (crate::api::digest), computed by the first
    // digest after the record was written (and kept until it changes), so pushes pay nothing
    // for them and a digest re-encodes only what changed since the last one. No index on
    // `slot`: it would cost every write, and a bucket is read by scanning one project.
    r#"
ALTER TABLE records ADD COLUMN hash TEXT;
ALTER TABLE records ADD COLUMN slot BIGINT;
"#,
    // The same table, with its kind check written as a chain of `=` joined by OR: SQLite
    // builds a temporary B-tree each time it evaluates a constant `IN` list of more than two
    // values, which the check did for every record written. Rebuilt as SQLite documents for
    // changing a constraint (new table, copy, drop, rename, indexes again); nothing refers
    // to `records`, and the rules are unchanged. PostgreSQL runs it too (one schema).
    r#"
CREATE TABLE records_v4 (
    project_id    TEXT NOT NULL REFERENCES projects (id),
    id            TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind = 'generation' OR kind = 'evolution'
                                       OR kind = 'pipeline_run' OR kind = 'deleted'),
    seq           BIGINT NOT NULL,
    revision      BIGINT NOT NULL,
    version       TEXT,
    generation_id TEXT,
    rc            BIGINT,
    code_name     TEXT,
    started_at    TEXT,
    body          TEXT NOT NULL,
    hash          TEXT,
    slot          BIGINT,
    PRIMARY KEY (project_id, id)
);
INSERT INTO records_v4 SELECT * FROM records;
DROP TABLE records;
ALTER TABLE records_v4 RENAME TO records;
CREATE UNIQUE INDEX records_by_seq ON records (project_id, seq);
CREATE UNIQUE INDEX records_version ON records (project_id, version) WHERE kind = 'generation';
CREATE UNIQUE INDEX records_rc ON records (project_id, generation_id, rc) WHERE kind = 'evolution';
CREATE UNIQUE INDEX records_code_name ON records (project_id, code_name) WHERE kind = 'evolution';
"#,
    // Provenance of records copied in by an import (`POST …/import`): where each came from,
    // who copied it and when. One row per record created by an import; records pushed in the
    // ordinary way have none.
    r#"
CREATE TABLE record_copies (
    project_id  TEXT NOT NULL REFERENCES projects (id),
    id          TEXT NOT NULL,
    copied_from TEXT NOT NULL,
    copied_by   TEXT NOT NULL,
    copied_at   TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
);
"#,
    // Project webhooks (server::webhooks) and their deliveries. A delivery row is written in
    // the transaction of the change it reports, so it exists exactly when the change does;
    // the delivery worker sends it afterwards. `events` is the comma-separated event names;
    // `next_attempt_at` and `claimed_until` are Unix milliseconds (a claim is a lease: a
    // worker in any process owns a delivery until then).
    r#"
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX webhooks_by_project ON webhooks (project_id);
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered'
                                          OR status = 'failed'),
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    claimed_until    BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
"#,
];
