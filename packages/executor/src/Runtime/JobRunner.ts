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
import { uploadBody } from "@agnt/client/Upload"
import { normalizeFilePath } from "@agnt/domain/Files"
import type { LeaseId } from "@agnt/domain/Ids"
import type { ClaimedJob, Lease } from "@agnt/domain/Job"
import { maxStatusMessageLength } from "@agnt/domain/Limits"
import { mediaTypeOf } from "@agnt/domain/MediaTypes"
import type { JobRepo } from "@agnt/domain/Repo"
import { FileSystem, Path } from "@effect/platform"
import {
  Cause,
  Clock,
  type Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Option,
  Predicate,
  Redacted,
  Ref,
  Schedule
} from "effect"
import * as NodeFsP from "node:fs/promises"
import { type Connectivity, describeError, isJobLost, retryReporting } from "../ApiClient.js"
import { type ExecutorDefinition, type JobContext, JobFailure, type JobOutput } from "../Executor.js"
import { ExecutorState } from "./ExecutorState.js"
import { collectChanges, initRepoWorkspace } from "./GitWorkspace.js"
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
  /** The executor's state directory: jobs' directories are made in it, and `run` gets it to record its processes. */
  readonly state: Context.Tag.Service<ExecutorState>
}

/** Keep at most this many characters of a failure reason (the API takes `maxReasonLength`, 8000). */
const maxReasonLength = 4000
/** Longest progress message the API takes, in characters. */
const maxMessageLength = maxStatusMessageLength
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
 * JSON text when there is one, the outcome message when there is one, and each file of `outDir` as a `files` part
 * named by its relative path, typed by its name (`MediaTypes.mediaTypeOf`),
 * with its SHA-256.
 */
const resultForm = (
  outDir: string,
  files: ReadonlyArray<string>,
  leaseId: LeaseId,
  result: string | undefined,
  message: string | undefined
) =>
  uploadBody(
    { lease_id: leaseId, ...(result === undefined ? {} : { result }), ...(message === undefined ? {} : { message }) },
    files.map((file) => ({ name: file, path: `${outDir}/${file}`, type: mediaTypeOf(file) }))
  )

/**
 * One claimed job's reporting channel to the API, shared by its parts:
 * every call carries the lease id, and every lease handed back may carry
 * the buyer's cancel request.
 */
interface JobSession {
  readonly env: JobRunnerEnv<unknown>
  readonly claimed: ClaimedJob
  readonly jobPath: { readonly job_id: ClaimedJob["job"]["job_id"] }
  readonly leaseId: LeaseId
  /** Completed with why the work must stop before it ends by itself. */
  readonly stop: Deferred.Deferred<StopReason>
  /** Signal a cancel request when `lease` carries one. */
  readonly observe: (lease: Lease) => Effect.Effect<void>
  /** Set while `complete` is on its way: the job may end under a concurrent heartbeat or log batch. */
  readonly completing: Ref.Ref<boolean>
  /** A refusal saying the job is no longer ours: stop the work (unless `complete` is on its way). */
  readonly lost: (what: string) => (error: unknown) => Effect.Effect<void>
  readonly logs: LogBatcher
  /** A step of the executor's own, in its log and in the job's. */
  readonly milestone: (text: string) => Effect.Effect<void>
}

/** The log batcher of one job: its lines go out with the lease; a refusal saying the job is lost stops it. */
type LogBatcher = Effect.Effect.Success<ReturnType<typeof makeLogBatcher>>

/** Open the session of `claimed`: its stop signal, its log batcher (scoped) and its reporting helpers. */
const openSession = Effect.fn("Executor.openSession")(function*(env: JobRunnerEnv<unknown>, claimed: ClaimedJob) {
  const { client, connectivity } = env
  const jobPath = { job_id: claimed.job.job_id }
  const leaseId = claimed.lease.lease_id
  const stop = yield* Deferred.make<StopReason>()
  const signal = (reason: StopReason) => Deferred.succeed(stop, reason).pipe(Effect.asVoid)
  const observe = (lease: Lease) => lease.cancel_requested ? signal("canceled") : Effect.void
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
  const milestone = (text: string) => Effect.zipRight(Effect.logInfo(text), logs.log(`[agnt-executor] ${text}`))
  const session: JobSession = { env, claimed, jobPath, leaseId, stop, observe, completing, lost, logs, milestone }
  return session
})

