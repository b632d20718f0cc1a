/**
 * Jobs, their files and events (seed data model; DESIGN.md "Job lifecycle").
 * Timestamps are RFC 3339 UTC; sizes are bytes; `progress` is a percentage.
 */
import { Option, ParseResult, Schema, SchemaAST } from "effect"
import { AccountId, AgentId, ApiKeyId, FileId, JobId, LeaseId } from "./Ids.js"
import { JobStatus } from "./Lifecycle.js"
import {
  maxClaimWaitSeconds,
  maxExecutorIdLength,
  maxIdempotencyKeyLength,
  maxLogBatchLines,
  maxReasonLength,
  maxStatusMessageLength
} from "./Limits.js"
import { JobRepo } from "./Repo.js"
import { StorableText } from "./Text.js"

/** Arbitrary JSON parameters of a job, validated against the agent's `input_schema`. */
export const JobParams = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  title: "JobParams"
})
export type JobParams = typeof JobParams.Type

/** A SHA-256 digest as 64 lowercase hex characters (FIPS 180-4). */
export const Sha256 = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "a SHA-256 is 64 lowercase hex characters" })
).annotations({ title: "Sha256" })

/**
 * The SHA-256 an uploader states for each file it sends, keyed by the
 * file's path as sent (the part's filename). The server refuses the whole
 * request when a file's bytes do not match (400 `ChecksumMismatch`);
 * files left out are stored unchecked (DESIGN.md "Files are byte-exact").
 */
export const FileChecksums = Schema.Record({ key: Schema.String, value: Sha256 }).annotations({
  title: "FileChecksums"
})
export type FileChecksums = typeof FileChecksums.Type

/**
 * A job's structured result: any JSON value, checked against the agent's
 * `output_schema` when the executor completes the job.
 */
export const JobResultValue = Schema.Unknown.annotations({
  title: "JobResultValue",
  description: "Any JSON value, valid against the agent's output_schema; null when the job has none"
})

/**
 * A job's prompt as a request carries it: text whose line breaks are read
 * as LF. Multipart form encoding (the HTML standard's, which `fetch`'s
 * `FormData` follows) sends every line break of a text field as CRLF, so
 * CRLF and a lone CR decode to LF: a prompt written with LF line breaks is
 * stored as it was written.
 */
export const PromptText = Schema.transform(StorableText, Schema.String, {
  strict: true,
  decode: (text) => text.replace(/\r\n?/g, "\n"),
  encode: (text) => text
}).annotations({ title: "PromptText", description: "The job's prompt; CRLF and CR line breaks are read as LF" })

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
  /** The account that ordered the job (whichever of its keys sent the order); it owns the job. */
  account_id: AccountId,
  status: JobStatus,
  prompt: Schema.String,
  params: JobParams,
  /** Last reported progress, 0–100 percent; `null` before any report. */
  progress: Schema.NullOr(Schema.Number),
  /**
   * While the job runs, the last message its executor reported with a
   * status or progress update; once it ended, its outcome (see
   * `outcomeMessage`): "completed with 2 result files", "failed: <reason>",
   * "rejected: <reason>", "canceled by the buyer".
   */
  status_message: Schema.NullOr(Schema.String),
  /** Why the executor accepted or rejected the job (the `reason` of that status update); `null` when it gave none. */
  decision_reason: Schema.NullOr(Schema.String),
  /** Why the job failed (or, for a canceled job, who canceled it); `null` otherwise. */
  failure_reason: Schema.NullOr(Schema.String),
  /** The structured result its executor completed it with, valid against the agent's `output_schema`; `null` when none. */
  result: JobResultValue,
  created_at: Schema.DateTimeUtc,
  updated_at: Schema.DateTimeUtc,
  /** When the job became `running`. */
  started_at: Schema.NullOr(Schema.DateTimeUtc),
  /** When the job reached a terminal state. */
  completed_at: Schema.NullOr(Schema.DateTimeUtc),
  /** `completed_at − started_at` in seconds, `null` until both are set. */
  duration_seconds: Schema.NullOr(Schema.Number),
  /** The buyer asked to cancel an accepted or running job; the executor stops at its next call. */
  cancel_requested: Schema.Boolean,
  /** While accepted or running: when the executor's lease runs out unless renewed. */
  lease_expires_at: Schema.NullOr(Schema.DateTimeUtc),
  /** Which start of the job this is, from 1; a retry after an expired lease adds 1 (DESIGN.md "Delivery"). */
  attempt: Schema.Int,
  /** How many starts the job may have: its agent's `max_attempts` when it was ordered. */
  max_attempts: Schema.Int,
  /** While a retried job waits out its backoff: the earliest time an executor may claim it; `null` otherwise. */
  retry_at: Schema.NullOr(Schema.DateTimeUtc),
  /** For a repo job (`agnt order --repo`), the commit and tree its input files are; `null` for a job of loose files. */
  repo: Schema.NullOr(JobRepo),
  /** The job this one was ordered from (`agnt order --from`): it works on that job's outcome; `null` otherwise. */
  parent_job_id: Schema.NullOr(JobId),
  input_files: Schema.Array(JobFile)
}) {}

