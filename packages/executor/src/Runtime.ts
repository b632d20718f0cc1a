/**
 * The executor runtime (DESIGN.md "Executors"): publish the agent's
 * manifest, then poll for pending jobs on a `Schedule`, accept up to
 * `concurrency` at once (of several executors accepting one job exactly one
 * wins; the others get 409 and move on), and run each in a supervised
 * fiber: download inputs into a fresh workspace, mark it running, run the
 * definition, upload `out/` and complete — or fail the job with a reason.
 * API calls retry transient failures with jittered backoff, never 4xx.
 */
import { normalizeFilePath } from "@agnt/domain/Files"
import type { Job } from "@agnt/domain/Job"
import { FileSystem, type HttpClient, Path } from "@effect/platform"
import { Cause, Duration, Effect, Either, FiberSet, Predicate, type Redacted, Ref, Schedule, type Scope } from "effect"
import mime from "mime"
import * as NodeFs from "node:fs"
import * as NodeFsP from "node:fs/promises"
import { type ApiClient, makeApiClient, retryTransient } from "./ApiClient.js"
import type { ExecutorDefinition, JobContext } from "./Executor.js"

/** How the runtime connects and paces itself. */
export interface RuntimeOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string
  /** An executor key bound to (or free to claim) the definition's agent. */
  readonly key: Redacted.Redacted
  /** Jobs run at once; at least 1. */
  readonly concurrency: number
  /** Wait between polls when there is no work. */
  readonly pollInterval: Duration.DurationInput
}

/** Keep at most this many characters of a failure reason. */
const maxReasonLength = 4000

const describe = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some" && Predicate.isTagged(failure.value, "JobFailure") && Predicate.hasProperty(failure.value, "reason")) {
    return String(failure.value.reason).slice(0, maxReasonLength)
  }
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
    return files.map((file) => file.split(path.sep).join("/")).sort()
  })

/** The multipart body of `complete`: each file of `outDir` as a `files` part named by its relative path. */
const resultForm = (outDir: string, files: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const form = new FormData()
    for (const file of files) {
      const blob = await NodeFs.openAsBlob(`${outDir}/${file}`, { type: mime.getType(file) ?? "application/octet-stream" })
      form.append("files", blob, file)
    }
    return form
  })

const runJob = <R>(client: ApiClient, definition: ExecutorDefinition<R>, job: Job) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const root = yield* fs.makeTempDirectoryScoped({ prefix: "agnt-job-" })
    const workspace = path.join(root, "workspace")
    const outDir = path.join(root, "out")
    yield* fs.makeDirectory(workspace, { recursive: true })
    yield* fs.makeDirectory(outDir, { recursive: true })

    const inputs = yield* Effect.forEach(job.input_files, (file) =>
      Effect.gen(function*() {
        const relative = yield* Either.match(normalizeFilePath(file.path), { onLeft: Effect.fail, onRight: Effect.succeed })
        const bytes = yield* retryTransient(client.jobs.download({ path: { job_id: job.job_id, file_id: file.file_id } }))
        const target = path.join(workspace, relative)
        yield* fs.makeDirectory(path.dirname(target), { recursive: true })
        yield* fs.writeFile(target, bytes)
        return relative
      }), { concurrency: 4 })

    const report = (update: { readonly progress?: number; readonly message?: string }) =>
      retryTransient(client.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", ...update } }))

    yield* report({ progress: 0, message: "started" })
    const ctx: JobContext = {
      workspace,
      inputs,
      outDir,
      progress: (percent, message) =>
        report({ progress: Math.max(0, Math.min(100, percent)), ...(message === undefined ? {} : { message }) }).pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("progress report failed", cause))
        ),
      log: (line) => Effect.logInfo(line)
    }
    yield* definition.run(job, ctx)
    const results = yield* listFiles(outDir)
    const form = yield* resultForm(outDir, results)
    yield* retryTransient(client.executor.complete({ path: { job_id: job.job_id }, payload: form }))
    yield* Effect.logInfo(`completed with ${results.length} result file(s)`)
  }).pipe(
    Effect.scoped,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : retryTransient(client.executor.status({
          path: { job_id: job.job_id },
          payload: { status: "failed", reason: describe(cause) }
        })).pipe(
          Effect.zipLeft(Effect.logWarning("job failed", cause)),
          Effect.catchAllCause((reportCause) => Effect.logError("could not report the failure", reportCause))
        )
    ),
    Effect.annotateLogs({ job_id: job.job_id }),
    Effect.withSpan("Executor.runJob", { attributes: { job_id: job.job_id } })
  )

/**
 * Run `definition` until interrupted: publish its manifest, then claim and
 * run jobs. Fails only when publishing is refused (a 4xx: the key may not
 * serve the agent, or the manifest is invalid).
 */
export const runExecutor = <R>(
  definition: ExecutorDefinition<R>,
  options: RuntimeOptions
): Effect.Effect<never, unknown, R | HttpClient.HttpClient | FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* makeApiClient({ baseUrl: options.baseUrl, key: options.key })
    const agentId = definition.agent_id
    yield* client.agents.publish({ path: { agent_id: agentId }, payload: definition.manifest }).pipe(
      Effect.retry({
        schedule: Schedule.exponential("500 millis").pipe(Schedule.jittered, Schedule.union(Schedule.spaced("10 seconds"))),
        while: (error) => Predicate.isTagged(error, "RequestError") || Predicate.isTagged(error, "ResponseError")
      })
    )
    yield* Effect.logInfo(`published ${definition.manifest.name} (${agentId}); polling ${options.baseUrl}`)

    const jobs = yield* FiberSet.make()
    const running = yield* Ref.make(0)
    const concurrency = Math.max(1, options.concurrency)

    const claim = (job: Job) =>
      client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } }).pipe(
        Effect.as(true),
        Effect.catchTags({ InvalidTransition: () => Effect.succeed(false), JobNotFound: () => Effect.succeed(false) })
      )

    const tick = Effect.gen(function*() {
      const free = concurrency - (yield* Ref.get(running))
      if (free <= 0) return
      const page = yield* retryTransient(client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: free } }))
      for (const job of page.data) {
        if (!(yield* claim(job))) continue
        yield* Ref.update(running, (n) => n + 1)
        yield* Effect.logInfo(`accepted ${job.job_id}`)
        yield* FiberSet.run(jobs, runJob(client, definition, job).pipe(Effect.ensuring(Ref.update(running, (n) => n - 1))))
      }
    })

    return yield* tick.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("poll failed; will retry", cause)),
      Effect.repeat(Schedule.spaced(options.pollInterval)),
      Effect.zipRight(Effect.never)
    )
  }).pipe(Effect.annotateLogs({ agent_id: definition.agent_id }))

/** Default pacing: poll every second, two jobs at once. */
export const defaultPollInterval = Duration.seconds(1)
