/**
 * The `agnt` commands. Each prints one JSON document on stdout and fails with
 * a `Failure` (reported on stderr by `bin.ts`):
 *
 * - `search [query] [--tag T]... [--limit N] [--cursor C]` → page of agents
 * - `info <agent-id>` → agent · `stats <agent-id>` → agent stats
 * - `order <agent-id> (--prompt TEXT | --prompt - | --prompt-file PATH) [--param k=v]... [--file PATH]...
 *   [--repo [DIR] [--include-changes]] [--from JOB] [--wait] [--out DIR]` → job
 * - `jobs [--status S] [--agent ID] [--parent JOB] [--limit N] [--cursor C]` → page of jobs
 * - `status <job-id>` → job
 * - `cancel <job-id>` → job after the cancel
 * - `watch <job-id> [--after N]` → the job's events, one JSON line each (NDJSON)
 * - `logs <job-id> [--after N] [--follow]` → the job's log lines, one JSON line each (NDJSON)
 * - `result <job-id> [--out DIR]` → job result, or the files saved
 * - `result <job-id> --apply [--branch NAME] [--push] [--pr]` → the branch made in the repository here
 * - `ui [--no-open]` → a one-time sign-in link for the web app (the URL alone on a terminal), opened in the browser
 */
import { retryTransient } from "@agnt/client/ApiClient"
import { Agent, AgentStats, Tag } from "@agnt/domain/Agent"
import { AgentId, JobId } from "@agnt/domain/Ids"
import { Job, JobEvent, JobResult } from "@agnt/domain/Job"
import { JobStatus } from "@agnt/domain/Lifecycle"
import { defaultPageSize, maxPageSize } from "@agnt/domain/Limits"
import { Page } from "@agnt/domain/Pagination"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option, Schema, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import { openInBrowser } from "./Browser.js"
import { AgntClient, Settings } from "./Client.js"
import { events, LogLine, logLinesOf } from "./Events.js"
import { orderBody } from "./OrderBody.js"
import { JobFailed, printJson, printJsonLine, UsageError } from "./Output.js"
import { parseParams } from "./Params.js"
import { applyEvent, progressOfJob, statusLine } from "./Progress.js"
import { processStdin, readPrompt } from "./Prompt.js"
import { applyJob } from "./RepoApply.js"
import { downloadResults, SavedFile } from "./Results.js"

// ---------------------------------------------------------------------------
// Shared arguments and options
// ---------------------------------------------------------------------------

const agentIdArg = Args.text({ name: "agent-id" }).pipe(
  Args.withSchema(AgentId),
  Args.withDescription("the agent's id (agent_…)")
)

const jobIdArg = Args.text({ name: "job-id" }).pipe(
  Args.withSchema(JobId),
  Args.withDescription("the job's id (job_…)")
)

const limitOption = Options.integer("limit").pipe(
  Options.withPseudoName("N"),
  Options.withSchema(
    Schema.Int.pipe(Schema.between(1, maxPageSize, { message: () => `--limit is an integer from 1 to ${maxPageSize}` }))
  ),
  Options.withDefault(defaultPageSize),
  Options.withDescription("page size, 1–100 (default 20)")
)

const cursorOption = Options.text("cursor").pipe(
  Options.withPseudoName("CURSOR"),
  Options.optional,
  Options.withDescription("the next_cursor of the previous page")
)

const outOption = Options.text("out").pipe(
  Options.withPseudoName("DIR"),
  Options.optional,
  Options.withDescription("directory to save the result files in (created as needed)")
)

// ---------------------------------------------------------------------------
// Catalogue
// ---------------------------------------------------------------------------

const AgentPage = Page(Agent)
const JobPage = Page(Job)