/**
 * An executor's hold on a job (DESIGN.md "Lease"): made when it claims or
 * accepts the job, renewed by every executor call about it. `lease_id` must
 * accompany those calls: a call with another id gets 409 `LeaseLost`, and
 * once the lease expired and the reaper ended the job, any call gets 409
 * `InvalidTransition` (the job is terminal). `cancel_requested` tells the
 * holder to stop.
 */
export class Lease extends Schema.Class<Lease>("Lease")({
  lease_id: LeaseId,
  lease_expires_at: Schema.DateTimeUtc,
  cancel_requested: Schema.Boolean
}) {}

/** A job as its holder sees it: the job and the lease on it. */
export class ClaimedJob extends Schema.Class<ClaimedJob>("ClaimedJob")({
  job: Job,
  lease: Lease
}) {}

/**
 * Body of `POST /v1/executor/jobs/claim`: hand the oldest pending job of
 * `agent_id` to this executor, waiting up to `wait` seconds (0–30) for one.
 * `executor_id` names the executor process (any stable string ≤ 200
 * characters) for presence: agents show `executors_online`.
 */
export class ClaimRequest extends Schema.Class<ClaimRequest>("ClaimRequest")({
  agent_id: AgentId,
  executor_id: StorableText.pipe(Schema.minLength(1), Schema.maxLength(maxExecutorIdLength)),
  wait: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, maxClaimWaitSeconds)), { default: () => 0 }),
  /**
   * Start the claimed job at once: it is accepted and goes on to `running`
   * (progress 0) in the same change, with both status events, which saves
   * the `running` report of an executor that starts every job it claims.
   * Absent: `false`.
   */
  start: Schema.optional(Schema.Boolean),
  /**
   * The executor's own id for this claim (1–255 characters, e.g. a random
   * UUID), sent again with every retry of it. A claim whose answer was lost
   * (the server crashed, or the connection broke, after it handed out the
   * job) is answered on retry with the same job and lease, its lease
   * renewed, while the job is still accepted or running — instead of a
   * job held by nobody until its lease expires. The same idea as Amazon
   * SQS's `ReceiveRequestAttemptId`. Absent: every claim takes a new job.
   */
  claim_id: Schema.optional(StorableText.pipe(Schema.minLength(1), Schema.maxLength(maxIdempotencyKeyLength)))
}) {}

/** Answer of a claim: the claimed job, or `null` when none came within `wait`. */
export class ClaimResponse extends Schema.Class<ClaimResponse>("ClaimResponse")({
  claimed: Schema.NullOr(ClaimedJob)
}) {}

/** Body of `POST /v1/executor/jobs/{job_id}/heartbeat`: renew the lease. */
export class Heartbeat extends Schema.Class<Heartbeat>("Heartbeat")({
  lease_id: LeaseId
}) {}

