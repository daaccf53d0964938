-- Payments: payment methods, payments with their allocations to invoices, refunds.
-- Amounts in minor units beside a currency. A card is kept as the gateway's token with
-- brand, last four digits and expiry: never a card number.

CREATE TABLE payment_methods (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    kind            TEXT NOT NULL CHECK (kind IN ('card', 'bank_transfer', 'manual')),
    gateway         TEXT,                      -- cards: sandbox or stripe
    gateway_token   TEXT,                      -- cards: the gateway's reference
    card_brand      TEXT,
    card_last4      TEXT,
    card_exp_month  BIGINT,
    card_exp_year   BIGINT,
    bank_name       TEXT,
    bank_last4      TEXT,
    is_default      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TEXT NOT NULL,
    detached_at     TEXT,
    CHECK (kind <> 'card' OR (gateway IS NOT NULL AND gateway_token IS NOT NULL AND card_last4 IS NOT NULL))
);
CREATE INDEX payment_methods_customer ON payment_methods (customer_id, id);
-- At most one default per customer, enforced by the database.
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (customer_id) WHERE is_default AND detached_at IS NULL;

CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    payment_method_id TEXT REFERENCES payment_methods(id),
    method          TEXT NOT NULL CHECK (method IN ('card', 'bank_transfer', 'cheque', 'cash', 'other')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    amount_applied  BIGINT NOT NULL DEFAULT 0 CHECK (amount_applied >= 0 AND amount_applied <= amount),
    amount_refunded BIGINT NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
    invoice_id      TEXT,                      -- the invoice it was made for, if one was named
    gateway         TEXT,
    gateway_reference TEXT,                    -- the gateway's charge id
    reference       TEXT,                      -- bank transfer or cheque reference
    failure_code    TEXT,
    failure_message TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id, id);
CREATE INDEX payments_org ON payments (org_id, id);
CREATE INDEX payments_invoice ON payments (invoice_id);

-- How much of a payment settled which invoice.
CREATE TABLE payment_allocations (
    payment_id      TEXT NOT NULL REFERENCES payments(id),
    invoice_id      TEXT NOT NULL REFERENCES invoices(id),
    org_id          TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (payment_id, invoice_id)
);
CREATE INDEX payment_allocations_invoice ON payment_allocations (invoice_id);

CREATE TABLE refunds (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    payment_id      TEXT NOT NULL REFERENCES payments(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    reason          TEXT NOT NULL CHECK (reason IN ('requested_by_customer', 'duplicate', 'fraudulent', 'goodwill', 'other')),
    gateway_reference TEXT,
    failure_message TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_org ON refunds (org_id, id);

ALTER TABLE ledger_transactions ADD COLUMN payment_id TEXT;
ALTER TABLE ledger_transactions ADD COLUMN refund_id TEXT;

-- Payment terms: how a customer pays (charged automatically, or sent the invoice) and
-- the days until an invoice is due (0: due on receipt; N: net N).
ALTER TABLE customers ADD COLUMN collection_method TEXT NOT NULL DEFAULT 'send_invoice'
    CHECK (collection_method IN ('charge_automatically', 'send_invoice'));
ALTER TABLE customers ADD COLUMN days_until_due BIGINT NOT NULL DEFAULT 0
    CHECK (days_until_due BETWEEN 0 AND 365);
-- Set when the invoice is finalized: the customer's local date then, plus the terms.
ALTER TABLE invoices ADD COLUMN due_date TEXT;
