-- Magic-link sign-in to the customer portal: a link emailed to a portal user's address
-- signs them in once, within 15 minutes (rules in app::desk::portal). Only the token's
-- SHA-256 is kept; used_at is set by the one sign-in the link allows.
CREATE TABLE portal_sign_in_links (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    portal_user_id  TEXT NOT NULL REFERENCES portal_users(id),
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
);
CREATE INDEX portal_sign_in_links_user ON portal_sign_in_links (org_id, portal_user_id);
