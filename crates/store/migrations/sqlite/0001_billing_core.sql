-- Ledgerdesk billing core. Every business row carries its organisation (org_id).
-- The bill run's high-volume tables (invoices, invoice_lines, ledger_entries) carry no
-- foreign keys: on PostgreSQL each key check locks the parent row and halved insert speed.
-- Their references are written by the same transaction as their parents and checked by
-- `ledgerdesk verify` (orphan checks), like every other invariant.
-- Amounts are BIGINT minor units beside a currency column; exact decimals (unit prices,
-- percentages, quantities) are TEXT; timestamps are TEXT; local dates are TEXT.

CREATE TABLE organisations (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    country         TEXT NOT NULL,             -- seller's ISO country, for tax
    created_at      TEXT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,      -- sha256 hex of the secret
    key_prefix      TEXT NOT NULL,             -- first characters, for display
    created_at      TEXT NOT NULL,
    revoked_at      TEXT
);

CREATE TABLE customers (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    external_id     TEXT,
    name            TEXT NOT NULL,
    email           TEXT,
    phone           TEXT,
    time_zone       TEXT NOT NULL,
    locale          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    tax_exempt      BOOLEAN NOT NULL DEFAULT FALSE,
    address_line1   TEXT,
    address_line2   TEXT,
    address_city    TEXT,
    address_postal_code TEXT,
    address_region  TEXT,
    address_country TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}',
    credit_balance  BIGINT NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, external_id)
);
CREATE INDEX customers_org_email ON customers (org_id, email);
CREATE INDEX customers_org_created ON customers (org_id, id);

CREATE TABLE customer_tax_ids (
    org_id          TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    kind            TEXT NOT NULL,             -- eu_vat, us_ein, ru_inn, …
    value           TEXT NOT NULL,
    PRIMARY KEY (customer_id, value)
);

CREATE TABLE customer_contacts (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    name            TEXT NOT NULL,
    email           TEXT,
    phone           TEXT,
    role            TEXT NOT NULL,             -- billing, technical, primary, other
    created_at      TEXT NOT NULL
);
CREATE INDEX customer_contacts_customer ON customer_contacts (customer_id);

CREATE TABLE products (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    description     TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TEXT NOT NULL
);

CREATE TABLE prices (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    product_id      TEXT NOT NULL REFERENCES products(id),
    nickname        TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('recurring', 'one_time')),
    interval_unit   TEXT CHECK (interval_unit IN ('day', 'week', 'month', 'year')),
    interval_count  BIGINT,
    usage_type      TEXT NOT NULL CHECK (usage_type IN ('licensed', 'metered')),
    model           TEXT NOT NULL,             -- flat, per_unit, graduated, volume, package
    tax_behavior    TEXT NOT NULL CHECK (tax_behavior IN ('exclusive', 'inclusive')),
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    used            BOOLEAN NOT NULL DEFAULT FALSE, -- once used, archived instead of deleted
    created_at      TEXT NOT NULL
);
CREATE INDEX prices_product ON prices (product_id);

-- The pricing model's numbers for each currency the price is sold in.
CREATE TABLE price_currency_amounts (
    org_id          TEXT NOT NULL,
    price_id        TEXT NOT NULL REFERENCES prices(id),
    currency        TEXT NOT NULL,
    pricing         TEXT NOT NULL,             -- JSON of billing::pricing::PricingModel
    PRIMARY KEY (price_id, currency)
);

CREATE TABLE tax_rates (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    display_name    TEXT NOT NULL,
    percentage      TEXT NOT NULL,
    country         TEXT NOT NULL,
    region          TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TEXT NOT NULL
);

CREATE TABLE coupons (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    percent_off     TEXT,
    amount_off      BIGINT,
    currency        TEXT,
    duration        TEXT NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_in_periods BIGINT,
    product_ids     TEXT,                      -- JSON array, NULL = whole invoice
    created_at      TEXT NOT NULL,
    CHECK ((percent_off IS NULL) <> (amount_off IS NULL))
);

CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    status          TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    currency        TEXT NOT NULL,
    interval_unit   TEXT NOT NULL,
    interval_count  BIGINT NOT NULL,
    anchor_date     TEXT NOT NULL,             -- local date periods step from
    period_index    BIGINT NOT NULL,           -- -1: the aligned first stub period
    current_period_start TEXT NOT NULL,
    current_period_end   TEXT NOT NULL,
    current_period_start_date TEXT NOT NULL,
    current_period_end_date   TEXT NOT NULL,
    trial_end       TEXT,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    canceled_at     TEXT,
    ended_at        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
-- No index on current_period_end here (PostgreSQL has one): the bill run walks due
-- subscriptions in primary-key order, chunk by chunk (id ranges); with this index SQLite's
-- planner scanned every due subscription for each chunk instead (bill run 7,806 → 14,914
-- invoices/s at 100,000 subscriptions without it).
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

CREATE TABLE subscription_items (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    price_id        TEXT NOT NULL REFERENCES prices(id),
    quantity        BIGINT NOT NULL CHECK (quantity >= 0),
    pending_price_id TEXT REFERENCES prices(id), -- a downgrade waiting for the period end
    pending_quantity BIGINT,
    created_at      TEXT NOT NULL,
    deleted_at      TEXT
);
CREATE INDEX subscription_items_sub ON subscription_items (subscription_id);

-- A coupon applied to a customer (subscription_id NULL) or to one subscription.
CREATE TABLE discounts (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    subscription_id TEXT REFERENCES subscriptions(id),
    coupon_id       TEXT NOT NULL REFERENCES coupons(id),
    invoices_applied BIGINT NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    ended_at        TEXT
);
CREATE INDEX discounts_customer ON discounts (customer_id);

