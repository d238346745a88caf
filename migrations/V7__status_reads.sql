-- gryt status finds the assigned changes of drafts through this index instead of reading
-- every change. Most changes are unassigned, so it stays small.
CREATE INDEX changes_assigned ON changes (generation_id) WHERE assignee IS NOT NULL;

-- The store's revision (src/store/counts.rs): every transaction that changes rows writes a
-- new one, and the per-generation counts kept beside the database are used only at the
-- revision they were taken at. A store from before this migration starts with one.
INSERT INTO local_state (key, value) VALUES ('store.revision', lower(hex(randomblob(16))))
ON CONFLICT (key) DO NOTHING;
