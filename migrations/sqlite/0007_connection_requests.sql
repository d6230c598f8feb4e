-- Issues 12 and 13: connection requests (ACS -> CPE).
--
-- The address each device's last Inform came from (the TCP peer, not what the CPE reports):
-- the connection-request address policy lets a device's URL point at loopback only when the
-- device itself connects from loopback.
ALTER TABLE devices ADD COLUMN peer_address TEXT;

-- The connection-request pair the CPE accepted (devices.username/password_enc hold the pair
-- acs wants it to have), and the pair last offered in a SetParameterValues (offer_key: that
-- task's ParameterKey). Connection requests use only the accepted pair. Passwords are sealed
-- like devices.password_enc (AES-256-GCM, the device uuid as associated data).
CREATE TABLE cr_credentials (
    device_id           INTEGER PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    username            TEXT,
    password_enc        BLOB,
    accepted            TEXT,
    offer_key           TEXT,
    offer_username      TEXT,
    offer_password_enc  BLOB
);
-- Until now every stored pair was used as it was: keep using it.
INSERT INTO cr_credentials (device_id, username, password_enc, accepted)
    SELECT id, username, password_enc, COALESCE(last_change, created) FROM devices
    WHERE username IS NOT NULL;

-- The last connection requests per device (bounded by the store), shown in its history.
CREATE TABLE connection_request_log (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    sent        TEXT NOT NULL
);
CREATE INDEX connection_request_log_device ON connection_request_log (device_id, id);
