-- Due jobs of one kind, in run_at order: the worker claims charges and notifications by kind
-- (store::jobs::claim_kind). Off `jobs_ready` alone, each such claim read past every due
-- job of the other kinds — with 100,000 notifications queued, a charge claim looked at all
-- of them, on every pass.
CREATE INDEX jobs_ready_kind ON jobs (kind, run_at) WHERE status IN ('queued', 'running') AND test_clock_id IS NULL;

-- Dispatch looks up the deliveries its events already have (store::outbox::insert_new) by
-- event; the unique key is (endpoint_id, event_id), so without this it read every delivery
-- of the organisation.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
