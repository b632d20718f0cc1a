/**
 * One claimed job, from lease to last report (DESIGN.md "Executors"):
 * a fresh workspace with the inputs, `running`, the definition's work, the
 * result upload and `complete` — with, beside the work, a heartbeat fiber
 * renewing the lease and a log batcher. Every call carries the lease id.
 *
 * The work is raced against a stop signal: a cancel request (seen in any
 * heartbeat, progress or log response) stops it and reports `canceled`; a
 * lost lease (`LeaseLost`, `InvalidTransition`, `JobNotFound`) stops it
 * silently — the job is no longer ours; the executor's shutdown stops it
 * and reports `failed` with reason `executor_shutdown`. Stopping is fiber
 * interruption, so the work's finalizers (a command's child process group)
 * run before anything is reported.
 */
import { type ApiClient, isTransient, jobReportRetry, quickRetry } from "@agnt/client/ApiClient"
import { uploadForm } from "@agnt/client/Upload"
import { normalizeFilePath } from "@agnt/domain/Files"
import type { LeaseId } from "@agnt/domain/Ids"
import type { ClaimedJob, Lease } from "@agnt/domain/Job"
import { mediaTypeOf } from "@agnt/domain/MediaTypes"
import { FileSystem, Path } from "@effect/platform"
import { Cause, Clock, DateTime, Deferred, Duration, Effect, Either, Exit, Fiber, Option, Predicate, Ref, Schedule } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFsP from "node:fs/promises"
import { type Connectivity, describeError, isJobLost, retryReporting } from "../ApiClient.js"
import { type ExecutorDefinition, type JobContext, JobFailure, type JobOutput } from "../Executor.js"
import { makeLogBatcher } from "./LogBatcher.js"

/** Why the runtime stopped a job's work before it ended by itself. */
export type StopReason = "canceled" | "lost" | "shutdown"

/** The failure reason reported for jobs stopped by the executor's shutdown. */
export const shutdownReason = "executor_shutdown"

/**
 * The failure reason (its first word) of a job whose input file's bytes,
 * as downloaded, do not match the SHA-256 the server recorded on upload:
 * the job is not run on damaged inputs (DESIGN.md "Files are byte-exact").
 */
export const inputCorruptedReason = "input_corrupted"

/** What every job of one executor shares. */
export interface JobRunnerEnv<R> {
  readonly client: ApiClient
  readonly definition: ExecutorDefinition<R>
  readonly executorId: string
  readonly connectivity: Connectivity
  /** Completed when the executor's grace period is over: in-flight jobs stop. */
  readonly shutdown: Deferred.Deferred<void>
  /** Seconds between heartbeats; `undefined` for a third of the lease (see `heartbeatInterval`). */
  readonly heartbeatSeconds: number | undefined
}

/** Keep at most this many characters of a failure reason (the API takes 8000). */
const maxReasonLength = 4000
/** Longest progress message the API takes, in characters. */
const maxMessageLength = 2000
/** How long the last log lines may take to go out before a final report. */
const logFlushWait = Duration.seconds(30)
/** Heartbeat interval bounds when derived from the lease, in milliseconds. */
const minHeartbeatMillis = 500
const maxHeartbeatMillis = 15_000

/**
 * Time between heartbeats: `explicit` seconds when given and positive (at
 * least 0.1), else a third of the lease's remaining time at claim
 * (measured against the local clock), kept between 0.5 and 15 seconds.
 */
export const heartbeatInterval = (explicit: number | undefined, lease: Lease, nowMillis: number): Duration.Duration => {
  if (explicit !== undefined && explicit > 0) return Duration.millis(Math.max(100, explicit * 1000))
  const third = (DateTime.toEpochMillis(lease.lease_expires_at) - nowMillis) / 3
  return Duration.millis(Math.min(maxHeartbeatMillis, Math.max(minHeartbeatMillis, Number.isFinite(third) ? third : maxHeartbeatMillis)))
}

/** The job's failure reason for a failed work `cause`: a `JobFailure`'s reason, else what went wrong. */
const failureReason = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    const reason = Predicate.isTagged(error, "JobFailure") && Predicate.hasProperty(error, "reason")
      ? String(error.reason)
      : `executor error: ${describeError(error)}`
    return reason.slice(0, maxReasonLength)
  }
  if (Cause.isInterruptedOnly(cause)) return "executor error: the work was interrupted"
  return `executor error: ${Cause.pretty(cause)}`.slice(0, maxReasonLength)
}

/** Every regular file under `dir` (symlinks are never followed), relative and `/`-separated, sorted. */
const listFiles = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const entries = yield* fs.readDirectory(dir, { recursive: true })
    const files = yield* Effect.filter(entries, (entry) =>
      Effect.promise(() => NodeFsP.lstat(path.join(dir, entry)).then((info) => info.isFile())))
    return files.map((file) =>
      file.split(path.sep).join("/")
    ).sort()
  })

