-- Repo jobs and handoff (DESIGN.md "Repo jobs"): a repo job records the commit
-- and tree its input files are ({base_commit, tree, branch, modes, submodules},
-- NULL for a job of loose files), and a job ordered from another's outcome
-- (`agnt order --from`) names it as its parent. Children are listed by parent.
ALTER TABLE jobs ADD COLUMN repo jsonb;
ALTER TABLE jobs ADD COLUMN parent_job_id text REFERENCES jobs (job_id);
CREATE INDEX jobs_parent_idx ON jobs (parent_job_id, job_id DESC) WHERE parent_job_id IS NOT NULL;

-- A child-order key (POST /v1/executor/jobs/{job_id}/child-key): a buyer key of the
-- job's account that orders children of that one job only and stops working when
-- the job ends.
ALTER TABLE api_keys ADD COLUMN scope_job_id text REFERENCES jobs (job_id);
