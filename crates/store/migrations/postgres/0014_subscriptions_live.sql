-- The bill run reads due subscriptions in id ranges (store::subscriptions::DueRange: org,
-- id in (after, last], live, period ended by the run's time). Off `subscriptions_due
-- (org_id, current_period_end)` the planner — on a table without statistics, as after a
-- large import — scanned every still-due subscription of the organisation for each chunk
-- and filtered by id: per chunk time grew with what was left (a 100,000-subscription run's
-- first chunks read 95,000 index entries three times over to lock 5,000). This index
-- serves the range itself, with the period end beside each id, so every plan the range
-- queries can take reads only the range.
DROP INDEX subscriptions_due;
CREATE INDEX subscriptions_live ON subscriptions (org_id, id) INCLUDE (current_period_end) WHERE ended_at IS NULL;
