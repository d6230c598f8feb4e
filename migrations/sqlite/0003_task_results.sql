-- Issues 4 and 5: what a task's RPC reported beyond success or a fault (a queued-transfer list,
-- the per-operation results of a ChangeDUState), as JSON; NULL for kinds that report nothing.
ALTER TABLE tasks ADD COLUMN result TEXT;
