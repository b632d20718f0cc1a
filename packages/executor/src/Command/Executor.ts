/**
 * The built-in command executor (DESIGN.md "Executors"): runs a configured
 * program (`CommandConfig`) per job in the job's workspace — `claude -p`,
 * `codex exec`, `gemini -p`, or anything. The prompt goes in by argument,
 * stdin or env; stdout and stderr lines become the job's log; exit code 0
 * completes the job with whatever the program wrote to the out dir (or to
 * `out/` in its workspace); anything else fails it with the log tail.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId } from "@agnt/domain/Ids"
import type { Job } from "@agnt/domain/Job"
import { Duration, Effect, Fiber, Option, Stream } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { type ExecutorDefinition, type JobContext, JobFailure } from "../Executor.js"
import type { CommandConfig } from "./Config.js"
import { type ChildExit, type OutputLine, spawn, type SpawnError } from "./Process.js"

/** Lines of output kept for a failure reason (the "log tail"). */
export const tailLines = 20
/** Longest failure reason built here, in characters (the API takes at most `maxReasonLength`, 8000). */
const maxReasonLength = 4000
/** Longest line quoted in a failure reason. */
const maxTailLineLength = 300
/** After the program is gone, how long its output may take to drain. */
const drainWait = Duration.seconds(2)
/** The workspace subdirectory whose files also become results. */
export const workspaceOutDir = "out"

/** The manifest an agent served by `config` publishes. */
export const commandManifest = (config: CommandConfig): AgentManifest =>
  new AgentManifest({
    name: config.name,
    description: config.description,
    tags: config.tags,
    input_schema: config.input_schema,
    pricing: config.pricing,
    max_attempts: config.max_attempts,
    retry_delay_seconds: config.retry_delay_seconds
  })

/** The values placeholders stand for in one job. */
interface Placeholders {
  readonly prompt: string
  readonly workspace: string
  readonly out: string
  readonly job_id: string
  readonly params_json: string
}

const placeholderPattern = /\{(prompt|workspace|out|job_id|params_json)\}/g

/** Replace each placeholder in one pass, so substituted text is never scanned again. */
const substitute = (template: string, values: Placeholders): string =>
  template.replace(placeholderPattern, (_, name: keyof Placeholders) => values[name])

/**
 * The program's argument vector for one job: `args` with placeholders
 * substituted and, when the prompt goes by argument and no arg mentions
 * `{prompt}`, the prompt appended last.
 */
export const buildArgs = (config: CommandConfig, values: Placeholders): Array<string> => {
  const args = config.args.map((arg) => substitute(arg, values))
  const mentionsPrompt = config.args.some((arg) => arg.includes("{prompt}"))
  return config.prompt_via === "argument" && !mentionsPrompt ? [...args, values.prompt] : args
}

/**
 * The program's environment: the executor's own (`PATH`, `HOME` and the
 * agent CLIs' credentials live there) without any `AGNT_*` variable —
 * notably the executor's API key — then `config.env`, then the job's
 * `AGNT_*` variables.
 */
export const buildEnv = (
  config: CommandConfig,
  values: Placeholders,
  inherited: Readonly<Record<string, string | undefined>>
): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(inherited)) {
    if (value !== undefined && !key.startsWith("AGNT_")) env[key] = value
  }
  return {
    ...env,
    ...config.env,
    AGNT_JOB_ID: values.job_id,
    AGNT_WORKSPACE: values.workspace,
    AGNT_OUT_DIR: values.out,
    AGNT_PARAMS: values.params_json,
    ...(config.prompt_via === "env" ? { AGNT_PROMPT: values.prompt } : {})
  }
}

const formatLine = (line: OutputLine) => (line.stream === "stderr" ? `[stderr] ${line.text}` : line.text)

