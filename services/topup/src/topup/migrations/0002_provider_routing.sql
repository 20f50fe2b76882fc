-- Every topup records the provider that got the order and the id that provider knows it by,
-- so reconciliation, requeries and re-submits ask that provider with the SAME id (VTpass's
-- request_id is made once, from the Lagos time of the first call). Expand only: the previous
-- release keeps inserting rows without these columns, and they are Selcom's (the default).
ALTER TABLE topup_transactions
    ADD COLUMN provider VARCHAR(16) NOT NULL DEFAULT 'selcom'
        CHECK (provider IN ('selcom', 'vtpass'));
-- NULL: the provider knows the topup by `reference` itself (Selcom's transid).
ALTER TABLE topup_transactions ADD COLUMN provider_reference VARCHAR(64);
-- The data plan (the provider's variation code), when bought as one.
ALTER TABLE topup_transactions ADD COLUMN product_code VARCHAR(64);
-- A provider's notification names its own id: found by it, and never two topups under one.
CREATE UNIQUE INDEX idx_topup_provider_reference
    ON topup_transactions (provider, provider_reference) WHERE provider_reference IS NOT NULL;

-- Notifications of every provider in one table; the rows before this are Selcom's.
ALTER TABLE webhook_events ADD COLUMN provider VARCHAR(16) NOT NULL DEFAULT 'selcom'
    CHECK (provider IN ('selcom', 'vtpass'));
