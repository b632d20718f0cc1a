/**
 * The agnt HTTP API, v1 (DESIGN.md "API v1"): one `HttpApi` from which the
 * server's handlers, the CLI's client and `/openapi.json` all derive.
 * Wire fields are snake_case; errors are the tagged bodies of `Errors.ts`.
 * What the request edge answers on any operation — 400 `InvalidRequest`
 * (a malformed body, text PostgreSQL cannot store), 413 `PayloadTooLarge`,
 * 429 `RateLimited`, 503 `NotReady` (the database away) — is declared on
 * every group it can reach.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, Multipart, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Agent, AgentManifest, AgentStats, Tag } from "./Agent.js"
import { Authentication, BearerAuthentication } from "./Auth.js"
import {
  AgentNotFound,
  ChecksumMismatch,
  FileNotFound,
  Forbidden,
  IdempotencyConflict,
  InvalidFileName,
  InvalidManifest,
  InvalidParams,
  InvalidRequest,
  InvalidResult,
  InvalidTransition,
  JobNotFound,
  LeaseLost,
  NotReady,
  PayloadTooLarge,
  RateLimited,
  Unauthorized
} from "./Errors.js"
import { AgentId, FileId, JobId, LeaseId } from "./Ids.js"
import {
  ChildKey,
  ChildKeyRequest,
  ClaimedJob,
  ClaimRequest,
  ClaimResponse,
  FileChecksums,
  Heartbeat,
  Job,
  JobEventPage,
  JobParams,
  JobResult,
  Lease,
  LogBatch,
  PromptText,
  StatusUpdate
} from "./Job.js"
import { JobStatus } from "./Lifecycle.js"
import { maxIdempotencyKeyLength } from "./Limits.js"
import { Limit, Page } from "./Pagination.js"
import { JobRepo } from "./Repo.js"
import { jsonBody, pathParams, QueryInteger, queryParams, requestHeaders } from "./Requests.js"
import { Session, SessionAuthentication, SignInLink, SignInRequest } from "./Session.js"
import { StorableText } from "./Text.js"

/** Path parameters of the routes about an agent, a job, and a job's file. */
const agentPath = Schema.Struct({ agent_id: AgentId }).annotations(pathParams)
const jobPath = Schema.Struct({ job_id: JobId }).annotations(pathParams)
const filePath = Schema.Struct({ job_id: JobId, file_id: FileId }).annotations(pathParams)

/** `params` as a JSON object, or as JSON text (a multipart form field). */
const ParamsField = Schema.Union(JobParams, Schema.parseJson(JobParams))

/** The `sha256` form field: JSON text of `FileChecksums` (each file's path → its SHA-256). */
const ChecksumsField = Schema.parseJson(FileChecksums)

/** The `repo` field: a `JobRepo` object, or its JSON text in a multipart form. */
const RepoField = Schema.Union(JobRepo, Schema.parseJson(JobRepo))

/**
 * The fields of `POST /v1/jobs`: `agent_id`, `prompt`, `params` (a JSON
 * object, or JSON text in a multipart form), `sha256`, the stated
 * SHA-256 of each file part by its path (JSON text; the CLI always sends
 * it), `repo` for a repo job (`JobRepo`: the files are the tree it names)
 * and `parent_job_id`, the job this one works on the outcome of (it must be
 * one the caller may see, else 404 `JobNotFound`). Unknown fields are refused.
 */
export const CreateJobFields = Schema.Struct({
  agent_id: AgentId,
  prompt: PromptText,
  params: Schema.optionalWith(ParamsField, { default: () => ({}) }),
  sha256: Schema.optional(ChecksumsField),
  repo: Schema.optional(RepoField),
  parent_job_id: Schema.optional(JobId)
}).annotations(jsonBody)

/**
 * Body of `POST /v1/jobs`: `multipart/form-data` with the fields of
 * `CreateJobFields` and any number of `files` parts, or a JSON object with
 * those fields and no files. Each file part's filename is its path in the
 * job's workspace, percent-encoded (RFC 3986 §2.1; the server decodes it,
 * and needs it for characters beyond Latin-1); each part is stored as it
 * streams, its size and SHA-256 measured on the way and checked against
 * `sha256`.
 *
 * The parts may come in any order: in particular `sha256` may follow the
 * file parts, so that a client can hash each file while sending it and
 * read it only once (agnt's clients do). The stated checksums are checked
 * once the body has ended; any mismatch (or a stated path no part carries)
 * refuses the whole request, and every object stored for it is removed
 * (DESIGN.md "Files are byte-exact").
 */
export const CreateJobRequest = HttpApiSchema.Multipart(
  Schema.Struct({ ...CreateJobFields.fields, files: Schema.optional(Multipart.FilesSchema) })
)

