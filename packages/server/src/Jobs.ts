/**
 * The job service: ordering (agent lookup, `params` validation, file-name
 * checks, input files into the object store), reading with object-level
 * authorization (OWASP API1: what a caller may not see is `JobNotFound`),
 * and the executor's lifecycle calls.
 */
import {
  Forbidden,
  IdempotencyConflict,
  InvalidFileName,
  InvalidTransition,
  JobNotFound,
  LeaseLost,
  PayloadTooLarge
} from "@agnt/domain/Errors"
import type { Principal } from "@agnt/domain/Auth"
import { AgentNotFound, FileNotFound } from "@agnt/domain/Errors"
import { normalizeFilePath } from "@agnt/domain/Files"
import type { AgentId, FileId, JobId } from "@agnt/domain/Ids"
import {
  type ClaimRequest,
  ClaimResponse,
  type Job,
  type JobEvent,
  JobEventPage,
  type JobParams,
  JobResult,
  maxLogLineLength,
  ResultFile,
  type StatusUpdate
} from "@agnt/domain/Job"
import { isTerminal, type JobStatus } from "@agnt/domain/Lifecycle"
import type { Multipart } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import { AgentsRepo } from "./AgentsRepo.js"
import { makeFileId, makeJobId, makeLeaseId } from "./Ids.js"
import { JobsRepo, type LeaseMode, type NewJobFile, type TransitionRefusal, type Visibility } from "./JobsRepo.js"
import { JsonSchemas } from "./JsonSchemas.js"
import { ObjectStore } from "./ObjectStore.js"
import { Notifier } from "./Notifier.js"
import { RateLimits } from "./RateLimits.js"
import { ServerConfig } from "./ServerConfig.js"

/** What `principal` may see: admins everything, buyers their own jobs, executors their agents' jobs. */
export const visibilityOf = (principal: Principal): Visibility => {
  switch (principal.role) {
    case "admin":
      return { _tag: "All" }
    case "buyer":
      return { _tag: "Buyer", keyId: principal.key_id }
    case "executor":
      return { _tag: "Agents", agentIds: principal.agent_ids }
  }
}

/** @fails Forbidden unless `principal` has one of `roles`. */
export const requireRole = (principal: Principal, ...roles: ReadonlyArray<Principal["role"]>) =>
  roles.includes(principal.role)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: `this endpoint is for ${roles.join(" or ")} keys; yours is ${principal.role}` }))

/** An uploaded file whose name, size and hash were checked. */
interface CheckedFile {
  readonly file: Multipart.PersistedFile
  readonly path: string
  readonly sha256: string
  readonly size: number
}

const sha256Hex = (text: string) => NodeCrypto.createHash("sha256").update(text).digest("hex")

/** SHA-256 (hex) and size in bytes of a local file, streamed. */
const hashFile = (path: string) =>
  Effect.promise(async () => {
    const hash = NodeCrypto.createHash("sha256")
    let size = 0
    for await (const chunk of NodeFs.createReadStream(path)) {
      hash.update(chunk)
      size += chunk.length
    }
    return { sha256: hash.digest("hex"), size }
  })

