/**
 * What the job services share: what a principal may see (OWASP API1: what a
 * caller may not see is `JobNotFound`), which domain error a refused change
 * is, where a job's files live in the object store, and the upload limits
 * of its input and result files, and the services the job calls use.
 */
import type { Principal } from "@agnt/domain/Auth"
import { InvalidTransition, JobNotFound, LeaseLost } from "@agnt/domain/Errors"
import type { FileId, JobId } from "@agnt/domain/Ids"
import type { JobStatus } from "@agnt/domain/Lifecycle"
import { Effect } from "effect"
import { AgentsRepo } from "../Agents/Repo.js"
import { JsonSchemas } from "../JsonSchemas.js"
import { Notifier } from "../Notifier.js"
import { ObjectStore } from "../ObjectStore.js"
import { RateLimits } from "../RateLimits.js"
import { ServerConfig, type ServerSettings } from "../ServerConfig.js"
import { maxFieldBytesOf, type UploadLimits } from "../Uploads.js"
import { LifecycleRepo, type TransitionRefusal } from "./LifecycleRepo.js"
import { JobsRepo } from "./Repo.js"
import type { Visibility } from "./Sql.js"

/**
 * What `principal` may see: admins everything, buyers their account's jobs
 * (a child-order key: only the children of its job), executors their agents' jobs.
 */
export const visibilityOf = (principal: Principal): Visibility => {
  switch (principal.role) {
    case "admin":
      return { _tag: "All" }
    case "buyer":
      return principal.scope_job_id === null
        ? { _tag: "Account", accountId: principal.account_id }
        : { _tag: "Children", accountId: principal.account_id, parentJobId: principal.scope_job_id }
    case "executor":
      return { _tag: "Agents", agentIds: principal.agent_ids }
  }
}

/** The domain error of a change of `jobId` to `to` refused for `reason`: 404, 409 `LeaseLost` or 409 `InvalidTransition`. */
export const refusal = (jobId: JobId, to: JobStatus) => (reason: TransitionRefusal) => {
  switch (reason._tag) {
    case "NotFound":
      return JobNotFound.of(jobId)
    case "LeaseLost":
      return LeaseLost.of(jobId)
    case "WrongStatus":
      return InvalidTransition.of(jobId, reason.status, to)
  }
}

/** Where a job's file lives in the object store: `jobs/{job_id}/{input|result}/{file_id}`. */
export const keyOf = (jobId: JobId, kind: "input" | "result") => (fileId: FileId) => `jobs/${jobId}/${kind}/${fileId}`

/** Limits on a job's input files and on one complete's result files. */
export const uploadLimits = (settings: ServerSettings, kind: "input" | "result"): UploadLimits => ({
  maxBodyBytes: settings.maxBodyBytes,
  maxFiles: settings.maxFiles,
  maxFileBytes: settings.maxFileBytes,
  maxTotalBytes: kind === "input" ? settings.maxJobBytes : undefined,
  maxFieldBytes: maxFieldBytesOf(settings)
})

/** The services the buyer's and the executor's job calls use. */
export const jobServices = Effect.all({
  settings: ServerConfig,
  agents: AgentsRepo,
  jobs: JobsRepo,
  lifecycle: LifecycleRepo,
  schemas: JsonSchemas,
  store: ObjectStore,
  notifier: Notifier,
  limits: RateLimits
})
export type JobServices = Effect.Effect.Success<typeof jobServices>

/** The layers of `jobServices` but the object store and the configuration, which the server provides. */
export const jobServiceLayers = [
  AgentsRepo.Default,
  JobsRepo.Default,
  LifecycleRepo.Default,
  JsonSchemas.Default,
  Notifier.Default,
  RateLimits.Default
] as const
