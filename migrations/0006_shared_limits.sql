-- Abuse limits shared by every API instance on this database (DESIGN.md "Auth": rate limits count per
-- verified key, and per address before authentication, and hold across API instances).
--
-- UNLOGGED: the counters are short-lived and worth no WAL; a database crash empties them, which only
-- forgives the limits for a moment.

-- A generic cell rate (GCRA) per subject ('key:<key_id>' or 'address:<ip>'): `tat` is the theoretical
-- arrival time, in seconds since the Unix epoch, of the next request at the sustained rate. A request
-- is allowed when it leaves `tat` at most `burst` emission intervals ahead of now; one
-- INSERT … ON CONFLICT DO UPDATE … RETURNING per request decides and records it.
CREATE UNLOGGED TABLE rate_limits (
  subject text PRIMARY KEY,
  tat double precision NOT NULL,
  allowed boolean NOT NULL
);

-- Numbered places for things a subject may hold only so many of at once (open long-polls, uploads in
-- flight): subject 'long-poll:<key_id>' or 'upload:<key_id>', slot 0 … max − 1. A holder renews its
-- row while it holds it; a row whose `expires_at` has passed is free again, so an instance that dies
-- holding slots leaks none for longer than one expiry.
CREATE UNLOGGED TABLE limit_slots (
  subject text NOT NULL,
  slot integer NOT NULL,
  holder text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (subject, slot)
);

CREATE INDEX limit_slots_expires_at ON limit_slots (expires_at);
