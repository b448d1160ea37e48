-- Companion apps and pushes. A push is decided by one conditional UPDATE
-- (`… WHERE state IN ('pending', 'delivered')`), so two nodes never both decide it.

-- The companion app of an Android, iPhone or Desktop device: its Ed25519 public key
-- (public, stored as is; the app's TOTP seed is sealed in devices.sealed_secret) and the
-- facts it reports.
CREATE TABLE app_devices (
    device_id       INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform        TEXT    NOT NULL,
    public_key      BLOB    NOT NULL,
    model           TEXT,
    os_version      TEXT,
    app_version     TEXT,
    push_enabled    INTEGER NOT NULL DEFAULT 1,
    last_seen_ms    INTEGER,
    poll_until_ms   INTEGER
);
CREATE INDEX app_devices_user ON app_devices(user_id);
CREATE INDEX app_devices_key ON app_devices(org_id, public_key);

-- Nonces of signed device calls, kept while their timestamp could still be accepted: a
-- replay fails the primary key.
CREATE TABLE device_nonces (
    device_id   INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    nonce       TEXT    NOT NULL,
    keep_until_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX device_nonces_expiry ON device_nonces(device_id, keep_until_ms);

CREATE TABLE pushes (
    -- `push_` + 43 base64url characters.
    id              TEXT    PRIMARY KEY,
    session_id      TEXT    NOT NULL,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'approved', 'denied',
                        'wrong_number', 'expired', 'unacknowledged', 'unreachable', 'cancelled')),
    -- Number matching: the number shown by the sign-in page, and the app's choices
    -- ("12,47,83").
    number          INTEGER,
    choices         TEXT    NOT NULL DEFAULT '',
    sp_name         TEXT,
    sp_logo         TEXT,
    is_async        INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    ack_deadline_ms INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX pushes_session ON pushes(session_id, created_ms);
CREATE INDEX pushes_device ON pushes(device_id, state, updated_ms);
-- One open push per device (20523).
CREATE UNIQUE INDEX pushes_open ON pushes(device_id) WHERE state IN ('pending', 'delivered');
