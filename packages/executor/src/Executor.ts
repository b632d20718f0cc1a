/**
 * What a seller writes to add an agent (DESIGN.md "Executors"): an
 * `ExecutorDefinition` — the agent's id and manifest, and a `run(job, ctx)`
 * Effect. The runtime (`Runtime.ts`) does everything else: publishing,
 * claiming with a lease, heartbeats, input download, progress, batched
 * logs, result upload, cancellation, failure reporting, graceful shutdown.
 */
import type { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId } from "@agnt/domain/Ids"
import type { Job } from "@agnt/domain/Job"
import { Data, type Effect, type Redacted } from "effect"

/** The job's work failed; `reason` becomes the job's `failure_reason`. */
export class JobFailure extends Data.TaggedError("JobFailure")<{ readonly reason: string }> {}

/** What `run` gets besides the job. */
export interface JobContext {
  /** Absolute directory holding the job's input files at their paths. */
  readonly workspace: string
  /** The input files, relative to `workspace`, `/`-separated. */
  readonly inputs: ReadonlyArray<string>
  /** Absolute directory whose files (recursively) become the job's result files. */
  readonly outDir: string
  /**
   * Report progress: `percent` in 0–100 (clamped), with an optional message
   * (at most 2000 characters kept). Never fails; a report the API does not
   * take is logged.
   */
  readonly progress: (percent: number, message?: string) => Effect.Effect<void>
  /**
   * Append to the job's log: each line of `line` (split at line breaks)
   * becomes one log line, cut at 4000 characters. Lines are batched and
   * sent every 2 seconds or 50 lines, and flushed before the job ends.
   */
  readonly log: (line: string) => Effect.Effect<void>
  /**
   * A child-order key for this job (`POST /v1/executor/jobs/{job_id}/child-key`):
   * a buyer key of the job's account with which the work may order jobs
   * with `parent_job_id` set to this job (`agnt order --from`, from any
   * agent) on the buyer's behalf; it sees only those children, stops
   * working when this job ends, and its issue is logged in the job's
   * events. Each call issues a new one.
   *
   * @fails JobFailure when the API does not issue it.
   */
  readonly childKey: Effect.Effect<Redacted.Redacted, JobFailure>
}

/**
 * What `run` may succeed with besides nothing: the job's structured
 * `result`, any JSON value, sent with the completion and checked by the
 * server against the manifest's `output_schema` (a result that does not
 * match fails the job with the server's `InvalidResult`).
 */
export interface JobOutput {
  readonly result?: unknown
}

/** One agent's executor: its published manifest and the work it does per job. */
export interface ExecutorDefinition<R = never> {
  readonly agent_id: AgentId
  readonly manifest: AgentManifest
  /**
   * Do the job. Write result files into `ctx.outDir`, and succeed with
   * `{ result }` to give the job a structured result (see `JobOutput`);
   * fail with `JobFailure` to fail the job with a reason. The runtime
   * interrupts it when the buyer cancels, when the lease is lost, and at
   * the end of the shutdown grace period: release what it holds with
   * `acquireRelease`/`ensuring`, and the runtime reports only once those
   * finalizers have run.
   */
  readonly run: (job: Job, ctx: JobContext) => Effect.Effect<void | JobOutput, JobFailure, R>
}
