-- Jobs run from the table: a worker claims a pending job (or one whose lease expired,
-- after a crash) with one conditional UPDATE, so a job runs once even with several nodes.
ALTER TABLE jobs ADD COLUMN claimed_ms INTEGER;
CREATE INDEX jobs_pending ON jobs(status, created_ms);
CREATE INDEX users_org ON users(org_id, id);
