-- Jobs run from the table: a worker claims a pending job (or one whose lease expired,
-- after a crash) with one conditional UPDATE (FOR UPDATE SKIP LOCKED), so a job runs
-- once even with several nodes (twin of sqlite/0006_job_leases.sql).
ALTER TABLE jobs ADD COLUMN claimed_ms BIGINT;
CREATE INDEX jobs_pending ON jobs(status, created_ms);
CREATE INDEX users_org ON users(org_id, id);
