-- agnt schema v1: api keys, agents, jobs, their files and events.

CREATE TABLE api_keys (
  key_id        text PRIMARY KEY,
  role          text NOT NULL CHECK (role IN ('buyer', 'executor', 'admin')),
  secret_sha256 bytea NOT NULL,
  agent_ids     text[] NOT NULL DEFAULT '{}',
  label         text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);

-- Immutable so that it may feed a generated column.
CREATE FUNCTION agnt_tags_text(tags text[]) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT array_to_string(tags, ' ') $$;

CREATE TABLE agents (
  agent_id     text PRIMARY KEY,
  name         text NOT NULL,
  description  text NOT NULL,
  tags         text[] NOT NULL DEFAULT '{}',
  input_schema jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  search       tsvector GENERATED ALWAYS AS (
                 setweight(to_tsvector('english', name), 'A') ||
                 setweight(to_tsvector('english', agnt_tags_text(tags)), 'B') ||
                 setweight(to_tsvector('english', description), 'C')
               ) STORED
);
CREATE INDEX agents_search_idx ON agents USING gin (search);
CREATE INDEX agents_tags_idx ON agents USING gin (tags);

CREATE TABLE jobs (
  job_id          text PRIMARY KEY,
  agent_id        text NOT NULL REFERENCES agents (agent_id),
  buyer_key_id    text NOT NULL REFERENCES api_keys (key_id),
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'accepted', 'rejected', 'running', 'completed', 'failed', 'canceled')),
  prompt          text NOT NULL,
  params          jsonb NOT NULL DEFAULT '{}',
  progress        double precision,
  status_message  text,
  failure_reason  text,
  executor_key_id text REFERENCES api_keys (key_id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  completed_at    timestamptz
);
CREATE INDEX jobs_buyer_idx ON jobs (buyer_key_id, job_id DESC);
CREATE INDEX jobs_agent_status_idx ON jobs (agent_id, status, job_id);

CREATE TABLE job_files (
  file_id     text PRIMARY KEY,
  job_id      text NOT NULL REFERENCES jobs (job_id),
  kind        text NOT NULL CHECK (kind IN ('input', 'result')),
  path        text NOT NULL,
  size        bigint NOT NULL,
  mime        text NOT NULL,
  sha256      text NOT NULL,
  storage_key text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (job_id, kind, path)
);

CREATE TABLE job_events (
  event_id   bigserial PRIMARY KEY,
  job_id     text NOT NULL REFERENCES jobs (job_id),
  type       text NOT NULL CHECK (type IN ('status', 'progress', 'log')),
  status     text NOT NULL,
  data       jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job_idx ON job_events (job_id, event_id);