/**
 * The fields of `POST /v1/executor/jobs/{job_id}/complete`: the holder's
 * `lease_id`, an optional outcome `message`, an optional `result` (JSON
 * text: the job's structured result, checked against the agent's
 * `output_schema`), and `sha256` as for `CreateJobFields` (the executor
 * runtime always sends it).
 */
export const CompleteJobFields = Schema.Struct({
  lease_id: LeaseId,
  message: Schema.optional(StorableText),
  result: Schema.optional(
    Schema.parseJson().annotations({
      description: "JSON text of the job's structured result, valid against the agent's output_schema"
    })
  ),
  sha256: Schema.optional(ChecksumsField)
}).annotations(jsonBody)

/**
 * Body of `POST /v1/executor/jobs/{job_id}/complete`: `multipart/form-data`
 * with the fields of `CompleteJobFields` and any number of result `files`
 * parts (each part's filename is the file's path), in any order and checked
 * against `sha256` as for `CreateJobRequest`.
 */
export const CompleteJobRequest = HttpApiSchema.Multipart(
  Schema.Struct({ ...CompleteJobFields.fields, files: Schema.optional(Multipart.FilesSchema) })
)

/** Seconds a long-poll may be held: a whole number 0–30, default 0 (answer at once). */
const Wait = Schema.optionalWith(
  QueryInteger({ minimum: 0, maximum: 30, description: "a whole number of seconds from 0 to 30" }),
  { default: () => 0 }
)

/** A file's bytes. The response's `Content-Type` is the file's recorded media type (`JobFile.mime`). */
export const FileContent = HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" })

/**
 * The download's success response as the OpenAPI document states it: the
 * file's bytes in its recorded media type — any type, since it is the
 * one `MediaTypes.mediaTypeOf` found for the file's name — with the
 * headers naming and hashing it.
 */
const fileDownloadResponse = {
  description: "The file's bytes. Content-Type is the file's recorded media type (the mime of its JobFile: " +
    "application/sarif+json for .sarif, text/markdown for .md, application/octet-stream when the extension says nothing).",
  headers: {
    "Content-Disposition": {
      description: "attachment, with the file's path (percent-encoded) as its filename",
      schema: { type: "string" }
    },
    "X-Content-SHA256": {
      description: "SHA-256 of the bytes, lowercase hex (the JobFile's sha256)",
      schema: { type: "string", pattern: "^[0-9a-f]{64}$" }
    }
  },
  content: { "*/*": { schema: { type: "string", format: "binary" } } }
}

/** Buyer-facing agent catalogue, and publishing by executors. */
export class AgentsGroup extends HttpApiGroup.make("agents")
  .add(
    HttpApiEndpoint.get("search", "/v1/agents/search")
      .setUrlParams(
        Schema.Struct({
          /** Full-text query over name, description and tags. */
          q: Schema.optional(Schema.String),
          /** Comma-separated tags; an agent must carry all of them. */
          tags: Schema.optional(Schema.split(",").pipe(Schema.compose(Schema.Array(Tag)))),
          limit: Limit,
          cursor: Schema.optional(Schema.String)
        }).annotations(queryParams)
      )
      .addSuccess(Page(Agent))
      .annotate(OpenApi.Summary, "Search agents")
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/agents/:agent_id").setPath(agentPath)
      .addSuccess(Agent)
      .addError(AgentNotFound)
      .annotate(OpenApi.Summary, "Get an agent")
  )
  .add(
    HttpApiEndpoint.get("stats", "/v1/agents/:agent_id/stats").setPath(agentPath)
      .addSuccess(AgentStats)
      .addError(AgentNotFound)
      .annotate(OpenApi.Summary, "Job outcome statistics of an agent")
  )
  .add(
    HttpApiEndpoint.put("publish", "/v1/agents/:agent_id").setPath(agentPath)
      .setPayload(AgentManifest.annotations(jsonBody))
      .addSuccess(Agent)
      .addError(Forbidden)
      .addError(InvalidManifest)
      .annotate(OpenApi.Summary, "Publish an agent's manifest (executor keys bound to the agent)")
  )
  .middleware(Authentication)
  .addError(Forbidden)
  .addError(InvalidRequest)
  .addError(PayloadTooLarge)
  .addError(RateLimited)
  .addError(NotReady)
  .annotate(OpenApi.Description, "The agent catalogue buyers search, and the manifests executors publish")
{}

