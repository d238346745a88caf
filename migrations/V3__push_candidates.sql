-- gryt local store, schema 3: partial indexes over the records a push sends, in the order it
-- sends them. Without them every push batch walked all evolutions (synced ones included) to
-- find the next pending ones. Synced records are not in them, so a pull pays nothing.

CREATE INDEX evolutions_to_push ON evolutions (generation_id, rc)
    WHERE sync_status IN ('not_synced', 'pending', 'failed');
CREATE INDEX generations_to_push ON generations (created_at, id)
    WHERE sync_status IN ('not_synced', 'pending', 'failed');
CREATE INDEX runs_to_push ON pipeline_runs (sync_status)
    WHERE sync_status IN ('not_synced', 'pending', 'failed');
