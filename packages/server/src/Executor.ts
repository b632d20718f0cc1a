/**
 * The executor's side of jobs: its agents' pending jobs and claims
 * (long-polls woken by NOTIFY from any server), status reports, lease
 * renewals with logs, and completion with result files. An executor key
 * sees only its agents' jobs (OWASP API1).
 */
import { CompleteJobFields } from "@agnt/domain/Api"
import type { Principal } from "@agnt/domain/Auth"
import {
  type ChecksumMismatch,
  Forbidden,
  type InvalidFileName,
  type InvalidRequest,
  type InvalidResult,
  InvalidTransition,
  JobNotFound,
  type LeaseLost,
  type PayloadTooLarge
} from "@agnt/domain/Errors"
import { type AgentId, type JobId, LeaseId } from "@agnt/domain/Ids"
import { ChildKey, type ClaimRequest, ClaimResponse, type Job, type StatusUpdate } from "@agnt/domain/Job"
import { maxLogLineLength } from "@agnt/domain/Limits"
import { Effect, Option, Redacted } from "effect"
import { ApiKeys } from "./ApiKeys.js"
import { requireRole } from "./Auth.js"
import { makeApiKeyId, makeLeaseId } from "./Ids.js"
import { jobServiceLayers, type JobServices, jobServices, keyOf, refusal, uploadLimits, visibilityOf } from "./Jobs/Access.js"
import { canonicalJson } from "./Jobs/Idempotency.js"
import { type CompletionState, type LeaseMode, refusalOf, type TransitionRefusal } from "./Jobs/LifecycleRepo.js"
import type { NewJobFile, Visibility } from "./Jobs/Sql.js"
import type { Channel } from "./Notifier.js"
import { discardFiles, receive, type RequestBody } from "./Uploads.js"

/** A complete's fields and its stored result files. */
interface Completion {
  readonly request: typeof CompleteJobFields.Type
  readonly files: ReadonlyArray<NewJobFile>
}

/**
 * Whether a complete of a job already `completed` repeats the one that
 * went through: the same holder, the same files (path and SHA-256) and the
 * same structured result.
 */
const repeats = (state: CompletionState, { files, request }: Completion) => {
  // Both sides sorted here, alike: SQL's order of paths (its collation) is not JavaScript's sort.
  const stored = [...state.result_manifest].sort()
  const sent = files.map((file) => `${file.path}:${file.sha256}`).sort()
  return state.lease_id === request.lease_id && stored.join("\n") === sent.join("\n") &&
    canonicalJson(state.result ?? null) === canonicalJson(request.result ?? null)
}

/**
 * Why a complete is refused before its statement runs, judged on the state
 * read before the upload (the statement re-checks atomically): the job is
 * not accepted or running or held under another lease (as a renewal would
 * be refused), or it is not running yet.
 */
const refusedCompletion = (jobId: JobId, state: CompletionState, leaseId: LeaseId) => {
  const holds = (state.status === "accepted" || state.status === "running") && state.lease_id === leaseId
  if (!holds) {
    return Option.some(refusal(jobId, "completed")(refusalOf(Option.some(state), { _tag: "require", leaseId }, ["accepted", "running"])))
  }
  if (state.status !== "running") return Option.some(InvalidTransition.of(jobId, state.status, "completed"))
  return Option.none()
}

/** Forbidden unless `principal` is an admin or an executor key serving `agentId`. */
const requireExecutor = (principal: Principal, agentId: AgentId) =>
  Effect.zipRight(
    requireRole(principal, "executor", "admin"),
    principal.role === "executor" && !principal.agent_ids.includes(agentId)
      ? Effect.fail(new Forbidden({ message: `this key does not serve ${agentId}` }))
      : Effect.void
  )

/**
 * `poll` once; when it finds nothing and the caller waits, a long-poll of
 * `principal` on `channel`/`key`, counted against its key's open
 * long-polls. A call answered at once holds no slot.
 */
const longPoll = <A, E, R>(
  { limits, notifier }: JobServices,
  principal: Principal,
  channel: Channel,
  key: string,
  wait: number,
  poll: Effect.Effect<Option.Option<A>, E, R>
) =>
  Effect.flatMap(poll, (found) =>
    Option.isSome(found) || wait <= 0
      ? Effect.succeed(found)
      : limits.longPoll(principal.key_id, notifier.longPoll(channel, key, wait, poll)))

/**
 * Pending jobs of an agent the executor serves, oldest first; with
 * `waitSeconds` > 0 held until one exists or the time is up.
 *
 * @fails Forbidden.
 */