/** Buyers' jobs. */
export class JobsGroup extends HttpApiGroup.make("jobs")
  .add(
    HttpApiEndpoint.post("create", "/v1/jobs")
      .setPayload(CreateJobRequest)
      .setHeaders(
        Schema.Struct({
          /**
           * Retries with the same key and the same request return the same
           * job instead of making another; the same key with another request
           * is 409 `IdempotencyConflict`. 1–255 characters.
           */
          "idempotency-key": Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxIdempotencyKeyLength)))
        }).annotations(requestHeaders)
      )
      .addSuccess(Job, { status: 201 })
      .addError(IdempotencyConflict)
      .addError(AgentNotFound)
      .addError(InvalidParams)
      .addError(InvalidFileName)
      .addError(ChecksumMismatch)
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "Order a job")
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/jobs")
      .setUrlParams(
        Schema.Struct({
          status: Schema.optional(JobStatus),
          agent_id: Schema.optional(AgentId),
          /** Only the jobs ordered from this one (`agnt order --from`): its children. */
          parent_job_id: Schema.optional(JobId),
          limit: Limit,
          /** The last `job_id` of the previous page. */
          cursor: Schema.optional(JobId)
        }).annotations(queryParams)
      )
      .addSuccess(Page(Job))
      .annotate(OpenApi.Summary, "List your jobs, newest first")
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/jobs/:job_id").setPath(jobPath)
      .addSuccess(Job)
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "Get a job")
  )
  .add(
    HttpApiEndpoint.get("result", "/v1/jobs/:job_id/result").setPath(jobPath)
      .addSuccess(JobResult)
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "A job's status and result files with download URLs")
  )
  .add(
    HttpApiEndpoint.get("download", "/v1/jobs/:job_id/files/:file_id").setPath(filePath)
      .addSuccess(FileContent)
      .addError(JobNotFound)
      .addError(FileNotFound)
      .annotate(OpenApi.Summary, "Download an input or result file of a job")
      .annotate(OpenApi.Transform, (operation) => ({
        ...operation,
        responses: { ...operation["responses"], 200: fileDownloadResponse }
      }))
  )
  .add(
    HttpApiEndpoint.post("cancel", "/v1/jobs/:job_id/cancel").setPath(jobPath)
      .addSuccess(Job)
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Cancel a job: pending at once, accepted or running at the executor's next call")
  )
  .add(
    HttpApiEndpoint.get("events", "/v1/jobs/:job_id/events").setPath(jobPath)
      .setUrlParams(
        Schema.Struct({
          /** Return events with `event_id` greater than this; 0 for all. */
          after: Schema.optionalWith(QueryInteger({ minimum: 0, description: "a non-negative integer" }), { default: () => 0 }),
          limit: Schema.optionalWith(QueryInteger({ minimum: 1, maximum: 500, description: "an integer from 1 to 500" }), {
            default: () => 100
          }),
          /** Hold the request up to this many seconds until an event comes. */
          wait: Wait
        }).annotations(queryParams)
      )
      .addSuccess(JobEventPage)
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "A job's events after a cursor; Server-Sent Events with Accept: text/event-stream")
  )
  .middleware(Authentication)
  .addError(Forbidden)
  .addError(InvalidRequest)
  .addError(PayloadTooLarge)
  .addError(RateLimited)
  .addError(NotReady)
  .annotate(OpenApi.Description, "Buyers order jobs, follow them and fetch their results")
{}

/** The executor side: find work, report on it, deliver results. */
export class ExecutorGroup extends HttpApiGroup.make("executor")
  .add(
    HttpApiEndpoint.get("list", "/v1/executor/jobs")
      .setUrlParams(
        Schema.Struct({
          agent_id: AgentId,
          status: Schema.optionalWith(Schema.Literal("pending"), { default: () => "pending" as const }),
          limit: Limit,
          /** Hold the request up to this many seconds until a pending job exists. */
          wait: Wait
        }).annotations(queryParams)
      )
      .addSuccess(Page(Job))
      .annotate(OpenApi.Summary, "Pending jobs of an agent, oldest first (long-poll with wait)")
  )
  .add(
    HttpApiEndpoint.post("claim", "/v1/executor/jobs/claim")
      .setPayload(ClaimRequest.annotations(jsonBody))
      .addSuccess(ClaimResponse)
      .annotate(OpenApi.Summary, "Accept the oldest pending job of an agent with a lease, waiting up to wait seconds")
  )
  .add(
    HttpApiEndpoint.post("status", "/v1/executor/jobs/:job_id/status").setPath(jobPath)
      .setPayload(StatusUpdate.annotations(jsonBody))
      .addSuccess(ClaimedJob)
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .addError(LeaseLost)
      .annotate(OpenApi.Summary, "Accept, reject, start, report progress, fail or confirm cancellation")
  )
  .add(
    HttpApiEndpoint.post("childKey", "/v1/executor/jobs/:job_id/child-key").setPath(jobPath)
      .setPayload(ChildKeyRequest.annotations(jsonBody))
      .addSuccess(ChildKey, { status: 201 })
      .addError(JobNotFound)
      .addError(LeaseLost)
      .addError(InvalidTransition)
      .annotate(
        OpenApi.Summary,
        "Issue the holder a key that orders children of this job only, on the buyer's behalf, until the job ends"
      )
  )
  .add(
    HttpApiEndpoint.post("heartbeat", "/v1/executor/jobs/:job_id/heartbeat").setPath(jobPath)
      .setPayload(Heartbeat.annotations(jsonBody))
      .addSuccess(Lease)
      .addError(JobNotFound)
      .addError(LeaseLost)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Renew the lease; tells whether the buyer asked to cancel")
  )
  .add(
    HttpApiEndpoint.post("logs", "/v1/executor/jobs/:job_id/logs").setPath(jobPath)
      .setPayload(LogBatch.annotations(jsonBody))
      .addSuccess(Lease)
      .addError(JobNotFound)
      .addError(LeaseLost)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Append a batch of log lines (renews the lease)")
  )
  .add(
    HttpApiEndpoint.post("complete", "/v1/executor/jobs/:job_id/complete").setPath(jobPath)
      .setPayload(CompleteJobRequest)
      .addSuccess(Job)
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .addError(LeaseLost)
      .addError(InvalidResult)
      .addError(InvalidFileName)
      .addError(ChecksumMismatch)
      .annotate(OpenApi.Summary, "Upload result files and a structured result, and complete a running job")
  )
  .middleware(Authentication)
  .addError(Forbidden)
  .addError(InvalidRequest)
  .addError(PayloadTooLarge)
  .addError(RateLimited)
  .addError(NotReady)
  .annotate(OpenApi.Description, "Executors claim jobs under a lease, report on them and deliver results")
{}

