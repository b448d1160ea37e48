-- The durable outbox of SMS, voice and email messages. Requests queue a message and
-- wait for its outcome; workers claim messages with one conditional UPDATE (so one
-- worker on one node sends each), and a claim left by a crashed node expires and is
-- taken again. The recipient and the code live only in `payload`, sealed under the
-- master key, and the payload is dropped when the message is finished.
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    payload     BYTEA,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    claimed_ms  BIGINT,
    finished_ms BIGINT,
    error       TEXT
);
CREATE INDEX outbox_open ON outbox(state, created_ms);
