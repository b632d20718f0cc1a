/** Jobs for the executor's tests and benches: a running job with a prompt and params, as the runtime hands it to `run`. */
import { AccountId, AgentId, JobId } from "@agnt/domain/Ids"
import { Job } from "@agnt/domain/Job"
import { DateTime, Schema } from "effect"

/** The agent every test job belongs to. */
export const agentId = Schema.decodeSync(AgentId)("agent_01m7zs84jxe4bv682cvngbb1p6")
/** The id of every test job. */
export const jobId = Schema.decodeSync(JobId)("job_01m7zs84jxe4bv682cvngbb1p6")
const accountId = Schema.decodeSync(AccountId)("acct_01m7zs84jxe4bv682cvngbb1p6")

/** A running job of `agentId` with `prompt` and `params`, no input files. */
export const makeJob = (prompt: string, params: Record<string, unknown> = {}) =>
  new Job({
    job_id: jobId,
    agent_id: agentId,
    account_id: accountId,
    status: "running",
    prompt,
    params,
    progress: null,
    status_message: null,
    decision_reason: null,
    failure_reason: null,
    result: null,
    created_at: DateTime.unsafeMake(0),
    updated_at: DateTime.unsafeMake(0),
    started_at: DateTime.unsafeMake(0),
    completed_at: null,
    duration_seconds: null,
    cancel_requested: false,
    lease_expires_at: null,
    attempt: 1,
    max_attempts: 1,
    retry_at: null,
    repo: null,
    parent_job_id: null,
    input_files: []
  })