const pending = (services: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, agentId: AgentId, limit: number, waitSeconds: number) {
    yield* requireExecutor(principal, agentId)
    const poll = Effect.map(services.jobs.listPending(agentId, limit), (found) => found.length > 0 ? Option.some(found) : Option.none())
    return Option.getOrElse(yield* longPoll(services, principal, "agnt_pending", agentId, waitSeconds, poll), () => [])
  })

/**
 * Claim the oldest pending job of an agent with a new lease (and with
 * `request.start`, start it), waiting up to `request.wait` seconds (woken
 * by NOTIFY from any server).
 *
 * @fails Forbidden.
 */
const claim = (services: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, request: ClaimRequest) {
    yield* requireExecutor(principal, request.agent_id)
    yield* services.lifecycle.seen(request.executor_id, request.agent_id, principal.key_id)
    const next = services.lifecycle.claimNext({
      agentId: request.agent_id,
      executorId: request.executor_id,
      executorKeyId: principal.key_id,
      leaseId: makeLeaseId(),
      leaseSeconds: services.settings.leaseSeconds,
      start: request.start ?? false,
      claimId: request.claim_id
    })
    const claimed = yield* longPoll(services, principal, "agnt_pending", request.agent_id, request.wait, next)
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
const report = ({ lifecycle, settings }: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId, update: StatusUpdate) {
    yield* requireRole(principal, "executor", "admin")
    const lease: LeaseMode = update.status === "accepted"
      ? { _tag: "create", leaseId: makeLeaseId() }
      : update.status === "rejected"
      ? { _tag: "none" }
      : { _tag: "require", leaseId: update.lease_id ?? LeaseId.make("") }
    return yield* lifecycle.transition({
      jobId,
      visibility: visibilityOf(principal),
      to: update.status,
      from: update.status === "canceled" ? ["accepted", "running"] : undefined,
      lease,
      leaseSeconds: settings.leaseSeconds,
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
const renew = ({ lifecycle, settings }: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId, leaseId: LeaseId, lines?: ReadonlyArray<string>) {
    yield* requireRole(principal, "executor", "admin")
    return yield* lifecycle.renew({
      jobId,
      visibility: visibilityOf(principal),
      leaseId,
      leaseSeconds: settings.leaseSeconds,
      lines: lines?.map((line) => line.length > maxLogLineLength ? line.slice(0, maxLogLineLength) : line)
    }).pipe(Effect.mapError(refusal(jobId, "running")))
  })

/** A retried complete that went through succeeds and changes nothing; any other complete of a completed job is 409. */
const repeated = ({ jobs, lifecycle, store }: JobServices, jobId: JobId, visibility: Visibility, completion: Completion) =>
  Effect.gen(function*() {
    const state = yield* lifecycle.completion(jobId, visibility)
    if (Option.isNone(state) || !repeats(state.value, completion)) {
      return yield* InvalidTransition.of(jobId, "completed", "completed")
    }
    yield* discardFiles(store, completion.files)
    const job = yield* jobs.findById(jobId, visibility)
    return yield* Effect.orDieWith(job, () => new Error(`job ${jobId} vanished after completion`))
  })

/** The transition that completes the job with the result files and the structured result `completion` brought. */
const completion = (jobId: JobId, visibility: Visibility, { files, request }: Completion) => ({
  jobId,
  visibility,
  to: "completed" as const,
  lease: { _tag: "require" as const, leaseId: request.lease_id },
  leaseSeconds: 0,
  message: request.message,
  files,
  result: request.result === undefined ? Option.none() : Option.some(request.result)
})

/** Complete the job in one statement, with the result files and the structured result `completion` brought. */
const completeHeld = (services: JobServices, jobId: JobId, visibility: Visibility, completed: Completion) =>
  services.lifecycle.transition(completion(jobId, visibility, completed)).pipe(
    Effect.map((claimed) => claimed.job),
    Effect.catchAll((reason: TransitionRefusal) =>
      // A duplicate racing the first complete finds the job completed once that one commits.
      reason._tag === "WrongStatus" && reason.status === "completed"
        ? repeated(services, jobId, visibility, completed)
        : Effect.fail(refusal(jobId, "completed")(reason))
    )
  )

/**
 * Complete, judged on the job's state read first: refused as a renewal
 * would be, a repeat of the complete that went through, or the result
 * checked against the agent's `output_schema` and the change made.
 */
const completeChecked = (services: JobServices, jobId: JobId, visibility: Visibility, state: CompletionState, completed: Completion) =>
  Effect.gen(function*() {
    if (state.status === "completed") return yield* repeated(services, jobId, visibility, completed)
    const refused = refusedCompletion(jobId, state, completed.request.lease_id)
    if (Option.isSome(refused)) return yield* refused.value
    yield* services.schemas.validateResult(state.output_schema, completed.request.result ?? null)
    return yield* completeHeld(services, jobId, visibility, completed)
  })

/** The state `complete` is judged on. @fails JobNotFound when the job is not visible. */
const completionState = ({ lifecycle }: JobServices, jobId: JobId, visibility: Visibility) =>
  Effect.flatMap(lifecycle.completion(jobId, visibility), Option.match({ onNone: () => JobNotFound.of(jobId), onSome: Effect.succeed }))

/**
 * Complete a running job the caller holds, with a request `body` of the
 * fields of `CompleteJobFields` and any result files, each stored as it
 * streams and checked against its stated SHA-256. The structured `result`
 * (`null` when absent) must match the agent's `output_schema`. A retry of a
 * complete that went through (same holder, same files, same result)
 * succeeds and changes nothing. A refused request keeps nothing: with an
 * `InvalidResult` the job stays running.
 *
 * A JSON body, or a `small` one (`Content-Length` of at most
 * `smallBodyBytes`, files and all), without a `result`, for an agent
 * without an `output_schema`, is one statement: the change, with its
 * files. Otherwise the job's state is read first — before the upload of a
 * large body, so that a stranger's job costs no storage; a small one's
 * files are discarded when refused — and then the change is made.
 *
 * @fails Forbidden, JobNotFound, InvalidTransition, LeaseLost, InvalidRequest, InvalidResult, InvalidFileName,
 *   ChecksumMismatch, PayloadTooLarge.
 */
const complete = (services: JobServices) =>
  Effect.fnUntraced(function*(principal: Principal, jobId: JobId, body: RequestBody, small: boolean): Effect.fn.Return<
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
    const { lifecycle, settings, store } = services
    yield* requireRole(principal, "executor", "admin")
    const visibility = visibilityOf(principal)
    const receiveAll = Effect.map(
      receive(store, body, CompleteJobFields, keyOf(jobId, "result"), uploadLimits(settings, "result")),
      ({ fields, files }): Completion => ({ request: fields, files })
    )
    if (body._tag === "Json" || small) {
      const completed = yield* receiveAll
      return yield* Effect.gen(function*() {
        if (completed.request.result === undefined) {
          const done = yield* lifecycle.tryTransition({ ...completion(jobId, visibility, completed), onlyWithoutOutputSchema: true })
          if (Option.isSome(done)) return done.value.job
        }
        return yield* completeChecked(services, jobId, visibility, yield* completionState(services, jobId, visibility), completed)
      }).pipe(Effect.onError(() => discardFiles(store, completed.files)))
    }
    const state = yield* completionState(services, jobId, visibility)
    const completed = yield* receiveAll
    return yield* completeChecked(services, jobId, visibility, state, completed).pipe(
      Effect.onError(() => discardFiles(store, completed.files))
    )
  })

/**
 * Issue the holder of `jobId`'s lease a child-order key: a buyer key of the
 * job's account scoped to the job (`Principal.scope_job_id`), with which
 * the executor orders children of that job on the buyer's behalf until the
 * job ends. The lease is renewed and the issue logged in the job's events
 * (the key's id, never its secret) before the key is made.
 *
 * @fails Forbidden, JobNotFound, LeaseLost, InvalidTransition (the job is no longer accepted or running).
 */
const childKey = (services: JobServices, keys: ApiKeys) =>
  Effect.fn("ExecutorJobs.childKey")(function*(principal: Principal, jobId: JobId, leaseId: LeaseId) {
    const keyId = makeApiKeyId()
    const line = `[agnt] child-order key ${keyId} issued to executor key ${principal.key_id}: ` +
      `it orders and sees children of ${jobId} only, and stops working when ${jobId} ends`
    yield* renew(services)(principal, jobId, leaseId, [line])
    const job = yield* services.jobs.findById(jobId, { _tag: "All" })
    if (Option.isNone(job)) return yield* JobNotFound.of(jobId)
    const created = yield* keys.create({
      role: "buyer",
      account_id: job.value.account_id,
      label: `child-order key of ${jobId}`,
      scope_job_id: jobId,
      key_id: keyId
    }).pipe(Effect.orDie)
    return new ChildKey({ key_id: created.info.key_id, key: Redacted.value(created.key), job_id: jobId })
  })

/** Jobs as executors see them. */
export class ExecutorJobs extends Effect.Service<ExecutorJobs>()("@agnt/server/ExecutorJobs", {
  effect: Effect.map(Effect.all([jobServices, ApiKeys]), ([services, keys]) => ({
    pending: pending(services),
    claim: claim(services),
    report: report(services),
    renew: renew(services),
    complete: complete(services),
    childKey: childKey(services, keys)
  })),
  dependencies: [...jobServiceLayers, ApiKeys.Default]
}) {}
