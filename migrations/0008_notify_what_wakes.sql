-- NOTIFY only what wakes a waiter on another server. A NOTIFY takes the notification queue's lock at commit, which
-- serialises committing transactions; one per job event (migration 0002) made it the busiest wait under load.
-- Accepted, running, progress and log events notify no one: the server that appends one wakes its own followers in
-- memory, and followers on other servers see it at their next fallback re-check (see packages/server/src/Notifier.ts).
-- The WHEN clauses keep PostgreSQL from calling the functions for any other row.

DROP TRIGGER job_events_notify ON job_events;
DROP FUNCTION agnt_notify_event();
DROP TRIGGER jobs_notify ON jobs;
DROP TRIGGER jobs_notify_retry ON jobs;
DROP FUNCTION agnt_notify_job();

-- A job that becomes pending (ordered, or put back for a retry) wakes its agent's claims and pending lists (at once
-- when it has no retry delay; their periodic re-check finds it when its retry_at passes).
CREATE FUNCTION agnt_notify_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('agnt_pending', NEW.agent_id);
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_pending AFTER INSERT ON jobs FOR EACH ROW
  WHEN (NEW.status = 'pending') EXECUTE FUNCTION agnt_notify_pending();
CREATE TRIGGER jobs_notify_retry AFTER UPDATE OF status ON jobs FOR EACH ROW
  WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending') EXECUTE FUNCTION agnt_notify_pending();

-- A job that ends, or whose cancel is requested, wakes its followers (the event is appended by the same statement,
-- and the notification is delivered at commit, so it is there when they look).
CREATE FUNCTION agnt_notify_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('agnt_events', NEW.job_id);
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_followers AFTER UPDATE OF status, cancel_requested_at ON jobs FOR EACH ROW
  WHEN (
    (NEW.status IN ('rejected', 'completed', 'failed', 'canceled') AND OLD.status IS DISTINCT FROM NEW.status)
    OR (NEW.cancel_requested_at IS NOT NULL AND OLD.cancel_requested_at IS NULL)
  ) EXECUTE FUNCTION agnt_notify_job_events();

-- A key revoked, or given another set of agents (an executor key publishing a new agent): every server forgets the
-- principal it remembers of it (packages/server/src/ApiKeys.ts).
CREATE FUNCTION agnt_notify_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('agnt_keys', NEW.key_id);
  RETURN NULL;
END $$;
CREATE TRIGGER api_keys_notify_changed AFTER UPDATE OF revoked_at, agent_ids ON api_keys FOR EACH ROW
  WHEN ((OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) OR OLD.agent_ids IS DISTINCT FROM NEW.agent_ids)
  EXECUTE FUNCTION agnt_notify_key_changed();
