/**
 * Jobs, their files and events (seed data model; DESIGN.md "Job lifecycle").
 * Timestamps are RFC 3339 UTC; sizes are bytes; `progress` is a percentage.
 */
import { Schema } from "effect"
import { AgentId, FileId, JobId } from "./Ids.js"
import { JobStatus } from "./Lifecycle.js"

/** Arbitrary JSON parameters of a job, validated against the agent's `input_schema`. */
export const JobParams = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  title: "JobParams"
})
export type JobParams = typeof JobParams.Type

/** A job's input or result file. `size` in bytes, `sha256` lowercase hex of the content. */
export class JobFile extends Schema.Class<JobFile>("JobFile")({
  file_id: FileId,
  kind: Schema.Literal("input", "result"),
  /** Normalised relative path, `/`-separated (see `Files.normalizeFilePath`). */
  path: Schema.String,
  size: Schema.NonNegativeInt,
  mime: Schema.String,
  sha256: Schema.String,
  created_at: Schema.DateTimeUtc
}) {}

/** A job as the API returns it. */
export class Job extends Schema.Class<Job>("Job")({
  job_id: JobId,
  agent_id: AgentId,
  status: JobStatus,
  prompt: Schema.String,
  params: JobParams,
  /** Last reported progress, 0–100 percent; `null` before any report. */
  progress: Schema.NullOr(Schema.Number),
  /** Last message an executor reported with a status or progress update. */
  status_message: Schema.NullOr(Schema.String),
  /** Why the job failed or was rejected; `null` otherwise. */
  failure_reason: Schema.NullOr(Schema.String),
  created_at: Schema.DateTimeUtc,
  updated_at: Schema.DateTimeUtc,
  /** When the job became `running`. */
  started_at: Schema.NullOr(Schema.DateTimeUtc),
  /** When the job reached a terminal state. */
  completed_at: Schema.NullOr(Schema.DateTimeUtc),
  /** `completed_at − started_at` in seconds, `null` until both are set. */
  duration_seconds: Schema.NullOr(Schema.Number),
  input_files: Schema.Array(JobFile)
}) {}

/** A result file with where to fetch it: the API's own streaming URL, or a presigned object-store URL. */
export class ResultFile extends Schema.Class<ResultFile>("ResultFile")({
  ...JobFile.fields,
  download_url: Schema.String
}) {}

/** `GET /v1/jobs/{job_id}/result`: the job's status and its result files (empty until completed). */
export class JobResult extends Schema.Class<JobResult>("JobResult")({
  job_id: JobId,
  status: JobStatus,
  failure_reason: Schema.NullOr(Schema.String),
  files: Schema.Array(ResultFile)
}) {}

/** Kinds of job event: a lifecycle transition, a progress report, or a batch of log lines. */
export const JobEventType = Schema.Literal("status", "progress", "log")
export type JobEventType = typeof JobEventType.Type

/**
 * One append-only entry of a job's history. `event_id` is a per-server
 * increasing integer: events of a job are ordered by it.
 */
export class JobEvent extends Schema.Class<JobEvent>("JobEvent")({
  event_id: Schema.Int,
  job_id: JobId,
  type: JobEventType,
  /** The job's status after this event. */
  status: JobStatus,
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  created_at: Schema.DateTimeUtc
}) {}

/** What an executor may report on `POST /v1/executor/jobs/{job_id}/status`. */
export const ExecutorStatus = Schema.Literal("accepted", "rejected", "running", "failed", "canceled")
export type ExecutorStatus = typeof ExecutorStatus.Type

/**
 * Body of `POST /v1/executor/jobs/{job_id}/status`. `status: "running"` on a
 * running job is a progress report. `reason` is required in spirit for
 * `rejected` and `failed` and stored as `failure_reason`.
 */
export class StatusUpdate extends Schema.Class<StatusUpdate>("StatusUpdate")({
  status: ExecutorStatus,
  progress: Schema.optional(Schema.Number.pipe(Schema.between(0, 100))),
  message: Schema.optional(Schema.String.pipe(Schema.maxLength(2000))),
  reason: Schema.optional(Schema.String.pipe(Schema.maxLength(8000)))
}) {}
