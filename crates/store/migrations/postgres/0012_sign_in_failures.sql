-- Failed sign-ins to the pages, for their rate limit (rules in web::ui::session: at most 5
-- per surface and email in 15 minutes). In the database, so that every server process
-- counts the same attempts and a restart forgets none. Keyed by the surface (portal or
-- console) and the trimmed, lower-cased email as typed, not by organisation: the limit is
-- the address's. Rows older than the window are deleted whenever a failure is recorded, so
-- the table holds at most the last window's failures; a successful sign-in deletes its own.
CREATE TABLE sign_in_failures (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    surface    TEXT NOT NULL,
    email      TEXT NOT NULL,
    failed_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (surface, email, failed_at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (failed_at);
