/**
 * A job's lifecycle in PostgreSQL. Every change is one
 * `UPDATE … WHERE job_id = $1 AND status = ANY($allowed_from)` that also
 * appends its `job_events` row (and, completing, inserts the result files)
 * in the same statement and returns the changed job with its lease
 * (DESIGN.md "Job lifecycle": enforced atomically, never read-then-write),
 * so of N executors accepting one job exactly one wins. Only a refused
 * change costs a second statement, to say why.
 */
import { JsonSchemaDocument } from "@agnt/domain/Agent"
import { AgentId, ApiKeyId, JobId, LeaseId } from "@agnt/domain/Ids"
import {
  Job,
  JobCancelRequestedData,
  JobClaimedData,
  JobLeaseExpiredData,
  JobLogData,
  JobReportData,
  JobResultValue,
  Lease,
  leaseExpiredReason,
  outcomeMessage
} from "@agnt/domain/Job"
import { allowedFrom, JobStatus, terminalStatuses } from "@agnt/domain/Lifecycle"
import { maxRetryDelaySeconds } from "@agnt/domain/Limits"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { Notifier } from "../Notifier.js"
import { appendStatusEvent, claimedColumns, ClaimedJobRow, insertFiles, iso, jobColumns, NewJobFile, Visibility, visible } from "./Sql.js"

/** Why a change did not happen: no visible job, it is in `status`, or the caller's lease is not current. */
export type TransitionRefusal =
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "WrongStatus"; readonly status: JobStatus }
  | { readonly _tag: "LeaseLost" }

/**
 * What a change does with the lease: `create` makes a new one (accepting a
 * job), `require` checks and renews the caller's, `none` leaves it alone
 * (buyer actions, rejecting a pending job).
 */
export type LeaseMode =
  | { readonly _tag: "create"; readonly leaseId: LeaseId; readonly executorId?: string | undefined }
  | { readonly _tag: "require"; readonly leaseId: LeaseId }
  | { readonly _tag: "none" }

/** The parameters of the transition statement, each as the statement takes it. */
const TransitionRequest = Schema.Struct({
  job_id: JobId,
  visibility: Visibility,
  to: JobStatus,
  from: Schema.Array(JobStatus),
  progress: Schema.NullOr(Schema.Number),
  status_message: Schema.NullOr(Schema.String),
  decision_reason: Schema.NullOr(Schema.String),
  failure_reason: Schema.NullOr(Schema.String),
  /** The structured result, as JSON text; `null` keeps the job's. */
  result: Schema.NullOr(Schema.parseJson()),
  executor_key_id: Schema.NullOr(ApiKeyId),
  executor_id: Schema.NullOr(Schema.String),
  lease_mode: Schema.Literal("create", "require", "none"),
  lease_id: Schema.NullOr(LeaseId),
  lease_seconds: Schema.Number,
  data: Schema.parseJson(JobReportData),
  /** Result files to insert with the change. */
  files: Schema.Array(NewJobFile),
  /** Record the holder's executor as seen. */
  touch_executor: Schema.Boolean,
  /** Change only a job whose agent declares no `output_schema` (`{}`: any result, or none, is valid). */
  only_without_output_schema: Schema.Boolean
})

const terminal = [...terminalStatuses]