/** `agnt search [query] [--tag T]... [--limit N] [--cursor C]`: a page of agents, best match first. */
export const search = Command.make("search", {
  query: Args.text({ name: "query" }).pipe(
    Args.withSchema(Schema.String.pipe(Schema.filter((text) => !text.startsWith("-"), {
      message: (issue) => `unknown option ${String(issue.actual)}`
    }))),
    Args.optional,
    Args.withDescription("full-text query")
  ),
  tags: Options.text("tag").pipe(
    Options.withPseudoName("TAG"),
    Options.repeated,
    Options.withSchema(Schema.mutable(Schema.Array(Tag))),
    Options.withDescription("only agents carrying this tag; given several times, all must match")
  ),
  limit: limitOption,
  cursor: cursorOption
}, ({ cursor, limit, query, tags }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const page = yield* client.agents.search({
      urlParams: {
        limit,
        ...(Option.isSome(query) ? { q: query.value } : {}),
        ...(tags.length > 0 ? { tags } : {}),
        ...(Option.isSome(cursor) ? { cursor: cursor.value } : {})
      }
    })
    yield* printJson(AgentPage, page)
  })).pipe(Command.withDescription("Search the agent catalogue"))

/** `agnt info <agent-id>`: the agent. */
export const info = Command.make("info", { agentId: agentIdArg }, ({ agentId }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    yield* printJson(Agent, yield* client.agents.get({ path: { agent_id: agentId } }))
  })).pipe(Command.withDescription("Show an agent"))

/** `agnt stats <agent-id>`: the agent's job outcome statistics. */
export const stats = Command.make("stats", { agentId: agentIdArg }, ({ agentId }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    yield* printJson(AgentStats, yield* client.agents.stats({ path: { agent_id: agentId } }))
  })).pipe(Command.withDescription("Show an agent's job statistics"))

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

const afterOption = Options.integer("after").pipe(
  Options.withPseudoName("EVENT-ID"),
  Options.withSchema(Schema.Int.pipe(Schema.nonNegative({ message: () => "--after is an event_id, 0 or more" }))),
  Options.withDefault(0),
  Options.withDescription("start after this event_id (default 0: from the first event)")
)

/** Fetch the job, retrying transient failures. */
const getJob = (client: AgntClient, jobId: JobId) => client.jobs.get({ path: { job_id: jobId } }).pipe(Effect.retry(retryTransient))

/**
 * Follow `job`'s events after the cursor `after` with long-polls until the
 * job is terminal and every event has been seen, keeping a progress line on
 * stderr when it is a terminal (erased at the end, or when interrupted) and
 * handing each event to `print`, if given, with the line erased. The result
 * is the job as it ended (fetched again once the events are done).
 */
const followJob = <E = never, R = never>(
  client: AgntClient,
  job: Job,
  after: number,
  print?: (event: JobEvent) => Effect.Effect<void, E, R>
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const line = yield* statusLine(process.stderr, job.job_id, process.stdout.isTTY === true)
      yield* line.show(progressOfJob(job))
      yield* events(client, job.job_id, { after, follow: true }).pipe(
        Stream.runFoldEffect(progressOfJob(job), (state, event) => {
          const next = applyEvent(state, event)
          const printed = print === undefined ? Effect.void : line.printing(print(event))
          return printed.pipe(Effect.zipRight(line.show(next)), Effect.as(next))
        })
      )
      return yield* getJob(client, job.job_id)
    })
  )

/** `failed`, `rejected` and `canceled` end `order --wait` and `watch` with exit 1; the message gives the failure or rejection reason. */
const failureOf = (job: Job): Option.Option<JobFailed> => {
  if (job.status === "completed") return Option.none()
  const reason = job.status === "rejected" ? job.decision_reason : job.failure_reason
  return Option.some(
    new JobFailed({
      job_id: job.job_id,
      status: job.status,
      failure_reason: job.failure_reason,
      message: `job ${job.job_id} ended ${job.status}${reason === null ? "" : `: ${reason}`}`
    })
  )
}

/** Output of `order --wait --out`: the final job, the local paths written, and the directory. */
const WaitedOrder = Schema.Struct({ job: Job, files: Schema.Array(Schema.String), out: Schema.String })

/** Output of `result --out`. */
const SavedResult = Schema.Struct({
  job_id: JobId,
  status: JobStatus,
  out: Schema.String,
  files: Schema.Array(SavedFile)
})

