-- Retries of jobs whose lease expired (DESIGN.md "Delivery"): an agent's max_attempts (1 = at-most-once, the default)
-- and base retry delay; each job keeps its own attempt count, its max_attempts as ordered, and, while it waits out a
-- retry's backoff, the earliest time it may be claimed.

ALTER TABLE agents
  ADD COLUMN max_attempts        integer NOT NULL DEFAULT 1 CHECK (max_attempts BETWEEN 1 AND 10),
  ADD COLUMN retry_delay_seconds integer NOT NULL DEFAULT 10 CHECK (retry_delay_seconds BETWEEN 0 AND 3600);

ALTER TABLE jobs
  ADD COLUMN attempt      integer NOT NULL DEFAULT 1,
  ADD COLUMN max_attempts integer NOT NULL DEFAULT 1,
  ADD COLUMN retry_at     timestamptz;

-- A job put back to pending wakes its agent's long-polls as a new one does (at once when it has no delay; the
-- long-polls' periodic re-check finds it when its retry_at passes).
CREATE TRIGGER jobs_notify_retry AFTER UPDATE OF status ON jobs FOR EACH ROW
  WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending') EXECUTE FUNCTION agnt_notify_job();
