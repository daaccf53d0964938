-- The service desk (DESK.md): staff and their sessions, teams, tickets and their history,
-- interactions (every contact, both directions, and internal notes) with attachments,
-- business calendars and SLA policies, identity verifications, billing actions taken from
-- tickets with their approvals, CSAT surveys, macros and the hash-chained audit log.

-- People who work the desk. role: agent, senior_agent, supervisor, finance, admin.
CREATE TABLE staff_users (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    email           TEXT NOT NULL,             -- lowercased
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('agent', 'senior_agent', 'supervisor', 'finance', 'admin')),
    password_hash   TEXT NOT NULL,             -- argon2id PHC string
    team            TEXT NOT NULL,
    locale          TEXT NOT NULL,
    capacity        BIGINT NOT NULL,           -- open tickets an agent takes by round-robin
    online          BOOLEAN NOT NULL,
    active          BOOLEAN NOT NULL,
    last_assigned_at TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (org_id, email)
);

-- A staff login. Only the token's SHA-256 is kept.
CREATE TABLE staff_sessions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    staff_id        TEXT NOT NULL REFERENCES staff_users(id),
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    revoked_at      TEXT
);

-- Teams are keys per organisation (billing, finance, sales, technical by default), each
-- with the business calendar its SLA clocks run on.
CREATE TABLE teams (
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    key             TEXT NOT NULL,
    name            TEXT NOT NULL,
    calendar_id     TEXT,
    PRIMARY KEY (org_id, key)
);

-- Weekly hours and holidays in a time zone (desk::calendar::CalendarSpec as JSON).
CREATE TABLE business_calendars (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    spec            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- First-response and resolution targets (business seconds) for a priority and/or a
-- category; the most specific policy wins (both > priority > category > neither).
CREATE TABLE sla_policies (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    priority        TEXT NOT NULL,             -- '' = any
    category        TEXT NOT NULL,             -- '' = any
    first_response_secs BIGINT,
    resolution_secs BIGINT,
    created_at      TEXT NOT NULL,
    UNIQUE (org_id, priority, category)
);

CREATE TABLE ticket_numbers (
    org_id          TEXT PRIMARY KEY,
    next_number     BIGINT NOT NULL
);

CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    number          BIGINT NOT NULL,
    customer_id     TEXT REFERENCES customers(id),
    requester_email TEXT,
    requester_name  TEXT,
    subject         TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'chat', 'phone', 'portal', 'api')),
    category        TEXT NOT NULL CHECK (category IN ('invoice_discrepancy', 'payment_issue', 'refund_adjustment', 'payment_terms', 'account_change', 'plan_change', 'other')),
    priority        TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status          TEXT NOT NULL CHECK (status IN ('new', 'open', 'pending_customer', 'pending_internal', 'resolved', 'closed')),
    team            TEXT NOT NULL,
    assignee_id     TEXT REFERENCES staff_users(id),
    sla_policy_id   TEXT REFERENCES sla_policies(id),
    tags            TEXT NOT NULL,             -- comma-separated, sorted
    follow_up_of    TEXT REFERENCES tickets(id),
    merged_into     TEXT REFERENCES tickets(id),
    reopen_count    BIGINT NOT NULL,
    first_response_at TEXT,
    first_response_due_at TEXT,
    resolution_due_at TEXT,
    resolved_at     TEXT,
    resolved_by     TEXT,
    closed_at       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, number)
);
CREATE INDEX tickets_org ON tickets (org_id, id);
CREATE INDEX tickets_queue ON tickets (org_id, team, status);
CREATE INDEX tickets_first_response ON tickets (org_id, team, first_response_at);
CREATE INDEX tickets_customer ON tickets (org_id, customer_id, id);

-- Every status change, for SLA pauses, reopen counts and KPIs.
CREATE TABLE ticket_status_changes (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    ticket_id       TEXT NOT NULL REFERENCES tickets(id),
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor           TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX ticket_status_changes_ticket ON ticket_status_changes (ticket_id, at);

-- Invoices, subscriptions and payments a ticket is about.
CREATE TABLE ticket_links (
    org_id          TEXT NOT NULL,
    ticket_id       TEXT NOT NULL REFERENCES tickets(id),
    object_type     TEXT NOT NULL CHECK (object_type IN ('invoice', 'subscription', 'payment', 'credit_note')),
    object_id       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, object_type, object_id)
);

CREATE TABLE ticket_watchers (
    org_id          TEXT NOT NULL,
    ticket_id       TEXT NOT NULL REFERENCES tickets(id),
    staff_id        TEXT NOT NULL REFERENCES staff_users(id),
    PRIMARY KEY (ticket_id, staff_id)
);

