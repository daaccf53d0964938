-- Agreements on when an open invoice is paid: a later due date, or a payment plan of
-- instalments (what remains is due in parts on the plan's dates). Each change is kept.
CREATE TABLE invoice_due_changes (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    invoice_id      TEXT NOT NULL REFERENCES invoices(id),
    kind            TEXT NOT NULL CHECK (kind IN ('extension', 'payment_plan')),
    from_date       TEXT,
    to_date         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX invoice_due_changes_invoice ON invoice_due_changes (invoice_id);

-- The current payment plan of an invoice; instalments are settled in order.
CREATE TABLE payment_plan_instalments (
    org_id          TEXT NOT NULL,
    invoice_id      TEXT NOT NULL REFERENCES invoices(id),
    seq             BIGINT NOT NULL CHECK (seq >= 1),
    due_date        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (invoice_id, seq)
);
