/**
 * Jobs, their files and events in PostgreSQL. Every lifecycle change is one
 * `UPDATE … WHERE job_id = $1 AND status = ANY($allowed_from)` that also
 * appends its `job_events` row in the same statement (DESIGN.md "Job
 * lifecycle": enforced atomically, never read-then-write), so of N
 * executors accepting one job exactly one wins.
 */
import type { AccountId, AgentId, ApiKeyId, FileId, JobId, LeaseId } from "@agnt/domain/Ids"
import {
  ClaimedJob,
  Job,
  JobCancelRequestedData,
  JobClaimedData,
  JobCreatedData,
  JobEvent,
  JobFile,
  JobLeaseExpiredData,
  JobLogData,
  type JobParams,
  JobReportData,
  Lease,
  leaseExpiredReason,
  outcomeMessage
} from "@agnt/domain/Job"
import { allowedFrom, type JobStatus, terminalStatuses } from "@agnt/domain/Lifecycle"
import type { Page } from "@agnt/domain/Pagination"
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"

/** Whose jobs a query may see (OWASP API1): everything, one account's, or those of some agents. */
export type Visibility =
  | { readonly _tag: "All" }
  | { readonly _tag: "Account"; readonly accountId: AccountId }
  | { readonly _tag: "Agents"; readonly agentIds: ReadonlyArray<AgentId> }

/** A file row to insert; `storage_key` names its object. */
export interface NewJobFile {
  readonly file_id: FileId
  readonly path: string
  readonly size: number
  readonly mime: string
  readonly sha256: string
  readonly storage_key: string
}

/** A stored file with the key of its object. */
export interface StoredJobFile {
  readonly file: JobFile
  readonly storage_key: string
}

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

const decodeJobs = Schema.decodeUnknown(Schema.Array(Job))
const decodeLease = Schema.decodeUnknown(Lease)
const decodeEvents = Schema.decodeUnknown(Schema.Array(JobEvent))
const decodeFile = Schema.decodeUnknown(JobFile)
/** The failure reason of a job whose lease ran out. */
export const leaseExpired = leaseExpiredReason

/** `data` encoded by its domain schema, as the JSON text a `job_events.data` parameter takes (`::jsonb`). */
const eventData = <A, I>(schema: Schema.Schema<A, I>, data: NoInfer<A>): string => JSON.stringify(Schema.encodeSync(schema)(data))