/** JSON with object keys sorted at every depth, so equal values hash equally. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === "object" && inner !== null && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner)

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

    /**
     * Check names, count and sizes of uploaded files (normalised paths,
     * no repeats, at most `maxFiles`, each at most `maxFileBytes`, together
     * at most `maxJobBytes` for inputs) and hash them.
     *
     * @fails InvalidFileName for a bad or repeated name; PayloadTooLarge over a limit.
     */
    const checkFiles = (kind: "input" | "result", files: ReadonlyArray<Multipart.PersistedFile>) =>
      Effect.gen(function*() {
        if (files.length > settings.maxFiles) {
          return yield* new PayloadTooLarge({ message: `at most ${settings.maxFiles} files per upload`, limit: settings.maxFiles })
        }
        const seen = new Set<string>()
        const checked = yield* Effect.forEach(files, (file) =>
          Effect.gen(function*() {
            const path = yield* Either.match(normalizeFilePath(file.name), { onLeft: Effect.fail, onRight: Effect.succeed })
            if (seen.has(path)) return yield* new InvalidFileName({ path: file.name, message: "file name appears twice" })
            seen.add(path)
            const { sha256, size } = yield* hashFile(file.path)
            if (size > settings.maxFileBytes) {
              return yield* new PayloadTooLarge({ message: `${path} is over ${settings.maxFileBytes} bytes`, limit: settings.maxFileBytes })
            }
            return { file, path, sha256, size }
          }), { concurrency: 4 })
        const total = checked.reduce((sum, file) => sum + file.size, 0)
        if (kind === "input" && total > settings.maxJobBytes) {
          return yield* new PayloadTooLarge({ message: `a job's files total at most ${settings.maxJobBytes} bytes`, limit: settings.maxJobBytes })
        }
        return checked
      })

    /** Store checked files under `jobs/{job_id}/{kind}/{file_id}`. */
    const storeFiles = (jobId: JobId, kind: "input" | "result", files: ReadonlyArray<CheckedFile>) =>
      Effect.forEach(files, ({ file, path }) =>
        Effect.gen(function*() {
          const fileId = makeFileId()
          const storageKey = `jobs/${jobId}/${kind}/${fileId}`
          const stored = yield* store.put(storageKey, file.path, file.contentType).pipe(Effect.orDie)
          return {
            file_id: fileId,
            path,
            size: stored.size,
            mime: file.contentType || "application/octet-stream",
            sha256: stored.sha256,
            storage_key: storageKey
          } satisfies NewJobFile
        }), { concurrency: 4 })

    const removeObjects = (files: ReadonlyArray<NewJobFile>) =>
      Effect.forEach(files, (file) => store.remove(file.storage_key).pipe(Effect.ignore), { discard: true })

    /** The job an earlier request with `idempotencyKey` made, if the request was the same. */
    const replay = (principal: Principal, idempotencyKey: string, requestSha256: string) =>
      Effect.gen(function*() {
        const earlier = yield* repo.findIdempotent(principal.key_id, idempotencyKey)
        if (Option.isNone(earlier)) return Option.none<Job>()
        if (earlier.value.request_sha256 !== requestSha256) {
          return yield* new IdempotencyConflict({
            idempotency_key: idempotencyKey,
            job_id: earlier.value.job_id,
            message: "this Idempotency-Key was used with a different request"
          })
        }
        return yield* repo.findById(earlier.value.job_id, { _tag: "All" })
      })

    /**
     * Order a job of `agent_id` for `principal` (a buyer or admin). With an
     * `idempotencyKey`, a repeat of the same request returns the job the
     * first one made.
     *
     * @fails Forbidden, AgentNotFound, InvalidParams, InvalidFileName, PayloadTooLarge, IdempotencyConflict.
     */
    const create = Effect.fn("Jobs.create")(function*(principal: Principal, request: {
      readonly agent_id: AgentId
      readonly prompt: string
      readonly params: JobParams
      readonly files?: ReadonlyArray<Multipart.PersistedFile> | undefined
    }, idempotencyKey?: string) {
      yield* requireRole(principal, "buyer", "admin")
      if (request.prompt.length > settings.maxPromptChars) {
        return yield* new PayloadTooLarge({ message: `prompt is over ${settings.maxPromptChars} characters`, limit: settings.maxPromptChars })
      }
      const paramsBytes = Buffer.byteLength(JSON.stringify(request.params))
      if (paramsBytes > settings.maxParamsBytes) {
        return yield* new PayloadTooLarge({ message: `params are over ${settings.maxParamsBytes} bytes of JSON`, limit: settings.maxParamsBytes })
      }
      const agent = yield* agents.findById(request.agent_id)
      if (Option.isNone(agent)) return yield* AgentNotFound.of(request.agent_id)
      yield* schemas.validate(agent.value.input_schema, request.params)
      const checked = yield* checkFiles("input", request.files ?? [])
      const requestSha256 = sha256Hex(canonicalJson({
        agent_id: request.agent_id,
        prompt: request.prompt,
        params: request.params,
        files: checked.map((file) => [file.path, file.sha256])
      }))
      if (idempotencyKey !== undefined) {
        const earlier = yield* replay(principal, idempotencyKey, requestSha256)
        if (Option.isSome(earlier)) return earlier.value
      }
      const jobId = makeJobId()
      const files = yield* storeFiles(jobId, "input", checked)
      return yield* repo.insert({
        job_id: jobId,
        agent_id: request.agent_id,
        buyer_key_id: principal.key_id,
        prompt: request.prompt,
        params: request.params,
        files,
        idempotency: idempotencyKey === undefined ? undefined : { key: idempotencyKey, request_sha256: requestSha256 }
      }).pipe(
        Effect.tapError(() => removeObjects(files)),
        Effect.catchTag("IdempotencyTaken", () =>
          Effect.flatMap(replay(principal, idempotencyKey ?? "", requestSha256), (earlier) =>
            Effect.orDieWith(earlier, () => new Error("idempotency key taken but no job found"))))
      )
    })

    /** @fails JobNotFound when the job does not exist or is not the caller's. */
    const get = Effect.fn("Jobs.get")(function*(principal: Principal, jobId: JobId) {
      const job = yield* repo.findById(jobId, visibilityOf(principal))
      return yield* Option.match(job, { onNone: () => Effect.fail(JobNotFound.of(jobId)), onSome: Effect.succeed })
    })

    /** The caller's jobs, newest first. */
    const list = (principal: Principal, params: {
      readonly status?: JobStatus | undefined
      readonly agent_id?: AgentId | undefined
      readonly limit: number
      readonly cursor?: JobId | undefined
    }) => repo.list({ ...params, visibility: visibilityOf(principal) })

    /** The job's status and result files with download URLs (presigned when the store has them). */
    const result = Effect.fn("Jobs.result")(function*(principal: Principal, jobId: JobId) {
      const job = yield* get(principal, jobId)
      const files = yield* repo.files(jobId, "result")
      const withUrls = yield* Effect.forEach(files, ({ file, storage_key }) =>
        store.presignedUrl(storage_key, { fileName: file.path, expiresInSeconds: downloadUrlSeconds }).pipe(
          Effect.orDie,
          Effect.map((url) =>
            new ResultFile({ ...file, download_url: Option.getOrElse(url, () => `/v1/jobs/${jobId}/files/${file.file_id}`) })
          )
        ))
      return new JobResult({ job_id: job.job_id, status: job.status, failure_reason: job.failure_reason, files: withUrls })
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
      const found = yield* limits.longPoll(principal.key_id, notifier.longPoll("agnt_pending", agentId, waitSeconds,
        Effect.map(repo.listPending(agentId, limit), (jobs) => jobs.length > 0 ? Option.some(jobs) : Option.none())))
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
      const claimed = yield* limits.longPoll(principal.key_id, notifier.longPoll("agnt_pending", request.agent_id, request.wait, repo.claimNext({
        agentId: request.agent_id,
        executorId: request.executor_id,
        executorKeyId: principal.key_id,
        leaseId: makeLeaseId(),
        leaseSeconds
      })))
      return new ClaimResponse({ claimed: Option.getOrNull(claimed) })
    })

    /**
     * An executor's status report. `accepted` makes a lease; every other
     * status but `rejected` needs the caller's current `lease_id`.
     *
     * @fails Forbidden, JobNotFound, InvalidTransition, LeaseLost.
     */
    const report = Effect.fn("Jobs.report")(function*(principal: Principal, jobId: JobId, update: StatusUpdate) {
      yield* requireRole(principal, "executor", "admin")
      const lease: LeaseMode = update.status === "accepted"
        ? { _tag: "create", leaseId: makeLeaseId() }
        : update.status === "rejected"
        ? { _tag: "none" }
        : { _tag: "require", leaseId: update.lease_id ?? "" }
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
    const renew = Effect.fn("Jobs.renew")(function*(principal: Principal, jobId: JobId, leaseId: string, lines?: ReadonlyArray<string>) {
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
          reason._tag === "WrongStatus" ? InvalidTransition.of(jobId, reason.status, "canceled") : JobNotFound.of(jobId))
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
        Option.map(found, ({ data, status }) =>
          new JobEventPage({ data, status, next_cursor: data[data.length - 1]?.event_id ?? params.after }))
      const first = page(yield* repo.events(jobId, visibility, params.after, params.limit))
      if (Option.isNone(first)) return yield* JobNotFound.of(jobId)
      if (first.value.data.length > 0 || params.wait <= 0 || isTerminal(first.value.status)) return first.value
      const waited = yield* limits.longPoll(principal.key_id, notifier.longPoll("agnt_events", jobId, params.wait,
        Effect.map(repo.events(jobId, visibility, params.after, params.limit), (found) =>
          Option.filter(page(found), (result) => result.data.length > 0 || isTerminal(result.status)))))
      return Option.getOrElse(waited, () => first.value)
    })

    /**
     * Store result files and complete a running job the caller holds.
     *
     * @fails Forbidden, JobNotFound, InvalidTransition, LeaseLost, InvalidFileName, PayloadTooLarge.
     */
    const complete = Effect.fn("Jobs.complete")(function*(principal: Principal, jobId: JobId, request: {
      readonly lease_id: string
      readonly message?: string | undefined
      readonly files?: ReadonlyArray<Multipart.PersistedFile> | undefined
    }): Effect.fn.Return<Job, Forbidden | JobNotFound | InvalidTransition | LeaseLost | InvalidFileName | PayloadTooLarge> {
      yield* requireRole(principal, "executor", "admin")
      const visibility = visibilityOf(principal)
      const checked = yield* checkFiles("result", request.files ?? [])
      const current = yield* repo.findById(jobId, visibility)
      if (Option.isNone(current)) return yield* JobNotFound.of(jobId)
      // A retried complete: the same holder with the same files succeeds and changes nothing.
      const retried = Effect.gen(function*() {
        const holder = yield* repo.leaseIdOf(jobId, visibility)
        // Both sides sorted here, alike: SQL's ORDER BY path (its collation, and the order of `path`
        // rather than of `path:sha256`) is not JavaScript's sort; comparing the two refused valid retries.
        const stored = [...yield* repo.resultManifest(jobId)].sort()
        const sent = checked.map((file) => `${file.path}:${file.sha256}`).sort()
        if (Option.contains(holder, request.lease_id) && stored.join("\n") === sent.join("\n")) {
          return yield* Effect.flatMap(repo.findById(jobId, visibility), (job) =>
            Effect.orDieWith(job, () => new Error(`job ${jobId} vanished after completion`)))
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
      const files = yield* storeFiles(jobId, "result", checked)
      return yield* repo.complete({ jobId, visibility, leaseId: request.lease_id, files, message: request.message }).pipe(
        Effect.tapError(() => removeObjects(files)),
        Effect.catchAll(refused)
      )
    })

    return { create, get, list, result, download, pending, claim, report, renew, cancel, events, complete } as const
  })
}) {}
