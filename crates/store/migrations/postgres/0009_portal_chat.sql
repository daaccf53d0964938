-- The customer portal's logins and live chat (DESK.md "Channels: Chat", "Identity
-- verification": portal users are verified by their login).

-- A portal login of a customer account: the customer's own email or one of its contacts'.
CREATE TABLE portal_users (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    contact_id      TEXT REFERENCES customer_contacts(id),  -- NULL: the customer's own email
    email           TEXT NOT NULL,             -- lowercased; the login name
    password_hash   TEXT NOT NULL,             -- argon2id PHC string
    active          BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    created_by      TEXT NOT NULL,             -- staff id or api_key
    UNIQUE (org_id, email)
);
CREATE INDEX portal_users_customer ON portal_users (org_id, customer_id);

-- A portal login session. Only the token's SHA-256 is kept.
CREATE TABLE portal_sessions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    portal_user_id  TEXT NOT NULL REFERENCES portal_users(id),
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);

-- A live chat from the portal. status: waiting (queued for the team), active (an agent
-- accepted), ended (closed; the transcript is an interaction of kind chat), ticketed (no
-- agent answered: it became a ticket). Times: queued → accepted → ended.
CREATE TABLE chat_sessions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    portal_user_id  TEXT NOT NULL REFERENCES portal_users(id),
    team            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'ended', 'ticketed')),
    agent_id        TEXT REFERENCES staff_users(id),
    ticket_id       TEXT REFERENCES tickets(id),
    interaction_id  TEXT REFERENCES interactions(id),  -- the session (kind chat), from acceptance
    queued_at       TIMESTAMPTZ NOT NULL,
    accepted_at     TIMESTAMPTZ,
    ended_at        TIMESTAMPTZ,
    ticketed_at     TIMESTAMPTZ
);
CREATE INDEX chat_sessions_queue ON chat_sessions (org_id, team, status, queued_at);
CREATE INDEX chat_sessions_interaction ON chat_sessions (org_id, interaction_id);

-- The messages of a chat, in order.
CREATE TABLE chat_messages (
    chat_id         TEXT NOT NULL REFERENCES chat_sessions(id),
    seq             BIGINT NOT NULL,
    org_id          TEXT NOT NULL,
    author_type     TEXT NOT NULL CHECK (author_type IN ('customer', 'agent')),
    author_id       TEXT NOT NULL,             -- portal user or staff id
    body            TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (chat_id, seq)
);