/** Body of `POST /v1/executor/jobs/{job_id}/logs`: a batch of at most 500 lines, each cut at 4000 characters. */
export class LogBatch extends Schema.Class<LogBatch>("LogBatch")({
  lease_id: LeaseId,
  lines: Schema.Array(StorableText).pipe(Schema.maxItems(maxLogBatchLines))
}) {}

/** Body of `POST /v1/executor/jobs/{job_id}/child-key`: the holder's lease. */
export class ChildKeyRequest extends Schema.Class<ChildKeyRequest>("ChildKeyRequest")({
  lease_id: LeaseId
}) {}

/**
 * A child-order key, shown once: a buyer key of the job's account that may
 * order jobs with `parent_job_id` = `job_id` only (`agnt order --from`),
 * and see only those; it stops working when the job ends. Its issue is a
 * line of the job's log, so the buyer sees it.
 */
export class ChildKey extends Schema.Class<ChildKey>("ChildKey")({
  key_id: ApiKeyId,
  key: Schema.String,
  job_id: JobId
}) {}

/** A result file with where to fetch it: the API's own streaming URL, or a presigned object-store URL. */
export class ResultFile extends Schema.Class<ResultFile>("ResultFile")({
  ...JobFile.fields,
  download_url: Schema.String
}) {}

/**
 * `GET /v1/jobs/{job_id}/result`: the job's status, its structured `result`
 * (`null` until completed, or when it has none) and its result files
 * (empty until completed).
 */
export class JobResult extends Schema.Class<JobResult>("JobResult")({
  job_id: JobId,
  status: JobStatus,
  decision_reason: Schema.NullOr(Schema.String),
  failure_reason: Schema.NullOr(Schema.String),
  result: JobResultValue,
  files: Schema.Array(ResultFile)
}) {}

/** Kinds of job event on the wire (`type`): a lifecycle transition (or cancel request), a progress report, or a batch of log lines. */
export const JobEventType = Schema.Literal("status", "progress", "log")
export type JobEventType = typeof JobEventType.Type

/** Event `data` objects are exact: a field not named by its kind fails decoding, so kinds never blur into each other. */
const exact = { parseOptions: { onExcessProperty: "error" } } as const

/** `data` of a job's first event: how many input files it was ordered with. */
export const JobCreatedData = Schema.Struct({ files: Schema.NonNegativeInt }).annotations({ ...exact, title: "JobCreatedData" })

/** `data` of the event of a claim: the `executor_id` of the executor process now holding the job. */
export const JobClaimedData = Schema.Struct({ executor_id: Schema.String }).annotations({ ...exact, title: "JobClaimedData" })

/**
 * `data` of an executor's or buyer's status change or progress report:
 * whichever of `progress` (0–100 percent), `message` and `reason` were
 * given (see `StatusUpdate`); `{}` when none.
 */
export const JobReportData = Schema.Struct({
  progress: Schema.optional(Schema.Number.pipe(Schema.between(0, 100))),
  message: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String)
}).annotations({ ...exact, title: "JobReportData" })

/** `data` of a log event: the batch's lines, in order (each at most `maxLogLineLength` characters). */
export const JobLogData = Schema.Struct({ lines: Schema.Array(Schema.String) }).annotations({ ...exact, title: "JobLogData" })

/** `data` of a buyer's cancel of an accepted or running job: always `{"cancel_requested": true}`. */
export const JobCancelRequestedData = Schema.Struct({ cancel_requested: Schema.Literal(true) }).annotations({
  ...exact,
  title: "JobCancelRequestedData"
})

/** `reason` of a job whose lease ran out (its `failure_reason` when it failed). */
export const leaseExpiredReason = "lease_expired"

/** `data` of the reaper's end of a job whose lease ran out: always `{"reason": "lease_expired"}`. */
export const JobLeaseExpiredData = Schema.Struct({ reason: Schema.Literal(leaseExpiredReason) }).annotations({
  ...exact,
  title: "JobLeaseExpiredData"
})

