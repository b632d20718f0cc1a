/**
 * Jobs, their files and events in PostgreSQL. Every lifecycle change is one
 * `UPDATE … WHERE job_id = $1 AND status = ANY($allowed_from)` that also
 * appends its `job_events` row in the same statement (DESIGN.md "Job
 * lifecycle": enforced atomically, never read-then-write), so of N
 * executors accepting one job exactly one wins.
 */
import type { ApiKeyId, AgentId, FileId, JobId } from "@agnt/domain/Ids"
import { Job, JobFile, type JobParams } from "@agnt/domain/Job"
import { allowedFrom, type JobStatus, terminalStatuses } from "@agnt/domain/Lifecycle"
import type { Page } from "@agnt/domain/Pagination"
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"

/** Whose jobs a query may see (OWASP API1): everything, one buyer's, or those of some agents. */
export type Visibility =
  | { readonly _tag: "All" }
  | { readonly _tag: "Buyer"; readonly keyId: ApiKeyId }
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

/** Why a transition did not happen: no visible job, or it is in `status`. */
export type TransitionRefusal =
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "WrongStatus"; readonly status: JobStatus }

const decodeJobs = Schema.decodeUnknown(Schema.Array(Job))
const decodeFile = Schema.decodeUnknown(JobFile)
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** Job rows: insert, find, list, transition, complete, files. */
export class JobsRepo extends Effect.Service<JobsRepo>()("@agnt/server/JobsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const jobSelect = sql.literal(`
      SELECT j.job_id, j.agent_id, j.status, j.prompt, j.params, j.progress, j.status_message, j.failure_reason,
             j.created_at, j.updated_at, j.started_at, j.completed_at,
             EXTRACT(EPOCH FROM (j.completed_at - j.started_at))::float8 AS duration_seconds,
             COALESCE((
               SELECT json_agg(json_build_object(
                        'file_id', f.file_id, 'kind', f.kind, 'path', f.path, 'size', f.size, 'mime', f.mime,
                        'sha256', f.sha256, 'created_at', ${iso("f.created_at")}) ORDER BY f.path)
               FROM job_files f WHERE f.job_id = j.job_id AND f.kind = 'input'
             ), '[]'::json) AS input_files
      FROM jobs j`)

    const visible = (visibility: Visibility) => {
      const buyer = visibility._tag === "Buyer" ? visibility.keyId : null
      const agents = visibility._tag === "Agents" ? [...visibility.agentIds] : null
      return sql`(${buyer}::text IS NULL OR j.buyer_key_id = ${buyer}::text)
        AND (${agents}::text[] IS NULL OR j.agent_id = ANY(${agents}::text[]))`
    }

    const selectOne = (jobId: JobId, visibility: Visibility) =>
      sql`${jobSelect} WHERE j.job_id = ${jobId} AND ${visible(visibility)}`.pipe(
        Effect.flatMap(decodeJobs),
        Effect.map((jobs) => Option.fromNullable(jobs[0]))
      )

    const insertFiles = (jobId: JobId, kind: "input" | "result", files: ReadonlyArray<NewJobFile>) =>
      files.length === 0 ? Effect.void : sql`INSERT INTO job_files ${
        sql.insert(files.map((file) => ({ ...file, job_id: jobId, kind })))
      }`.pipe(Effect.asVoid)

    /** Insert a pending job with its input files and its first event, in one transaction. */
    const insert = Effect.fn("JobsRepo.insert")(function*(job: {
      readonly job_id: JobId
      readonly agent_id: AgentId
      readonly buyer_key_id: ApiKeyId
      readonly prompt: string
      readonly params: JobParams
      readonly files: ReadonlyArray<NewJobFile>
    }) {
      yield* sql`
        INSERT INTO jobs (job_id, agent_id, buyer_key_id, status, prompt, params)
        VALUES (${job.job_id}, ${job.agent_id}, ${job.buyer_key_id}, 'pending', ${job.prompt},
                ${JSON.stringify(job.params)}::jsonb)`
      yield* insertFiles(job.job_id, "input", job.files)
      yield* sql`
        INSERT INTO job_events (job_id, type, status, data)
        VALUES (${job.job_id}, 'status', 'pending', ${JSON.stringify({ files: job.files.length })}::jsonb)`
      const created = yield* selectOne(job.job_id, { _tag: "All" })
      return yield* Effect.orDieWith(created, () => new Error(`job ${job.job_id} vanished after insert`))
    }, sql.withTransaction, Effect.orDie)

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
     * Move a visible job to `to` if the lifecycle allows it from its current
     * state, recording progress, message and reason, and append the event.
     */
    const transition = Effect.fn("JobsRepo.transition")(function*(params: {
      readonly jobId: JobId
      readonly visibility: Visibility
      readonly to: JobStatus
      readonly executorKeyId?: ApiKeyId | undefined
      readonly progress?: number | undefined
      readonly message?: string | undefined
      readonly reason?: string | undefined
    }) {
      const { jobId, to } = params
      const from = [...allowedFrom(to)]
      const terminal = [...terminalStatuses]
      const progress = params.progress ?? null
      const message = params.message ?? null
      const reason = params.reason ?? null
      const eventType = to === "running" && progress !== null ? "progress" : "status"
      const data = JSON.stringify({
        ...(progress === null ? {} : { progress }),
        ...(message === null ? {} : { message }),
        ...(reason === null ? {} : { reason })
      })
      const rows = yield* sql`
        WITH updated AS (
          UPDATE jobs j SET
            status = ${to}::text,
            updated_at = now(),
            started_at = CASE WHEN ${to}::text = 'running' THEN COALESCE(j.started_at, now()) ELSE j.started_at END,
            completed_at = CASE WHEN ${to}::text = ANY(${terminal}::text[]) THEN now() ELSE j.completed_at END,
            progress = CASE WHEN ${to}::text = 'completed' THEN 100 ELSE COALESCE(${progress}::float8, j.progress) END,
            status_message = COALESCE(${message}::text, j.status_message),
            failure_reason = COALESCE(${reason}::text, j.failure_reason),
            executor_key_id = COALESCE(j.executor_key_id, ${params.executorKeyId ?? null}::text)
          WHERE j.job_id = ${jobId} AND j.status = ANY(${from}::text[]) AND ${visible(params.visibility)}
          RETURNING j.job_id, j.status
        )
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, ${eventType}, status, ${data}::jsonb FROM updated
        RETURNING job_id`
      if (rows.length === 0) {
        const current = yield* selectOne(jobId, params.visibility)
        return yield* Effect.fail<TransitionRefusal>(
          Option.match(current, {
            onNone: () => ({ _tag: "NotFound" }),
            onSome: (job) => ({ _tag: "WrongStatus", status: job.status })
          })
        )
      }
      const job = yield* selectOne(jobId, { _tag: "All" })
      return yield* Effect.orDieWith(job, () => new Error(`job ${jobId} vanished after update`))
    }, (effect) => Effect.catchTag(effect, "SqlError", Effect.die), (effect) => Effect.catchTag(effect, "ParseError", Effect.die))

    /** Record result files and complete a running job, in one transaction. */
    const complete = (params: {
      readonly jobId: JobId
      readonly visibility: Visibility
      readonly files: ReadonlyArray<NewJobFile>
      readonly message?: string | undefined
    }) =>
      Effect.gen(function*() {
        const job = yield* transition({ ...params, to: "completed" })
        yield* insertFiles(params.jobId, "result", params.files).pipe(Effect.orDie)
        return job
      }).pipe(sql.withTransaction, (effect) => Effect.catchTag(effect, "SqlError", Effect.die), Effect.withSpan("JobsRepo.complete"))

    /** A job's files of `kind`, by path. */
    const files = Effect.fn("JobsRepo.files")(function*(jobId: JobId, kind: "input" | "result") {
      const rows = yield* sql`
        SELECT file_id, kind, path, size, mime, sha256, created_at, storage_key
        FROM job_files WHERE job_id = ${jobId} AND kind = ${kind} ORDER BY path`
      return yield* Effect.forEach(rows, (row) =>
        Effect.map(decodeFile(row), (file): StoredJobFile => ({ file, storage_key: String(row["storage_key"]) })))
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

    return { insert, findById, list, listPending, transition, complete, files, findFile } as const
  })
}) {}
