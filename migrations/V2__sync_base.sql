-- gryt local store, schema 2: what the cloud held of a record when it was last in sync,
-- saved when the record is first edited here afterwards (`gryt sync diff` compares against
-- it). Written by the store in the statement that edits the record; cleared with the record.

CREATE TABLE sync_base (
    record_kind TEXT NOT NULL,                   -- generation | evolution
    record_id   TEXT NOT NULL,
    value       TEXT NOT NULL,                   -- JSON: the record's synced fields
    PRIMARY KEY (record_kind, record_id)
) STRICT, WITHOUT ROWID;
