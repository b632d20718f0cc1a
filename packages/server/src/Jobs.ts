/**
 * The job service: ordering (agent lookup, `params` validation, file-name
 * checks, input files into the object store), reading with object-level
 * authorization (OWASP API1: what a caller may not see is `JobNotFound`),
 * and the executor's lifecycle calls. Jobs belong to the ordering account,
 * not to the key that sent the order: every key of the account sees them.
 */
import { CompleteJobFields, CreateJobFields } from "@agnt/domain/Api"
import type { Principal } from "@agnt/domain/Auth"
import {
  type ChecksumMismatch,
  Forbidden,
  IdempotencyConflict,
  type InvalidFileName,
  type InvalidRequest,
  type InvalidResult,
  InvalidTransition,
  JobNotFound,
  LeaseLost,
  PayloadTooLarge
} from "@agnt/domain/Errors"
import { AgentNotFound, FileNotFound } from "@agnt/domain/Errors"
import { type AgentId, type FileId, type JobId, LeaseId } from "@agnt/domain/Ids"
import {
  type ClaimRequest,
  ClaimResponse,
  type Job,
  type JobEvent,
  JobEventPage,
  JobResult,
  maxLogLineLength,
  ResultFile,
  type StatusUpdate
} from "@agnt/domain/Job"
import { isTerminal, type JobStatus } from "@agnt/domain/Lifecycle"
import { Effect, Either, Option } from "effect"
import { AgentsRepo } from "./Agents/Repo.js"
import { requireRole } from "./Auth.js"
import { makeJobId, makeLeaseId } from "./Ids.js"
import { canonicalJson, requestSha256 } from "./Jobs/Idempotency.js"
import { JobsRepo, type LeaseMode, type TransitionRefusal, type Visibility } from "./Jobs/Repo.js"
import { JsonSchemas } from "./JsonSchemas.js"
import { Notifier } from "./Notifier.js"
import { ObjectStore } from "./ObjectStore.js"
import { RateLimits } from "./RateLimits.js"
import { ServerConfig } from "./ServerConfig.js"
import { discardFiles, maxFieldBytesOf, receive, type RequestBody, type UploadLimits } from "./Uploads.js"

/** What `principal` may see: admins everything, buyers their account's jobs, executors their agents' jobs. */
export const visibilityOf = (principal: Principal): Visibility => {
  switch (principal.role) {
    case "admin":
      return { _tag: "All" }
    case "buyer":
      return { _tag: "Account", accountId: principal.account_id }
    case "executor":
      return { _tag: "Agents", agentIds: principal.agent_ids }
  }
}

/** How long a presigned download URL lives, in seconds. */
const downloadUrlSeconds = 15 * 60

