-- gryt local store, schema 1. Append-only: never edit a released migration, add V2__….

CREATE TABLE generations (
    id                TEXT PRIMARY KEY,          -- UUIDv7, made by the client
    version           TEXT NOT NULL UNIQUE,      -- canonical `vX.Y.Z`
    major             INTEGER NOT NULL,
    minor             INTEGER NOT NULL,
    patch             INTEGER NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    pipeline_template TEXT,
    status            TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'promoted', 'abandoned')),
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    promoted_by       TEXT,
    promoted_at       TEXT,
    content_hash      TEXT NOT NULL,             -- canonical contract hash (sync compares these)
    file_hash         TEXT,                      -- hash of the YAML bytes gryt last wrote or read
    remote_id         TEXT,
    sync_status       TEXT NOT NULL DEFAULT 'not_synced'
                      CHECK (sync_status IN ('not_synced', 'synced', 'pending', 'conflict', 'failed')),
    base_revision     INTEGER,
    last_synced_at    TEXT,
    sync_error        TEXT
) STRICT;
CREATE INDEX generations_by_semver ON generations (major, minor, patch);

CREATE TABLE changes (
    generation_id TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    change_id     TEXT NOT NULL,
    position      INTEGER NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('fix', 'refine', 'add', 'remove')),
    title         TEXT NOT NULL,
    description   TEXT,
    pipeline      TEXT,
    PRIMARY KEY (generation_id, change_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE pipeline_runs (
    id           TEXT PRIMARY KEY,               -- UUIDv7
    pipeline     TEXT NOT NULL,
    evolution_id TEXT,                           -- set when the run decides an evolution
    status       TEXT NOT NULL CHECK (status IN ('running', 'pass', 'fail')),
    note         TEXT,                           -- e.g. 'interrupted'
    started_by   TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    duration_ms  INTEGER,
    runner_pid   INTEGER,
    sync_status  TEXT NOT NULL DEFAULT 'not_synced'
                 CHECK (sync_status IN ('not_synced', 'synced', 'pending', 'conflict', 'failed'))
) STRICT;

CREATE TABLE pipeline_steps (
    run_id      TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    command     TEXT NOT NULL,
    exit_code   INTEGER,                         -- NULL: killed by a signal, timed out or not run
    attempts    INTEGER NOT NULL DEFAULT 1,
    timed_out   INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL,
    stdout      TEXT NOT NULL DEFAULT '',        -- bounded tail
    stderr      TEXT NOT NULL DEFAULT '',        -- bounded tail
    PRIMARY KEY (run_id, position)
) STRICT;

CREATE TABLE evolutions (
    id              TEXT PRIMARY KEY,            -- UUIDv7
    generation_id   TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    change_id       TEXT NOT NULL,
    code_name       TEXT NOT NULL UNIQUE,
    rc              INTEGER NOT NULL CHECK (rc > 0),
    owner           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'pass', 'fail')),
    note            TEXT,
    started_at      TEXT NOT NULL,
    completed_at    TEXT,
    pipeline_run_id TEXT REFERENCES pipeline_runs (id),
    runner_pid      INTEGER,                     -- process running it, while `running`
    content_hash    TEXT NOT NULL DEFAULT '',
    remote_id       TEXT,
    sync_status     TEXT NOT NULL DEFAULT 'not_synced'
                    CHECK (sync_status IN ('not_synced', 'synced', 'pending', 'conflict', 'failed')),
    base_revision   INTEGER,
    last_synced_at  TEXT,
    sync_error      TEXT,
    UNIQUE (generation_id, rc),
    FOREIGN KEY (generation_id, change_id) REFERENCES changes (generation_id, change_id)
) STRICT;
-- Covers the per-generation counts of `generation list` and `status` without row lookups.
CREATE INDEX evolutions_by_change ON evolutions (generation_id, change_id, status);
CREATE INDEX evolutions_running ON evolutions (status) WHERE status = 'running';

CREATE TABLE sync_metadata (
    key   TEXT PRIMARY KEY,                      -- cursor, cloud_url, cloud_project, …
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Workspace-local state that is never synced (the current evolution, …).
CREATE TABLE local_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY,
    record_kind  TEXT NOT NULL,                  -- generation | evolution | pipeline_run
    record_id    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    local_value  TEXT,                           -- JSON
    remote_value TEXT,                           -- JSON
    detected_at  TEXT NOT NULL,
    resolved_at  TEXT,
    resolution   TEXT
) STRICT;

CREATE TABLE sync_log (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    direction   TEXT NOT NULL,                   -- pull | push | promote
    counts      TEXT NOT NULL DEFAULT '{}',      -- JSON
    duration_ms INTEGER NOT NULL,
    result      TEXT NOT NULL,                   -- ok | rejected | error
    error       TEXT
) STRICT;

CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,                      -- generation.created, evolution.decided, …
    object   TEXT NOT NULL,                      -- v1.2.0, v1.2.0-rc.3, pipeline name, …
    details  TEXT NOT NULL DEFAULT '{}'          -- JSON
) STRICT;
