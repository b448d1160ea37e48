-- Organizations, API tokens, users, service memberships, activation codes.
-- Secrets are stored sealed (AES-256-GCM under the master key) or hashed, never plain.

CREATE TABLE orgs (
    id          INTEGER PRIMARY KEY,
    alias       TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL UNIQUE,
    -- OrgSettings::to_text(): one key=value per line; absent keys take their defaults.
    settings    TEXT    NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    token       TEXT    PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    scope       TEXT    NOT NULL CHECK (scope IN ('full', 'auth-only')),
    sealed_key  BLOB    NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE INDEX api_tokens_org ON api_tokens(org_id);

CREATE TABLE users (
    -- AUTOINCREMENT: a deleted user's id (shown as userId) is never given to another.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    username        TEXT    NOT NULL,
    -- Unicode lower case of username: uniqueness per organization is case-insensitive
    -- and enforced here, not by a read-then-insert.
    username_fold   TEXT    NOT NULL,
    fname           TEXT,
    lname           TEXT,
    email           TEXT,
    pic_url         TEXT,
    role            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    device_kind     TEXT,
    activation_expires_ms INTEGER,
    last_login_ms   INTEGER,
    created_ms      INTEGER NOT NULL,
    UNIQUE (org_id, username_fold)
);

CREATE TABLE user_services (
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sp_alias        TEXT    NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    bypass_until_ms INTEGER,
    joined_ms       INTEGER NOT NULL,
    PRIMARY KEY (user_id, sp_alias)
);

CREATE TABLE activation_codes (
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_kind TEXT,
    state       TEXT    NOT NULL DEFAULT 'NOT_CLAIMED',
    device_id   INTEGER,
    expires_ms  INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (org_id, code_hash)
);
CREATE INDEX activation_codes_user ON activation_codes(user_id);
