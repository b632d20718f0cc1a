/**
 * Jobs, their files and events in PostgreSQL: ordering (the job, its input
 * files, its first event and its idempotency key in one statement) and
 * reading (a job, pages of jobs, pending jobs, events, files), each row
 * decoded by its schema. Lifecycle changes are `LifecycleRepo`'s.
 */
import { JsonSchemaDocument } from "@agnt/domain/Agent"
import { AccountId, AgentId, ApiKeyId, FileId, JobId } from "@agnt/domain/Ids"
import { Job, JobCreatedData, JobEvent, JobParams } from "@agnt/domain/Job"
import { JobStatus } from "@agnt/domain/Lifecycle"
import type { Page } from "@agnt/domain/Pagination"
import { JobRepo } from "@agnt/domain/Repo"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { fileColumns, insertFiles, jobColumns, jobColumnsWith, NewJobFile, StoredJobFileRow, Visibility, visible } from "./Sql.js"

/** A pending job to insert, with its input files and, when the order sent one, its idempotency key. */
export const NewJob = Schema.Struct({
  job_id: JobId,
  agent_id: AgentId,
  /** The ordering account, which owns the job. */
  account_id: AccountId,
  /** The key that sent the order (a record; ownership is the account's). */
  buyer_key_id: ApiKeyId,
  prompt: Schema.String,
  params: Schema.parseJson(JobParams),
  files: Schema.Array(NewJobFile),
  /** For a repo job, where its files came from (stored as JSON). */
  repo: Schema.NullOr(Schema.parseJson(JobRepo)),
  /** The job it was ordered from, already checked visible to the orderer. */
  parent_job_id: Schema.NullOr(JobId),
  idempotency: Schema.NullOr(Schema.Struct({ key: Schema.String, request_sha256: Schema.String })),
  /** The agent's `input_schema` the params were validated against. */
  input_schema: Schema.parseJson(JsonSchemaDocument),
  data: Schema.parseJson(JobCreatedData)
})

/**
 * The job, its input files, its first event and its idempotency key, in one
 * statement that yields the job; inserts nothing (and yields no row) when
 * the idempotency key was taken first, or when the agent is gone or its
 * `input_schema` is no longer the one the params were validated against.
 */
const insertStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: NewJob,
    Result: Job,
    execute: (r) =>
      sql`
      WITH agent AS (
        SELECT agent_id, max_attempts FROM agents WHERE agent_id = ${r.agent_id} AND input_schema = ${r.input_schema}::jsonb
      ), idempotency AS (
        INSERT INTO idempotency_keys (account_id, key_id, idempotency_key, request_sha256, job_id)
        SELECT ${r.account_id}, ${r.buyer_key_id}, ${r.idempotency?.key ?? null}::text,
               ${r.idempotency?.request_sha256 ?? null}::text, ${r.job_id}
        FROM agent WHERE ${r.idempotency !== null}::boolean
        ON CONFLICT DO NOTHING RETURNING job_id
      ), inserted AS (
        INSERT INTO jobs (job_id, agent_id, account_id, buyer_key_id, status, prompt, params, max_attempts, repo, parent_job_id)
        SELECT ${r.job_id}, agent.agent_id, ${r.account_id}, ${r.buyer_key_id}, 'pending', ${r.prompt}, ${r.params}::jsonb,
               agent.max_attempts, ${r.repo}::jsonb, ${r.parent_job_id}
        FROM agent WHERE ${r.idempotency === null}::boolean OR EXISTS (SELECT 1 FROM idempotency)
        RETURNING *
      ), stored AS (
        ${insertFiles(sql, "inserted", "input", r.files)}
      ), logged AS (
        INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', 'pending', ${r.data}::jsonb FROM inserted
      )
      SELECT ${sql.literal(jobColumnsWith("stored f"))} FROM inserted j`
  })

const findByIdStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ job_id: JobId, visibility: Visibility }),
    Result: Job,
    execute: (r) => sql`SELECT ${sql.literal(jobColumns)} FROM jobs j WHERE j.job_id = ${r.job_id} AND ${visible(sql, r.visibility)}`
  })

/** A page request of `list`: the visible jobs, optionally of one status, agent or parent job, after the job id `cursor`. */
const ListRequest = Schema.Struct({
  visibility: Visibility,
  status: Schema.optional(JobStatus),
  agent_id: Schema.optional(AgentId),
  parent_job_id: Schema.optional(JobId),
  limit: Schema.Number,
  cursor: Schema.optional(JobId)
})

/** `limit + 1` rows, to tell whether there is a next page. */
const listStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: ListRequest,
    Result: Job,
    execute: (r) =>
      sql`SELECT ${sql.literal(jobColumns)} FROM jobs j
      WHERE ${visible(sql, r.visibility)}
        AND (${r.status ?? null}::text IS NULL OR j.status = ${r.status ?? null}::text)
        AND (${r.agent_id ?? null}::text IS NULL OR j.agent_id = ${r.agent_id ?? null}::text)
        AND (${r.parent_job_id ?? null}::text IS NULL OR j.parent_job_id = ${r.parent_job_id ?? null}::text)
        AND (${r.cursor ?? null}::text IS NULL OR j.job_id < ${r.cursor ?? null}::text)
      ORDER BY j.job_id DESC LIMIT ${r.limit + 1}`
  })

const listPendingStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.Struct({ agent_id: AgentId, limit: Schema.Number }),
    Result: Job,
    execute: (r) =>
      sql`SELECT ${sql.literal(jobColumns)} FROM jobs j
      WHERE j.agent_id = ${r.agent_id} AND j.status = 'pending' AND (j.retry_at IS NULL OR j.retry_at <= now())
      ORDER BY j.job_id ASC LIMIT ${r.limit}`
  })

/** A page of a job's events after event id `after`, with the job's status (no row: the job is not visible). */
const eventsStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ job_id: JobId, visibility: Visibility, after: Schema.Number, limit: Schema.Number }),
    Result: Schema.Struct({ status: JobStatus, data: Schema.Array(JobEvent) }),
    execute: (r) =>
      sql`
      SELECT j.status, COALESCE((
        SELECT json_agg(e ORDER BY e.event_id) FROM (
          SELECT event_id, job_id, type, status, data, created_at FROM job_events
          WHERE job_id = j.job_id AND event_id > ${r.after} ORDER BY event_id LIMIT ${r.limit}
        ) e
      ), '[]'::json) AS data
      FROM jobs j WHERE j.job_id = ${r.job_id} AND ${visible(sql, r.visibility)}`
  })

const filesStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.Struct({ job_id: JobId, kind: Schema.Literal("input", "result") }),
    Result: StoredJobFileRow,
    execute: (r) => sql`SELECT ${sql.literal(fileColumns)} FROM job_files WHERE job_id = ${r.job_id} AND kind = ${r.kind} ORDER BY path`
  })

const findFileStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ job_id: JobId, file_id: FileId }),
    Result: StoredJobFileRow,
    execute: (r) => sql`SELECT ${sql.literal(fileColumns)} FROM job_files WHERE job_id = ${r.job_id} AND file_id = ${r.file_id}`
  })

const findIdempotentStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Struct({ account_id: AccountId, key: Schema.String }),
    Result: Schema.Struct({ job_id: JobId, request_sha256: Schema.String }),
    execute: (r) =>
      sql`SELECT job_id, request_sha256 FROM idempotency_keys WHERE account_id = ${r.account_id} AND idempotency_key = ${r.key}`
  })

/** Job rows: insert, find, list, events, files. */
export class JobsRepo extends Effect.Service<JobsRepo>()("@agnt/server/JobsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [insertRow, findRow, listRows, pendingRows, eventsRow] = [
      insertStatement(sql),
      findByIdStatement(sql),
      listStatement(sql),
      listPendingStatement(sql),
      eventsStatement(sql)
    ]
    const [fileRows, fileRow, idempotentRow] = [filesStatement(sql), findFileStatement(sql), findIdempotentStatement(sql)]

    /** The job if `visibility` lets the caller see it. */
    const findById = Effect.fnUntraced(function*(jobId: JobId, visibility: Visibility) {
      return yield* findRow({ job_id: jobId, visibility })
    }, Effect.orDie)

    /**
     * Insert a pending job with its input files, its first event and its
     * idempotency key (one statement) and yield it; `None` when nothing was
     * written: the idempotency key was taken first, or the agent is gone or
     * has another `input_schema` than `job.input_schema`.
     */
    const insert = Effect.fnUntraced(function*(job: Omit<typeof NewJob.Type, "data">) {
      const rows = yield* insertRow({ ...job, data: { files: job.files.length } })
      return Option.fromNullable(rows[0])
    }, Effect.orDie)

    /** A page of visible jobs, newest first, after the job id `cursor`. */
    const list = Effect.fnUntraced(function*(params: typeof ListRequest.Type) {
      const jobs = yield* listRows(params)
      const data = jobs.slice(0, params.limit)
      const last = data[data.length - 1]
      return { data, next_cursor: jobs.length > params.limit && last ? last.job_id : null } satisfies Page<Job>
    }, Effect.orDie)

    return {
      insert,
      findById,
      list,
      /** The job an idempotency key of `accountId` made (with any of the account's keys), with the hash of its request. */
      findIdempotent: Effect.fnUntraced(function*(accountId: AccountId, key: string) {
        return yield* idempotentRow({ account_id: accountId, key })
      }, Effect.orDie),
      /** Pending jobs of an agent, oldest first. */
      listPending: Effect.fnUntraced(function*(agentId: AgentId, limit: number) {
        return yield* pendingRows({ agent_id: agentId, limit })
      }, Effect.orDie),
      /** A page of a visible job's events after event id `after`, oldest first; `None` when the job is not visible. */
      events: Effect.fnUntraced(function*(jobId: JobId, visibility: Visibility, after: number, limit: number) {
        return yield* eventsRow({ job_id: jobId, visibility, after, limit })
      }, Effect.orDie),
      /** A job's files of `kind`, by path. */
      files: Effect.fnUntraced(function*(jobId: JobId, kind: "input" | "result") {
        return yield* fileRows({ job_id: jobId, kind })
      }, Effect.orDie),
      /** One file of a job. */
      findFile: Effect.fnUntraced(function*(jobId: JobId, fileId: FileId) {
        return yield* fileRow({ job_id: jobId, file_id: fileId })
      }, Effect.orDie)
    } as const
  })
}) {}
