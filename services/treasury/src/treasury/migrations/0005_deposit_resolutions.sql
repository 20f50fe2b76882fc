-- How a person resolved a deposit through the ops API (case actions credit_user and
-- mark_returned), one row per deposit reference. It is the row that explains an ops credit
-- (outcome 'credited': the wallet of user_id went up by amount, in the transaction that wrote
-- this row), and every later delivery of the reference reads it: a deposit credited or
-- returned by a person is never credited again by a webhook or a reconciliation tick.
-- Held deposits keep their unmatched_deposits row; resolved_at is set there too.
CREATE TABLE deposit_resolutions (
    id                    VARCHAR(40)    PRIMARY KEY,
    transaction_reference VARCHAR(128)   NOT NULL UNIQUE,  -- one resolution per deposit
    case_id               BIGINT         NOT NULL UNIQUE REFERENCES cases (id),
    outcome               VARCHAR(16)    NOT NULL CHECK (outcome IN ('credited', 'returned')),
    source                VARCHAR(8)     NOT NULL DEFAULT 'ops' CHECK (source = 'ops'),
    user_id               VARCHAR(128),                    -- whose wallet an ops credit went to
    amount                NUMERIC(20, 2) CHECK (amount > 0),
    account_number        VARCHAR(10),                     -- where Wema said the money went
    created_at            TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CHECK ((outcome = 'credited') = (user_id IS NOT NULL)),
    CHECK (outcome <> 'credited' OR amount IS NOT NULL)
);
CREATE INDEX idx_deposit_resolutions_user ON deposit_resolutions (user_id) WHERE user_id IS NOT NULL;