/**
 * `data` of the reaper's return of a job whose lease ran out to `pending`
 * for another attempt: `{"reason": "lease_expired", "attempt": 2,
 * "retry_at": "…"}` — the coming attempt (from 2) and the earliest time an
 * executor may claim it (RFC 3339 UTC).
 */
export const JobRetryData = Schema.Struct({
  reason: Schema.Literal(leaseExpiredReason),
  attempt: Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)),
  retry_at: Schema.DateTimeUtc
}).annotations({ ...exact, title: "JobRetryData" })

/** Fields every event has: `event_id` (per-database increasing; a job's events are ordered by it), the job, when. */
const eventFields = { event_id: Schema.Int, job_id: JobId, created_at: Schema.DateTimeUtc }

/**
 * One kind of event: its wire fields, plus a `_tag` (`kind`) that exists
 * only once decoded. The wire discriminates by `type` and the shape of
 * `data`; the tag lets readers match on the kind.
 */
const eventKind = <const Kind extends string, const Fields extends Schema.Struct.Fields>(kind: Kind, fields: Fields) =>
  Schema.Struct({ ...eventFields, ...fields }).pipe(
    Schema.attachPropertySignature("_tag", kind),
    Schema.annotations({ title: `JobEvent.${kind}` })
  )

/** A job was ordered: `pending`, with `data.files` input files. */
export const JobCreated = eventKind("Created", {
  type: Schema.Literal("status"),
  status: Schema.Literal("pending"),
  data: JobCreatedData
})

/** An executor claimed the pending job: `accepted` under a new lease, `data.executor_id` holding it. */
export const JobClaimed = eventKind("Claimed", {
  type: Schema.Literal("status"),
  status: Schema.Literal("accepted"),
  data: JobClaimedData
})

/** The job moved to `status` (accepted, rejected, running, completed, failed, canceled) with the report's `data`. */
export const JobStatusChanged = eventKind("StatusChanged", {
  type: Schema.Literal("status"),
  status: JobStatus,
  data: JobReportData
})

/** A running job's executor reported progress (`running → running`). */
export const JobProgressed = eventKind("Progressed", {
  type: Schema.Literal("progress"),
  status: Schema.Literal("running"),
  data: JobReportData
})

/** A batch of log lines from the job's executor; `status` is the job's at the time. */
export const JobLogged = eventKind("Logged", {
  type: Schema.Literal("log"),
  status: JobStatus,
  data: JobLogData
})

/** The buyer asked to cancel the accepted or running job; its holder learns on its next call. */
export const JobCancelRequested = eventKind("CancelRequested", {
  type: Schema.Literal("status"),
  status: Schema.Literal("accepted", "running"),
  data: JobCancelRequestedData
})

/** The job's lease ran out: the reaper failed it (or canceled it, when a cancel was requested). */
export const JobLeaseExpired = eventKind("LeaseExpired", {
  type: Schema.Literal("status"),
  status: Schema.Literal("failed", "canceled"),
  data: JobLeaseExpiredData
})

/** The job's lease ran out with attempts left: back to `pending`, to be claimed again from `data.retry_at`. */
export const JobRetried = eventKind("Retried", {
  type: Schema.Literal("status"),
  status: Schema.Literal("pending"),
  data: JobRetryData
})

/**
 * One append-only entry of a job's history: a union of kinds, told apart
 * on the wire by `type`, `status` and the fields of `data` (each kind's
 * `data` is exact), and once decoded by `_tag`. `status` is the job's
 * status after the event. The wire form is `{event_id, job_id, type,
 * status, data, created_at}`; `_tag` is never sent.
 */
export const JobEvent = Schema.Union(
  JobCreated,
  JobClaimed,
  JobCancelRequested,
  JobLeaseExpired,
  JobRetried,
  JobStatusChanged,
  JobProgressed,
  JobLogged
).annotations({ identifier: "JobEvent" })
export type JobEvent = typeof JobEvent.Type

