/**
 * Typed errors of the API. Each is a `Schema.TaggedError` whose wire body is
 * `{"_tag": "<Name>", …fields}` and whose HTTP status is annotated on the
 * class (DESIGN.md "API v1": 400 invalid input · 401 missing/bad key ·
 * 403 wrong role · 404 not found or not yours · 409 conflict · 413 too large ·
 * 503 not ready), so an endpoint only says `.addError(JobNotFound)` and the
 * CLI matches on `_tag`.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { JobId } from "./Ids.js"
import { JobStatus } from "./Lifecycle.js"

/** 404: no agent with this id. */
export class AgentNotFound extends Schema.TaggedError<AgentNotFound>()(
  "AgentNotFound",
  { agent_id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(agent_id: string) {
    return new AgentNotFound({ agent_id, message: `agent ${agent_id} not found` })
  }
}

/** 404: no job with this id that the caller may see (OWASP API1: never reveal others' jobs). */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()(
  "JobNotFound",
  { job_id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(job_id: string) {
    return new JobNotFound({ job_id, message: `job ${job_id} not found` })
  }
}

/** 404: no account with this id (`agnt-server keys create --account`). */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()(
  "AccountNotFound",
  { account_id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(account_id: string) {
    return new AccountNotFound({ account_id, message: `account ${account_id} not found` })
  }
}

/** 404: no file with this id on this job. */
export class FileNotFound extends Schema.TaggedError<FileNotFound>()(
  "FileNotFound",
  { file_id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(file_id: string) {
    return new FileNotFound({ file_id, message: `file ${file_id} not found` })
  }
}

/**
 * 409: the job is not in a state from which `to` is allowed (see
 * `Lifecycle.canTransition`), or the caller no longer holds it.
 * `status` is the job's state when the change was refused.
 */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()(
  "InvalidTransition",
  { job_id: JobId, status: JobStatus, to: JobStatus, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  static of(job_id: JobId, status: JobStatus, to: JobStatus) {
    return new InvalidTransition({ job_id, status, to, message: `job ${job_id} is ${status}; cannot become ${to}` })
  }
}

/**
 * 409: the caller does not hold the job's lease — it expired and the
 * reaper ended the job, or the `lease_id` is not the current one.
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()(
  "LeaseLost",
  { job_id: JobId, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  static of(job_id: JobId) {
    return new LeaseLost({ job_id, message: `this executor no longer holds job ${job_id}` })
  }
}

/**
 * 409: this `Idempotency-Key` was used before with a different request
 * (IETF draft-ietf-httpapi-idempotency-key-header: the same key must carry
 * the same body). `job_id` is the job the key made.
 */
export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>()(
  "IdempotencyConflict",
  { idempotency_key: Schema.String, job_id: JobId, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** 429: too many requests or open long-polls for this key; retry after `retry_after_seconds`. */
export class RateLimited extends Schema.TaggedError<RateLimited>()(
  "RateLimited",
  { message: Schema.String, retry_after_seconds: Schema.Number },
  HttpApiSchema.annotations({ status: 429 })
) {}

/** One failing location in a validated document: a JSON Pointer (RFC 6901) and what is wrong there. */
export const ValidationIssue = Schema.Struct({
  path: Schema.String,
  message: Schema.String
})
export type ValidationIssue = typeof ValidationIssue.Type

/** 400: `params` do not match the agent's `input_schema` (JSON Schema); `issues` names each failing path. */
export class InvalidParams extends Schema.TaggedError<InvalidParams>()(
  "InvalidParams",
  { message: Schema.String, issues: Schema.Array(ValidationIssue) },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * 400: the structured `result` of a completion does not match the agent's
 * `output_schema` (JSON Schema); `issues` names each failing path. The job
 * stays running and nothing of the completion is kept.
 */
export class InvalidResult extends Schema.TaggedError<InvalidResult>()(
  "InvalidResult",
  { message: Schema.String, issues: Schema.Array(ValidationIssue) },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * 400: an agent manifest is not acceptable: its `input_schema` or
 * `output_schema` is not a valid JSON Schema (`issues` paths start with the
 * field's name, e.g. `/output_schema/type`).
 */
export class InvalidManifest extends Schema.TaggedError<InvalidManifest>()(
  "InvalidManifest",
  { message: Schema.String, issues: Schema.Array(ValidationIssue) },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 400: a file name is absolute, contains `..`, a NUL byte, or is too long (DESIGN.md "Storage"). */
export class InvalidFileName extends Schema.TaggedError<InvalidFileName>()(
  "InvalidFileName",
  { path: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * 400: a file's bytes do not match the SHA-256 its uploader stated: it was
 * damaged or changed on the way. Nothing of the request was kept.
 * `expected` is the stated digest, `actual` the digest of the bytes received.
 */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()(
  "ChecksumMismatch",
  { path: Schema.String, expected: Schema.String, actual: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 400: any other malformed request (a bad cursor, a missing field). */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 401: no `Authorization: Bearer` key, or a key that is unknown or revoked. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** 403: the key is valid but its role may not call this endpoint. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

/** 413: a body, file or field is over its limit; `limit` is in the unit `message` names (bytes unless said). */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String, limit: Schema.Number },
  HttpApiSchema.annotations({ status: 413 })
) {}

/** 404: no endpoint answers this method and path (the API's own routes are in `/openapi.json`). */
export class RouteNotFound extends Schema.TaggedError<RouteNotFound>()(
  "RouteNotFound",
  { method: Schema.String, path: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * 405: the path names an endpoint, but not for this method; `allowed` lists
 * the methods it has, as the response's `Allow` header does (RFC 9110 §15.5.6).
 */
export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>()(
  "MethodNotAllowed",
  { method: Schema.String, path: Schema.String, allowed: Schema.Array(Schema.String), message: Schema.String },
  HttpApiSchema.annotations({ status: 405 })
) {}

/**
 * 503: the server cannot serve now — its database is unreachable, shutting
 * down or starting — on `/readyz`, `/metrics` and every request that needs
 * the database; the response carries `Retry-After` (seconds), and clients
 * retry it (`@agnt/client` `isTransient`).
 */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}
