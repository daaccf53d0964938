-- Dunning may end with the subscription `unpaid` (kept, renewing, its invoices no longer
-- charged automatically) as a third final action, 'mark_unpaid'.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_status_check
    CHECK (status IN ('trialing', 'active', 'past_due', 'unpaid', 'canceled'));
ALTER TABLE organisations DROP CONSTRAINT organisations_dunning_final_action_check;
ALTER TABLE organisations ADD CONSTRAINT organisations_dunning_final_action_check
    CHECK (dunning_final_action IN ('cancel', 'leave_past_due', 'mark_unpaid'));