/** `head`, then as much of the tail as fits in `maxReasonLength` (its last lines win). */
const reasonWithTail = (head: string, tail: ReadonlyArray<string>): string => {
  if (tail.length === 0) return `${head} (no output)`
  const quoted = tail.map((line) => line.length > maxTailLineLength ? `${line.slice(0, maxTailLineLength - 1)}…` : line)
  let body = quoted.join("\n")
  const room = maxReasonLength - head.length - 40
  if (body.length > room) body = `…${body.slice(body.length - room)}`
  return `${head}; last ${tail.length} line(s) of output:\n${body}`
}

const describeExit = (exit: ChildExit): string =>
  exit.code !== null ? `exit code ${exit.code}` : `killed by signal ${exit.signal ?? "unknown"}`

const spawnFailure = (error: SpawnError): JobFailure =>
  new JobFailure({
    reason: error.code === "ENOENT"
      ? `program not found: ${error.program} (is it installed and on the executor's PATH?)`
      : error.code === "EACCES"
      ? `program not executable: ${error.program}`
      : `could not start ${error.program}: ${error.message}`
  })

const fsFailure = (what: string) => (cause: unknown) =>
  new JobFailure({ reason: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

/**
 * Copy the regular files under `from` into `to` at the same relative paths;
 * symbolic links and other non-regular entries are skipped with a log line
 * (a link could expose files outside the workspace as results).
 */
const copyRegularFiles = (from: string, to: string, log: JobContext["log"]): Effect.Effect<number, JobFailure> =>
  Effect.gen(function*() {
    const entries = yield* Effect.tryPromise({
      try: () => NodeFs.readdir(from, { withFileTypes: true }),
      catch: fsFailure(`cannot read ${from}`)
    })
    let copied = 0
    for (const entry of entries) {
      const source = NodePath.join(from, entry.name)
      const target = NodePath.join(to, entry.name)
      if (entry.isDirectory()) {
        copied += yield* copyRegularFiles(source, target, log)
      } else if (entry.isFile()) {
        yield* Effect.tryPromise({
          try: async () => {
            await NodeFs.mkdir(to, { recursive: true })
            await NodeFs.copyFile(source, target)
          },
          catch: fsFailure(`cannot collect result ${source}`)
        })
        copied += 1
      } else {
        yield* log(`skipped ${source}: not a regular file`)
      }
    }
    return copied
  })

/** Delete symbolic links (and other non-regular entries) under `dir`, logging each. */
const removeNonRegular = (dir: string, log: JobContext["log"]): Effect.Effect<void, JobFailure> =>
  Effect.gen(function*() {
    const entries = yield* Effect.tryPromise({
      try: () => NodeFs.readdir(dir, { withFileTypes: true }),
      catch: fsFailure(`cannot read ${dir}`)
    })
    for (const entry of entries) {
      const path = NodePath.join(dir, entry.name)
      if (entry.isDirectory()) {
        yield* removeNonRegular(path, log)
      } else if (!entry.isFile()) {
        yield* Effect.tryPromise({ try: () => NodeFs.rm(path, { force: true }), catch: fsFailure(`cannot remove ${path}`) })
        yield* log(`dropped ${path} from the results: not a regular file`)
      }
    }
  })

/**
 * After a successful run: copy `<workspace>/out/` into `ctx.outDir` (unless
 * they are the same directory) and drop non-regular files from `ctx.outDir`.
 */
const collectResults = (ctx: JobContext): Effect.Effect<void, JobFailure> =>
  Effect.gen(function*() {
    const fromWorkspace = NodePath.join(ctx.workspace, workspaceOutDir)
    const [source, target] = yield* Effect.promise(() =>
      Promise.all([
        NodeFs.realpath(fromWorkspace).catch(() => undefined),
        NodeFs.realpath(ctx.outDir).catch(() => ctx.outDir)
      ])
    )
    if (source !== undefined && source !== target) {
      const stat = yield* Effect.promise(() => NodeFs.lstat(fromWorkspace))
      if (stat.isDirectory()) {
        const copied = yield* copyRegularFiles(fromWorkspace, ctx.outDir, ctx.log)
        if (copied > 0) yield* ctx.log(`collected ${copied} result file(s) from ${workspaceOutDir}/`)
      }
    }
    yield* removeNonRegular(ctx.outDir, ctx.log)
  })

/** Run `config`'s program for one job (see `command`). */
const runCommand = Effect.fn("Command.run")(function*(config: CommandConfig, job: Job, ctx: JobContext) {
  const base = {
    workspace: ctx.workspace,
    out: ctx.outDir,
    job_id: job.job_id,
    params_json: JSON.stringify(job.params)
  }
  const suffix = substitute(config.prompt_suffix, { ...base, prompt: "{prompt}" })
  const values: Placeholders = { ...base, prompt: suffix.length > 0 ? `${job.prompt}\n\n${suffix}` : job.prompt }
  // Ready for programs told to write to out/ (an input file already named "out" wins).
  yield* Effect.promise(() => NodeFs.mkdir(NodePath.join(ctx.workspace, workspaceOutDir), { recursive: true }).catch(() => undefined))

  const tail: Array<string> = []
  const outcome = yield* Effect.scoped(Effect.gen(function*() {
    const child = yield* spawn({
      program: config.program,
      args: buildArgs(config, values),
      cwd: ctx.workspace,
      // The child inherits the executor's environment (PATH, HOME, the CLIs' credentials).
      env: buildEnv(config, values, process.env),
      stdin: config.prompt_via === "stdin" ? values.prompt : undefined,
      killGrace: Duration.seconds(config.kill_grace_seconds)
    }).pipe(Effect.mapError(spawnFailure))
    yield* ctx.progress(1, `running ${NodePath.basename(config.program)}`)
    const logging = yield* child.lines.pipe(
      Stream.runForEach((line) => {
        const text = formatLine(line)
        tail.push(text)
        if (tail.length > tailLines) tail.shift()
        return ctx.log(text)
      }),
      Effect.fork
    )
    const exit = yield* child.exited.pipe(Effect.timeoutOption(Duration.seconds(config.timeout_seconds)))
    // Also stops what the program left running in its group.
    yield* child.terminate
    yield* Fiber.join(logging).pipe(Effect.timeoutOption(drainWait))
    yield* Fiber.interrupt(logging)
    return exit
  }))

  if (Option.isNone(outcome)) {
    return yield* new JobFailure({ reason: reasonWithTail(`timed out after ${config.timeout_seconds} s`, tail) })
  }
  if (outcome.value.code !== 0) {
    return yield* new JobFailure({
      reason: reasonWithTail(`${NodePath.basename(config.program)} failed with ${describeExit(outcome.value)}`, tail)
    })
  }
  yield* collectResults(ctx)
})

/**
 * The command executor serving `agentId`: publishes `config`'s name,
 * description, tags and input schema, and per job runs `config.program` in
 * the job's workspace (its own process group; see `CommandConfig` for args,
 * prompt and environment). Outcomes of `run`:
 * - exit code 0: succeeds; results are the files under `ctx.outDir` plus the
 *   regular files under `<workspace>/out/` (symbolic links are dropped);
 * - other exit code or a signal: `JobFailure` "… failed with exit code N"
 *   (or "killed by signal S") and the last 20 lines of output;
 * - running past `timeout_seconds`: the group gets SIGTERM, then SIGKILL
 *   after `kill_grace_seconds`, and `JobFailure` "timed out after N s" + tail;
 * - program missing or not executable: `JobFailure` saying so;
 * - interruption (a canceled job): the group is stopped the same way, and
 *   the interruption completes only once it is gone;
 * - the executor dying (even by SIGKILL): the program's watchdog kills its
 *   group and every process carrying its mark (`Command/Process.ts`).
 */
export const command = (config: CommandConfig, agentId: AgentId): ExecutorDefinition => ({
  agent_id: agentId,
  manifest: commandManifest(config),
  run: (job, ctx) => runCommand(config, job, ctx)
})
