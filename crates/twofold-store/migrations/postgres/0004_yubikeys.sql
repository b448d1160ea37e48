-- YubiKey key material imported by operators (twin of sqlite/0004_yubikeys.sql).

CREATE TABLE yubikeys (
    org_id          BIGINT  NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- Modhex public id, the prefix of every OTP the key types.
    public_id       TEXT    NOT NULL,
    serial          TEXT,
    -- AES key (16 bytes) followed by the private id (6 bytes), sealed with the master key.
    sealed_secret   BYTEA   NOT NULL,
    -- Last accepted (use counter << 8 | session counter): advanced only upward, by one
    -- conditional UPDATE, so a captured OTP can never be accepted again.
    counter         BIGINT,
    created_ms      BIGINT  NOT NULL,
    PRIMARY KEY (org_id, public_id)
);
