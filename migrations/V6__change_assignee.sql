-- Who is to prove a change: a cloud account name, or NULL (nobody yet). Rows written
-- before this column existed read as unassigned.
ALTER TABLE changes ADD COLUMN assignee TEXT;
