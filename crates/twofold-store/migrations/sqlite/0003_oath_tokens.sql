-- The organization's stock of OATH hardware tokens, resync sessions, and jobs.

CREATE TABLE oath_tokens (
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    serial          TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('HOTP', 'TOTP')),
    algorithm       TEXT    NOT NULL DEFAULT 'SHA1',
    digits          INTEGER NOT NULL,
    period          INTEGER NOT NULL,
    -- The seed, sealed with the master key bound to org and serial.
    sealed_secret   BLOB    NOT NULL,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (org_id, serial)
);

-- Resync of a paired token in two steps (resyncoathtoken with one code per call).
CREATE TABLE resync_sessions (
    id              TEXT    PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    matched         INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done'))
);

-- Jobs (createorgtokens, revokeorgtokens; reports later). `result` is the job result
-- JSON that getjobstatus returns.
CREATE TABLE jobs (
    token           TEXT    PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'in_progress', 'done', 'failure')),
    result          TEXT,
    created_ms      INTEGER NOT NULL,
    finished_ms     INTEGER
);