/** The one statement of a lifecycle change; no row when the job is not visible, not in `from`, or held under another lease. */
const transitionStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: TransitionRequest,
    Result: ClaimedJobRow,
    execute: (r) =>
      sql`
      WITH prior AS (
        SELECT job_id, status FROM jobs WHERE job_id = ${r.job_id} FOR UPDATE
      ), updated AS (
        UPDATE jobs j SET
          status = ${r.to}::text,
          updated_at = now(),
          started_at = CASE WHEN ${r.to}::text = 'running' THEN COALESCE(j.started_at, now()) ELSE j.started_at END,
          completed_at = CASE WHEN ${r.to}::text = ANY(${terminal}::text[]) THEN now() ELSE j.completed_at END,
          progress = CASE WHEN ${r.to}::text = 'completed' THEN 100 ELSE COALESCE(${r.progress}::float8, j.progress) END,
          status_message = COALESCE(${r.status_message}::text, j.status_message),
          decision_reason = COALESCE(${r.decision_reason}::text, j.decision_reason),
          failure_reason = COALESCE(${r.failure_reason}::text, j.failure_reason),
          result = COALESCE(${r.result}::jsonb, j.result),
          retry_at = NULL,
          executor_key_id = COALESCE(j.executor_key_id, ${r.executor_key_id}::text),
          executor_id = COALESCE(${r.executor_id}::text, j.executor_id),
          lease_id = CASE WHEN ${r.lease_mode}::text = 'create' THEN ${r.lease_id}::text ELSE j.lease_id END,
          lease_expires_at = CASE
            WHEN ${r.to}::text = ANY(${terminal}::text[]) THEN NULL
            WHEN ${r.lease_mode}::text = 'none' THEN j.lease_expires_at
            ELSE now() + make_interval(secs => ${r.lease_seconds}) END
        FROM prior
        WHERE j.job_id = prior.job_id AND j.status = ANY(${r.from}::text[]) AND ${visible(sql, r.visibility)}
          AND (j.status <> 'pending' OR ${r.to}::text = 'canceled' OR j.retry_at IS NULL OR j.retry_at <= now())
          AND (${r.lease_mode}::text <> 'require' OR j.lease_id = ${r.lease_id}::text)
          AND (NOT ${r.only_without_output_schema}::boolean
            OR EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = j.agent_id AND a.output_schema = '{}'::jsonb))
        RETURNING j.*, prior.status AS prior_status
      ), logged AS (
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, CASE WHEN prior_status = status THEN 'progress' ELSE 'status' END, status, ${r.data}::jsonb
        FROM updated
      ), stored AS (
        ${insertFiles(sql, "updated", "result", r.files)}
      ), presence AS (
        UPDATE executors e SET last_seen_at = now() FROM updated u
        WHERE ${r.touch_executor}::boolean AND e.executor_id = u.executor_id
      )
      SELECT ${sql.literal(claimedColumns)} FROM updated j`
  })

/** The state a refusal is judged on. */
const refusalStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ job_id: JobId, visibility: Visibility }),
    Result: Schema.Struct({ status: JobStatus, lease_id: Schema.NullOr(LeaseId) }),
    execute: (r) => sql`SELECT j.status, j.lease_id FROM jobs j WHERE j.job_id = ${r.job_id} AND ${visible(sql, r.visibility)}`
  })

/**
 * Hand the oldest pending job of an agent to one caller (`FOR UPDATE SKIP
 * LOCKED`) with a new lease — or, when `claim_id` names a claim this key
 * already made whose job is still accepted or running, that job again with
 * its lease renewed (the retry of a claim whose answer was lost).
 */
const claimStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({
      agent_id: AgentId,
      executor_id: Schema.String,
      executor_key_id: ApiKeyId,
      lease_id: LeaseId,
      lease_seconds: Schema.Number,
      start: Schema.Boolean,
      claim_id: Schema.NullOr(Schema.String),
      data: Schema.parseJson(JobClaimedData),
      started: Schema.parseJson(JobReportData)
    }),
    Result: ClaimedJobRow,
    execute: (r) =>
      sql`
      WITH again AS (
        UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => ${r.lease_seconds}), updated_at = now()
        WHERE ${r.claim_id}::text IS NOT NULL AND j.claim_id = ${r.claim_id} AND j.agent_id = ${r.agent_id}
          AND j.status IN ('accepted', 'running') AND j.executor_key_id = ${r.executor_key_id}
        RETURNING j.*
      ), next AS (
        SELECT job_id FROM jobs
        WHERE agent_id = ${r.agent_id} AND status = 'pending' AND (retry_at IS NULL OR retry_at <= now())
          AND NOT EXISTS (SELECT 1 FROM again)
        ORDER BY job_id LIMIT 1
        FOR UPDATE SKIP LOCKED
      ), updated AS (
        UPDATE jobs j SET status = CASE WHEN ${r.start}::boolean THEN 'running' ELSE 'accepted' END,
          updated_at = now(), retry_at = NULL,
          started_at = CASE WHEN ${r.start}::boolean THEN now() ELSE j.started_at END,
          progress = CASE WHEN ${r.start}::boolean THEN 0 ELSE j.progress END,
          executor_key_id = ${r.executor_key_id}, executor_id = ${r.executor_id}, claim_id = ${r.claim_id},
          lease_id = ${r.lease_id}, lease_expires_at = now() + make_interval(secs => ${r.lease_seconds})
        FROM next WHERE j.job_id = next.job_id
        RETURNING j.*
      ), logged AS (
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', 'accepted', ${r.data}::jsonb FROM updated
        UNION ALL
        SELECT job_id, 'status', 'running', ${r.started}::jsonb FROM updated WHERE ${r.start}::boolean
      )
      SELECT ${sql.literal(claimedColumns)} FROM (SELECT * FROM updated UNION ALL SELECT * FROM again) j`
  })

/** Record that an executor process of an agent called just now. */
const seenStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.void({
    Request: Schema.Struct({ executor_id: Schema.String, agent_id: AgentId, key_id: ApiKeyId }),
    execute: (r) =>
      sql`
      INSERT INTO executors (executor_id, agent_id, key_id) VALUES (${r.executor_id}, ${r.agent_id}, ${r.key_id})
      ON CONFLICT (executor_id) DO UPDATE SET last_seen_at = now(), agent_id = EXCLUDED.agent_id`
  })

/** Renew the holder's lease on an accepted or running job, appending a log event when there are lines. */
const renewStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({
      job_id: JobId,
      visibility: Visibility,
      lease_id: LeaseId,
      lease_seconds: Schema.Number,
      lines: Schema.Number,
      data: Schema.parseJson(JobLogData)
    }),
    Result: Lease,
    execute: (r) =>
      sql`
      WITH renewed AS (
        UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => ${r.lease_seconds})
        WHERE j.job_id = ${r.job_id} AND j.status IN ('accepted', 'running')
          AND j.lease_id = ${r.lease_id} AND ${visible(sql, r.visibility)}
        RETURNING j.job_id, j.status, j.executor_id, j.lease_id, j.lease_expires_at,
                  j.cancel_requested_at IS NOT NULL AS cancel_requested
      ), logged AS (
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'log', status, ${r.data}::jsonb FROM renewed WHERE ${r.lines} > 0
      ), presence AS (
        UPDATE executors e SET last_seen_at = now() FROM renewed WHERE e.executor_id = renewed.executor_id
      )
      SELECT lease_id, lease_expires_at, cancel_requested FROM renewed`
  })

/** Mark an accepted or running job `cancel_requested`; yields the job after the change. */
const cancelRequestStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ job_id: JobId, visibility: Visibility, data: Schema.parseJson(JobCancelRequestedData) }),
    Result: Job,
    execute: (r) =>
      sql`
      WITH requested AS (
        UPDATE jobs j SET cancel_requested_at = COALESCE(j.cancel_requested_at, now()), updated_at = now()
        WHERE j.job_id = ${r.job_id} AND j.status IN ('accepted', 'running') AND ${visible(sql, r.visibility)}
        RETURNING j.*
      ), logged AS (
        ${appendStatusEvent(sql, "requested", r.data)}
      )
      SELECT ${sql.literal(jobColumns)} FROM requested j`
  })

/**
 * Every accepted or running job whose lease expired: with attempts left (and
 * no cancel requested) back to `pending` as the next attempt, claimable
 * after its agent's `retry_delay_seconds` × 2^(attempt − 1), capped at
 * `maxRetryDelaySeconds`; otherwise failed (or, with a cancel requested,
 * canceled). Each with its event, in one statement.
 */
const reapStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.Struct({
      failed: Schema.String,
      canceled: Schema.String,
      data: Schema.parseJson(JobLeaseExpiredData),
      max_delay_seconds: Schema.Number
    }),
    Result: Schema.Struct({ job_id: JobId, status: JobStatus, attempt: Schema.Int }),
    execute: (r) =>
      sql`
      WITH expired AS (
        SELECT j.job_id, j.attempt < j.max_attempts AND j.cancel_requested_at IS NULL AS retry,
               now() + make_interval(secs => LEAST(a.retry_delay_seconds * power(2, j.attempt - 1), ${r.max_delay_seconds})) AS retry_at
        FROM jobs j JOIN agents a ON a.agent_id = j.agent_id
        WHERE j.status IN ('accepted', 'running') AND j.lease_expires_at < now()
        FOR UPDATE OF j SKIP LOCKED
      ), retried AS (
        UPDATE jobs j SET
          status = 'pending', attempt = j.attempt + 1, retry_at = x.retry_at, updated_at = now(),
          status_message = ${leaseExpiredReason}::text || ': attempt ' || (j.attempt + 1) || ' of ' || j.max_attempts || ' waits for a new claim',
          progress = NULL, started_at = NULL, lease_id = NULL, lease_expires_at = NULL, executor_id = NULL, executor_key_id = NULL,
          claim_id = NULL
        FROM expired x WHERE j.job_id = x.job_id AND x.retry
        RETURNING j.job_id, j.status, j.attempt, j.retry_at
      ), ended AS (
        UPDATE jobs j SET
          status = CASE WHEN j.cancel_requested_at IS NULL THEN 'failed' ELSE 'canceled' END,
          failure_reason = CASE WHEN j.cancel_requested_at IS NULL THEN ${leaseExpiredReason}::text ELSE j.failure_reason END,
          status_message = CASE WHEN j.cancel_requested_at IS NULL THEN ${r.failed}::text ELSE ${r.canceled}::text END,
          completed_at = now(), updated_at = now(), lease_expires_at = NULL
        FROM expired x WHERE j.job_id = x.job_id AND NOT x.retry
        RETURNING j.job_id, j.status, j.attempt
      ), logged AS (
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', status, ${r.data}::jsonb FROM ended
        UNION ALL
        SELECT job_id, 'status', status,
               jsonb_build_object('reason', ${leaseExpiredReason}::text, 'attempt', attempt, 'retry_at', ${sql.literal(iso("retry_at"))})
        FROM retried
      )
      SELECT job_id, status, attempt FROM retried UNION ALL SELECT job_id, status, attempt FROM ended`
  })

/**
 * What completing a job is judged on, read before its result files are
 * stored: its state and holder, its structured result and result manifest
 * (`path:sha256` each, to tell a retried complete from a conflicting one),
 * and its agent's `output_schema`.
 */
export const CompletionState = Schema.Struct({
  status: JobStatus,
  lease_id: Schema.NullOr(LeaseId),
  result: JobResultValue,
  result_manifest: Schema.Array(Schema.String),
  output_schema: JsonSchemaDocument
})
export type CompletionState = typeof CompletionState.Type

const completionStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ job_id: JobId, visibility: Visibility }),
    Result: CompletionState,
    execute: (r) =>
      sql`
      SELECT j.status, j.lease_id, j.result, a.output_schema,
             ARRAY(SELECT f.path || ':' || f.sha256 FROM job_files f WHERE f.job_id = j.job_id AND f.kind = 'result')
               AS result_manifest
      FROM jobs j JOIN agents a ON a.agent_id = j.agent_id
      WHERE j.job_id = ${r.job_id} AND ${visible(sql, r.visibility)}`
  })