/**
 * The JSON text of what `run` succeeded with as the job's structured result,
 * or `undefined` when it gave none.
 *
 * @fails JobFailure when the result is not a JSON value (a `BigInt`, a cycle, a function).
 */
const resultJson = (output: void | JobOutput): Effect.Effect<string | undefined, JobFailure> => {
  const result = output?.result
  if (result === undefined) return Effect.succeed(undefined)
  return Effect.try({
    try: () => JSON.stringify(result),
    catch: (cause) => new JobFailure({ reason: `executor error: the job's result is not JSON: ${String(cause)}` })
  }).pipe(
    Effect.filterOrFail(
      (text): text is string => typeof text === "string",
      () => new JobFailure({ reason: "executor error: the job's result is not JSON" })
    )
  )
}

/**
 * The multipart body of `complete`: the lease id, the structured result's
 * JSON text when there is one, and each file of `outDir` as a `files` part
 * named by its relative path, typed by its name (`MediaTypes.mediaTypeOf`),
 * with its SHA-256.
 */
const resultForm = (outDir: string, files: ReadonlyArray<string>, leaseId: LeaseId, result: string | undefined) =>
  uploadForm(
    { lease_id: leaseId, ...(result === undefined ? {} : { result }) },
    files.map((file) => ({ name: file, path: `${outDir}/${file}`, type: mediaTypeOf(file) }))
  )

/**
 * Run one claimed job to its end and report the outcome. Never fails: what
 * cannot be reported is logged. Interrupting it interrupts the work (and
 * reports nothing); the runtime instead completes `env.shutdown` to stop
 * jobs with a report.
 */