-- One contact or note. direction: inbound (from the customer), outbound (to the customer),
-- internal (a note). kind: message, note, call, chat. Calls and chats carry their seconds.
CREATE TABLE interactions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    ticket_id       TEXT REFERENCES tickets(id),
    customer_id     TEXT REFERENCES customers(id),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'chat', 'phone', 'portal', 'api')),
    direction       TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'note', 'call', 'chat')),
    author_type     TEXT NOT NULL CHECK (author_type IN ('customer', 'staff', 'system')),
    author_id       TEXT,
    from_address    TEXT,
    to_address      TEXT,
    subject         TEXT,
    body            TEXT NOT NULL,
    message_id      TEXT,
    in_reply_to     TEXT,
    automatic       TEXT,                      -- why an inbound mail gets no automatic answer
    phone_number    TEXT,
    external_call_id TEXT,
    wait_secs       BIGINT,
    talk_secs       BIGINT,
    hold_secs       BIGINT,
    wrap_secs       BIGINT,
    handling_secs   BIGINT,
    started_at      TEXT,
    ended_at        TEXT,
    delivery_status TEXT CHECK (delivery_status IN ('queued', 'sent', 'failed', 'skipped')),
    delivery_error  TEXT,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX interactions_message_id ON interactions (org_id, message_id);
CREATE UNIQUE INDEX interactions_call ON interactions (org_id, external_call_id);
CREATE INDEX interactions_ticket ON interactions (ticket_id, created_at);
CREATE INDEX interactions_customer ON interactions (org_id, customer_id, id);

CREATE TABLE attachments (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    interaction_id  TEXT NOT NULL REFERENCES interactions(id),
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    data            BLOB NOT NULL
);
CREATE INDEX attachments_interaction ON attachments (interaction_id);

-- A caller's identity check during a phone or chat interaction. method: email_code,
-- sms_code, knowledge. A code is kept as its salted hash only.
CREATE TABLE identity_verifications (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    interaction_id  TEXT NOT NULL REFERENCES interactions(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    method          TEXT NOT NULL CHECK (method IN ('email_code', 'sms_code', 'knowledge')),
    sent_to         TEXT,
    code_hash       TEXT,
    attempts        BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'failed')),
    staff_id        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    verified_at     TEXT
);
CREATE INDEX identity_verifications_interaction ON identity_verifications (interaction_id);

-- Every failed attempt, for rate limiting and the log.
CREATE TABLE identity_failures (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    verification_id TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX identity_failures_customer ON identity_failures (org_id, customer_id, at);

-- An organisation's own limits (minor units; NULL = unlimited), over desk::authority's
-- defaults.
CREATE TABLE authority_limits (
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    role            TEXT NOT NULL,
    action          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    limit_minor     BIGINT,
    PRIMARY KEY (org_id, role, action, currency)
);

-- A billing action taken from a ticket. status: executed, pending_approval, rejected.
-- An action above the requester's limit waits for a permitted role; only approval runs it.
CREATE TABLE ticket_actions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    ticket_id       TEXT NOT NULL REFERENCES tickets(id),
    action          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    params          TEXT NOT NULL,             -- the request as JSON
    reason          TEXT NOT NULL,
    reason_code     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('executed', 'pending_approval', 'rejected')),
    requested_by    TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    decision_note   TEXT,
    result_object_id TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX ticket_actions_ticket ON ticket_actions (ticket_id);
CREATE INDEX ticket_actions_status ON ticket_actions (org_id, status);

-- The survey sent when a ticket is resolved (one per resolution); rating 1–5.
CREATE TABLE csat_surveys (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    ticket_id       TEXT NOT NULL REFERENCES tickets(id),
    agent_id        TEXT,
    token_hash      TEXT NOT NULL UNIQUE,
    rating          BIGINT CHECK (rating BETWEEN 1 AND 5),
    comment         TEXT,
    sent_at         TEXT NOT NULL,
    answered_at     TEXT
);
CREATE INDEX csat_surveys_ticket ON csat_surveys (ticket_id);

CREATE TABLE macros (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    name            TEXT NOT NULL,
    locale          TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (org_id, name, locale)
);

-- Append-only; each entry's hash covers the previous entry's hash (desk::audit).
CREATE TABLE audit_log (
    org_id          TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    at              TEXT NOT NULL,             -- RFC 3339 text, hashed as stored
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    object_type     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    before          TEXT NOT NULL,
    after           TEXT NOT NULL,
    hash            TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);

-- The newest entry of each organisation's chain; its row lock orders appends.
CREATE TABLE audit_heads (
    org_id          TEXT PRIMARY KEY,
    seq             BIGINT NOT NULL,
    hash            TEXT NOT NULL
);

-- Senders are matched to customers by address, case-insensitively.
CREATE INDEX customers_email_lower ON customers (org_id, LOWER(email));
CREATE INDEX customer_contacts_email_lower ON customer_contacts (org_id, LOWER(email));
CREATE INDEX customers_phone ON customers (org_id, phone);

INSERT INTO teams (org_id, key, name) SELECT id, 'billing', 'Billing' FROM organisations;
INSERT INTO teams (org_id, key, name) SELECT id, 'finance', 'Finance' FROM organisations;
INSERT INTO teams (org_id, key, name) SELECT id, 'sales', 'Sales' FROM organisations;
INSERT INTO teams (org_id, key, name) SELECT id, 'technical', 'Technical' FROM organisations;