/**
 * Why a job refused a change allowed only from `from` for a caller holding
 * `mode`'s lease, judged on its `state` (`None`: not visible): in another
 * state, or — in an allowed state — held under another lease.
 */
export const refusalOf = (
  state: Option.Option<{ readonly status: JobStatus; readonly lease_id: LeaseId | null }>,
  mode: LeaseMode,
  from: ReadonlyArray<JobStatus>
): TransitionRefusal => {
  if (Option.isNone(state)) return { _tag: "NotFound" }
  const { lease_id, status } = state.value
  if (mode._tag === "require" && lease_id !== mode.leaseId && (from.includes(status) || lease_id !== null)) {
    return { _tag: "LeaseLost" }
  }
  return { _tag: "WrongStatus", status }
}

/** A lifecycle change as the service asks for it (see `LifecycleRepo.transition`). */
export interface TransitionParams {
  readonly jobId: JobId
  readonly visibility: Visibility
  readonly to: JobStatus
  /** Narrows the lifecycle's allowed source states (a buyer cancels only pending jobs itself). */
  readonly from?: ReadonlyArray<JobStatus> | undefined
  readonly lease: LeaseMode
  readonly leaseSeconds: number
  readonly executorKeyId?: ApiKeyId | undefined
  readonly progress?: number | undefined
  readonly message?: string | undefined
  readonly reason?: string | undefined
  /** Completing: the result files the job ends with (inserted with the change). */
  readonly files?: ReadonlyArray<NewJobFile> | undefined
  /** Completing: the job's structured result, when it has one. */
  readonly result?: Option.Option<unknown> | undefined
  /** Change only a job whose agent declares no `output_schema` (its result then needs no check). */
  readonly onlyWithoutOutputSchema?: boolean | undefined
}

/**
 * The transition statement's parameters: `reason` becomes the
 * `decision_reason` of an accepted or rejected job and the `failure_reason`
 * of a failed or canceled one; a job that ends gets its outcome
 * (`outcomeMessage`) as `status_message`, a running one the reported
 * `message`.
 */
const transitionRequest = (params: TransitionParams): typeof TransitionRequest.Type => {
  const { lease, to } = params
  const reason = params.reason ?? null
  const files = params.files ?? []
  return {
    job_id: params.jobId,
    visibility: params.visibility,
    to,
    from: allowedFrom(to).filter((status) => params.from === undefined || params.from.includes(status)),
    progress: params.progress ?? null,
    status_message: Option.getOrElse(outcomeMessage(to, { reason, files: params.files?.length }), () => params.message ?? null),
    decision_reason: to === "accepted" || to === "rejected" ? reason : null,
    failure_reason: to === "failed" || to === "canceled" ? reason : null,
    result: Option.getOrNull(params.result ?? Option.none()),
    executor_key_id: params.executorKeyId ?? null,
    executor_id: lease._tag === "create" ? lease.executorId ?? null : null,
    lease_mode: lease._tag,
    lease_id: lease._tag === "none" ? null : lease.leaseId,
    lease_seconds: params.leaseSeconds,
    data: {
      ...(params.progress === undefined ? {} : { progress: params.progress }),
      ...(params.message === undefined ? {} : { message: params.message }),
      ...(params.reason === undefined ? {} : { reason: params.reason })
    },
    files,
    touch_executor: to === "completed",
    only_without_output_schema: params.onlyWithoutOutputSchema ?? false
  }
}

/** Fails with why a change of `jobId` allowed only from `from` was refused to a caller holding `mode`'s lease. */
const refused = (sql: SqlClient.SqlClient) => {
  const refusalRow = refusalStatement(sql)
  return (jobId: JobId, visibility: Visibility, mode: LeaseMode, from: ReadonlyArray<JobStatus>) =>
    Effect.flatMap(refusalRow({ job_id: jobId, visibility }), (state) => Effect.fail(refusalOf(state, mode, from)))
}

