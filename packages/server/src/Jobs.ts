/**
 * The job service as buyers see it: ordering (agent lookup, `params`
 * validation, file-name checks, input files into the object store),
 * reading with object-level authorization (OWASP API1: what a caller may
 * not see is `JobNotFound`), events, downloads and cancelling. Jobs belong
 * to the ordering account, not to the key that sent the order: every key
 * of the account sees them. The executor's side is `Executor.ts`.
 */
import type { JsonSchemaDocument } from "@agnt/domain/Agent"
import { CreateJobFields } from "@agnt/domain/Api"
import type { Principal } from "@agnt/domain/Auth"
import {
  AgentNotFound,
  FileNotFound,
  Forbidden,
  IdempotencyConflict,
  InvalidTransition,
  JobNotFound,
  PayloadTooLarge
} from "@agnt/domain/Errors"
import type { AgentId, FileId, JobId } from "@agnt/domain/Ids"
import { type Job, type JobEvent, JobEventPage, JobResult, ResultFile } from "@agnt/domain/Job"
import { isTerminal, type JobStatus } from "@agnt/domain/Lifecycle"
import { Effect, Either, Option } from "effect"
import { requireRole } from "./Auth.js"
import { makeJobId } from "./Ids.js"
import { jobServiceLayers, type JobServices, jobServices, keyOf, uploadLimits, visibilityOf } from "./Jobs/Access.js"
import { requestSha256 } from "./Jobs/Idempotency.js"
import type { NewJobFile } from "./Jobs/Sql.js"
import { discardFiles, receive, type RequestBody } from "./Uploads.js"

/** How long a presigned download URL lives, in seconds. */
const downloadUrlSeconds = 15 * 60

/** The job an earlier request with `idempotencyKey` made, if the request (its `fingerprint`) was the same. */
const replay = ({ jobs }: JobServices, principal: Principal, idempotencyKey: string, fingerprint: string) =>
  Effect.gen(function*() {
    const earlier = yield* jobs.findIdempotent(principal.account_id, idempotencyKey)
    if (Option.isNone(earlier)) return Option.none<Job>()
    if (earlier.value.request_sha256 !== fingerprint) {
      return yield* new IdempotencyConflict({
        idempotency_key: idempotencyKey,
        job_id: earlier.value.job_id,
        message: "this Idempotency-Key was used with a different request"
      })
    }
    return yield* jobs.findById(earlier.value.job_id, { _tag: "All" })
  })

/** The order's prompt and params within the configured limits. @fails PayloadTooLarge. */
const checkSizes = ({ settings }: JobServices, request: typeof CreateJobFields.Type) => {
  if (request.prompt.length > settings.maxPromptChars) {
    const limit = settings.maxPromptChars
    return Effect.fail(new PayloadTooLarge({ message: `prompt is over ${limit} characters`, limit }))
  }
  if (Buffer.byteLength(JSON.stringify(request.params)) > settings.maxParamsBytes) {
    const limit = settings.maxParamsBytes
    return Effect.fail(new PayloadTooLarge({ message: `params are over ${limit} bytes of JSON`, limit }))
  }
  return Effect.void
}

/** Most agents' `input_schema`s one instance remembers. */
const maxRememberedSchemas = 10_000

/**
 * Agents' `input_schema`s as this instance last read them. An order's
 * insert checks that the schema it was validated against is still the
 * agent's (`JobsRepo.insert`), so a remembered one is never trusted stale.
 */
const makeInputSchemas = ({ agents }: JobServices): InputSchemas => {
  const remembered = new Map<AgentId, typeof JsonSchemaDocument.Type>()
  /** The agent's `input_schema`, remembered unless `fresh`. @fails AgentNotFound. */
  return (agentId: AgentId, fresh: boolean): Effect.Effect<typeof JsonSchemaDocument.Type, AgentNotFound> =>
    Effect.suspend(() => {
      const known = fresh ? undefined : remembered.get(agentId)
      if (known !== undefined) return Effect.succeed(known)
      return Effect.flatMap(agents.inputSchema(agentId), (found) => {
        if (Option.isNone(found)) {
          remembered.delete(agentId)
          return AgentNotFound.of(agentId)
        }
        if (remembered.size >= maxRememberedSchemas) remembered.clear()
        remembered.set(agentId, found.value)
        return Effect.succeed(found.value)
      })
    })
}

/** The agent's `input_schema`, remembered unless `fresh`. @fails AgentNotFound. */
type InputSchemas = (agentId: AgentId, fresh: boolean) => Effect.Effect<typeof JsonSchemaDocument.Type, AgentNotFound>

/** Times an order is validated again when its agent's `input_schema` changed under it. */
const schemaAttempts = 3

