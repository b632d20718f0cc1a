-- The seed's whole data model: agents' pricing and output_schema; jobs' decision_reason and structured result;
-- an ended job's status_message is its outcome.

ALTER TABLE agents
  ADD COLUMN pricing       jsonb NOT NULL DEFAULT '{"model": "free"}',
  ADD COLUMN output_schema jsonb NOT NULL DEFAULT '{}';

ALTER TABLE jobs
  ADD COLUMN decision_reason text,
  ADD COLUMN result          jsonb;

-- A rejection's reason was kept as failure_reason; it is the executor's decision.
UPDATE jobs SET decision_reason = failure_reason, failure_reason = NULL WHERE status = 'rejected';

-- Jobs that already ended carry their outcome, as `Job.outcomeMessage` words it, instead of their last progress line.
UPDATE jobs j SET status_message = CASE j.status
    WHEN 'completed' THEN
      (SELECT CASE count(*) WHEN 0 THEN 'completed with no result files'
                            WHEN 1 THEN 'completed with 1 result file'
                            ELSE 'completed with ' || count(*) || ' result files' END
       FROM job_files f WHERE f.job_id = j.job_id AND f.kind = 'result')
    WHEN 'failed' THEN
      left(CASE WHEN COALESCE(btrim(split_part(j.failure_reason, E'\n', 1)), '') = '' THEN 'failed'
                ELSE 'failed: ' || btrim(split_part(j.failure_reason, E'\n', 1)) END, 2000)
    WHEN 'rejected' THEN
      left(CASE WHEN COALESCE(btrim(split_part(j.decision_reason, E'\n', 1)), '') = '' THEN 'rejected'
                ELSE 'rejected: ' || btrim(split_part(j.decision_reason, E'\n', 1)) END, 2000)
    WHEN 'canceled' THEN 'canceled by the buyer'
  END
WHERE j.status IN ('completed', 'failed', 'rejected', 'canceled');