/**
 * `agnt order <agent-id> (--prompt TEXT | --prompt - | --prompt-file PATH) …`: create a job, optionally
 * wait for it and fetch its results. A prompt over 128 KiB (one argument's limit) comes from stdin or a file.
 */
export const order = Command.make("order", {
  agentId: agentIdArg,
  prompt: Options.text("prompt").pipe(
    Options.withPseudoName("TEXT"),
    Options.optional,
    Options.withDescription("what the agent should do; - reads it from standard input")
  ),
  promptFile: Options.text("prompt-file").pipe(
    Options.withPseudoName("PATH"),
    Options.optional,
    Options.withDescription("read the prompt from this file (UTF-8), for prompts of any length")
  ),
  params: Options.text("param").pipe(
    Options.withPseudoName("KEY=VALUE"),
    Options.repeated,
    Options.withDescription("a job parameter; the value is JSON if it parses (5, true, {\"a\":1}), else a string")
  ),
  files: Options.text("file").pipe(
    Options.withPseudoName("PATH"),
    Options.repeated,
    Options.withDescription("an input file, or a directory sent recursively without node_modules and .git")
  ),
  wait: Options.boolean("wait").pipe(
    Options.withDescription("follow the job until it ends (progress line on stderr when a terminal) and print the final job")
  ),
  out: Options.text("out").pipe(
    Options.withPseudoName("DIR"),
    Options.optional,
    Options.withDescription("with --wait: save the result files of the completed job in this directory (created as needed)")
  ),
  repo: Options.text("repo").pipe(
    Options.withPseudoName("DIR"),
    Options.optional,
    Options.withDescription(
      "a repo job: send the tracked files at HEAD of the git repository holding DIR (default .), never .git, ignored or untracked files"
    )
  ),
  includeChanges: Options.boolean("include-changes").pipe(
    Options.withDescription("with --repo: send the working tree's uncommitted changes to tracked files too")
  ),
  from: Options.text("from").pipe(
    Options.withPseudoName("JOB-ID"),
    Options.withSchema(JobId),
    Options.optional,
    Options.withDescription(
      "work on a completed job's outcome: its result files, or for a repo job its tree with its patch applied (in the repository at --repo, default .)"
    )
  ),
  idempotencyKey: Options.text("idempotency-key").pipe(
    Options.withPseudoName("KEY"),
    Options.optional,
    Options.withDescription("sent as Idempotency-Key (default: a fresh UUID); retries with it never make a second job")
  )
}, ({ agentId, files, from, idempotencyKey, includeChanges, out, params, prompt, promptFile, repo, wait }) =>
  Effect.gen(function*() {
    if (Option.isSome(out) && !wait) {
      return yield* new UsageError({ message: "--out needs --wait (or use `agnt result <job-id> --out DIR` later)" })
    }
    const promptText = yield* readPrompt({ prompt, promptFile }, processStdin)
    const jobParams = yield* parseParams(params)
    const fields = { agent_id: agentId, prompt: promptText, params: JSON.stringify(jobParams) }

    const client = yield* AgntClient
    // One key for this order, so the transient-failure retries below can never create two jobs.
    const key = Option.getOrElse(idempotencyKey, () => NodeCrypto.randomUUID())
    const created = yield* Effect.scoped(
      Effect.flatMap(
        orderBody(fields, { files, repo, includeChanges, from }),
        (body) => client.uploads.createJob(body, { "idempotency-key": key }).pipe(Effect.retry(retryTransient))
      )
    )
    if (!wait) return yield* printJson(Job, created)

    const job = yield* followJob(client, created, 0)
    const failure = failureOf(job)
    if (Option.isNone(out)) {
      yield* printJson(Job, job)
    } else {
      const saved = Option.isNone(failure)
        ? yield* downloadResults(yield* client.jobs.result({ path: { job_id: job.job_id } }), out.value)
        : []
      yield* printJson(WaitedOrder, { job, files: saved.map((file) => file.local_path), out: out.value })
    }
    if (Option.isSome(failure)) return yield* failure.value
  })).pipe(Command.withDescription("Order a job from an agent"))

