-- Events are written in bulk (one per invoice a bill run finalizes, two per payment a batch
-- of charges makes) and each index costs an entry per row: measured in psql, 60,000 event
-- rows took 1.66–1.86 s with the four indexes and 1.11–1.14 s with three. Every read of an
-- event names its organisation (store::outbox), so the primary key becomes (org_id, id) and
-- serves what events_org (org_id, id) did: listing an organisation's events by id.
--
-- The notifications' and webhook deliveries' keys to events(id) go with the old primary
-- key: both are written by dispatch in the event's own organisation, and on PostgreSQL
-- every check locked the event row (FOR KEY SHARE) just before dispatch updated it.
-- `ledgerdesk verify` checks that each one refers to an existing event (references_exist),
-- as for the keys dropped by 0015. SQLite keeps its keys and primary key.
ALTER TABLE notifications DROP CONSTRAINT notifications_event_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (org_id, id);
DROP INDEX events_org;
