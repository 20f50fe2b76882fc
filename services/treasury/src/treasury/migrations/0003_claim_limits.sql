-- A 'creating' claim holds its BVN against every other user only for a bounded time and a
-- bounded number of Wema calls; after that the next claim for that user or that BVN retires it.
-- Both columns mean something only while status = 'creating'. Expand only: the defaults are for
-- rows the previous release writes during a deploy. It never counts its calls, so each of its
-- claims is assumed to have made one (its reference is then recorded when the claim is
-- retired); the lifetime repeats CLAIM_LIFETIME in treasury/service.py. Non-volatile defaults
-- and no CHECK: the table is neither rewritten nor scanned while it is locked.
ALTER TABLE bank_accounts
    ADD COLUMN attempts         INTEGER     NOT NULL DEFAULT 1,
    ADD COLUMN claim_expires_at TIMESTAMPTZ NOT NULL DEFAULT now() + interval '15 minutes';