/** `agnt jobs [--status S] [--agent ID] [--parent JOB] [--limit N] [--cursor C]`: a page of your jobs, newest first. */
export const jobs = Command.make("jobs", {
  status: Options.choice("status", JobStatus.literals).pipe(Options.optional, Options.withDescription("only jobs in this state")),
  agent: Options.text("agent").pipe(
    Options.withPseudoName("AGENT-ID"),
    Options.withSchema(AgentId),
    Options.optional,
    Options.withDescription("only jobs of this agent")
  ),
  parent: Options.text("parent").pipe(
    Options.withPseudoName("JOB-ID"),
    Options.withSchema(JobId),
    Options.optional,
    Options.withDescription("only the jobs ordered from this one (agnt order --from)")
  ),
  limit: limitOption,
  cursor: Options.text("cursor").pipe(
    Options.withPseudoName("CURSOR"),
    Options.withSchema(JobId),
    Options.optional,
    Options.withDescription("the next_cursor of the previous page")
  )
}, ({ agent, cursor, limit, parent, status }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const page = yield* client.jobs.list({
      urlParams: {
        limit,
        ...(Option.isSome(status) ? { status: status.value } : {}),
        ...(Option.isSome(agent) ? { agent_id: agent.value } : {}),
        ...(Option.isSome(parent) ? { parent_job_id: parent.value } : {}),
        ...(Option.isSome(cursor) ? { cursor: cursor.value } : {})
      }
    })
    yield* printJson(JobPage, page)
  })).pipe(Command.withDescription("List your jobs"))

/** `agnt status <job-id>`: the job. */
export const status = Command.make("status", { jobId: jobIdArg }, ({ jobId }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    yield* printJson(Job, yield* client.jobs.get({ path: { job_id: jobId } }))
  })).pipe(Command.withDescription("Show a job"))

/** `agnt cancel <job-id>`: cancel the job and print it (pending: now `canceled`; accepted or running: `cancel_requested`). */
export const cancel = Command.make("cancel", { jobId: jobIdArg }, ({ jobId }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    yield* printJson(Job, yield* client.jobs.cancel({ path: { job_id: jobId } }))
  })).pipe(Command.withDescription("Cancel a job (a running job stops at its executor's next call)"))

/**
 * `agnt watch <job-id> [--after N]`: every event of the job after `N`, one
 * compact JSON line each, until the job is terminal; exit 1 when it ended
 * `failed`, `rejected` or `canceled`.
 */
export const watch = Command.make("watch", { jobId: jobIdArg, after: afterOption }, ({ after, jobId }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const job = yield* followJob(client, yield* getJob(client, jobId), after, (event) => printJsonLine(JobEvent, event))
    const failure = failureOf(job)
    if (Option.isSome(failure)) return yield* failure.value
  })).pipe(Command.withDescription("Print a job's events as JSON lines until it ends"))

/**
 * `agnt logs <job-id> [--after N] [--follow]`: the job's log lines after
 * event `N`, one compact JSON line each (`{event_id, created_at, line}`);
 * with `--follow`, keep following until the job is terminal.
 */
export const logs = Command.make("logs", {
  jobId: jobIdArg,
  after: afterOption,
  follow: Options.boolean("follow").pipe(
    Options.withAlias("f"),
    Options.withDescription("keep printing new lines until the job ends")
  )
}, ({ after, follow, jobId }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    yield* events(client, jobId, { after, follow }).pipe(
      Stream.mapConcat(logLinesOf),
      Stream.runForEach((line) => printJsonLine(LogLine, line))
    )
  })).pipe(Command.withDescription("Print a job's log lines as JSON lines (--follow: until it ends)"))

/** Output of `result --apply`: the branch made and what went out. */
const AppliedResult = Schema.Struct({
  job_id: JobId,
  branch: Schema.String,
  commit: Schema.String,
  base_commit: Schema.String,
  changed: Schema.Boolean,
  pushed: Schema.Boolean,
  pr_url: Schema.NullOr(Schema.String)
})

/**
 * `agnt result <job-id> [--out DIR | --apply [--branch NAME] [--push] [--pr]]`:
 * the job's result manifest; with `--out` the files saved locally; with
 * `--apply` (a repo job, run in the buyer's repository) the branch made
 * from its patch (`RepoApply.applyJob`).
 */
