-- A request rate is spent in reservations: one statement takes up to N requests of a subject's rate
-- (as many as its burst has room for) and the instance spends them in memory, so that a busy key costs
-- one round trip per reservation, not per request. `granted` records how many the last reservation took.
ALTER TABLE rate_limits ADD COLUMN granted integer NOT NULL DEFAULT 0;