/**
 * Renew the lease every heartbeat interval in a scoped fiber; a refusal
 * saying the job is lost stops the work, a transient failure is only
 * recorded. Interrupt the returned fiber once only final reports remain.
 */
const startHeartbeats = Effect.fn("Executor.heartbeats")(function*(session: JobSession) {
  const { connectivity, client } = session.env
  const interval = heartbeatInterval(session.env.heartbeatSeconds, session.claimed.lease, yield* Clock.currentTimeMillis)
  const heartbeat = client.executor.heartbeat({ path: session.jobPath, payload: { lease_id: session.leaseId } }).pipe(
    Effect.timeout(Duration.max(interval, Duration.seconds(5))),
    Effect.tap(() => connectivity.succeeded),
    Effect.flatMap(session.observe),
    Effect.catchAll((error) => isTransient(error) ? connectivity.failed(error) : session.lost("heartbeat refused")(error))
  )
  return yield* Effect.sleep(interval).pipe(
    Effect.zipRight(heartbeat.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("heartbeat failed", cause)),
      Effect.repeat(Schedule.spaced(interval))
    )),
    Effect.forkScoped
  )
})

/** `JobContext.progress` of one job: a `running` status with the lease; never fails. */
const reportProgress = (session: JobSession): JobContext["progress"] => (percent, message) =>
  retryReporting(
    session.env.client.executor.status({
      path: session.jobPath,
      payload: {
        status: "running",
        lease_id: session.leaseId,
        progress: Number.isFinite(percent) ? Math.max(0, Math.min(100, percent)) : 0,
        ...(message === undefined ? {} : { message: message.slice(0, maxMessageLength) })
      }
    }),
    quickRetry,
    session.env.connectivity
  ).pipe(
    Effect.flatMap((response) => session.observe(response.lease)),
    Effect.catchAll((error) =>
      isJobLost(error) ? session.lost("progress refused")(error) : Effect.logWarning(`progress report failed: ${describeError(error)}`)
    )
  )

/** A fresh job directory in `directory` (removed when the scope closes) with empty `workspace/` and `out/`. */
const prepareWorkspace = Effect.fn("Executor.prepareWorkspace")(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ directory, prefix: "agnt-job-" })
  const workspace = path.join(root, "workspace")
  const outDir = path.join(root, "out")
  yield* fs.makeDirectory(workspace, { recursive: true })
  yield* fs.makeDirectory(outDir, { recursive: true })
  return { workspace, outDir }
})

/**
 * Download the job's input files into `workspace` at their normalised
 * paths, four at a time, each streamed to disk and kept only if its size
 * and SHA-256 are the recorded ones (`client.downloadFile`).
 *
 * @fails JobFailure `input_corrupted: …` when a file's bytes do not match,
 *   or naming the file when it cannot be written.
 */
const downloadInputs = Effect.fn("Executor.downloadInputs")(function*(session: JobSession, workspace: string) {
  const path = yield* Path.Path
  const job = session.claimed.job
  if (job.input_files.length > 0) yield* session.milestone(`downloading ${job.input_files.length} input file(s)`)
  return yield* Effect.forEach(job.input_files, (file) =>
    Effect.gen(function*() {
      const relative = yield* Either.match(normalizeFilePath(file.path), { onLeft: Effect.fail, onRight: Effect.succeed })
      yield* retryReporting(
        session.env.client.downloadFile({ ...file, job_id: job.job_id }, path.join(workspace, relative)),
        jobReportRetry,
        session.env.connectivity
      ).pipe(Effect.catchTags({
        DownloadMismatch: (mismatch) =>
          new JobFailure({
            reason: `${inputCorruptedReason}: ${relative} downloaded with SHA-256 ${mismatch.actual_sha256} ` +
              `(${mismatch.actual_size} bytes), not the recorded ${file.sha256} (${file.size} bytes)`
          }),
        DestinationError: (error) => new JobFailure({ reason: `cannot write input ${relative}: ${error.message}` })
      }))
      return relative
    }), { concurrency: 4 })
})

