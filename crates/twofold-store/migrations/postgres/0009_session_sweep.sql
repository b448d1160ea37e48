-- Sessions that ended long ago are deleted in batches, oldest expiry first
-- (AuthStore::sweep_sessions). Expiries grow with time, so this index is appended to
-- at its end rather than written at random pages.
CREATE INDEX auth_sessions_expiry ON auth_sessions(expires_ms);