/**
 * Browser sessions (`Session.ts`): signing in with an API key or a
 * one-time link for an `HttpOnly`, `SameSite=Strict` cookie, reading and
 * ending the session, and making sign-in links with a key (`agnt ui`).
 */
export class SessionsGroup extends HttpApiGroup.make("sessions")
  .add(
    HttpApiEndpoint.post("create", "/v1/sessions")
      .setPayload(SignInRequest.annotations(jsonBody))
      .addSuccess(Session, { status: 201 })
      .addError(Unauthorized)
      .annotate(OpenApi.Summary, "Sign a browser in with an API key or a sign-in link's token")
      .annotate(
        OpenApi.Description,
        "Sets the session cookie agnt_session (HttpOnly, SameSite=Strict, Path=/, Max-Age the session's lifetime, " +
          "Secure over HTTPS). No key needed; counted against the caller's address. 401 for a key that is not valid " +
          "or was revoked, or a link already used or expired; 403 when an Origin header names another origin."
      )
  )
  .add(
    HttpApiEndpoint.get("current", "/v1/sessions/current")
      .middleware(SessionAuthentication)
      .addSuccess(Session)
      .annotate(OpenApi.Summary, "The signed-in browser's session, with its CSRF token")
  )
  .add(
    HttpApiEndpoint.del("delete", "/v1/sessions/current")
      .middleware(SessionAuthentication)
      .annotate(OpenApi.Summary, "Sign out: end the session and clear its cookie (needs x-csrf-token)")
  )
  .add(
    HttpApiEndpoint.post("createLink", "/v1/sessions/links")
      .middleware(BearerAuthentication)
      .addSuccess(SignInLink, { status: 201 })
      .annotate(OpenApi.Summary, "Make a one-time sign-in link for a browser, valid 5 minutes, as the calling key")
  )
  .addError(Forbidden)
  .addError(InvalidRequest)
  .addError(PayloadTooLarge)
  .addError(RateLimited)
  .addError(NotReady)
  .annotate(OpenApi.Description, "Browser sessions: sign in with a key or a one-time link, read the session, sign out")
{}

/** Liveness and readiness, without authentication. */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Summary, "Liveness: the process answers")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .addError(NotReady)
      .annotate(OpenApi.Summary, "Readiness: the database answers")
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      .addError(NotReady)
      .annotate(OpenApi.Summary, "Prometheus text exposition: jobs by status and agent, executors online, agents")
  )
  .addError(PayloadTooLarge)
  .addError(RateLimited)
  .annotate(OpenApi.Description, "Liveness, readiness and metrics, without authentication")
{}

/**
 * The whole API. Its one server entry is `/`: the document is served by the
 * API itself (`/openapi.json`), so paths resolve against the host that
 * served it (OpenAPI 3.1 §4.8.5: a relative server URL is relative to the
 * document's location).
 */
export class Api extends HttpApi.make("agnt")
  .add(AgentsGroup)
  .add(JobsGroup)
  .add(ExecutorGroup)
  .add(SessionsGroup)
  .add(HealthGroup)
  .annotate(OpenApi.Title, "agnt API")
  .annotate(OpenApi.Version, "1.0.0")
  .annotate(OpenApi.Servers, [{ url: "/", description: "the agnt server that serves this document" }])
{}