export const runClaimedJob = <R>(
  env: JobRunnerEnv<R>,
  claimed: ClaimedJob
): Effect.Effect<void, never, R | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const { client, connectivity, definition } = env
    const job = claimed.job
    const jobPath = { job_id: job.job_id }
    const leaseId = claimed.lease.lease_id
    const stop = yield* Deferred.make<StopReason>()
    const signal = (reason: StopReason) => Deferred.succeed(stop, reason).pipe(Effect.asVoid)
    /** Every lease the API hands back tells whether the buyer asked to cancel. */
    const observe = (lease: Lease) => lease.cancel_requested ? signal("canceled") : Effect.void
    // Set while `complete` is on its way: the job may end under a concurrent heartbeat or log batch.
    const completing = yield* Ref.make(false)
    const lost = (what: string) => (error: unknown) =>
      Effect.flatMap(Ref.get(completing), (done) =>
        done ? Effect.void : Effect.zipRight(
          Effect.logWarning(`${what}: ${describeError(error)}; the job is no longer ours`),
          signal("lost")
        ))

    const logs = yield* makeLogBatcher((lines) =>
      retryReporting(client.executor.logs({ path: jobPath, payload: { lease_id: leaseId, lines } }), jobReportRetry, connectivity).pipe(
        Effect.flatMap(observe),
        Effect.catchAll((error) =>
          isJobLost(error)
            ? lost("log batch refused")(error)
            : Effect.logWarning(`dropped ${lines.length} log line(s): ${describeError(error)}`)
        )
      )
    )
    /** A step of the executor's own, in its log and in the job's. */
    const milestone = (text: string) => Effect.zipRight(Effect.logInfo(text), logs.log(`[agnt-executor] ${text}`))

    const interval = heartbeatInterval(env.heartbeatSeconds, claimed.lease, yield* Clock.currentTimeMillis)
    const heartbeat = client.executor.heartbeat({ path: jobPath, payload: { lease_id: leaseId } }).pipe(
      Effect.timeout(Duration.max(interval, Duration.seconds(5))),
      Effect.tap(() => connectivity.succeeded),
      Effect.flatMap(observe),
      Effect.catchAll((error) => isTransient(error) ? connectivity.failed(error) : lost("heartbeat refused")(error))
    )
    const heartbeats = yield* Effect.sleep(interval).pipe(
      Effect.zipRight(heartbeat.pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("heartbeat failed", cause)),
        Effect.repeat(Schedule.spaced(interval))
      )),
      Effect.forkScoped
    )

    const progress: JobContext["progress"] = (percent, message) =>
      retryReporting(
        client.executor.status({
          path: jobPath,
          payload: {
            status: "running",
            lease_id: leaseId,
            progress: Number.isFinite(percent) ? Math.max(0, Math.min(100, percent)) : 0,
            ...(message === undefined ? {} : { message: message.slice(0, maxMessageLength) })
          }
        }),
        quickRetry,
        connectivity
      ).pipe(
        Effect.flatMap((response) => observe(response.lease)),
        Effect.catchAll((error) =>
          isJobLost(error) ? lost("progress refused")(error) : Effect.logWarning(`progress report failed: ${describeError(error)}`)
        )
      )

    const work = Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const root = yield* fs.makeTempDirectoryScoped({ prefix: "agnt-job-" })
      const workspace = path.join(root, "workspace")
      const outDir = path.join(root, "out")
      yield* fs.makeDirectory(workspace, { recursive: true })
      yield* fs.makeDirectory(outDir, { recursive: true })

      yield* milestone(`claimed by executor ${env.executorId}`)
      const started = yield* retryReporting(
        client.executor.status({ path: jobPath, payload: { status: "running", lease_id: leaseId, progress: 0, message: "started" } }),
        jobReportRetry,
        connectivity
      )
      yield* observe(started.lease)

      if (job.input_files.length > 0) yield* milestone(`downloading ${job.input_files.length} input file(s)`)
      const inputs = yield* Effect.forEach(job.input_files, (file) =>
        Effect.gen(function*() {
          const relative = yield* Either.match(normalizeFilePath(file.path), { onLeft: Effect.fail, onRight: Effect.succeed })
          const bytes = yield* retryReporting(
            client.jobs.download({ path: { job_id: job.job_id, file_id: file.file_id } }),
            jobReportRetry,
            connectivity
          )
          const actual = NodeCrypto.createHash("sha256").update(bytes).digest("hex")
          if (actual !== file.sha256) {
            return yield* new JobFailure({
              reason: `${inputCorruptedReason}: ${relative} downloaded with SHA-256 ${actual}, not the recorded ${file.sha256}`
            })
          }
          const target = path.join(workspace, relative)
          yield* fs.makeDirectory(path.dirname(target), { recursive: true })
          yield* fs.writeFile(target, bytes)
          return relative
        }), { concurrency: 4 })

      const ctx: JobContext = { workspace, inputs, outDir, progress, log: logs.log }
      yield* milestone(`running ${definition.manifest.name}`)
      const result = yield* Effect.flatMap(definition.run(job, ctx), resultJson)

      const results = yield* listFiles(outDir)
      yield* milestone(`uploading ${results.length} result file(s)${result === undefined ? "" : " and a structured result"}`)
      yield* logs.flush(logFlushWait)
      const form = yield* resultForm(outDir, results, leaseId, result)
      yield* Ref.set(completing, true)
      yield* retryReporting(client.executor.complete({ path: jobPath, payload: form }), jobReportRetry, connectivity)
      return results.length
    }).pipe(Effect.scoped)

    /** Report a final status with the lease; a job already ended or taken over is only logged. */
    const report = (payload: { readonly status: "failed" | "canceled"; readonly reason?: string }) =>
      retryReporting(client.executor.status({ path: jobPath, payload: { ...payload, lease_id: leaseId } }), jobReportRetry, connectivity)
        .pipe(
          Effect.asVoid,
          Effect.catchAll((error) =>
            isJobLost(error)
              ? Effect.logWarning(`could not report ${payload.status}: ${describeError(error)}`)
              : Effect.logError(`could not report ${payload.status}: ${describeError(error)}`)
          )
        )

    const stopped = Effect.race(
      Deferred.await(stop),
      Deferred.await(env.shutdown).pipe(Effect.as<StopReason>("shutdown"))
    )
    const outcome = yield* Effect.race(
      Effect.map(Effect.exit(work), (exit) => ({ _tag: "Finished" as const, exit })),
      Effect.map(stopped, (reason) => ({ _tag: "Stopped" as const, reason }))
    )

    // From here on only final reports go out; they renew the lease themselves.
    yield* Fiber.interrupt(heartbeats)

    if (outcome._tag === "Finished") {
      const exit = outcome.exit
      if (Exit.isSuccess(exit)) {
        yield* Effect.logInfo(`completed with ${exit.value} result file(s)`)
        return
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && isJobLost(failure.value)) {
        yield* logs.discard
        yield* Effect.logWarning(`stopped: ${describeError(failure.value)}; the job is no longer ours`)
        return
      }
      const reason = failureReason(exit.cause)
      yield* Effect.logWarning("job failed", exit.cause)
      yield* milestone(`failed: ${reason.split("\n")[0] ?? ""}`)
      yield* logs.flush(logFlushWait)
      yield* report({ status: "failed", reason })
      return
    }
    switch (outcome.reason) {
      case "lost":
        yield* logs.discard
        return
      case "canceled":
        yield* milestone("canceled by the buyer; work stopped")
        yield* logs.flush(logFlushWait)
        yield* report({ status: "canceled" })
        yield* Effect.logInfo("canceled")
        return
      case "shutdown":
        yield* milestone("executor shutting down; work stopped")
        yield* logs.flush(logFlushWait)
        yield* report({ status: "failed", reason: shutdownReason })
        return
    }
  }).pipe(
    Effect.scoped,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.logError("job runner crashed", cause)
    ),
    Effect.annotateLogs({ job_id: claimed.job.job_id }),
    Effect.withSpan("Executor.runJob", { attributes: { job_id: claimed.job.job_id } })
  )
