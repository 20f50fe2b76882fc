-- The worker's scan of public.bet_slips: settled wins above the threshold, anti-joined with
-- ledger_entries (whose UNIQUE bet_slip_id index answers the NOT EXISTS). Big wins are a tiny
-- share of all slips, so a partial index by amount keeps every tick cheap however many slips
-- the platform holds.
--
-- bet_slips belongs to the core platform: an index needs its owner. Where the ledger's role does
-- not own the table (production), this migration only leaves a notice, and the platform team
-- creates the same index (statement below) in its own migrations.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_tables
        WHERE schemaname = 'public' AND tablename = 'bet_slips' AND pg_has_role(tableowner, 'USAGE')
    ) THEN
        CREATE INDEX IF NOT EXISTS bet_slips_settled_wins_by_amount
            ON public.bet_slips (potential_win) WHERE status = 'won' AND settled_at IS NOT NULL;
    ELSE
        RAISE NOTICE 'ledger: ask the platform owners to run: CREATE INDEX bet_slips_settled_wins_by_amount ON public.bet_slips (potential_win) WHERE status = ''won'' AND settled_at IS NOT NULL';
    END IF;
END
$$;
