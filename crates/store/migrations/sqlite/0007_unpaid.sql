-- Dunning may end with the subscription `unpaid` (kept, renewing, its invoices no longer
-- charged automatically) as a third final action, 'mark_unpaid'. SQLite cannot change a
-- CHECK: each column is replaced by a new one with the wider CHECK.
ALTER TABLE subscriptions ADD COLUMN status_v2 TEXT NOT NULL DEFAULT 'active'
    CHECK (status_v2 IN ('trialing', 'active', 'past_due', 'unpaid', 'canceled'));
UPDATE subscriptions SET status_v2 = status;
ALTER TABLE subscriptions DROP COLUMN status;
ALTER TABLE subscriptions RENAME COLUMN status_v2 TO status;

ALTER TABLE organisations ADD COLUMN dunning_final_action_v2 TEXT NOT NULL DEFAULT 'cancel'
    CHECK (dunning_final_action_v2 IN ('cancel', 'leave_past_due', 'mark_unpaid'));
UPDATE organisations SET dunning_final_action_v2 = dunning_final_action;
ALTER TABLE organisations DROP COLUMN dunning_final_action;
ALTER TABLE organisations RENAME COLUMN dunning_final_action_v2 TO dunning_final_action;