-- Gapless numbering: one counter per series (e.g. INV-2026, CN-2026), taken under a row lock
-- in the same transaction that finalizes.
CREATE TABLE number_series (
    org_id          TEXT NOT NULL,
    series          TEXT NOT NULL,
    next_number     BIGINT NOT NULL,
    PRIMARY KEY (org_id, series)
);

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    subscription_id TEXT,
    billing_reason  TEXT NOT NULL,             -- subscription_create, subscription_cycle, subscription_update, manual
    -- Set only for period invoices: exactly one invoice per subscription and period.
    billing_period_start TEXT,
    period_start    TEXT,
    period_end      TEXT,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency        TEXT NOT NULL,
    number          TEXT,
    subtotal        BIGINT NOT NULL,
    total_discount  BIGINT NOT NULL,
    total_tax       BIGINT NOT NULL,
    total_net       BIGINT NOT NULL,
    total           BIGINT NOT NULL,
    credit_applied  BIGINT NOT NULL,
    credit_to_balance BIGINT NOT NULL,
    amount_due      BIGINT NOT NULL,
    amount_paid     BIGINT NOT NULL DEFAULT 0,
    amount_credited BIGINT NOT NULL DEFAULT 0,  -- by credit notes against amount due
    amount_remaining BIGINT NOT NULL,
    tax_note        TEXT,
    memo            TEXT,
    created_at      TEXT NOT NULL,
    finalized_at    TEXT,
    voided_at       TEXT,
    marked_uncollectible_at TEXT,
    UNIQUE (org_id, number),
    UNIQUE (subscription_id, billing_period_start)
);
CREATE INDEX invoices_customer ON invoices (customer_id, id);
CREATE INDEX invoices_org ON invoices (org_id, id);

CREATE TABLE invoice_lines (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    invoice_id      TEXT NOT NULL,
    position        BIGINT NOT NULL,
    kind            TEXT NOT NULL,             -- subscription, proration, usage, one_off
    description     TEXT NOT NULL,
    product_id      TEXT,
    price_id        TEXT,
    quantity        TEXT NOT NULL,
    amount          BIGINT NOT NULL,           -- before discount; gross for inclusive prices
    discount_amount BIGINT NOT NULL,
    tax_amount      BIGINT NOT NULL,
    net_amount      BIGINT NOT NULL,
    total           BIGINT NOT NULL,           -- net + tax
    tax_rate_id     TEXT,
    tax_percentage  TEXT,
    tax_inclusive   BOOLEAN NOT NULL,
    period_start    TEXT,
    period_end      TEXT,
    period_start_date TEXT,
    period_end_date TEXT,
    UNIQUE (invoice_id, position)
);

CREATE TABLE credit_notes (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    invoice_id      TEXT NOT NULL REFERENCES invoices(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    number          TEXT NOT NULL,
    reason          TEXT NOT NULL CHECK (reason IN ('billing_error', 'duplicate', 'product_unsatisfactory', 'goodwill', 'order_change', 'fraudulent')),
    memo            TEXT,
    currency        TEXT NOT NULL,
    total           BIGINT NOT NULL,
    total_net       BIGINT NOT NULL,
    total_tax       BIGINT NOT NULL,
    amount_to_invoice BIGINT NOT NULL,         -- taken off the invoice's amount remaining
    amount_to_credit_balance BIGINT NOT NULL,  -- added to the customer's credit balance
    created_at      TEXT NOT NULL,
    UNIQUE (org_id, number)
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);

CREATE TABLE credit_note_lines (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    credit_note_id  TEXT NOT NULL REFERENCES credit_notes(id),
    invoice_line_id TEXT NOT NULL REFERENCES invoice_lines(id),
    amount          BIGINT NOT NULL CHECK (amount > 0),
    net_amount      BIGINT NOT NULL,
    tax_amount      BIGINT NOT NULL
);
CREATE INDEX credit_note_lines_invoice_line ON credit_note_lines (invoice_line_id);

CREATE TABLE ledger_transactions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    kind            TEXT NOT NULL,             -- invoice_finalized, invoice_voided, credit_note, write_off, …
    customer_id     TEXT,
    invoice_id      TEXT,
    credit_note_id  TEXT,
    currency        TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX ledger_transactions_customer ON ledger_transactions (customer_id);

-- One side of a transaction: exactly one of debit and credit is positive.
CREATE TABLE ledger_entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id          TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    account         TEXT NOT NULL,             -- receivable, customer_credit, revenue, tax_payable, cash, bad_debt, goodwill
    customer_id     TEXT,                      -- for receivable and customer_credit
    currency        TEXT NOT NULL,
    debit           BIGINT NOT NULL CHECK (debit >= 0),
    credit          BIGINT NOT NULL CHECK (credit >= 0),
    CHECK ((debit = 0) <> (credit = 0))
);
CREATE INDEX ledger_entries_tx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_customer ON ledger_entries (customer_id, account) WHERE customer_id IS NOT NULL;

-- A POST that moves money, remembered for 24 h: a repeat returns the first response.
CREATE TABLE idempotency_keys (
    org_id          TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status_code     BIGINT,
    response_body   TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (org_id, key)
);

CREATE TABLE bill_runs (
    id              TEXT PRIMARY KEY,
    org_id          TEXT,                      -- NULL: all organisations
    run_at          TEXT NOT NULL,      -- periods starting up to this instant are billed
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    invoices_created BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL              -- running, succeeded, failed
);
