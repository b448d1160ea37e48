-- Authentication sessions, user lockout state, code sends, and the audit trail.

CREATE TABLE auth_sessions (
    -- `webs_` + 43 base64url characters.
    id                  TEXT    PRIMARY KEY,
    org_id              INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The device challenged; NULL while the user picks one, and for backup sessions.
    device_id           INTEGER,
    -- 'auth' (a paired device) or 'backup' (rescue code to an address given in the call).
    kind                TEXT    NOT NULL CHECK (kind IN ('auth', 'backup')),
    sp_alias            TEXT    NOT NULL,
    -- selecting → challenge → (processing) → approved | failed; or cancelled.
    state               TEXT    NOT NULL CHECK (state IN ('selecting', 'challenge', 'processing', 'approved', 'failed', 'cancelled')),
    -- HMAC of the code sent by SMS/voice/email; never the code.
    code_hash           BLOB,
    -- Channel and address of a backup session.
    backup_channel      TEXT,
    backup_target       TEXT,
    -- A token resync in progress: the counter the first code matched.
    resync_counter      INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    challenge_expires_ms INTEGER,
    expires_ms          INTEGER NOT NULL,
    created_ms          INTEGER NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);

ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until_ms INTEGER;
ALTER TABLE users ADD COLUMN admin_locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN otp_blocked INTEGER NOT NULL DEFAULT 0;

-- Every code sent, by target, for the resend limit (20548). Rows older than a day are
-- pruned as new ones are written.
CREATE TABLE code_sends (
    org_id      INTEGER NOT NULL,
    target      TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX code_sends_target ON code_sends(org_id, target, created_ms);

-- Append-only record of every authentication event. Never holds a code.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL,
    user_id     INTEGER,
    username    TEXT,
    device_id   INTEGER,
    op          TEXT    NOT NULL,
    error_id    INTEGER NOT NULL,
    source_ip   TEXT,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX audit_user ON audit(user_id, id);