/**
 * Validate the order's params against the agent's `input_schema` and insert
 * it as a pending job, in one statement that also checks the schema is
 * still the agent's (else validated again against the new one). With an
 * `idempotencyKey`, a repeat of the same request yields the job the first
 * one made (its files discarded).
 *
 * @fails AgentNotFound, InvalidParams, IdempotencyConflict.
 */
const insertOnce = (
  services: JobServices,
  inputSchemas: InputSchemas,
  principal: Principal,
  order: { readonly jobId: JobId; readonly request: typeof CreateJobFields.Type; readonly files: ReadonlyArray<NewJobFile> },
  idempotencyKey: string | undefined
) =>
  Effect.gen(function*() {
    const { files, jobId, request } = order
    const fingerprint = requestSha256(request, files)
    const replayed = idempotencyKey === undefined
      ? Effect.succeedNone
      : Effect.tap(
        replay(services, principal, idempotencyKey, fingerprint),
        (earlier) => Option.isSome(earlier) ? discardFiles(services.store, files) : Effect.void
      )
    for (let attempt = 0; attempt < schemaAttempts; attempt++) {
      const schema = yield* inputSchemas(request.agent_id, attempt > 0)
      const valid = yield* Effect.either(services.schemas.validate(schema, request.params))
      if (Either.isLeft(valid)) {
        // A repeat of an order that went through is answered with its job even if the schema changed since.
        const earlier = yield* replayed
        return Option.isSome(earlier) ? earlier.value : yield* valid.left
      }
      const inserted = yield* services.jobs.insert({
        job_id: jobId,
        agent_id: request.agent_id,
        account_id: principal.account_id,
        buyer_key_id: principal.key_id,
        prompt: request.prompt,
        params: request.params,
        files,
        repo: request.repo ?? null,
        parent_job_id: request.parent_job_id ?? null,
        idempotency: idempotencyKey === undefined ? null : { key: idempotencyKey, request_sha256: fingerprint },
        input_schema: schema
      })
      if (Option.isSome(inserted)) return inserted.value
      const earlier = yield* replayed
      if (Option.isSome(earlier)) return earlier.value
    }
    return yield* Effect.die(new Error(`the input_schema of ${request.agent_id} kept changing while ordering`))
  })

/**
 * Order a job for `principal` (a buyer or admin) from a request `body`
 * with the fields of `CreateJobFields` and any input files, each stored
 * as it streams and checked against its stated SHA-256; the job belongs
 * to the principal's account. With an `idempotencyKey` (scoped to the
 * account, so a retry with a rotated key still replays), a repeat of the
 * same request returns the job the first one made. A refused request
 * keeps nothing.
 *
 * A `parent_job_id` must name a job the principal may see (else
 * `JobNotFound`), so a child is always its parent's account's; see `checkParent`.
 *
 * @fails Forbidden, AgentNotFound, InvalidParams, InvalidRequest, InvalidFileName, ChecksumMismatch,
 *   PayloadTooLarge, IdempotencyConflict, JobNotFound.
 */
const create = (services: JobServices, inputSchemas: InputSchemas) =>
  Effect.fnUntraced(function*(principal: Principal, body: RequestBody, idempotencyKey?: string) {
    const { settings, store } = services
    yield* requireRole(principal, "buyer", "admin")
    const jobId = makeJobId()
    const { fields: request, files } = yield* receive(store, body, CreateJobFields, keyOf(jobId, "input"), uploadLimits(settings, "input"))
    return yield* Effect.gen(function*() {
      yield* checkSizes(services, request)
      yield* checkParent(services, principal, request.parent_job_id)
      return yield* insertOnce(services, inputSchemas, principal, { jobId, request, files }, idempotencyKey)
    }).pipe(Effect.onError(() => discardFiles(store, files)))
  })

/**
 * The parent's ownership holds for the child: only a job the orderer may
 * see can be a parent. A child-order key (`scope_job_id`) orders children
 * of its job only, and only while that job has not ended.
 *
 * @fails JobNotFound (a parent the orderer cannot see), Forbidden (a child-order key's order of anything else).
 */
const checkParent = (services: JobServices, principal: Principal, parentJobId: JobId | undefined) =>
  Effect.gen(function*() {
    const scope = principal.scope_job_id
    if (scope === null) {
      if (parentJobId !== undefined) yield* get(services, principal, parentJobId)
      return
    }
    if (parentJobId !== scope) {
      return yield* new Forbidden({ message: `this child-order key orders children of ${scope} only (parent_job_id ${scope})` })
    }
    const parent = yield* services.jobs.findById(scope, { _tag: "Account", accountId: principal.account_id })
    if (Option.isNone(parent) || isTerminal(parent.value.status)) {
      return yield* new Forbidden({ message: `${scope} has ended: its child-order key no longer orders` })
    }
  })

