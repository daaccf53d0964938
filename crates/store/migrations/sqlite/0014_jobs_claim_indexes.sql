-- A claim changes a job's status (queued → running), lease and attempts. With `status` in
-- the ready indexes' predicates, SQLite rewrote both ready indexes' entries on each claim.
-- They now say "not finished" (finished_at IS NULL), which a claim does not change, so a
-- claim touches no index. finished_at IS NULL exactly while a job is queued or running:
-- every transition in store::jobs keeps it so (PostgreSQL also has it as a CHECK; adding
-- one here would mean rebuilding the table), and rows from before are made to agree.
UPDATE jobs SET finished_at = updated_at WHERE finished_at IS NULL AND status IN ('succeeded', 'failed');
UPDATE jobs SET finished_at = NULL WHERE finished_at IS NOT NULL AND status IN ('queued', 'running');
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (run_at) WHERE finished_at IS NULL AND test_clock_id IS NULL;
DROP INDEX jobs_ready_kind;
CREATE INDEX jobs_ready_kind ON jobs (kind, run_at) WHERE finished_at IS NULL AND test_clock_id IS NULL;
