/**
 * What the job repositories share: who may see a job (`Visibility` and its
 * SQL condition), the columns of a job row, and the row schemas that decode
 * rows into domain values (`SqlSchema` results): a job, a job with its
 * holder's lease, a stored file.
 */
import { AccountId, AgentId, FileId, JobId, LeaseId } from "@agnt/domain/Ids"
import { ClaimedJob, Job, JobFile, Lease } from "@agnt/domain/Job"
import type { SqlClient } from "@effect/sql"
import { Schema } from "effect"

/** Whose jobs a query may see (OWASP API1): everything, one account's, one account's children of one job, or those of some agents. */
export const Visibility = Schema.Union(
  Schema.TaggedStruct("All", {}),
  Schema.TaggedStruct("Account", { accountId: AccountId }),
  Schema.TaggedStruct("Children", { accountId: AccountId, parentJobId: JobId }),
  Schema.TaggedStruct("Agents", { agentIds: Schema.Array(AgentId) })
)
export type Visibility = typeof Visibility.Type

/** The condition on `jobs j` that keeps the rows `visibility` may see. */
export const visible = (sql: SqlClient.SqlClient, visibility: typeof Visibility.Encoded) => {
  const account = visibility._tag === "Account" || visibility._tag === "Children" ? visibility.accountId : null
  const parent = visibility._tag === "Children" ? visibility.parentJobId : null
  const agents = visibility._tag === "Agents" ? [...visibility.agentIds] : null
  return sql`(${account}::text IS NULL OR j.account_id = ${account}::text)
        AND (${parent}::text IS NULL OR j.parent_job_id = ${parent}::text)
        AND (${agents}::text[] IS NULL OR j.agent_id = ANY(${agents}::text[]))`
}

/** A `timestamptz` column as RFC 3339 UTC text with milliseconds, as `Schema.DateTimeUtc` decodes it. */
export const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * The columns of a `Job` from a row `j` of `jobs` (or of an
 * `UPDATE jobs … RETURNING j.*`), its input files those of `inputFiles`:
 * rows `f` with the columns of `job_files`, the job's stored input files
 * unless a statement inserting them names its own (a statement does not
 * see its own inserts).
 */
export const jobColumnsWith = (inputFiles: string) => `
  j.job_id, j.agent_id, j.account_id, j.status, j.prompt, j.params, j.progress, j.status_message, j.decision_reason,
  j.failure_reason, j.result, j.created_at, j.updated_at, j.started_at, j.completed_at,
  EXTRACT(EPOCH FROM (j.completed_at - j.started_at))::float8 AS duration_seconds,
  j.cancel_requested_at IS NOT NULL AS cancel_requested, j.lease_expires_at, j.attempt, j.max_attempts, j.retry_at,
  j.repo, j.parent_job_id,
  COALESCE((
    SELECT json_agg(json_build_object(
             'file_id', f.file_id, 'kind', f.kind, 'path', f.path, 'size', f.size, 'mime', f.mime,
             'sha256', f.sha256, 'created_at', ${iso("f.created_at")}) ORDER BY f.path)
    FROM ${inputFiles}
  ), '[]'::json) AS input_files`

/** The columns of a `Job` from a row `j` of `jobs`, its input files included. */
export const jobColumns = jobColumnsWith("job_files f WHERE f.job_id = j.job_id AND f.kind = 'input'")

/** `jobColumns` and the holder's lease: its id (`''` when none was made) and expiry (now when none is set). */
export const claimedColumns = `${jobColumns},
  COALESCE(j.lease_id, '') AS lease_id, COALESCE(j.lease_expires_at, now()) AS lease_until`

/** A row of `claimedColumns`, decoded into the job and its lease. */
export const ClaimedJobRow = Schema.transform(
  Schema.Struct({ ...Job.fields, lease_id: LeaseId, lease_until: Schema.DateTimeUtc }),
  Schema.typeSchema(ClaimedJob),
  {
    strict: true,
    decode: ({ lease_id, lease_until, ...job }) =>
      new ClaimedJob({
        job: new Job(job),
        lease: new Lease({ lease_id, lease_expires_at: lease_until, cancel_requested: job.cancel_requested })
      }),
    encode: ({ job, lease }) => ({ ...job, lease_id: lease.lease_id, lease_until: lease.lease_expires_at })
  }
)

/** A file row to insert; `storage_key` names its object. */
export const NewJobFile = Schema.Struct({
  file_id: FileId,
  path: Schema.String,
  size: Schema.NonNegativeInt,
  mime: Schema.String,
  sha256: Schema.String,
  storage_key: Schema.String
})
export type NewJobFile = typeof NewJobFile.Type

/**
 * The `INSERT` of `files` as the `kind` files of the job of each row of
 * `source` (a CTE with a `job_id`), for a data-modifying CTE: one row per
 * file, none when `source` has no row.
 */
export const insertFiles = (
  sql: SqlClient.SqlClient,
  source: string,
  kind: "input" | "result",
  files: ReadonlyArray<typeof NewJobFile.Encoded>
) =>
  sql`INSERT INTO job_files (file_id, job_id, kind, path, size, mime, sha256, storage_key)
        SELECT f.file_id, s.job_id, ${kind}, f.path, f.size, f.mime, f.sha256, f.storage_key
        FROM ${sql.literal(source)} s, unnest(${files.map((f) => f.file_id)}::text[], ${files.map((f) => f.path)}::text[],
          ${files.map((f) => f.size)}::bigint[], ${files.map((f) => f.mime)}::text[],
          ${files.map((f) => f.sha256)}::text[], ${files.map((f) => f.storage_key)}::text[]
        ) AS f(file_id, path, size, mime, sha256, storage_key)
        RETURNING file_id, kind, path, size, mime, sha256, created_at`

/**
 * The `INSERT` of a `status` event with `data` (JSON text) for each row of
 * `source` (a CTE with `job_id` and the new `status`), for a
 * data-modifying CTE.
 */
export const appendStatusEvent = (sql: SqlClient.SqlClient, source: string, data: string) =>
  sql`INSERT INTO job_events (job_id, type, status, data)
        SELECT job_id, 'status', status, ${data}::jsonb FROM ${sql.literal(source)}`

/** A stored file with the key of its object. */
export const StoredJobFile = Schema.Struct({ file: JobFile, storage_key: Schema.String })
export type StoredJobFile = typeof StoredJobFile.Type

/** A `job_files` row (`file_id, kind, path, size, mime, sha256, created_at, storage_key`), decoded. */
export const StoredJobFileRow = Schema.transform(
  Schema.Struct({ ...JobFile.fields, storage_key: Schema.String }),
  Schema.typeSchema(StoredJobFile),
  {
    strict: true,
    decode: ({ storage_key, ...file }) => ({ file: new JobFile(file), storage_key }),
    encode: ({ file, storage_key }) => ({ ...file, storage_key })
  }
)

/** The columns of `StoredJobFileRow`. */
export const fileColumns = "file_id, kind, path, size, mime, sha256, created_at, storage_key"
