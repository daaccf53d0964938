-- Dunning: when a failed automatic charge is retried (days after the first failure) and
-- what happens when the last retry fails (cancel the subscription, or leave it past_due).
ALTER TABLE organisations ADD COLUMN dunning_retry_days TEXT NOT NULL DEFAULT '1,3,5,7';
ALTER TABLE organisations ADD COLUMN dunning_final_action TEXT NOT NULL DEFAULT 'cancel'
    CHECK (dunning_final_action IN ('cancel', 'leave_past_due'));
