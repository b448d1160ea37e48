-- Devices, pairing sessions, and per-day SMS/voice usage (twin of sqlite/0002_devices.sql).

CREATE TABLE devices (
    -- Random positive id below 2^53 (exact in JavaScript clients).
    id              BIGINT  PRIMARY KEY,
    uuid            TEXT    NOT NULL UNIQUE,
    user_id         BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id          BIGINT  NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    -- Fallback order within the user, 1 = PRIMARY; kept dense by every change.
    position        BIGINT  NOT NULL,
    nickname        TEXT    NOT NULL,
    phone           TEXT,
    email           TEXT,
    serial          TEXT,
    oath_kind       TEXT,
    oath_algorithm  TEXT,
    oath_digits     BIGINT,
    oath_period     BIGINT,
    -- Factor secret sealed with the master key (AES-256-GCM, bound to uuid).
    sealed_secret   BYTEA,
    -- HOTP next counter / TOTP last accepted step / YubiKey last counters; advanced only
    -- by conditional UPDATEs.
    counter         BIGINT,
    enrolled_ms     BIGINT  NOT NULL,
    last_used_ms    BIGINT,
    UNIQUE (user_id, nickname)
);
CREATE INDEX devices_user ON devices(user_id, position);
CREATE INDEX devices_phone ON devices(org_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX devices_email ON devices(org_id, email) WHERE email IS NOT NULL;
-- A hardware token is one physical object: one device at a time.
CREATE UNIQUE INDEX devices_token_serial ON devices(org_id, serial) WHERE kind = 'Hardware Token';

CREATE TABLE pairing_sessions (
    id              TEXT    PRIMARY KEY,
    org_id          BIGINT  NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id       BIGINT  NOT NULL,
    device_uuid     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    phone           TEXT,
    email           TEXT,
    serial          TEXT,
    oath_kind       TEXT,
    oath_algorithm  TEXT,
    oath_digits     BIGINT,
    oath_period     BIGINT,
    sealed_secret   BYTEA,
    counter         BIGINT,
    -- SHA-256 of the code sent by SMS/voice/email; the code itself is never stored.
    code_hash       BYTEA,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    expires_ms      BIGINT  NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'closed')),
    created_ms      BIGINT  NOT NULL
);

CREATE TABLE sms_usage (
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day         BIGINT  NOT NULL,
    sent        BIGINT  NOT NULL DEFAULT 0,
    claimed     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