/** `JobContext.childKey` of one job: a child-order key issued to the lease's holder. */
const issueChildKey = (session: JobSession): JobContext["childKey"] =>
  retryReporting(
    session.env.client.executor.childKey({ path: session.jobPath, payload: { lease_id: session.leaseId } }),
    quickRetry,
    session.env.connectivity
  ).pipe(
    Effect.map((issued) => Redacted.make(issued.key)),
    Effect.mapError((error) => new JobFailure({ reason: `no child-order key: ${describeError(error)}` }))
  )

/** Report the job `running` (progress 0, "started") with the lease, unless the claim started it. */
const markRunning = Effect.fn("Executor.markRunning")(function*(session: JobSession) {
  yield* session.milestone(`claimed by executor ${session.env.executorId}`)
  // A claim made with `start` hands the job over running already.
  if (session.claimed.job.status === "running") return
  const started = yield* retryReporting(
    session.env.client.executor.status({
      path: session.jobPath,
      payload: { status: "running", lease_id: session.leaseId, progress: 0, message: "started" }
    }),
    jobReportRetry,
    session.env.connectivity
  )
  yield* session.observe(started.lease)
})

/** Upload `outDir`'s files, the structured result and the outcome `message` with `complete`; returns the number of files. */
const uploadResults = Effect.fn("Executor.uploadResults")(function*(
  session: JobSession,
  outDir: string,
  result: string | undefined,
  message?: string
) {
  const results = yield* listFiles(outDir)
  yield* session.milestone(`uploading ${results.length} result file(s)${result === undefined ? "" : " and a structured result"}`)
  yield* session.logs.flush(logFlushWait)
  const form = yield* resultForm(outDir, results, session.leaseId, result, message)
  yield* Ref.set(session.completing, true)
  yield* retryReporting(
    session.env.client.uploads.completeJob(form, session.jobPath),
    jobReportRetry,
    session.env.connectivity
  )
  return results.length
})

/**
 * A repo job's git workspace (`GitWorkspace.initRepoWorkspace`), made once
 * the inputs are in; returns what `collectRepoChanges` needs after the
 * program, or `undefined` for a job of loose files.
 */
const prepareRepo = Effect.fn("Executor.prepareRepo")(function*(
  session: JobSession,
  workspace: string,
  inputs: ReadonlyArray<string>
) {
  const repo = session.claimed.job.repo
  if (repo === null) return undefined
  const base = yield* initRepoWorkspace(workspace, repo, inputs)
  yield* session.milestone(`workspace is a git repository with the buyer's tree ${repo.tree} (commit ${base})`)
  return { repo, base }
})

/** After a repo job's program: `changes.patch` and `changes.json` into `outDir`; returns the outcome message. */
const collectRepoChanges = Effect.fn("Executor.collectRepoChanges")(function*(
  session: JobSession,
  prepared: { readonly repo: JobRepo; readonly base: string },
  dirs: { readonly workspace: string; readonly outDir: string }
) {
  const author = { agentName: session.env.definition.manifest.name, job: session.claimed.job }
  const { message } = yield* collectChanges(dirs.workspace, prepared.repo, prepared.base, dirs.outDir, author)
  yield* session.milestone(`changes: ${message}`)
  return message
})

/** The job's work, start to `complete`: workspace, `running`, inputs, a repo job's git, the definition's `run`, upload. */
const doWork = <R>(session: JobSession, definition: ExecutorDefinition<R>) =>
  Effect.gen(function*() {
    const { outDir, workspace } = yield* prepareWorkspace(session.env.state.dir)
    yield* markRunning(session)
    const inputs = yield* downloadInputs(session, workspace)
    const repo = yield* prepareRepo(session, workspace, inputs)
    const ctx: JobContext = {
      workspace,
      inputs,
      outDir,
      progress: reportProgress(session),
      log: session.logs.log,
      childKey: issueChildKey(session)
    }
    yield* session.milestone(`running ${definition.manifest.name}`)
    const result = yield* definition.run(session.claimed.job, ctx).pipe(
      Effect.provideService(ExecutorState, session.env.state),
      Effect.flatMap(resultJson)
    )
    const message = repo === undefined ? undefined : yield* collectRepoChanges(session, repo, { workspace, outDir })
    return yield* uploadResults(session, outDir, result, message)
  }).pipe(Effect.scoped)

