-- Retention offers (rules in app::retention): an organisation may offer a coupon to a
-- customer about to cancel. One offer per organisation; its coupon is the organisation's.
CREATE TABLE retention_offers (
    org_id      TEXT PRIMARY KEY REFERENCES organisations(id),
    coupon_id   TEXT NOT NULL REFERENCES coupons(id),
    message     TEXT,
    updated_at  TIMESTAMPTZ NOT NULL
);
-- An accepted offer: at most one per subscription (the primary key), so accepting twice,
-- even in two racing requests, never stacks two discounts.
CREATE TABLE retention_acceptances (
    org_id          TEXT NOT NULL REFERENCES organisations(id),
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    discount_id     TEXT NOT NULL REFERENCES discounts(id),
    coupon_id       TEXT NOT NULL REFERENCES coupons(id),
    accepted_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, subscription_id)
);
