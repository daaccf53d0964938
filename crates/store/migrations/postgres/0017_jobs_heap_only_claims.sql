-- A claim changes a job's status (queued → running), lease and attempts. With `status` in
-- the ready indexes' predicates, each claim wrote a new entry in every index of the table
-- (five); a batch worker claims thousands at a time. The ready indexes now say "not
-- finished" (finished_at IS NULL), which a claim does not change, and a page keeps room for
-- the claimed versions, so a claim is a heap-only update (HOT): no index entries.
-- Finishing still moves a job out of the ready indexes. Fillfactor 40, not 50: a claimed
-- version is larger than the queued one (worker, lease end), and at 50 one claim in seven
-- of a full page found no room.
-- finished_at IS NULL exactly while a job is queued or running: every transition in
-- store::jobs keeps it so, and this CHECK holds it (rows from before are made to agree).
UPDATE jobs SET finished_at = updated_at WHERE finished_at IS NULL AND status IN ('succeeded', 'failed');
UPDATE jobs SET finished_at = NULL WHERE finished_at IS NOT NULL AND status IN ('queued', 'running');
ALTER TABLE jobs ADD CONSTRAINT jobs_finished_iff_done CHECK ((finished_at IS NULL) = (status IN ('queued', 'running')));
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (run_at) WHERE finished_at IS NULL AND test_clock_id IS NULL;
DROP INDEX jobs_ready_kind;
CREATE INDEX jobs_ready_kind ON jobs (kind, run_at) WHERE finished_at IS NULL AND test_clock_id IS NULL;
ALTER TABLE jobs SET (fillfactor = 40);