export const result = Command.make("result", {
  jobId: jobIdArg,
  out: outOption,
  apply: Options.boolean("apply").pipe(
    Options.withDescription("a repo job: make branch agnt/<job-id> in the repository here from its base commit and patch")
  ),
  branch: Options.text("branch").pipe(
    Options.withPseudoName("NAME"),
    Options.optional,
    Options.withDescription("with --apply: this branch instead (an existing one gets the patch on its tip)")
  ),
  push: Options.boolean("push").pipe(Options.withDescription("with --apply: push the branch to origin with your git")),
  pr: Options.boolean("pr").pipe(Options.withDescription("with --apply: push it and open a pull request with gh"))
}, ({ apply, branch, jobId, out, pr, push }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    if (!apply && (Option.isSome(branch) || push || pr)) {
      return yield* new UsageError({ message: "--branch, --push and --pr go with --apply" })
    }
    const jobResult = yield* client.jobs.result({ path: { job_id: jobId } })
    if (apply) {
      if (jobResult.status !== "completed") {
        return yield* new UsageError({ message: `${jobId} is ${jobResult.status}; only a completed job can be applied` })
      }
      const job = yield* getJob(client, jobId)
      return yield* printJson(AppliedResult, yield* applyJob(process.cwd(), job, jobResult, { branch, push, pr }))
    }
    if (Option.isNone(out)) return yield* printJson(JobResult, jobResult)
    const files = yield* downloadResults(jobResult, out.value)
    yield* printJson(SavedResult, { job_id: jobResult.job_id, status: jobResult.status, out: out.value, files })
  })).pipe(Command.withDescription("Show a job's result files, download them with --out, or make a repo job's branch with --apply"))

/**
 * `argv` with a bare `--repo` (the last argument, or followed by another
 * option) given its default directory `.`: `agnt order A --repo --prompt X`
 * reads as `--repo . --prompt X`. Arguments after `--` are left alone.
 */
export const withDefaultRepoDir = (argv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  let options = true
  for (const [index, arg] of argv.entries()) {
    out.push(arg)
    if (arg === "--") options = false
    const next = argv[index + 1]
    if (options && arg === "--repo" && (next === undefined || next.startsWith("-"))) out.push(".")
  }
  return out
}

// ---------------------------------------------------------------------------
// The web app
// ---------------------------------------------------------------------------

/** Output of `ui` when stdout is not a terminal: the sign-in URL, until when it works, and whether a browser was started. */
const SignInUrl = Schema.Struct({ url: Schema.String, expires_at: Schema.DateTimeUtc, opened: Schema.Boolean })

/**
 * `agnt ui [--no-open]`: a one-time sign-in link for the web app as the
 * configured key (valid 5 minutes), opened with the platform's opener
 * unless `--no-open` or there is none. On a terminal stdout gets the URL
 * alone; otherwise the usual JSON document.
 */
export const ui = Command.make("ui", {
  noOpen: Options.boolean("no-open").pipe(Options.withDescription("only print the link; do not open a browser"))
}, ({ noOpen }) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const settings = yield* Settings
    const link = yield* client.sessions.createLink()
    const url = `${settings.api_url.replace(/\/+$/, "")}${link.path}`
    const opened = noOpen ? false : yield* openInBrowser(url)
    if (process.stdout.isTTY === true) return yield* Console.log(url)
    yield* printJson(SignInUrl, { url, expires_at: link.expires_at, opened })
  })).pipe(Command.withDescription("Sign in to the web app: print a one-time link and open it in the browser"))

/** `agnt` itself: without a subcommand it is a usage error. */
export const agnt = Command.make("agnt", {}, () =>
  Effect.fail(
    new UsageError({
      message: "missing command: one of search, info, stats, order, jobs, status, cancel, watch, logs, result, ui (see agnt --help)"
    })
  )).pipe(
    Command.withDescription("The agnt marketplace from the command line: find agents, order jobs, follow them, fetch results"),
    Command.withSubcommands([search, info, stats, order, jobs, status, cancel, watch, logs, result, ui])
  )
