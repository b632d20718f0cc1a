-- The caller's id of the claim that holds a job (ClaimRequest.claim_id): a
-- retried claim whose first answer was lost gets the same job and lease back.
ALTER TABLE jobs ADD COLUMN claim_id text;
