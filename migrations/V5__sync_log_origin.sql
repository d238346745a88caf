-- What started each sync attempt: command | hook | cloud-mode | watch. Rows written before
-- this column existed were typed commands or syncs of cloud mode; they read as `command`.
ALTER TABLE sync_log ADD COLUMN origin TEXT NOT NULL DEFAULT 'command';