/** What an executor may report on `POST /v1/executor/jobs/{job_id}/status`. */
export const ExecutorStatus = Schema.Literal("accepted", "rejected", "running", "failed", "canceled")
export type ExecutorStatus = typeof ExecutorStatus.Type

/** Whether an executor reports `status` as the holder of the job's lease: all but `accepted` (which makes the lease) and `rejected` (a pending job has none). */
export const reportedByHolder = (status: ExecutorStatus): boolean => status !== "accepted" && status !== "rejected"

/** A holder's report without `lease_id`, as a missing field. */
const leaseMissing = (update: { readonly status: ExecutorStatus; readonly lease_id?: string | undefined }) =>
  reportedByHolder(update.status) && update.lease_id === undefined
    ? new ParseResult.Pointer(
      "lease_id",
      update,
      new ParseResult.Missing(new SchemaAST.Type(SchemaAST.stringKeyword), `is required for status "${update.status}"`)
    )
    : undefined

/**
 * Body of `POST /v1/executor/jobs/{job_id}/status`. `status: "running"` on a
 * running job is a progress report; `canceled` confirms a requested cancel.
 * `reason` is stored as the job's `decision_reason` with `accepted` and
 * `rejected`, and as its `failure_reason` with `failed` (required in
 * spirit there); with other statuses it is kept in the event only. A
 * holder's report (`reportedByHolder`) without `lease_id` fails to decode
 * as a missing field — a 400 naming `lease_id`, not a 409 `LeaseLost`.
 */
export class StatusUpdate extends Schema.Class<StatusUpdate>("StatusUpdate")(
  Schema.Struct({
    status: ExecutorStatus,
    /** Required for every status but `accepted` (which makes the lease) and `rejected` (a pending job has none). */
    lease_id: Schema.optional(LeaseId),
    progress: Schema.optional(Schema.Number.pipe(Schema.between(0, 100))),
    message: Schema.optional(StorableText.pipe(Schema.maxLength(maxStatusMessageLength))),
    reason: Schema.optional(StorableText.pipe(Schema.maxLength(maxReasonLength)))
  }).pipe(Schema.filter(leaseMissing)),
  [undefined, undefined, {
    // The name `/openapi.json` files the body under, as it does a class of plain fields (a JSON identifier outlives re-annotation).
    [SchemaAST.JSONIdentifierAnnotationId]: "StatusUpdate"
  }]
) {}

/**
 * The `status_message` of a job that ended in `status`: its outcome, not
 * the last progress line — "completed with 2 result files" (with `files`
 * result files), "failed: <reason>", "rejected: <reason>", "canceled by the
 * buyer" — where a reason is its first line, and the whole is cut at
 * `maxStatusMessageLength` characters. `None` for a status that is not
 * terminal.
 */
export const outcomeMessage = (
  status: JobStatus,
  details: { readonly reason?: string | null | undefined; readonly files?: number | undefined } = {}
): Option.Option<string> => {
  const firstLine = details.reason?.split("\n", 1)[0]?.trim() ?? ""
  const because = (verb: string) => firstLine === "" ? verb : `${verb}: ${firstLine}`
  const files = details.files ?? 0
  switch (status) {
    case "completed":
      return Option.some(`completed with ${files === 0 ? "no" : files} result file${files === 1 ? "" : "s"}`)
    case "failed":
      return Option.some(because("failed").slice(0, maxStatusMessageLength))
    case "rejected":
      return Option.some(because("rejected").slice(0, maxStatusMessageLength))
    case "canceled":
      return Option.some("canceled by the buyer")
    default:
      return Option.none()
  }
}

/**
 * A page of a job's events after a cursor, oldest first. `next_cursor` is
 * the last event id returned (pass it as `after`), or the request's own
 * cursor when there was nothing new. `status` is the job's status now;
 * once it is terminal and a page is empty, no event will follow.
 */
export class JobEventPage extends Schema.Class<JobEventPage>("JobEventPage")({
  data: Schema.Array(JobEvent),
  next_cursor: Schema.Int,
  status: JobStatus
}) {}
