-- Events: what happened, written in the same transaction as the change itself (the
-- transactional outbox). A worker dispatches each event once: it becomes email
-- notifications for the customer and a delivery per subscribed webhook endpoint, each
-- sent by a job with retries.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    type            TEXT NOT NULL,             -- invoice.finalized, payment.succeeded, …
    customer_id     TEXT,
    object_id       TEXT NOT NULL,             -- the invoice, payment, … it is about
    data            TEXT NOT NULL,             -- JSON snapshot of the object at that moment
    created_at      TEXT NOT NULL,
    dispatched_at   TEXT
);
CREATE INDEX events_org ON events (org_id, id);
CREATE INDEX events_customer ON events (org_id, customer_id, created_at);
CREATE INDEX events_undispatched ON events (created_at) WHERE dispatched_at IS NULL;

-- Email to a customer about an event, rendered from a template in the customer's locale
-- when it is sent. status: queued, sent, failed (after the last retry), skipped (nobody to
-- send to, or notifications off).
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    event_id        TEXT NOT NULL REFERENCES events(id),
    template        TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email')),
    locale          TEXT NOT NULL,
    recipient       TEXT,
    subject         TEXT,
    body            TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (event_id, template)
);
CREATE INDEX notifications_customer ON notifications (org_id, customer_id, created_at);

-- Where an organisation wants events POSTed. The secret signs every delivery.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,             -- comma-separated, or '*'
    secret          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, id);

-- One event for one endpoint; status: pending, succeeded, failed (retries ran out).
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id),
    event_id        TEXT NOT NULL REFERENCES events(id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    replays         BIGINT NOT NULL DEFAULT 0,
    last_status_code BIGINT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_org ON webhook_deliveries (org_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every HTTP attempt of a delivery: the delivery log.
CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries(id),
    seq             BIGINT NOT NULL,
    attempted_at    TEXT NOT NULL,
    status_code     BIGINT,
    error           TEXT,
    response_body   TEXT,                      -- the first 1 KiB
    duration_ms     BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, seq)
);

-- Reminders for invoices sent to be paid: days relative to the due date (negative before,
-- 0 on the day, positive after: overdue notices).
ALTER TABLE organisations ADD COLUMN reminder_days TEXT NOT NULL DEFAULT '-3,0,7';

-- Test clocks (as Stripe's): simulated time for the customers created on one. Their
-- subscriptions are billed and their jobs run only when the clock is advanced.
CREATE TABLE test_clocks (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    frozen_time     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX test_clocks_org ON test_clocks (org_id, id);
ALTER TABLE customers ADD COLUMN test_clock_id TEXT REFERENCES test_clocks(id);
ALTER TABLE subscriptions ADD COLUMN test_clock_id TEXT REFERENCES test_clocks(id);
ALTER TABLE jobs ADD COLUMN test_clock_id TEXT REFERENCES test_clocks(id);
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (run_at) WHERE status IN ('queued', 'running') AND test_clock_id IS NULL;
CREATE INDEX jobs_clock ON jobs (test_clock_id, run_at) WHERE test_clock_id IS NOT NULL;
