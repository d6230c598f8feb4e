-- Debug session traces: which session a message belongs to (when its Inform arrived), the
-- HTTP status of an ACS reply, the message's size on the wire and whether it was cut to
-- the per-message bound; and an index for the age bound, which deletes by `recorded` across devices.
ALTER TABLE session_traces ADD COLUMN session_started TIMESTAMPTZ;
ALTER TABLE session_traces ADD COLUMN http_status INTEGER;
ALTER TABLE session_traces ADD COLUMN size BIGINT;
ALTER TABLE session_traces ADD COLUMN truncated BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX session_traces_recorded ON session_traces (recorded);
