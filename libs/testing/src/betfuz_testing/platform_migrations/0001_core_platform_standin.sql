-- STAND-IN for the Betfuz core platform's own tables. Applied ONLY by local (`make run`) and test
-- setup: in production these tables belong to the core platform and already exist.
-- Topup and treasury change users.balance; ledger reads bet_slips.
CREATE TABLE IF NOT EXISTS public.users (
    id         VARCHAR(128) PRIMARY KEY,
    balance    NUMERIC(20, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.bet_slips (
    id            VARCHAR(128) PRIMARY KEY,
    user_id       VARCHAR(128) NOT NULL REFERENCES public.users (id),
    status        VARCHAR(16)  NOT NULL CHECK (status IN ('open', 'won', 'lost', 'void')),
    stake         NUMERIC(20, 2) NOT NULL DEFAULT 0,
    potential_win NUMERIC(20, 2) NOT NULL,
    settled_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_bet_slips_won_settled
    ON public.bet_slips (settled_at) WHERE status = 'won';
