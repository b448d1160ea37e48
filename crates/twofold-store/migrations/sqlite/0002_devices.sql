-- Devices, pairing sessions, and per-day SMS/voice usage.

CREATE TABLE devices (
    -- Random positive id below 2^53 (exact in JavaScript clients).
    id              INTEGER PRIMARY KEY,
    uuid            TEXT    NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    -- Fallback order within the user, 1 = PRIMARY; kept dense by every change.
    position        INTEGER NOT NULL,
    nickname        TEXT    NOT NULL,
    phone           TEXT,
    email           TEXT,
    serial          TEXT,
    oath_kind       TEXT,
    oath_algorithm  TEXT,
    oath_digits     INTEGER,
    oath_period     INTEGER,
    -- Factor secret sealed with the master key (AES-256-GCM, bound to uuid).
    sealed_secret   BLOB,
    -- HOTP next counter / TOTP last accepted step / YubiKey last counters; advanced only
    -- by conditional UPDATEs.
    counter         INTEGER,
    enrolled_ms     INTEGER NOT NULL,
    last_used_ms    INTEGER,
    UNIQUE (user_id, nickname)
);
CREATE INDEX devices_user ON devices(user_id, position);
CREATE INDEX devices_phone ON devices(org_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX devices_email ON devices(org_id, email) WHERE email IS NOT NULL;
-- A hardware token is one physical object: one device at a time.
CREATE UNIQUE INDEX devices_token_serial ON devices(org_id, serial) WHERE kind = 'Hardware Token';

CREATE TABLE pairing_sessions (
    id              TEXT    PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL,
    device_uuid     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    phone           TEXT,
    email           TEXT,
    serial          TEXT,
    oath_kind       TEXT,
    oath_algorithm  TEXT,
    oath_digits     INTEGER,
    oath_period     INTEGER,
    sealed_secret   BLOB,
    counter         INTEGER,
    -- SHA-256 of the code sent by SMS/voice/email; the code itself is never stored.
    code_hash       BLOB,
    attempts        INTEGER NOT NULL DEFAULT 0,
    expires_ms      INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'closed')),
    created_ms      INTEGER NOT NULL
);

CREATE TABLE sms_usage (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day         INTEGER NOT NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    claimed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
