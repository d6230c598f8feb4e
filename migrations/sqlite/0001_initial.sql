-- acs device-state store, SQLite dialect. The PostgreSQL twin has the same number, tables,
-- columns and constraints; only the types differ (timestamps are RFC 3339 UTC text here,
-- JSON is text, booleans are 0/1).

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL
);

CREATE TABLE locations (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    short_name      TEXT,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE RESTRICT,
    latitude        TEXT,
    longitude       TEXT,
    created         TEXT NOT NULL
);
CREATE INDEX locations_organization ON locations (organization_id);

-- profile: JSON {"location_paths": {...}, "credential_paths": {...},
-- "inform_interval_path": "...", "defaults": [{"path", "value", "xsd_type"}]}
CREATE TABLE device_types (
    id                  INTEGER PRIMARY KEY,
    short_name          TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    data_model_root     TEXT NOT NULL,
    profile             TEXT NOT NULL DEFAULT '{}',
    created             TEXT NOT NULL
);

CREATE TABLE firmware_images (
    id              INTEGER PRIMARY KEY,
    version         TEXT NOT NULL,
    file_name       TEXT NOT NULL UNIQUE,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    device_type_id  INTEGER REFERENCES device_types (id) ON DELETE RESTRICT,
    created         TEXT NOT NULL
);

CREATE TABLE devices (
    id                          INTEGER PRIMARY KEY,
    uuid                        TEXT NOT NULL UNIQUE,
    name                        TEXT,
    customer_id                 TEXT,
    is_active                   INTEGER NOT NULL DEFAULT 1,
    status                      TEXT NOT NULL DEFAULT 'Down' CHECK (status IN ('Up', 'Down')),
    status_change               TEXT,
    type_id                     INTEGER REFERENCES device_types (id) ON DELETE RESTRICT,
    software_version            TEXT,
    hardware_version            TEXT,
    manufacturer                TEXT,
    unique_identifier           TEXT,
    product_class               TEXT,
    oui                         TEXT,
    serial_number               TEXT NOT NULL UNIQUE,
    serial_number_alt           TEXT,
    description                 TEXT,
    organization_id             INTEGER REFERENCES organizations (id) ON DELETE RESTRICT,
    firmware_image_id           INTEGER REFERENCES firmware_images (id) ON DELETE RESTRICT,
    firmware_image_is_pending   INTEGER NOT NULL DEFAULT 0,
    location_id                 INTEGER REFERENCES locations (id) ON DELETE SET NULL,
    location_name               TEXT,
    latitude                    TEXT,
    longitude                   TEXT,
    username                    TEXT,
    password_enc                BLOB,
    update_frequency            INTEGER,
    address                     TEXT,
    connection_request_url      TEXT,
    parameter_key               TEXT,
    last_connection             TEXT,
    last_configuration          TEXT,
    last_change                 TEXT,
    created                     TEXT NOT NULL,
    debug                       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_organization ON devices (organization_id, status, id);
CREATE INDEX devices_type ON devices (type_id, id);
CREATE INDEX devices_status ON devices (status, id);
CREATE INDEX devices_status_change ON devices (status_change);
CREATE INDEX devices_location ON devices (location_id);
CREATE INDEX devices_firmware ON devices (firmware_image_id);

CREATE TABLE parameters (
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    value       TEXT NOT NULL,
    xsd_type    TEXT NOT NULL,
    writable    INTEGER,
    updated     TEXT NOT NULL,
    PRIMARY KEY (device_id, path)
) WITHOUT ROWID;

CREATE TABLE tasks (
    id                  INTEGER PRIMARY KEY,
    device_id           INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    command_key         TEXT NOT NULL UNIQUE,
    kind                TEXT NOT NULL,
    payload             TEXT NOT NULL,
    setting_group       TEXT NOT NULL,
    state               TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'in_flight', 'done', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT NOT NULL,
    claimed_by          TEXT,
    claim_expires_at    TEXT,
    fault_code          INTEGER,
    fault_string        TEXT,
    created             TEXT NOT NULL,
    updated             TEXT NOT NULL
);
CREATE INDEX tasks_device_state ON tasks (device_id, state, id);
CREATE INDEX tasks_in_flight ON tasks (state, claim_expires_at);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    code        TEXT NOT NULL,
    command_key TEXT NOT NULL DEFAULT '',
    received    TEXT NOT NULL
);
CREATE INDEX events_device ON events (device_id, id);

CREATE TABLE session_traces (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    body        TEXT NOT NULL,
    recorded    TEXT NOT NULL
);
CREATE INDEX session_traces_device ON session_traces (device_id, id);

-- At most one CWMP session per device across nodes. Keyed by serial number: the lease is
-- taken before the Inform creates the device.
CREATE TABLE session_leases (
    serial_number   TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    expires_at      TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    token_sha256    TEXT NOT NULL UNIQUE,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE CASCADE,
    is_admin        INTEGER NOT NULL DEFAULT 0,
    created         TEXT NOT NULL,
    last_used       TEXT,
    CHECK (is_admin = 1 OR organization_id IS NOT NULL)
);