/**
 * Move a visible job to `to` if the lifecycle allows it from its current
 * state (and, with `require`, the caller holds its lease), recording
 * progress, message, reason, result and result files, renewing or making
 * the lease, and appending the event — one statement. Yields the job with
 * its lease.
 *
 * @fails TransitionRefusal.
 */
const transition = (sql: SqlClient.SqlClient) => {
  const [transitionRow, refuse] = [transitionStatement(sql), refused(sql)]
  return Effect.fnUntraced(function*(params: TransitionParams) {
    const request = transitionRequest(params)
    const changed = yield* transitionRow(request)
    if (Option.isSome(changed)) return changed.value
    return yield* refuse(params.jobId, params.visibility, params.lease, request.from)
  }, (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die }))
}

/**
 * `transition`, without saying why when the change does not happen: the
 * changed job with its lease, or `None`.
 */
const tryTransition = (sql: SqlClient.SqlClient) => {
  const transitionRow = transitionStatement(sql)
  return Effect.fnUntraced(function*(params: TransitionParams) {
    return yield* transitionRow(transitionRequest(params))
  }, (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die }))
}

/**
 * Hand the oldest pending job of `agentId` to one caller (concurrent
 * claims never get the same job) with a new lease, accepted or, with
 * `start`, accepted and running; `None` when there is none. A `claimId`
 * this key already claimed a job with, while that job is accepted or
 * running, gets that job again (its lease renewed, no new events).
 */
const claimNext = (sql: SqlClient.SqlClient) => {
  const claimRow = claimStatement(sql)
  return Effect.fnUntraced(function*(params: {
    readonly agentId: AgentId
    readonly executorId: string
    readonly executorKeyId: ApiKeyId
    readonly leaseId: LeaseId
    readonly leaseSeconds: number
    /** Go on to `running` in the same change. */
    readonly start: boolean
    /** The caller's id of this claim (`ClaimRequest.claim_id`), or `undefined`. */
    readonly claimId: string | undefined
  }) {
    return yield* claimRow({
      agent_id: params.agentId,
      executor_id: params.executorId,
      executor_key_id: params.executorKeyId,
      lease_id: params.leaseId,
      lease_seconds: params.leaseSeconds,
      start: params.start,
      claim_id: params.claimId ?? null,
      data: { executor_id: params.executorId },
      started: { progress: 0 }
    })
  }, Effect.orDie)
}

/**
 * Renew the caller's lease on an accepted or running job, and append
 * `lines` as a log event when there are any.
 *
 * @fails TransitionRefusal.
 */
const renew = (sql: SqlClient.SqlClient) => {
  const [renewRow, refuse] = [renewStatement(sql), refused(sql)]
  return Effect.fnUntraced(function*(params: {
    readonly jobId: JobId
    readonly visibility: Visibility
    readonly leaseId: LeaseId
    readonly leaseSeconds: number
    readonly lines?: ReadonlyArray<string> | undefined
  }) {
    const lines = params.lines ?? []
    const { jobId, leaseId, visibility } = params
    const lease = yield* renewRow({
      job_id: jobId,
      visibility,
      lease_id: leaseId,
      lease_seconds: params.leaseSeconds,
      lines: lines.length,
      data: { lines }
    })
    if (Option.isSome(lease)) return lease.value
    return yield* refuse(jobId, visibility, { _tag: "require", leaseId }, ["accepted", "running"])
  }, (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die }))
}

/**
 * A buyer's cancel: a pending job becomes `canceled` at once; an accepted
 * or running one is marked `cancel_requested` (its holder learns on its
 * next call). Yields the job after the change.
 *
 * @fails TransitionRefusal.
 */
