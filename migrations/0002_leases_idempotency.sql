-- Leases, cancellation, executor presence, and wake-ups through LISTEN/NOTIFY.

ALTER TABLE jobs
  ADD COLUMN executor_id         text,
  ADD COLUMN lease_id            text,
  ADD COLUMN lease_expires_at    timestamptz,
  ADD COLUMN cancel_requested_at timestamptz;

CREATE INDEX jobs_pending_idx ON jobs (agent_id, job_id) WHERE status = 'pending';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status IN ('accepted', 'running');

-- One row per running executor process, refreshed by its claim polls and heartbeats.
CREATE TABLE executors (
  executor_id  text PRIMARY KEY,
  agent_id     text NOT NULL REFERENCES agents (agent_id),
  key_id       text NOT NULL REFERENCES api_keys (key_id),
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executors_agent_idx ON executors (agent_id, last_seen_at DESC);

-- A new pending job wakes the long-polls of its agent; a new event wakes its job's watchers.
CREATE FUNCTION agnt_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'pending' THEN
    PERFORM pg_notify('agnt_pending', NEW.agent_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION agnt_notify_job();

CREATE FUNCTION agnt_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('agnt_events', NEW.job_id);
  RETURN NULL;
END $$;
CREATE TRIGGER job_events_notify AFTER INSERT ON job_events FOR EACH ROW EXECUTE FUNCTION agnt_notify_event();

-- Idempotent orders (Idempotency-Key header, as Stripe does): one job per buyer key and idempotency key.
CREATE TABLE idempotency_keys (
  key_id          text NOT NULL REFERENCES api_keys (key_id),
  idempotency_key text NOT NULL,
  request_sha256  text NOT NULL,
  job_id          text NOT NULL REFERENCES jobs (job_id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key_id, idempotency_key)
);