/** The `data` of each kind of event this repository appends (`JobEvent` in domain), built here only. */
const eventPayload = {
  created: (files: number) => eventData(JobCreatedData, { files }),
  claimed: (executor_id: string) => eventData(JobClaimedData, { executor_id }),
  report: (report: typeof JobReportData.Type) => eventData(JobReportData, report),
  log: (lines: ReadonlyArray<string>) => eventData(JobLogData, { lines }),
  cancelRequested: eventData(JobCancelRequestedData, { cancel_requested: true }),
  leaseExpired: eventData(JobLeaseExpiredData, { reason: leaseExpiredReason })
} as const

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** Job rows: insert, find, list, transition, complete, files. */
export class JobsRepo extends Effect.Service<JobsRepo>()("@agnt/server/JobsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const jobSelect = sql.literal(`
      SELECT j.job_id, j.agent_id, j.account_id, j.status, j.prompt, j.params, j.progress, j.status_message, j.decision_reason,
             j.failure_reason, j.result, j.created_at, j.updated_at, j.started_at, j.completed_at,
             EXTRACT(EPOCH FROM (j.completed_at - j.started_at))::float8 AS duration_seconds,
             j.cancel_requested_at IS NOT NULL AS cancel_requested, j.lease_expires_at,
             COALESCE((
               SELECT json_agg(json_build_object(
                        'file_id', f.file_id, 'kind', f.kind, 'path', f.path, 'size', f.size, 'mime', f.mime,
                        'sha256', f.sha256, 'created_at', ${iso("f.created_at")}) ORDER BY f.path)
               FROM job_files f WHERE f.job_id = j.job_id AND f.kind = 'input'
             ), '[]'::json) AS input_files
      FROM jobs j`)

    const visible = (visibility: Visibility) => {
      const account = visibility._tag === "Account" ? visibility.accountId : null
      const agents = visibility._tag === "Agents" ? [...visibility.agentIds] : null
      return sql`(${account}::text IS NULL OR j.account_id = ${account}::text)
        AND (${agents}::text[] IS NULL OR j.agent_id = ANY(${agents}::text[]))`
    }

    const selectOne = (jobId: JobId, visibility: Visibility) =>
      sql`${jobSelect} WHERE j.job_id = ${jobId} AND ${visible(visibility)}`.pipe(
        Effect.flatMap(decodeJobs),
        Effect.map((jobs) => Option.fromNullable(jobs[0]))
      )

    const insertFiles = (jobId: JobId, kind: "input" | "result", files: ReadonlyArray<NewJobFile>) =>
      files.length === 0 ?
        Effect.void :
        sql`INSERT INTO job_files ${sql.insert(files.map((file) => ({ ...file, job_id: jobId, kind })))}`.pipe(Effect.asVoid)

    /**
     * The job an idempotency key of `accountId` made (with any of the
     * account's keys), with the hash of the request that made it.
     */
    const findIdempotent = Effect.fn("JobsRepo.findIdempotent")(function*(accountId: AccountId, idempotencyKey: string) {
      const rows = yield* sql<{ job_id: JobId; request_sha256: string }>`
        SELECT job_id, request_sha256 FROM idempotency_keys
        WHERE account_id = ${accountId} AND idempotency_key = ${idempotencyKey}`
      return Option.fromNullable(rows[0])
    }, Effect.orDie)

    /**
     * Insert a pending job with its input files, its first event and its
     * idempotency key, in one transaction.
     *
     * @fails IdempotencyTaken when another request took the idempotency key first (nothing is written).
     */
    const insert = Effect.fn("JobsRepo.insert")(
      function*(job: {
        readonly job_id: JobId
        readonly agent_id: AgentId
        /** The ordering account, which owns the job. */
        readonly account_id: AccountId
        /** The key that sent the order (a record; ownership is the account's). */
        readonly buyer_key_id: ApiKeyId
        readonly prompt: string
        readonly params: JobParams
        readonly files: ReadonlyArray<NewJobFile>
        readonly idempotency?: { readonly key: string; readonly request_sha256: string } | undefined
      }) {
        yield* sql`
        INSERT INTO jobs (job_id, agent_id, account_id, buyer_key_id, status, prompt, params)
        VALUES (${job.job_id}, ${job.agent_id}, ${job.account_id}, ${job.buyer_key_id}, 'pending', ${job.prompt},
                ${JSON.stringify(job.params)}::jsonb)`
        if (job.idempotency !== undefined) {
          const taken = yield* sql`
          INSERT INTO idempotency_keys (account_id, key_id, idempotency_key, request_sha256, job_id)
          VALUES (${job.account_id}, ${job.buyer_key_id}, ${job.idempotency.key}, ${job.idempotency.request_sha256}, ${job.job_id})
          ON CONFLICT DO NOTHING RETURNING job_id`
          if (taken.length === 0) return yield* Effect.fail({ _tag: "IdempotencyTaken" } as const)
        }
        yield* insertFiles(job.job_id, "input", job.files)
        yield* sql`
        INSERT INTO job_events (job_id, type, status, data)
        VALUES (${job.job_id}, 'status', 'pending', ${eventPayload.created(job.files.length)}::jsonb)`
        const created = yield* selectOne(job.job_id, { _tag: "All" })
        return yield* Effect.orDieWith(created, () => new Error(`job ${job.job_id} vanished after insert`))
      },
      sql.withTransaction,
      (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die })
    )

    /** The job if `visibility` lets the caller see it. */
    const findById = Effect.fn("JobsRepo.findById")(function*(jobId: JobId, visibility: Visibility) {
      return yield* selectOne(jobId, visibility)
    }, Effect.orDie)

    /** A page of visible jobs, newest first, after the job id `cursor`. */
    const list = Effect.fn("JobsRepo.list")(function*(params: {
      readonly visibility: Visibility
      readonly status?: JobStatus | undefined
      readonly agent_id?: AgentId | undefined
      readonly limit: number
      readonly cursor?: JobId | undefined
    }) {
      const rows = yield* sql`${jobSelect}
        WHERE ${visible(params.visibility)}
          AND (${params.status ?? null}::text IS NULL OR j.status = ${params.status ?? null}::text)
          AND (${params.agent_id ?? null}::text IS NULL OR j.agent_id = ${params.agent_id ?? null}::text)
          AND (${params.cursor ?? null}::text IS NULL OR j.job_id < ${params.cursor ?? null}::text)
        ORDER BY j.job_id DESC LIMIT ${params.limit + 1}`
      const jobs = yield* decodeJobs(rows)
      const data = jobs.slice(0, params.limit)
      const last = data[data.length - 1]
      return { data, next_cursor: jobs.length > params.limit && last ? last.job_id : null } satisfies Page<Job>
    }, Effect.orDie)

    /** Pending jobs of an agent, oldest first. */
    const listPending = Effect.fn("JobsRepo.listPending")(function*(agentId: AgentId, limit: number) {
      const rows = yield* sql`${jobSelect}
        WHERE j.agent_id = ${agentId} AND j.status = 'pending' ORDER BY j.job_id ASC LIMIT ${limit}`
      return yield* decodeJobs(rows)
    }, Effect.orDie)

    /**
     * Why `jobId` refused a change allowed only from `from` for a caller
     * holding `mode`'s lease: not visible, in another state, or — in an
     * allowed state — held under another lease.
     */
    const refusalOf = (jobId: JobId, visibility: Visibility, mode: LeaseMode, from: ReadonlyArray<JobStatus>) =>
      Effect.gen(function*() {
        const rows = yield* sql<{ status: JobStatus; lease_id: string | null }>`
          SELECT j.status, j.lease_id FROM jobs j WHERE j.job_id = ${jobId} AND ${visible(visibility)}`
        const row = rows[0]
        if (row === undefined) return { _tag: "NotFound" } satisfies TransitionRefusal
        if (mode._tag === "require" && row.lease_id !== mode.leaseId && (from.includes(row.status) || row.lease_id !== null)) {
          return { _tag: "LeaseLost" } satisfies TransitionRefusal
        }
        return { _tag: "WrongStatus", status: row.status } satisfies TransitionRefusal
      })

    /** The job with its current lease (for its holder). */
    const claimed = (jobId: JobId) =>
      Effect.gen(function*() {
        const job = yield* Effect.flatMap(selectOne(jobId, { _tag: "All" }), (found) =>
          Effect.orDieWith(found, () => new Error(`job ${jobId} vanished`)))
        const rows = yield* sql`
          SELECT lease_id, COALESCE(lease_expires_at, now()) AS lease_expires_at,
                 cancel_requested_at IS NOT NULL AS cancel_requested
          FROM jobs WHERE job_id = ${jobId}`
        return new ClaimedJob({ job, lease: yield* decodeLease({ ...rows[0], lease_id: rows[0]?.["lease_id"] ?? "" }) })
      })

    /**
     * Move a visible job to `to` if the lifecycle allows it from its current
     * state (and, with `require`, the caller holds its lease), recording
     * progress, message and reason, renewing or making the lease, and
     * appending the event — one statement. `reason` becomes the
     * `decision_reason` of an accepted or rejected job and the
     * `failure_reason` of a failed or canceled one; a job that ends gets its
     * outcome (`outcomeMessage`) as `status_message`, a running one the
     * reported `message`.
     */
    const transition = Effect.fn("JobsRepo.transition")(
      function*(params: {
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
        /** Completing: how many result files the job ends with (for its outcome message). */
        readonly resultFiles?: number | undefined
        /** Completing: the job's structured result, when it has one. */
        readonly result?: Option.Option<unknown> | undefined
      }) {
        const { jobId, to } = params
        const from = allowedFrom(to).filter((status) => params.from === undefined || params.from.includes(status))
        const terminal = [...terminalStatuses]
        const progress = params.progress ?? null
        const message = params.message ?? null
        const reason = params.reason ?? null
        const statusMessage = Option.getOrElse(outcomeMessage(to, { reason, files: params.resultFiles }), () => message)
        const decisionReason = to === "accepted" || to === "rejected" ? reason : null
        const failureReason = to === "failed" || to === "canceled" ? reason : null
        const result = Option.match(params.result ?? Option.none(), { onNone: () => null, onSome: (value) => JSON.stringify(value) })
        const mode = params.lease._tag
        const leaseId = params.lease._tag === "none" ? null : params.lease.leaseId
        const executorId = params.lease._tag === "create" ? params.lease.executorId ?? null : null
        const data = eventPayload.report({
          ...(progress === null ? {} : { progress }),
          ...(message === null ? {} : { message }),
          ...(reason === null ? {} : { reason })
        })
        const rows = yield* sql`
        WITH prior AS (
          SELECT job_id, status FROM jobs WHERE job_id = ${jobId} FOR UPDATE
        ), updated AS (
          UPDATE jobs j SET
            status = ${to}::text,
            updated_at = now(),
            started_at = CASE WHEN ${to}::text = 'running' THEN COALESCE(j.started_at, now()) ELSE j.started_at END,
            completed_at = CASE WHEN ${to}::text = ANY(${terminal}::text[]) THEN now() ELSE j.completed_at END,
            progress = CASE WHEN ${to}::text = 'completed' THEN 100 ELSE COALESCE(${progress}::float8, j.progress) END,
            status_message = COALESCE(${statusMessage}::text, j.status_message),
            decision_reason = COALESCE(${decisionReason}::text, j.decision_reason),
            failure_reason = COALESCE(${failureReason}::text, j.failure_reason),
            result = COALESCE(${result}::jsonb, j.result),
            executor_key_id = COALESCE(j.executor_key_id, ${params.executorKeyId ?? null}::text),
            executor_id = COALESCE(${executorId}::text, j.executor_id),
            lease_id = CASE WHEN ${mode}::text = 'create' THEN ${leaseId}::text ELSE j.lease_id END,
            lease_expires_at = CASE
              WHEN ${to}::text = ANY(${terminal}::text[]) THEN NULL
              WHEN ${mode}::text = 'none' THEN j.lease_expires_at
              ELSE now() + make_interval(secs => ${params.leaseSeconds}) END
          FROM prior
          WHERE j.job_id = prior.job_id AND j.status = ANY(${from}::text[]) AND ${visible(params.visibility)}
            AND (${mode}::text <> 'require' OR j.lease_id = ${leaseId}::text)
          RETURNING j.job_id, j.status, prior.status AS prior_status
        )
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, CASE WHEN prior_status = status THEN 'progress' ELSE 'status' END, status, ${data}::jsonb
        FROM updated
        RETURNING job_id`
        if (rows.length === 0) return yield* Effect.fail(yield* refusalOf(jobId, params.visibility, params.lease, from))
        return yield* claimed(jobId)
      },
      (effect) => Effect.catchTag(effect, "SqlError", Effect.die),
      (effect) => Effect.catchTag(effect, "ParseError", Effect.die)
    )

    /**
     * Hand the oldest pending job of `agentId` to one caller (`FOR UPDATE
     * SKIP LOCKED`: concurrent claims never get the same job) with a new
     * lease; `None` when there is none. Records the executor as seen.
     */
    const claimNext = Effect.fn("JobsRepo.claimNext")(function*(params: {
      readonly agentId: AgentId
      readonly executorId: string
      readonly executorKeyId: ApiKeyId
      readonly leaseId: LeaseId
      readonly leaseSeconds: number
    }) {
      const rows = yield* sql<{ job_id: JobId }>`
        WITH next AS (
          SELECT job_id FROM jobs
          WHERE agent_id = ${params.agentId} AND status = 'pending'
          ORDER BY job_id LIMIT 1
          FOR UPDATE SKIP LOCKED
        ), updated AS (
          UPDATE jobs j SET status = 'accepted', updated_at = now(),
            executor_key_id = ${params.executorKeyId}, executor_id = ${params.executorId},
            lease_id = ${params.leaseId}, lease_expires_at = now() + make_interval(secs => ${params.leaseSeconds})
          FROM next WHERE j.job_id = next.job_id
          RETURNING j.job_id, j.status
        )
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', status, ${eventPayload.claimed(params.executorId)}::jsonb FROM updated
        RETURNING job_id`
      const claimedId = rows[0]?.job_id
      return claimedId === undefined ? Option.none<ClaimedJob>() : Option.some(yield* claimed(claimedId))
    }, Effect.orDie)

    /** Record that an executor process of `agentId` called just now. */
    const seen = Effect.fn("JobsRepo.seen")(function*(executorId: string, agentId: AgentId, keyId: ApiKeyId) {
      yield* sql`
        INSERT INTO executors (executor_id, agent_id, key_id) VALUES (${executorId}, ${agentId}, ${keyId})
        ON CONFLICT (executor_id) DO UPDATE SET last_seen_at = now(), agent_id = EXCLUDED.agent_id`
    }, Effect.orDie)

    /**
     * Renew the caller's lease on an accepted or running job, and append
     * `lines` as a log event when there are any.
     */
    const renew = Effect.fn("JobsRepo.renew")(
      function*(params: {
        readonly jobId: JobId
        readonly visibility: Visibility
        readonly leaseId: LeaseId
        readonly leaseSeconds: number
        readonly lines?: ReadonlyArray<string> | undefined
      }) {
        const lines = params.lines ?? []
        const rows = yield* sql`
        WITH renewed AS (
          UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => ${params.leaseSeconds})
          WHERE j.job_id = ${params.jobId} AND j.status IN ('accepted', 'running')
            AND j.lease_id = ${params.leaseId} AND ${visible(params.visibility)}
          RETURNING j.job_id, j.status, j.executor_id, j.lease_id, j.lease_expires_at,
                    j.cancel_requested_at IS NOT NULL AS cancel_requested
        ), logged AS (
          INSERT INTO job_events (job_id, type, status, data)
          SELECT job_id, 'log', status, ${eventPayload.log(lines)}::jsonb FROM renewed WHERE ${lines.length} > 0
        ), presence AS (
          UPDATE executors e SET last_seen_at = now() FROM renewed WHERE e.executor_id = renewed.executor_id
        )
        SELECT lease_id, lease_expires_at, cancel_requested FROM renewed`
        if (rows[0] === undefined) {
          return yield* Effect.fail(
            yield* refusalOf(params.jobId, params.visibility, { _tag: "require", leaseId: params.leaseId }, ["accepted", "running"])
          )
        }
        return yield* decodeLease(rows[0])
      },
      (effect) => Effect.catchTag(effect, "SqlError", Effect.die),
      (effect) => Effect.catchTag(effect, "ParseError", Effect.die)
    )

    /**
     * A buyer's cancel: a pending job becomes `canceled` at once; an
     * accepted or running one is marked `cancel_requested` (its holder
     * learns on its next call). Yields the job after the change.
     */
    const cancel = Effect.fn("JobsRepo.cancel")(function*(jobId: JobId, visibility: Visibility) {
      const pending = yield* transition({
        jobId,
        visibility,
        to: "canceled",
        from: ["pending"],
        lease: { _tag: "none" },
        leaseSeconds: 0,
        reason: "canceled by the buyer"
      }).pipe(Effect.option)
      if (Option.isSome(pending)) return pending.value.job
      const rows = yield* sql`
        WITH requested AS (
          UPDATE jobs j SET cancel_requested_at = COALESCE(j.cancel_requested_at, now()), updated_at = now()
          WHERE j.job_id = ${jobId} AND j.status IN ('accepted', 'running') AND ${visible(visibility)}
          RETURNING j.job_id, j.status
        )
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', status, ${eventPayload.cancelRequested}::jsonb FROM requested
        RETURNING job_id`.pipe(Effect.orDie)
      if (rows.length === 0) {
        return yield* Effect.fail(yield* refusalOf(jobId, visibility, { _tag: "none" }, ["accepted", "running"]).pipe(Effect.orDie))
      }
      return yield* Effect.flatMap(selectOne(jobId, visibility), (found) => Effect.orDieWith(found, () => new Error("vanished"))).pipe(
        Effect.orDie
      )
    })

    /**
     * Fail (or, when a cancel was requested, cancel) every accepted or
     * running job whose lease expired, with reason `lease_expired`; one
     * statement, safe with several servers. Yields the ended job ids.
     */
    const reapExpired = Effect.fn("JobsRepo.reapExpired")(function*() {
      const failed = Option.getOrThrow(outcomeMessage("failed", { reason: leaseExpired }))
      const canceled = Option.getOrThrow(outcomeMessage("canceled"))
      const rows = yield* sql<{ job_id: JobId }>`
        WITH expired AS (
          UPDATE jobs j SET
            status = CASE WHEN j.cancel_requested_at IS NULL THEN 'failed' ELSE 'canceled' END,
            failure_reason = CASE WHEN j.cancel_requested_at IS NULL THEN ${leaseExpired}::text ELSE j.failure_reason END,
            status_message = CASE WHEN j.cancel_requested_at IS NULL THEN ${failed}::text ELSE ${canceled}::text END,
            completed_at = now(), updated_at = now(), lease_expires_at = NULL
          WHERE j.status IN ('accepted', 'running') AND j.lease_expires_at < now()
          RETURNING j.job_id, j.status
        )
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', status, ${eventPayload.leaseExpired}::jsonb FROM expired
        RETURNING job_id`
      return rows.map((row) => row.job_id)
    }, Effect.orDie)

    /** A page of a visible job's events after event id `after`, oldest first; `None` when the job is not visible. */
    const events = Effect.fn("JobsRepo.events")(function*(jobId: JobId, visibility: Visibility, after: number, limit: number) {
      const jobs = yield* sql<{ status: JobStatus }>`SELECT j.status FROM jobs j WHERE j.job_id = ${jobId} AND ${visible(visibility)}`
      const job = jobs[0]
      if (job === undefined) return Option.none()
      const rows = yield* sql`
        SELECT event_id, job_id, type, status, data, created_at FROM job_events
        WHERE job_id = ${jobId} AND event_id > ${after} ORDER BY event_id LIMIT ${limit}`
      return Option.some({ status: job.status, data: yield* decodeEvents(rows) })
    }, Effect.orDie)

    /** Record result files and the structured result, and complete a running job held with `leaseId`, in one transaction. */
    const complete = (params: {
      readonly jobId: JobId
      readonly visibility: Visibility
      readonly leaseId: LeaseId
      readonly files: ReadonlyArray<NewJobFile>
      readonly message?: string | undefined
      readonly result: Option.Option<unknown>
    }) =>
      Effect.gen(function*() {
        const result = yield* transition({
          ...params,
          to: "completed",
          lease: { _tag: "require", leaseId: params.leaseId },
          leaseSeconds: 0,
          resultFiles: params.files.length
        })
        yield* insertFiles(params.jobId, "result", params.files).pipe(Effect.orDie)
        return result.job
      }).pipe(sql.withTransaction, (effect) => Effect.catchTag(effect, "SqlError", Effect.die), Effect.withSpan("JobsRepo.complete"))

    /**
     * A completed job's result manifest: path → sha256, to tell a retried
     * `complete` (same files) from a conflicting one.
     */
    const resultManifest = Effect.fn("JobsRepo.resultManifest")(function*(jobId: JobId) {
      const rows = yield* sql<{ path: string; sha256: string }>`
        SELECT path, sha256 FROM job_files WHERE job_id = ${jobId} AND kind = 'result' ORDER BY path`
      return rows.map((row) => `${row.path}:${row.sha256}`)
    }, Effect.orDie)

    /** The lease id a job was last held under (kept after it ends), or `None`. */
    const leaseIdOf = Effect.fn("JobsRepo.leaseIdOf")(function*(jobId: JobId, visibility: Visibility) {
      const rows = yield* sql<{ lease_id: string | null }>`SELECT j.lease_id FROM jobs j WHERE j.job_id = ${jobId} AND ${
        visible(visibility)
      }`
      return Option.fromNullable(rows[0]?.lease_id)
    }, Effect.orDie)

    /** A job's files of `kind`, by path. */
    const files = Effect.fn("JobsRepo.files")(function*(jobId: JobId, kind: "input" | "result") {
      const rows = yield* sql`
        SELECT file_id, kind, path, size, mime, sha256, created_at, storage_key
        FROM job_files WHERE job_id = ${jobId} AND kind = ${kind} ORDER BY path`
      return yield* Effect.forEach(
        rows,
        (row) => Effect.map(decodeFile(row), (file): StoredJobFile => ({ file, storage_key: String(row["storage_key"]) }))
      )
    }, Effect.orDie)

    /** One file of a job. */
    const findFile = Effect.fn("JobsRepo.findFile")(function*(jobId: JobId, fileId: FileId) {
      const rows = yield* sql`
        SELECT file_id, kind, path, size, mime, sha256, created_at, storage_key
        FROM job_files WHERE job_id = ${jobId} AND file_id = ${fileId}`
      const row = rows[0]
      if (row === undefined) return Option.none<StoredJobFile>()
      return Option.some<StoredJobFile>({ file: yield* decodeFile(row), storage_key: String(row["storage_key"]) })
    }, Effect.orDie)

    return {
      findIdempotent,
      insert,
      resultManifest,
      leaseIdOf,
      findById,
      list,
      listPending,
      transition,
      claimNext,
      seen,
      renew,
      cancel,
      reapExpired,
      events,
      complete,
      files,
      findFile
    } as const
  })
}) {}
