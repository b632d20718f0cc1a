-- Accounts (DESIGN.md "Auth"): every API key belongs to one account, and jobs, agents and idempotency
-- keys belong to accounts rather than to keys, so that rotating a key loses nothing.
--
-- Existing rows move over without loss:
-- * Keys: the keys of the embedded default (labelled 'dev buyer (embedded default)' and
--   'dev executor (embedded default)', replaced ones included) share one account, as new dev keys do;
--   every other key gets an account of its own. An account made here is named after its oldest key:
--   key_<suffix> gives acct_<suffix>, a valid TypeID of the key's creation time.
-- * Jobs: the account of the key that ordered them (`buyer_key_id`, kept as the record of which key).
-- * Agents: the account of the oldest executor key bound to them, their first publisher (a replaced dev
--   executor key hands its agents to its successor, in the same account). An agent no key is bound to
--   was published by an admin, whose key was not recorded: its account stays NULL.
-- * Idempotency keys: scoped to their key's account. Should two keys merged into one account have used
--   the same idempotency key, the newest record is kept (a retry would be of the newest order); no job
--   is touched.

CREATE TABLE accounts (
  account_id text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE api_keys ADD COLUMN account_id text;

UPDATE api_keys k SET account_id = 'acct_' || substr(grouped.first_key_id, length('key_') + 1)
FROM (
  SELECT key_id, min(key_id) OVER (
           PARTITION BY CASE WHEN label IN ('dev buyer (embedded default)', 'dev executor (embedded default)')
                             THEN 'dev' ELSE key_id END
         ) AS first_key_id
  FROM api_keys
) grouped
WHERE grouped.key_id = k.key_id;

INSERT INTO accounts (account_id, created_at)
SELECT account_id, min(created_at) FROM api_keys GROUP BY account_id;

ALTER TABLE api_keys
  ALTER COLUMN account_id SET NOT NULL,
  ADD FOREIGN KEY (account_id) REFERENCES accounts (account_id);
CREATE INDEX api_keys_account_idx ON api_keys (account_id);

ALTER TABLE jobs ADD COLUMN account_id text REFERENCES accounts (account_id);
UPDATE jobs j SET account_id = k.account_id FROM api_keys k WHERE k.key_id = j.buyer_key_id;
ALTER TABLE jobs ALTER COLUMN account_id SET NOT NULL;
-- A buyer's jobs are now found by account.
DROP INDEX jobs_buyer_idx;
CREATE INDEX jobs_account_idx ON jobs (account_id, job_id DESC);

ALTER TABLE agents ADD COLUMN account_id text REFERENCES accounts (account_id);
UPDATE agents a SET account_id = (
  SELECT k.account_id FROM api_keys k WHERE a.agent_id = ANY (k.agent_ids) ORDER BY k.key_id LIMIT 1
);

-- One job per account and idempotency key; `key_id` stays as the record of which key sent the order.
ALTER TABLE idempotency_keys ADD COLUMN account_id text REFERENCES accounts (account_id);
UPDATE idempotency_keys i SET account_id = k.account_id FROM api_keys k WHERE k.key_id = i.key_id;
DELETE FROM idempotency_keys older USING idempotency_keys newer
WHERE newer.account_id = older.account_id AND newer.idempotency_key = older.idempotency_key
  AND (newer.created_at, newer.job_id) > (older.created_at, older.job_id);
ALTER TABLE idempotency_keys
  ALTER COLUMN account_id SET NOT NULL,
  DROP CONSTRAINT idempotency_keys_pkey,
  ADD PRIMARY KEY (account_id, idempotency_key);
