-- What started each sync attempt: command | hook | cloud-mode. Rows written before this
-- column existed read as `command`.
ALTER TABLE sync_log ADD COLUMN origin TEXT NOT NULL DEFAULT 'command';
