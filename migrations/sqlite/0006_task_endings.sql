-- Issue 14: how tasks end.
--
-- `unconfirmed`: the CPE accepted an RPC that completes later (Reboot, FactoryReset, a
-- transfer, ChangeDUState) and never reported it done within the wait; such a task is never
-- sent again on its own. `cancelled`: withdrawn by the operator after its RPC went out, or by
-- a CancelTransfer. `accepted_at`: when the CPE's response accepted such an RPC (the task
-- then waits for its completion event, and an expired wait is not a claim to take again).
-- `unanswered`: how many times the session ended right after the task's RPC was sent (a
-- task that crashes the CPE fails after a few).
--
-- SQLite cannot change a CHECK constraint: the table is rebuilt. Nothing references `tasks`,
-- so dropping the old table touches no other row; its two indexes are made again.
CREATE TABLE tasks_new (
    id                  INTEGER PRIMARY KEY,
    device_id           INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    command_key         TEXT NOT NULL UNIQUE,
    kind                TEXT NOT NULL,
    payload             TEXT NOT NULL,
    setting_group       TEXT NOT NULL,
    state               TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'in_flight', 'done', 'failed',
                                         'unconfirmed', 'cancelled')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT NOT NULL,
    claimed_by          TEXT,
    claim_expires_at    TEXT,
    fault_code          INTEGER,
    fault_string        TEXT,
    created             TEXT NOT NULL,
    updated             TEXT NOT NULL,
    result              TEXT,
    unanswered          INTEGER NOT NULL DEFAULT 0,
    accepted_at         TEXT
);
-- A task already waiting for its completion event when this runs (its claim runs an hour or
-- more past its last update; a plain claim runs twice the session timeout) was accepted.
INSERT INTO tasks_new (id, device_id, command_key, kind, payload, setting_group, state,
    attempts, next_attempt_at, claimed_by, claim_expires_at, fault_code, fault_string, created,
    updated, result, accepted_at)
SELECT id, device_id, command_key, kind, payload, setting_group, state, attempts,
    next_attempt_at, claimed_by, claim_expires_at, fault_code, fault_string, created, updated,
    result,
    CASE WHEN state = 'in_flight'
          AND kind IN ('reboot', 'factory_reset', 'firmware', 'download', 'upload',
                       'schedule_download', 'change_du_state')
          AND julianday(claim_expires_at) - julianday(updated) > 30.0 / 1440
         THEN updated END
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_device_state ON tasks (device_id, state, id);
CREATE INDEX tasks_in_flight ON tasks (state, claim_expires_at);