const cancel = (sql: SqlClient.SqlClient) => {
  const [change, cancelRow, refuse] = [transition(sql), cancelRequestStatement(sql), refused(sql)]
  return Effect.fnUntraced(function*(jobId: JobId, visibility: Visibility) {
    const reason = "canceled by the buyer"
    const pending = yield* Effect.option(
      change({ jobId, visibility, to: "canceled", from: ["pending"], lease: { _tag: "none" }, leaseSeconds: 0, reason })
    )
    if (Option.isSome(pending)) return pending.value.job
    const requested = yield* cancelRow({ job_id: jobId, visibility, data: { cancel_requested: true } })
    if (Option.isSome(requested)) return requested.value
    return yield* refuse(jobId, visibility, { _tag: "none" }, ["accepted", "running"])
  }, (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die }))
}

/**
 * End or retry every accepted or running job whose lease expired (see
 * `reapStatement`; DESIGN.md "Lease", "Delivery"): one statement, safe with
 * several servers. Yields each job with its new status and attempt.
 */
const reapExpired = (sql: SqlClient.SqlClient) => {
  const reap = reapStatement(sql)
  return Effect.fn("LifecycleRepo.reapExpired")(function*() {
    return yield* reap({
      failed: Option.getOrThrow(outcomeMessage("failed", { reason: leaseExpiredReason })),
      canceled: Option.getOrThrow(outcomeMessage("canceled")),
      data: { reason: leaseExpiredReason },
      max_delay_seconds: maxRetryDelaySeconds
    })
  }, Effect.orDie)
}

/**
 * How often one instance records the same executor process of the same
 * agent as seen, at most, in ms: well within the 60 s an executor counts as
 * online after it was last seen (`executors_online`), so that claims cost
 * no write each.
 */
const seenEveryMillis = 15_000

/** Most executor processes one instance remembers having recorded. */
const maxRememberedExecutors = 10_000

/** Record that an executor process of `agentId` called just now, unless this instance did so within `seenEveryMillis`. */
const seen = (sql: SqlClient.SqlClient) => {
  const seenRow = seenStatement(sql)
  const recorded = new Map<string, number>()
  return Effect.fnUntraced(function*(executorId: string, agentId: AgentId, keyId: ApiKeyId) {
    const key = `${executorId}\n${agentId}\n${keyId}`
    const now = Date.now()
    if ((recorded.get(key) ?? 0) > now - seenEveryMillis) return
    yield* seenRow({ executor_id: executorId, agent_id: agentId, key_id: keyId })
    if (recorded.size >= maxRememberedExecutors) recorded.clear()
    recorded.set(key, now)
  }, Effect.orDie)
}

/** The `CompletionState` of a visible job, or `None`. */
const completion = (sql: SqlClient.SqlClient) => {
  const completionRow = completionStatement(sql)
  return Effect.fnUntraced(function*(jobId: JobId, visibility: Visibility) {
    return yield* completionRow({ job_id: jobId, visibility })
  }, Effect.orDie)
}

/**
 * Lifecycle changes: transition (and completion), claim, renew, cancel,
 * reap. Each that appends events wakes this server's followers of those
 * jobs at once (`Notifier.wakesFollowers`).
 */
export class LifecycleRepo extends Effect.Service<LifecycleRepo>()("@agnt/server/LifecycleRepo", {
  effect: Effect.all([SqlClient.SqlClient, Notifier]).pipe(Effect.map(([sql, { wakesFollowers }]) => ({
    transition: wakesFollowers(transition(sql), (_, params) => [params.jobId]),
    tryTransition: wakesFollowers(tryTransition(sql), (changed, params) => Option.isSome(changed) ? [params.jobId] : []),
    claimNext: wakesFollowers(claimNext(sql), (claimed) => Option.toArray(Option.map(claimed, ({ job }) => job.job_id))),
    renew: wakesFollowers(renew(sql), (_, params) => (params.lines ?? []).length > 0 ? [params.jobId] : []),
    cancel: wakesFollowers(cancel(sql), (job) => [job.job_id]),
    reapExpired: wakesFollowers(reapExpired(sql), (jobs) => jobs.map((job) => job.job_id)),
    seen: seen(sql),
    completion: completion(sql)
  }))),
  dependencies: [Notifier.Default]
}) {}
