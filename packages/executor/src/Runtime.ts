/**
 * The executor runtime (DESIGN.md "Executors"), shaped like a Buildkite
 * agent or a GitHub Actions runner:
 * - publish the agent's manifest (retried until the API answers);
 * - claim jobs with the long-poll `POST /v1/executor/jobs/claim` while a
 *   slot is free, up to `concurrency` jobs at once, each in a supervised
 *   fiber (`Runtime/JobRunner.ts`: lease, heartbeat, logs, cancel);
 * - ride out API outages: transient failures back off (jittered,
 *   exponential, capped near 30 s) and reconnect, logged once per outage;
 *   a 4xx on claim (a key that may not serve the agent) is fatal;
 * - shut down gracefully when interrupted (SIGTERM under `runMain`): stop
 *   claiming at once, give in-flight jobs `graceSeconds` to finish, then
 *   stop them and report them `failed` with reason `executor_shutdown`.
 */
import { type ApiClient, makeApiClient, reconnectSchedule } from "@agnt/client/ApiClient"
import { maxClaimWaitSeconds, maxExecutorIdLength } from "@agnt/domain/Limits"
import { type FileSystem, type HttpClient, type Path } from "@effect/platform"
import { Clock, Data, Deferred, Duration, Effect, Fiber, FiberSet, Option, type Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeOs from "node:os"
import { type Connectivity, describeError, makeConnectivity, retryReporting } from "./ApiClient.js"
import type { ExecutorDefinition } from "./Executor.js"
import { defaultClaimWaitSeconds, defaultConcurrency, defaultGraceSeconds, defaultPollIntervalSeconds } from "./Runtime/Defaults.js"
import { defaultStateRoot, openExecutorState } from "./Runtime/ExecutorState.js"
import { type JobRunnerEnv, runClaimedJob, shutdownReason } from "./Runtime/JobRunner.js"

/** How the runtime connects and paces itself. Every duration is in seconds. */
export interface RuntimeOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string
  /** An executor key bound to (or free to claim) the definition's agent. */
  readonly key: Redacted.Redacted
  /** Jobs run at once; at least 1. Default `defaultConcurrency` (1). */
  readonly concurrency?: number | undefined
  /**
   * Seconds the API may hold a claim open while no job is pending (the
   * long-poll), 0–30. Default `defaultClaimWaitSeconds` (25).
   */
  readonly claimWaitSeconds?: number | undefined
  /**
   * Least seconds between the starts of two claims that found nothing —
   * the fallback pacing when the API answers early (or `claimWaitSeconds`
   * is 0). Default `defaultPollIntervalSeconds` (1).
   */
  readonly pollIntervalSeconds?: number | undefined
  /**
   * Seconds between heartbeats renewing a job's lease. Default: a third of
   * the lease the API granted, between 0.5 and 15 (15 for the default
   * 60-second lease).
   */
  readonly heartbeatSeconds?: number | undefined
  /**
   * Seconds in-flight jobs may still take to finish once shutdown begins;
   * then they are stopped and failed with `executor_shutdown`. Default
   * `defaultGraceSeconds` (30).
   */
  readonly graceSeconds?: number | undefined
  /**
   * The state directory's root (`Runtime/ExecutorState.ts`): the jobs'
   * directories and the records of their running programs, through which
   * an executor cleans up after one that was killed outright. Default
   * `defaultStateRoot()`, `agnt-executor-<uid>` in the OS temporary directory.
   */
  readonly stateDir?: string | undefined
  /** Names this process to the API (≤ 200 characters). Default `makeExecutorId()`. */
  readonly executorId?: string | undefined
}

/** Seconds a claim may take beyond its long-poll wait before the client gives up on it (and retries). */
const claimDeadlineSlackSeconds = 15
/** Seconds stopped jobs get to end their work and report, after the grace period. */
const stopWaitSeconds = 60

/** The executor cannot go on: the API refused it (a 4xx). `message` says why, for a human. */
export class ExecutorError extends Data.TaggedError("ExecutorError")<{ readonly message: string }> {}