/** Jobs as buyers and executors see them. */
export class Jobs extends Effect.Service<Jobs>()("@agnt/server/Jobs", {
  effect: Effect.gen(function*() {
    const settings = yield* ServerConfig
    const agents = yield* AgentsRepo
    const repo = yield* JobsRepo
    const schemas = yield* JsonSchemas
    const store = yield* ObjectStore
    const notifier = yield* Notifier
    const limits = yield* RateLimits

    const refusal = (jobId: JobId, to: JobStatus) => (reason: TransitionRefusal) => {
      switch (reason._tag) {
        case "NotFound":
          return JobNotFound.of(jobId)
        case "LeaseLost":
          return LeaseLost.of(jobId)
        case "WrongStatus":
          return InvalidTransition.of(jobId, reason.status, to)
      }
    }
    const leaseSeconds = settings.leaseSeconds
    const requireExecutor = (principal: Principal, agentId: AgentId) =>
      Effect.zipRight(
        requireRole(principal, "executor", "admin"),
        principal.role === "executor" && !principal.agent_ids.includes(agentId)
          ? Effect.fail(new Forbidden({ message: `this key does not serve ${agentId}` }))
          : Effect.void
      )

    /** Limits on a job's input files and on one complete's result files. */
    const uploadLimits = (kind: "input" | "result"): UploadLimits => ({
      maxBodyBytes: settings.maxBodyBytes,
      maxFiles: settings.maxFiles,
      maxFileBytes: settings.maxFileBytes,
      maxTotalBytes: kind === "input" ? settings.maxJobBytes : undefined,
      maxFieldBytes: maxFieldBytesOf(settings)
    })
    /** Where a job's file lives in the object store: `jobs/{job_id}/{input|result}/{file_id}`. */
    const keyOf = (jobId: JobId, kind: "input" | "result") => (fileId: FileId) => `jobs/${jobId}/${kind}/${fileId}`

    /** The job an earlier request with `idempotencyKey` made, if the request (its `fingerprint`) was the same. */
    const replay = (principal: Principal, idempotencyKey: string, fingerprint: string) =>
      Effect.gen(function*() {
        const earlier = yield* repo.findIdempotent(principal.account_id, idempotencyKey)
        if (Option.isNone(earlier)) return Option.none<Job>()
        if (earlier.value.request_sha256 !== fingerprint) {
          return yield* new IdempotencyConflict({
            idempotency_key: idempotencyKey,
            job_id: earlier.value.job_id,
            message: "this Idempotency-Key was used with a different request"
          })
        }
        return yield* repo.findById(earlier.value.job_id, { _tag: "All" })
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
     * @fails Forbidden, AgentNotFound, InvalidParams, InvalidRequest, InvalidFileName, ChecksumMismatch,
     *   PayloadTooLarge, IdempotencyConflict.
     */
    const create = Effect.fn("Jobs.create")(function*(principal: Principal, body: RequestBody, idempotencyKey?: string) {
      yield* requireRole(principal, "buyer", "admin")
      const jobId = makeJobId()
      const { fields: request, files } = yield* receive(store, body, CreateJobFields, keyOf(jobId, "input"), uploadLimits("input"))
      return yield* Effect.gen(function*() {
        if (request.prompt.length > settings.maxPromptChars) {
          return yield* new PayloadTooLarge({
            message: `prompt is over ${settings.maxPromptChars} characters`,
            limit: settings.maxPromptChars
          })
        }
        const paramsBytes = Buffer.byteLength(JSON.stringify(request.params))
        if (paramsBytes > settings.maxParamsBytes) {
          return yield* new PayloadTooLarge({
            message: `params are over ${settings.maxParamsBytes} bytes of JSON`,
            limit: settings.maxParamsBytes
          })
        }
        const agent = yield* agents.findById(request.agent_id)
        if (Option.isNone(agent)) return yield* AgentNotFound.of(request.agent_id)
        yield* schemas.validate(agent.value.input_schema, request.params)
        const fingerprint = requestSha256(request, files)
        const replayed = (earlier: Job) => Effect.as(discardFiles(store, files), earlier)
        if (idempotencyKey !== undefined) {
          const earlier = yield* replay(principal, idempotencyKey, fingerprint)
          if (Option.isSome(earlier)) return yield* replayed(earlier.value)
        }
        return yield* repo.insert({
          job_id: jobId,
          agent_id: request.agent_id,
          account_id: principal.account_id,
          buyer_key_id: principal.key_id,
          prompt: request.prompt,
          params: request.params,
          files,
          idempotency: idempotencyKey === undefined ? undefined : { key: idempotencyKey, request_sha256: fingerprint }
        }).pipe(
          Effect.catchTag(
            "IdempotencyTaken",
            () =>
              Effect.flatMap(replay(principal, idempotencyKey ?? "", fingerprint), (earlier) =>
                Option.match(earlier, {
                  onNone: () => Effect.die(new Error("idempotency key taken but no job found")),
                  onSome: replayed
                }))
          )
        )
      }).pipe(Effect.onError(() => discardFiles(store, files)))
    })

    /** @fails JobNotFound when the job does not exist or is not the caller's. */
    const get = Effect.fn("Jobs.get")(function*(principal: Principal, jobId: JobId) {
      const job = yield* repo.findById(jobId, visibilityOf(principal))
      return yield* Option.match(job, { onNone: () => Effect.fail(JobNotFound.of(jobId)), onSome: Effect.succeed })
    })

    /** The jobs the caller may see (a buyer: its account's), newest first. */
    const list = (principal: Principal, params: {
      readonly status?: JobStatus | undefined
      readonly agent_id?: AgentId | undefined
      readonly limit: number
      readonly cursor?: JobId | undefined
    }) => repo.list({ ...params, visibility: visibilityOf(principal) })

    /** The job's status, structured result and result files with download URLs (presigned when the store has them). */
    const result = Effect.fn("Jobs.result")(function*(principal: Principal, jobId: JobId) {
      const job = yield* get(principal, jobId)
      const files = yield* repo.files(jobId, "result")
      const withUrls = yield* Effect.forEach(
        files,
        ({ file, storage_key }) =>
          store.presignedUrl(storage_key, { fileName: file.path, expiresInSeconds: downloadUrlSeconds }).pipe(
            Effect.orDie,
            Effect.map((url) =>
              new ResultFile({ ...file, download_url: Option.getOrElse(url, () => `/v1/jobs/${jobId}/files/${file.file_id}`) })
            )
          )
      )
      return new JobResult({
        job_id: job.job_id,
        status: job.status,
        decision_reason: job.decision_reason,
        failure_reason: job.failure_reason,
        result: job.result,
        files: withUrls
      })
    })

    /** A visible job's file and its bytes. @fails JobNotFound, FileNotFound. */
    const download = Effect.fn("Jobs.download")(function*(principal: Principal, jobId: JobId, fileId: FileId) {
      yield* get(principal, jobId)
      const found = yield* repo.findFile(jobId, fileId)
      if (Option.isNone(found)) return yield* FileNotFound.of(fileId)
      return { file: found.value.file, content: store.get(found.value.storage_key) }
    })

    /**
     * Pending jobs of an agent the executor serves, oldest first; with
     * `waitSeconds` > 0 held until one exists or the time is up.
     *
     * @fails Forbidden.
     */
    const pending = Effect.fn("Jobs.pending")(function*(principal: Principal, agentId: AgentId, limit: number, waitSeconds: number) {
      yield* requireExecutor(principal, agentId)
      const found = yield* limits.longPoll(
        principal.key_id,
        notifier.longPoll(
          "agnt_pending",
          agentId,
          waitSeconds,
          Effect.map(repo.listPending(agentId, limit), (jobs) => jobs.length > 0 ? Option.some(jobs) : Option.none())
        )
      )
      return Option.getOrElse(found, () => [])
    })

    /**
     * Claim the oldest pending job of an agent with a new lease, waiting up
     * to `request.wait` seconds (woken by NOTIFY from any server).
     *
     * @fails Forbidden.
     */
    const claim = Effect.fn("Jobs.claim")(function*(principal: Principal, request: ClaimRequest) {
      yield* requireExecutor(principal, request.agent_id)
      yield* repo.seen(request.executor_id, request.agent_id, principal.key_id)
      const claimed = yield* limits.longPoll(
        principal.key_id,
        notifier.longPoll(
          "agnt_pending",
          request.agent_id,
          request.wait,
          repo.claimNext({
            agentId: request.agent_id,
            executorId: request.executor_id,
            executorKeyId: principal.key_id,
            leaseId: makeLeaseId(),
            leaseSeconds
          })
        )
      )
      return new ClaimResponse({ claimed: Option.getOrNull(claimed) })
    })

    /**
     * An executor's status report. `accepted` makes a lease; every other
     * status but `rejected` needs the caller's current `lease_id` (a report
     * without one is refused as it is decoded, 400 naming the field; see
     * `StatusUpdate`).
     *
     * @fails Forbidden, JobNotFound, InvalidTransition, LeaseLost.
     */
    const report = Effect.fn("Jobs.report")(function*(principal: Principal, jobId: JobId, update: StatusUpdate) {
      yield* requireRole(principal, "executor", "admin")
      const lease: LeaseMode = update.status === "accepted"
        ? { _tag: "create", leaseId: makeLeaseId() }
        : update.status === "rejected"
        ? { _tag: "none" }
        : { _tag: "require", leaseId: update.lease_id ?? LeaseId.make("") }
      return yield* repo.transition({
        jobId,
        visibility: visibilityOf(principal),
        to: update.status,
        from: update.status === "canceled" ? ["accepted", "running"] : undefined,
        lease,
        leaseSeconds,
        executorKeyId: principal.key_id,
        progress: update.progress,
        message: update.message,
        reason: update.reason ?? (update.status === "canceled" ? "canceled by the buyer" : undefined)
      }).pipe(Effect.mapError(refusal(jobId, update.status)))
    })

    /**
     * Renew the caller's lease, appending `lines` (each cut at
     * `maxLogLineLength`) to the job's log when given.
     *
     * @fails Forbidden, JobNotFound, LeaseLost, InvalidTransition (the job is no longer accepted or running).
     */
    const renew = Effect.fn("Jobs.renew")(function*(principal: Principal, jobId: JobId, leaseId: LeaseId, lines?: ReadonlyArray<string>) {
      yield* requireRole(principal, "executor", "admin")
      return yield* repo.renew({
        jobId,
        visibility: visibilityOf(principal),
        leaseId,
        leaseSeconds,
        lines: lines?.map((line) => line.length > maxLogLineLength ? line.slice(0, maxLogLineLength) : line)
      }).pipe(Effect.mapError(refusal(jobId, "running")))
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
    const cancel = Effect.fn("Jobs.cancel")(function*(principal: Principal, jobId: JobId) {
      yield* requireRole(principal, "buyer", "admin")
      return yield* repo.cancel(jobId, visibilityOf(principal)).pipe(
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
    const events = Effect.fn("Jobs.events")(function*(principal: Principal, jobId: JobId, params: {
      readonly after: number
      readonly limit: number
      readonly wait: number
    }) {
      const visibility = visibilityOf(principal)
      const page = (found: Option.Option<{ readonly status: JobStatus; readonly data: ReadonlyArray<JobEvent> }>) =>
        Option.map(
          found,
          ({ data, status }) => new JobEventPage({ data, status, next_cursor: data[data.length - 1]?.event_id ?? params.after })
        )
      const first = page(yield* repo.events(jobId, visibility, params.after, params.limit))
      if (Option.isNone(first)) return yield* JobNotFound.of(jobId)
      if (first.value.data.length > 0 || params.wait <= 0 || isTerminal(first.value.status)) return first.value
      const waited = yield* limits.longPoll(
        principal.key_id,
        notifier.longPoll(
          "agnt_events",
          jobId,
          params.wait,
          Effect.map(
            repo.events(jobId, visibility, params.after, params.limit),
            (found) => Option.filter(page(found), (result) => result.data.length > 0 || isTerminal(result.status))
          )
        )
      )
      return Option.getOrElse(waited, () => first.value)
    })

    /**
     * Complete a running job the caller holds, with a request `body` of the
     * fields of `CompleteJobFields` and any result files, each stored as it
     * streams and checked against its stated SHA-256. The structured
     * `result` (`null` when absent) must match the agent's `output_schema`.
     * A retry of a complete that went through (same holder, same files, same
     * result) succeeds and changes nothing. A refused request keeps nothing:
     * with an `InvalidResult` the job stays running.
     *
     * @fails Forbidden, JobNotFound, InvalidTransition, LeaseLost, InvalidRequest, InvalidResult, InvalidFileName,
     *   ChecksumMismatch, PayloadTooLarge.
     */
    const complete = Effect.fn("Jobs.complete")(function*(principal: Principal, jobId: JobId, body: RequestBody): Effect.fn.Return<
      Job,
      | Forbidden
      | JobNotFound
      | InvalidTransition
      | LeaseLost
      | InvalidRequest
      | InvalidResult
      | InvalidFileName
      | ChecksumMismatch
      | PayloadTooLarge
    > {
      yield* requireRole(principal, "executor", "admin")
      const visibility = visibilityOf(principal)
      // Read before the upload, so a stranger's job costs no storage; the statements below re-check atomically.
      const current = yield* repo.findById(jobId, visibility)
      if (Option.isNone(current)) return yield* JobNotFound.of(jobId)
      const { fields: request, files } = yield* receive(store, body, CompleteJobFields, keyOf(jobId, "result"), uploadLimits("result"))
      return yield* Effect.gen(function*() {
        // A retried complete: the same holder with the same files and result succeeds and changes nothing.
        const retried = Effect.gen(function*() {
          const holder = yield* repo.leaseIdOf(jobId, visibility)
          // Both sides sorted here, alike: SQL's ORDER BY path (its collation, and the order of `path`
          // rather than of `path:sha256`) is not JavaScript's sort; comparing the two refused valid retries.
          const stored = [...yield* repo.resultManifest(jobId)].sort()
          const sent = files.map((file) => `${file.path}:${file.sha256}`).sort()
          const sameResult = canonicalJson(current.value.result ?? null) === canonicalJson(request.result ?? null)
          if (Option.contains(holder, request.lease_id) && stored.join("\n") === sent.join("\n") && sameResult) {
            yield* discardFiles(store, files)
            return yield* Effect.flatMap(
              repo.findById(jobId, visibility),
              (job) => Effect.orDieWith(job, () => new Error(`job ${jobId} vanished after completion`))
            )
          }
          return yield* InvalidTransition.of(jobId, "completed", "completed")
        })
        // A duplicate racing the first complete finds the job completed once that one commits.
        const refused = (reason: TransitionRefusal) =>
          reason._tag === "WrongStatus" && reason.status === "completed" ? retried : Effect.fail(refusal(jobId, "completed")(reason))
        if (current.value.status === "completed") return yield* retried
        const renewed = yield* Effect.either(repo.renew({ jobId, visibility, leaseId: request.lease_id, leaseSeconds }))
        if (Either.isLeft(renewed)) return yield* refused(renewed.left)
        if (current.value.status !== "running") return yield* InvalidTransition.of(jobId, current.value.status, "completed")
        const agent = yield* agents.findById(current.value.agent_id)
        if (Option.isSome(agent)) yield* schemas.validateResult(agent.value.output_schema, request.result ?? null)
        const result = request.result === undefined ? Option.none() : Option.some(request.result)
        return yield* repo.complete({ jobId, visibility, leaseId: request.lease_id, files, message: request.message, result }).pipe(
          Effect.catchAll(refused)
        )
      }).pipe(Effect.onError(() => discardFiles(store, files)))
    })

    return { create, get, list, result, download, pending, claim, report, renew, cancel, events, complete } as const
  }),
  dependencies: [AgentsRepo.Default, JobsRepo.Default, JsonSchemas.Default, Notifier.Default, RateLimits.Default]
}) {}