/** @fails JobNotFound when the job does not exist or is not the caller's. */
const get = ({ jobs }: JobServices, principal: Principal, jobId: JobId): Effect.Effect<Job, JobNotFound> =>
  Effect.flatMap(
    jobs.findById(jobId, visibilityOf(principal)),
    Option.match({ onNone: () => Effect.fail(JobNotFound.of(jobId)), onSome: Effect.succeed })
  )

/** The job's status, structured result and result files with download URLs (presigned when the store has them). */
const result = (services: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId) {
    const job = yield* get(services, principal, jobId)
    const files = yield* services.jobs.files(jobId, "result")
    const withUrls = yield* Effect.forEach(files, ({ file, storage_key }) =>
      services.store.presignedUrl(storage_key, { fileName: file.path, expiresInSeconds: downloadUrlSeconds }).pipe(
        Effect.orDie,
        Effect.map((url) =>
          new ResultFile({
            ...file,
            download_url: Option.getOrElse(url, () =>
              `/v1/jobs/${jobId}/files/${file.file_id}`)
          })
        )
      ))
    const { decision_reason, failure_reason, job_id, status } = job
    return new JobResult({ job_id, status, decision_reason, failure_reason, result: job.result, files: withUrls })
  })

/** A visible job's file and its bytes. @fails JobNotFound, FileNotFound. */
const download = (services: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId, fileId: FileId) {
    yield* get(services, principal, jobId)
    const found = yield* services.jobs.findFile(jobId, fileId)
    if (Option.isNone(found)) return yield* FileNotFound.of(fileId)
    return { file: found.value.file, content: services.store.get(found.value.storage_key) }
  })

/**
 * A buyer cancels: pending → canceled at once; accepted or running →
 * `cancel_requested` until the executor stops (or its lease runs out).
 * Buyer and admin keys only (OWASP API5): an executor ends a job it does
 * not want by rejecting or failing it, which counts in the agent's
 * `success_rate`; a cancel does not, and would be recorded as the buyer's.
 *
 * @fails Forbidden, JobNotFound, InvalidTransition (already terminal).
 */
const cancel = ({ lifecycle }: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId) {
    yield* requireRole(principal, "buyer", "admin")
    return yield* lifecycle.cancel(jobId, visibilityOf(principal)).pipe(
      Effect.mapError((reason) =>
        reason._tag === "WrongStatus" ? InvalidTransition.of(jobId, reason.status, "canceled") : JobNotFound.of(jobId)
      )
    )
  })

/**
 * A page of the job's events after `after`; with `waitSeconds` > 0 held
 * until there is one, unless the job is terminal.
 *
 * @fails JobNotFound.
 */
const events = ({ jobs, limits, notifier }: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId, params: {
    readonly after: number
    readonly limit: number
    readonly wait: number
  }) {
    const visibility = visibilityOf(principal)
    const page = (found: Option.Option<{ readonly status: JobStatus; readonly data: ReadonlyArray<JobEvent> }>) =>
      Option.map(found, ({ data, status }) =>
        new JobEventPage({ data, status, next_cursor: data[data.length - 1]?.event_id ?? params.after }))
    const read = Effect.map(jobs.events(jobId, visibility, params.after, params.limit), page)
    const first = yield* read
    if (Option.isNone(first)) {
      return yield* JobNotFound.of(jobId)
    }
    if (first.value.data.length > 0 || params.wait <= 0 || isTerminal(first.value.status)) {
      return first.value
    }
    const poll = Effect.map(
      read,
      Option.filter((found) =>
        found.data.length > 0 || isTerminal(found.status)
      )
    )
    const waited = yield* limits.longPoll(principal.key_id, notifier.longPoll("agnt_events", jobId, params.wait, poll))
    return Option.getOrElse(waited, () => first.value)
  })

/** Jobs as buyers see them. */
export class Jobs extends Effect.Service<Jobs>()("@agnt/server/Jobs", {
  effect: Effect.map(jobServices, (services) => ({
    create: create(services, makeInputSchemas(services)),
    get: (principal: Principal, jobId: JobId) => get(services, principal, jobId),
    /** The jobs the caller may see (a buyer: its account's), newest first. */
    list: (principal: Principal, params: {
      readonly status?: JobStatus | undefined
      readonly agent_id?: AgentId | undefined
      readonly parent_job_id?: JobId | undefined
      readonly limit: number
      readonly cursor?: JobId | undefined
    }) => services.jobs.list({ ...params, visibility: visibilityOf(principal) }),
    result: result(services),
    download: download(services),
    cancel: cancel(services),
    events: events(services)
  })),
  dependencies: jobServiceLayers
}) {}