/** How the work ended: by itself (with its exit), or stopped by the runtime. */
type Outcome<A, E> =
  | { readonly _tag: "Finished"; readonly exit: Exit.Exit<A, E> }
  | { readonly _tag: "Stopped"; readonly reason: StopReason }

/** Race `work` against the session's stop signal and the executor's shutdown. */
const raceStop = <A, E, R>(session: JobSession, work: Effect.Effect<A, E, R>): Effect.Effect<Outcome<A, E>, never, R> =>
  Effect.race(
    Effect.map(Effect.exit(work), (exit): Outcome<A, E> => ({ _tag: "Finished", exit })),
    Effect.map(
      Effect.race(Deferred.await(session.stop), Deferred.await(session.env.shutdown).pipe(Effect.as<StopReason>("shutdown"))),
      (reason): Outcome<A, E> => ({ _tag: "Stopped", reason })
    )
  )

/** Report a final status with the lease; a job already ended or taken over is only logged. */
const reportFinal = (session: JobSession, payload: { readonly status: "failed" | "canceled"; readonly reason?: string }) =>
  retryReporting(
    session.env.client.executor.status({ path: session.jobPath, payload: { ...payload, lease_id: session.leaseId } }),
    jobReportRetry,
    session.env.connectivity
  ).pipe(
    Effect.asVoid,
    Effect.catchAll((error) =>
      isJobLost(error)
        ? Effect.logWarning(`could not report ${payload.status}: ${describeError(error)}`)
        : Effect.logError(`could not report ${payload.status}: ${describeError(error)}`)
    )
  )

/** The work ended by itself: log a completion, drop a lost job's logs, or report the failure. */
const settleFinished = Effect.fn("Executor.settleFinished")(function*(session: JobSession, exit: Exit.Exit<number, unknown>) {
  if (Exit.isSuccess(exit)) {
    yield* Effect.logInfo(`completed with ${exit.value} result file(s)`)
    return
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && isJobLost(failure.value)) {
    yield* session.logs.discard
    yield* Effect.logWarning(`stopped: ${describeError(failure.value)}; the job is no longer ours`)
    return
  }
  const reason = failureReason(exit.cause)
  yield* Effect.logWarning("job failed", exit.cause)
  yield* session.milestone(`failed: ${reason.split("\n")[0] ?? ""}`)
  yield* session.logs.flush(logFlushWait)
  yield* reportFinal(session, { status: "failed", reason })
})

/** The runtime stopped the work: drop a lost job's logs, or report `canceled` / `failed` (shutdown). */
const settleStopped = Effect.fn("Executor.settleStopped")(function*(session: JobSession, reason: StopReason) {
  switch (reason) {
    case "lost":
      yield* session.logs.discard
      return
    case "canceled":
      yield* session.milestone("canceled by the buyer; work stopped")
      yield* session.logs.flush(logFlushWait)
      yield* reportFinal(session, { status: "canceled" })
      yield* Effect.logInfo("canceled")
      return
    case "shutdown":
      yield* session.milestone("executor shutting down; work stopped")
      yield* session.logs.flush(logFlushWait)
      yield* reportFinal(session, { status: "failed", reason: shutdownReason })
      return
  }
})

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
    const session = yield* openSession(env, claimed)
    const heartbeats = yield* startHeartbeats(session)
    const outcome = yield* raceStop(session, doWork(session, env.definition))
    // From here on only final reports go out; they renew the lease themselves.
    yield* Fiber.interrupt(heartbeats)
    if (outcome._tag === "Finished") yield* settleFinished(session, outcome.exit)
    else yield* settleStopped(session, outcome.reason)
  }).pipe(
    Effect.scoped,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.logError("job runner crashed", cause)
    ),
    Effect.annotateLogs({ job_id: claimed.job.job_id }),
    Effect.withSpan("Executor.runJob", { attributes: { job_id: claimed.job.job_id } })
  )
