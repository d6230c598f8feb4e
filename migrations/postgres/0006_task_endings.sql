-- Issue 14: how tasks end.
--
-- `unconfirmed`: the CPE accepted an RPC that completes later (Reboot, FactoryReset, a
-- transfer, ChangeDUState) and never reported it done within the wait; such a task is never
-- sent again on its own. `cancelled`: withdrawn by the operator after its RPC went out, or by
-- a CancelTransfer. `accepted_at`: when the CPE's response accepted such an RPC (the task
-- then waits for its completion event, and an expired wait is not a claim to take again).
-- `unanswered`: how many times the session ended right after the task's RPC was sent (a
-- task that crashes the CPE fails after a few).
ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check
    CHECK (state IN ('pending', 'in_flight', 'done', 'failed', 'unconfirmed', 'cancelled'));
ALTER TABLE tasks ADD COLUMN unanswered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN accepted_at TIMESTAMPTZ;
-- A task already waiting for its completion event when this runs (its claim runs an hour or
-- more past its last update; a plain claim runs twice the session timeout) was accepted.
UPDATE tasks SET accepted_at = updated
WHERE state = 'in_flight'
  AND kind IN ('reboot', 'factory_reset', 'firmware', 'download', 'upload',
               'schedule_download', 'change_du_state')
  AND claim_expires_at - updated > INTERVAL '30 minutes';
