/**
 * The job service: ordering (agent lookup, `params` validation, file-name
 * checks, input files into the object store), reading with object-level
 * authorization (OWASP API1: what a caller may not see is `JobNotFound`),
 * and the executor's lifecycle calls.
 */
import { Forbidden, InvalidFileName, InvalidTransition, JobNotFound, PayloadTooLarge } from "@agnt/domain/Errors"
import type { Principal } from "@agnt/domain/Auth"
import { AgentNotFound, FileNotFound } from "@agnt/domain/Errors"
import { normalizeFilePath } from "@agnt/domain/Files"
import type { AgentId, FileId, JobId } from "@agnt/domain/Ids"
import { type Job, JobResult, type JobParams, ResultFile, type StatusUpdate } from "@agnt/domain/Job"
import type { JobStatus } from "@agnt/domain/Lifecycle"
import type { Multipart } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import { AgentsRepo } from "./AgentsRepo.js"
import { makeFileId, makeJobId } from "./Ids.js"
import { JobsRepo, type NewJobFile, type TransitionRefusal, type Visibility } from "./JobsRepo.js"
import { JsonSchemas } from "./JsonSchemas.js"
import { ObjectStore } from "./ObjectStore.js"
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

    const refusal = (jobId: JobId, to: JobStatus) => (reason: TransitionRefusal) =>
      reason._tag === "NotFound" ? JobNotFound.of(jobId) : InvalidTransition.of(jobId, reason.status, to)

    /**
     * Check names, count and sizes of uploaded files and store them under
     * `jobs/{job_id}/{kind}/{file_id}`.
     *
     * @fails InvalidFileName for a bad or repeated name; PayloadTooLarge over `maxFiles` or `maxFileBytes`.
     */
    const storeFiles = (jobId: JobId, kind: "input" | "result", files: ReadonlyArray<Multipart.PersistedFile>) =>
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
            return { file, path }
          }))
        return yield* Effect.forEach(checked, ({ file, path }) =>
          Effect.gen(function*() {
            const fileId = makeFileId()
            const storageKey = `jobs/${jobId}/${kind}/${fileId}`
            const stored = yield* store.put(storageKey, file.path, file.contentType).pipe(Effect.orDie)
            if (stored.size > settings.maxFileBytes) {
              yield* store.remove(storageKey).pipe(Effect.ignore)
              return yield* new PayloadTooLarge({ message: `${path} is over ${settings.maxFileBytes} bytes`, limit: settings.maxFileBytes })
            }
            return {
              file_id: fileId,
              path,
              size: stored.size,
              mime: file.contentType || "application/octet-stream",
              sha256: stored.sha256,
              storage_key: storageKey
            } satisfies NewJobFile
          }), { concurrency: 4 })
      })

    /**
     * Order a job of `agent_id` for `principal` (a buyer or admin).
     *
     * @fails Forbidden, AgentNotFound, InvalidParams, InvalidFileName, PayloadTooLarge.
     */
    const create = Effect.fn("Jobs.create")(function*(principal: Principal, request: {
      readonly agent_id: AgentId
      readonly prompt: string
      readonly params: JobParams
      readonly files?: ReadonlyArray<Multipart.PersistedFile> | undefined
    }) {
      yield* requireRole(principal, "buyer", "admin")
      const agent = yield* agents.findById(request.agent_id)
      if (Option.isNone(agent)) return yield* AgentNotFound.of(request.agent_id)
      yield* schemas.validate(agent.value.input_schema, request.params)
      const jobId = makeJobId()
      const files = yield* storeFiles(jobId, "input", request.files ?? [])
      return yield* repo.insert({
        job_id: jobId,
        agent_id: request.agent_id,
        buyer_key_id: principal.key_id,
        prompt: request.prompt,
        params: request.params,
        files
      })
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

    /** Pending jobs of an agent the executor serves, oldest first. @fails Forbidden. */
    const pending = Effect.fn("Jobs.pending")(function*(principal: Principal, agentId: AgentId, limit: number) {
      yield* requireRole(principal, "executor", "admin")
      if (principal.role === "executor" && !principal.agent_ids.includes(agentId)) {
        return yield* new Forbidden({ message: `this key does not serve ${agentId}` })
      }
      return yield* repo.listPending(agentId, limit)
    })

    /** An executor's status report. @fails Forbidden, JobNotFound, InvalidTransition. */
    const report = Effect.fn("Jobs.report")(function*(principal: Principal, jobId: JobId, update: StatusUpdate) {
      yield* requireRole(principal, "executor", "admin")
      return yield* repo.transition({
        jobId,
        visibility: visibilityOf(principal),
        to: update.status,
        executorKeyId: principal.key_id,
        progress: update.progress,
        message: update.message,
        reason: update.reason
      }).pipe(Effect.mapError(refusal(jobId, update.status)))
    })

    /**
     * Store result files and complete a running job.
     *
     * @fails Forbidden, JobNotFound, InvalidTransition, InvalidFileName, PayloadTooLarge.
     */
    const complete = Effect.fn("Jobs.complete")(function*(principal: Principal, jobId: JobId, request: {
      readonly message?: string | undefined
      readonly files?: ReadonlyArray<Multipart.PersistedFile> | undefined
    }): Effect.fn.Return<Job, Forbidden | JobNotFound | InvalidTransition | InvalidFileName | PayloadTooLarge> {
      yield* requireRole(principal, "executor", "admin")
      const visibility = visibilityOf(principal)
      const current = yield* repo.findById(jobId, visibility)
      if (Option.isNone(current)) return yield* JobNotFound.of(jobId)
      if (current.value.status !== "running") return yield* InvalidTransition.of(jobId, current.value.status, "completed")
      const files = yield* storeFiles(jobId, "result", request.files ?? [])
      return yield* repo.complete({ jobId, visibility, files, message: request.message }).pipe(
        Effect.tapError(() => Effect.forEach(files, (file) => store.remove(file.storage_key).pipe(Effect.ignore))),
        Effect.mapError(refusal(jobId, "completed"))
      )
    })

    return { create, get, list, result, download, pending, report, complete } as const
  })
}) {}
