-- gryt local store, schema 5: the same tables, checks and indexes as schemas 1 and 3, with
-- every constant list of more than two values written as a chain of `=` joined by OR.
-- SQLite builds a temporary B-tree for each `x IN ('a', 'b', 'c')` every time a statement
-- evaluates it; a CHECK or a partial index's WHERE is evaluated by every INSERT and UPDATE of
-- the table, so storing a pulled page built thousands of them. The rules are unchanged.
--
-- A query that must use a partial index repeats its WHERE term word for word (SQLite matches
-- them structurally): the Rust side takes it from `store::PUSHABLE`.
--
-- Rebuilt the way SQLite documents for changing a table's constraints: new table, copy,
-- drop, rename, indexes again. Foreign keys are off while migrations run (Store::open).

CREATE TABLE generations_v5 (
    id                TEXT PRIMARY KEY,
    version           TEXT NOT NULL UNIQUE,
    major             INTEGER NOT NULL,
    minor             INTEGER NOT NULL,
    patch             INTEGER NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    pipeline_template TEXT,
    status            TEXT NOT NULL DEFAULT 'draft'
                      CHECK (status = 'draft' OR status = 'promoted' OR status = 'abandoned'),
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    promoted_by       TEXT,
    promoted_at       TEXT,
    content_hash      TEXT NOT NULL,
    file_hash         TEXT,
    remote_id         TEXT,
    sync_status       TEXT NOT NULL DEFAULT 'not_synced'
                      CHECK (sync_status = 'not_synced' OR sync_status = 'synced'
                             OR sync_status = 'pending' OR sync_status = 'conflict'
                             OR sync_status = 'failed'),
    base_revision     INTEGER,
    last_synced_at    TEXT,
    sync_error        TEXT
) STRICT;
INSERT INTO generations_v5 SELECT * FROM generations;
DROP TABLE generations;
ALTER TABLE generations_v5 RENAME TO generations;
CREATE INDEX generations_by_semver ON generations (major, minor, patch);
CREATE INDEX generations_to_push ON generations (created_at, id)
    WHERE sync_status = 'not_synced' OR sync_status = 'pending' OR sync_status = 'failed';

CREATE TABLE changes_v5 (
    generation_id TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    change_id     TEXT NOT NULL,
    position      INTEGER NOT NULL,
    type          TEXT NOT NULL
                  CHECK (type = 'fix' OR type = 'refine' OR type = 'add' OR type = 'remove'),
    title         TEXT NOT NULL,
    description   TEXT,
    pipeline      TEXT,
    PRIMARY KEY (generation_id, change_id)
) STRICT, WITHOUT ROWID;
INSERT INTO changes_v5 SELECT * FROM changes;
DROP TABLE changes;
ALTER TABLE changes_v5 RENAME TO changes;

CREATE TABLE pipeline_runs_v5 (
    id           TEXT PRIMARY KEY,
    pipeline     TEXT NOT NULL,
    evolution_id TEXT,
    status       TEXT NOT NULL CHECK (status = 'running' OR status = 'pass' OR status = 'fail'),
    note         TEXT,
    started_by   TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    duration_ms  INTEGER,
    runner_pid   INTEGER,
    sync_status  TEXT NOT NULL DEFAULT 'not_synced'
                 CHECK (sync_status = 'not_synced' OR sync_status = 'synced'
                        OR sync_status = 'pending' OR sync_status = 'conflict'
                        OR sync_status = 'failed')
) STRICT;
INSERT INTO pipeline_runs_v5 SELECT * FROM pipeline_runs;
DROP TABLE pipeline_runs;
ALTER TABLE pipeline_runs_v5 RENAME TO pipeline_runs;
CREATE INDEX runs_to_push ON pipeline_runs (sync_status)
    WHERE sync_status = 'not_synced' OR sync_status = 'pending' OR sync_status = 'failed';

CREATE TABLE evolutions_v5 (
    id              TEXT PRIMARY KEY,
    generation_id   TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    change_id       TEXT NOT NULL,
    code_name       TEXT NOT NULL UNIQUE,
    rc              INTEGER NOT NULL CHECK (rc > 0),
    owner           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status = 'pending' OR status = 'running' OR status = 'pass'
                           OR status = 'fail'),
    note            TEXT,
    started_at      TEXT NOT NULL,
    completed_at    TEXT,
    pipeline_run_id TEXT REFERENCES pipeline_runs (id),
    runner_pid      INTEGER,
    content_hash    TEXT NOT NULL DEFAULT '',
    remote_id       TEXT,
    sync_status     TEXT NOT NULL DEFAULT 'not_synced'
                    CHECK (sync_status = 'not_synced' OR sync_status = 'synced'
                           OR sync_status = 'pending' OR sync_status = 'conflict'
                           OR sync_status = 'failed'),
    base_revision   INTEGER,
    last_synced_at  TEXT,
    sync_error      TEXT,
    UNIQUE (generation_id, rc),
    FOREIGN KEY (generation_id, change_id) REFERENCES changes (generation_id, change_id)
) STRICT;
INSERT INTO evolutions_v5 SELECT * FROM evolutions;
DROP TABLE evolutions;
ALTER TABLE evolutions_v5 RENAME TO evolutions;
CREATE INDEX evolutions_by_change ON evolutions (generation_id, change_id, status);
CREATE INDEX evolutions_running ON evolutions (status) WHERE status = 'running';
CREATE INDEX evolutions_to_push ON evolutions (generation_id, rc)
    WHERE sync_status = 'not_synced' OR sync_status = 'pending' OR sync_status = 'failed';
