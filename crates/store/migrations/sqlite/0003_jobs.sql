-- The job queue: background work (charging invoices, retries, later dunning, mail and
-- webhooks), claimed by workers with SKIP LOCKED on PostgreSQL and under BEGIN IMMEDIATE
-- on SQLite. A job runs to success once: a worker holds it under a lease; a worker that
-- dies loses the lease and another takes the job over.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,             -- JSON
    dedupe_key      TEXT NOT NULL,             -- one job per (org, kind, key)
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL CHECK (max_attempts > 0),
    run_at          TEXT NOT NULL,       -- not before
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    UNIQUE (org_id, kind, dedupe_key)
);
CREATE INDEX jobs_ready ON jobs (run_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_org ON jobs (org_id, id);