/** A stable id for this process: `<hostname>-<pid>-<6 random hex digits>`, at most 200 characters. */
export const makeExecutorId = (): string => `${NodeOs.hostname().slice(0, 150)}-${process.pid}-${NodeCrypto.randomBytes(3).toString("hex")}`

/**
 * Run effect outside the current fiber's interruption: a shutdown
 * finalizer runs uninterruptibly, where timeouts cannot interrupt what
 * they time. The forked fiber is awaited at once, so it never outlives
 * the caller.
 */
const awaitDetached = <A, R>(effect: Effect.Effect<A, never, R>): Effect.Effect<A, never, R> =>
  Effect.flatMap(Effect.forkDaemon(Effect.interruptible(effect)), Fiber.join)

/** The runtime's options with their defaults applied and ranges enforced. */
const resolveOptions = (definition: ExecutorDefinition<unknown>, options: RuntimeOptions) => ({
  agentId: definition.agent_id,
  executorId: (options.executorId ?? makeExecutorId()).slice(0, maxExecutorIdLength),
  concurrency: Math.max(1, Math.floor(options.concurrency ?? defaultConcurrency)),
  claimWait: Math.max(0, Math.min(maxClaimWaitSeconds, options.claimWaitSeconds ?? defaultClaimWaitSeconds)),
  pollIntervalMillis: Math.max(0, options.pollIntervalSeconds ?? defaultPollIntervalSeconds) * 1000,
  grace: Duration.seconds(Math.max(0, options.graceSeconds ?? defaultGraceSeconds))
})
type Resolved = ReturnType<typeof resolveOptions>

/** Publish the agent's manifest, retrying until the API answers; a refusal is fatal. */
const publish = Effect.fn("Executor.publish")(function*<R>(
  client: ApiClient,
  connectivity: Connectivity,
  definition: ExecutorDefinition<R>,
  resolved: Resolved,
  baseUrl: string
) {
  const { agentId, concurrency, executorId } = resolved
  yield* retryReporting(
    client.agents.publish({ path: { agent_id: agentId }, payload: definition.manifest }),
    reconnectSchedule,
    connectivity
  ).pipe(
    Effect.mapError((error) => new ExecutorError({ message: `the API refused to publish ${agentId}: ${describeError(error)}` }))
  )
  yield* Effect.logInfo(
    `published ${definition.manifest.name} (${agentId}) as executor ${executorId}; claiming from ${baseUrl}, ${concurrency} job(s) at once`
  )
})

/**
 * On shutdown: give the jobs in flight `grace` to finish, then complete
 * `shutdown` (they stop and report `failed`) and wait for them to end.
 */
const drainJobs = Effect.fn("Executor.shutdown")(function*(
  jobs: FiberSet.FiberSet<void, never>,
  shutdown: Deferred.Deferred<void>,
  grace: Duration.Duration
) {
  const inFlight = yield* FiberSet.size(jobs)
  if (inFlight === 0) return
  yield* Effect.logInfo(
    `shutting down: claiming stopped; ${inFlight} job(s) in flight have ${Duration.toSeconds(grace)} s to finish`
  )
  const finished = yield* FiberSet.awaitEmpty(jobs).pipe(Effect.timeoutOption(grace))
  if (Option.isSome(finished)) return
  yield* Effect.logWarning(`grace period over: stopping ${yield* FiberSet.size(jobs)} job(s) (${shutdownReason})`)
  yield* Deferred.succeed(shutdown, undefined)
  yield* FiberSet.awaitEmpty(jobs).pipe(Effect.timeoutOption(Duration.seconds(stopWaitSeconds)))
})

/**
 * One claim (long-poll) for the agent's next job; a 4xx is fatal, transient
 * failures are retried. Every retry carries the same `claim_id`, so a claim
 * whose answer was lost in a crash or a broken connection gets its job back.
 */
