-- The organization's stock of OATH hardware tokens, resync sessions, and jobs
-- (twin of sqlite/0003_oath_tokens.sql).

CREATE TABLE oath_tokens (
    org_id          BIGINT  NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    serial          TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('HOTP', 'TOTP')),
    algorithm       TEXT    NOT NULL DEFAULT 'SHA1',
    digits          BIGINT  NOT NULL,
    period          BIGINT  NOT NULL,
    -- The seed, sealed with the master key bound to org and serial.
    sealed_secret   BYTEA   NOT NULL,
    created_ms      BIGINT  NOT NULL,
    PRIMARY KEY (org_id, serial)
);

-- Resync of a paired token in two steps (resyncoathtoken with one code per call).
CREATE TABLE resync_sessions (
    id              TEXT    PRIMARY KEY,
    org_id          BIGINT  NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    device_id       BIGINT  NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    matched         BIGINT  NOT NULL,
    expires_ms      BIGINT  NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done'))
);

-- Jobs (createorgtokens, revokeorgtokens; reports later). `result` is the job result
-- JSON that getjobstatus returns.
CREATE TABLE jobs (
    token           TEXT    PRIMARY KEY,
    org_id          BIGINT  NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'in_progress', 'done', 'failure')),
    result          TEXT,
    created_ms      BIGINT  NOT NULL,
    finished_ms     BIGINT
);