const claimOnce = (client: ApiClient, connectivity: Connectivity, resolved: Resolved) =>
  Effect.suspend(() => {
    const claimId = NodeCrypto.randomUUID()
    return retryReporting(
      client.executor.claim({
        payload: {
          agent_id: resolved.agentId,
          executor_id: resolved.executorId,
          wait: resolved.claimWait,
          start: true,
          claim_id: claimId
        }
      }).pipe(Effect.timeout(Duration.seconds(resolved.claimWait + claimDeadlineSlackSeconds))),
      reconnectSchedule,
      connectivity
    )
  }).pipe(
    Effect.mapError((error) =>
      new ExecutorError({ message: `the API refused to hand out jobs of ${resolved.agentId}: ${describeError(error)}` })
    )
  )

/**
 * Take a slot, claim (long-poll), and run what came in a supervised fiber
 * of `jobs` that frees the slot when done; after an empty claim, wait out
 * the rest of the poll interval.
 */
const claimStep = <R>(
  env: JobRunnerEnv<R>,
  resolved: Resolved,
  jobs: FiberSet.FiberSet<void, never>,
  slots: Effect.Semaphore
) =>
  Effect.gen(function*() {
    yield* slots.take(1)
    const startedAt = yield* Clock.currentTimeMillis
    // Once a job is claimed, it is handed to its fiber even if shutdown begins meanwhile;
    // the fiber itself must be interruptible (forked fibers inherit the mask).
    const found = yield* Effect.uninterruptibleMask((restore) =>
      restore(claimOnce(env.client, env.connectivity, resolved)).pipe(
        Effect.onExit((exit) => exit._tag === "Success" && exit.value.claimed !== null ? Effect.void : slots.release(1)),
        Effect.tap(({ claimed }) =>
          claimed === null ? Effect.void : Effect.zipRight(
            Effect.logInfo(`claimed ${claimed.job.job_id}`),
            FiberSet.run(jobs, Effect.interruptible(runClaimedJob(env, claimed).pipe(Effect.ensuring(slots.release(1)))))
          )
        )
      )
    )
    if (found.claimed === null) {
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      if (elapsed < resolved.pollIntervalMillis) yield* Effect.sleep(Duration.millis(resolved.pollIntervalMillis - elapsed))
    }
  })

/**
 * Serve `definition` until interrupted: publish its manifest, then claim
 * and run jobs (see the module comment). On interruption it stops claiming
 * at once and shuts down gracefully; the returned effect completes its
 * interruption only when in-flight jobs have ended and been reported.
 * Fails with `ExecutorError` when the API refuses to publish or to hand out
 * jobs (a 4xx: wrong key, or a key that may not serve the agent).
 */
export const runExecutor = <R>(
  definition: ExecutorDefinition<R>,
  options: RuntimeOptions
): Effect.Effect<never, ExecutorError, R | HttpClient.HttpClient | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const client = yield* makeApiClient({ baseUrl: options.baseUrl, key: options.key })
    const connectivity = yield* makeConnectivity
    const resolved = resolveOptions(definition, options)
    const state = yield* openExecutorState(options.stateDir ?? defaultStateRoot()).pipe(
      Effect.mapError((error) => new ExecutorError({ message: error.message }))
    )
    yield* publish(client, connectivity, definition, resolved, options.baseUrl)

    const jobs = yield* FiberSet.make<void, never>()
    const shutdown = yield* Deferred.make<void>()
    const slots = yield* Effect.makeSemaphore(resolved.concurrency)
    const env: JobRunnerEnv<R> = {
      client,
      definition,
      executorId: resolved.executorId,
      connectivity,
      shutdown,
      heartbeatSeconds: options.heartbeatSeconds,
      state
    }
    // Runs before the FiberSet's own finalizer (finalizers run in reverse), so jobs get their grace period.
    yield* Effect.addFinalizer(() => awaitDetached(drainJobs(jobs, shutdown, resolved.grace)))
    return yield* Effect.forever(claimStep(env, resolved, jobs, slots))
  }).pipe(Effect.scoped, Effect.annotateLogs({ agent_id: definition.agent_id }))
