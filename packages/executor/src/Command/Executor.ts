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
import { Config, Duration, Effect, Fiber, Schedule, Stream } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { type ExecutorDefinition, type JobContext, JobFailure } from "../Executor.js"
import type { CommandConfig } from "./Config.js"
import { bridgeCommand, egressBridgeExists, egressBridgePath, egressProxy, proxyEnvironment } from "./EgressProxy.js"
import { type ChildExit, type OutputLine, spawn, type SpawnError } from "./Process.js"
import {
  type Bind,
  egressBinds,
  egressInside,
  handOver,
  inside,
  probeSandbox,
  programBinds,
  sandboxArgv,
  sandboxBinds,
  type SandboxMounts,
  type SandboxTools,
  SandboxUnavailable,
  workspaceUsage
} from "./Sandbox.js"

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

/**
 * How the command executor runs its programs: in the sandbox, through the
 * tools `Sandbox.probeSandbox` found, or — only when the seller said
 * `--no-sandbox` — as the executor's own user, said in every job's log and
 * in the manifest.
 */
export type Isolation =
  | {
    readonly _tag: "Sandboxed"
    readonly tools: SandboxTools
    /** What the sandbox adds to show the program (`Sandbox.programBinds`). */
    readonly programBinds: ReadonlyArray<Bind>
  }
  | { readonly _tag: "Unsandboxed" }

/**
 * The isolation an executor of `config`, whose program was found at
 * `program` (`Setup.findProgram`), starts with: unsandboxed when the seller
 * said `--no-sandbox` (with a warning), else the sandbox — after checking
 * that it starts on this host (`probeSandbox`), so that an executor that
 * cannot isolate its jobs refuses to start rather than run them unprotected.
 *
 * @fails SandboxUnavailable saying why, and how to fix it.
 */
export const isolationFor = (
  config: CommandConfig,
  program: string,
  noSandbox: boolean
): Effect.Effect<Isolation, SandboxUnavailable> =>
  Effect.gen(function*() {
    if (noSandbox) {
      yield* Effect.logWarning("--no-sandbox: every job's program runs as this executor's user, with its files and network")
      return { _tag: "Unsandboxed" } as const
    }
    const path = yield* Config.string("PATH").pipe(Config.withDefault(""), Effect.orElseSucceed(() => ""))
    const tools = yield* probeSandbox(path, process.getuid?.() === 0)
    if (config.sandbox.network !== "none" && !egressBridgeExists()) {
      return yield* new SandboxUnavailable({
        message: `the network allow-list needs the egress bridge script at ${egressBridgePath}, which is missing ` +
          "(an incomplete installation: reinstall agnt-executor)"
      })
    }
    return { _tag: "Sandboxed", tools, programBinds: programBinds(program, config.sandbox, NodeOs.homedir()) } as const
  })

/** The manifest an agent served by `config` publishes; `sandboxed` says whether its programs run in the sandbox. */
export const commandManifest = (config: CommandConfig, isolation: Isolation): AgentManifest =>
  new AgentManifest({
    name: config.name,
    description: config.description,
    tags: config.tags,
    input_schema: config.input_schema,
    pricing: config.pricing,
    max_attempts: config.max_attempts,
    retry_delay_seconds: config.retry_delay_seconds,
    sandboxed: isolation._tag === "Sandboxed"
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

/** Variables of the executor's environment every sandboxed program gets: the program search path, locale and terminal. */
const sandboxBaseVariables = ["PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TERM", "NO_COLOR"]

/**
 * The program's environment. Unsandboxed: the executor's own (`PATH`,
 * `HOME` and the agent CLIs' credentials live there) without any `AGNT_*`
 * variable — notably the executor's API key. Sandboxed: only
 * `sandboxBaseVariables` and those `config.sandbox.pass_env` names, with
 * `HOME` and `TMPDIR` inside the sandbox. Then `config.env`, then the job's
 * `AGNT_*` variables.
 */
export const buildEnv = (
  config: CommandConfig,
  values: Placeholders,
  inherited: Readonly<Record<string, string | undefined>>,
  sandboxed: boolean
): Record<string, string> => {
  const env: Record<string, string> = {}
  const passed = sandboxed ? new Set([...sandboxBaseVariables, ...config.sandbox.pass_env]) : undefined
  for (const [key, value] of Object.entries(inherited)) {
    if (value === undefined || key.startsWith("AGNT_")) continue
    if (passed === undefined || passed.has(key)) env[key] = value
  }
  if (sandboxed) {
    env["HOME"] = inside.home
    env["TMPDIR"] = inside.tmp
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
 * they are the same directory, or the job is a repo job, whose workspace is
 * the buyer's repository and comes back as a patch) and drop non-regular
 * files from `ctx.outDir`.
 */
const collectResults = (job: Job, ctx: JobContext): Effect.Effect<void, JobFailure> =>
  Effect.gen(function*() {
    if (job.repo !== null) return yield* removeNonRegular(ctx.outDir, ctx.log)
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

/** What one job's program is started with, in or out of the sandbox. */
interface Launch {
  readonly program: string
  readonly args: ReadonlyArray<string>
  readonly env: Record<string, string>
  readonly values: Placeholders
  /** The host directories whose total size `sandbox.workspace_mb` bounds; none when unsandboxed. */
  readonly watched: ReadonlyArray<string>
  /** The egress proxy to start for the program's allow-list: where its socket goes on the host, and what it allows. */
  readonly egress: { readonly socketPath: string; readonly allow: ReadonlyArray<string> } | undefined
}

/**
 * One job's launch: placeholders (paths as the program sees them), its
 * environment and, in the sandbox, a fresh home and `/tmp` beside the
 * workspace (inside the job's directory, removed with it), handed to the
 * sandbox's user when the executor runs as root, and the sandbox's argv.
 */
const prepareLaunch = (config: CommandConfig, isolation: Isolation, job: Job, ctx: JobContext) =>
  Effect.gen(function*() {
    const sandboxed = isolation._tag === "Sandboxed"
    const base = {
      workspace: sandboxed ? inside.workspace : ctx.workspace,
      out: sandboxed ? inside.out : ctx.outDir,
      job_id: job.job_id,
      params_json: JSON.stringify(job.params)
    }
    const repoJob = job.repo !== null
    const suffix = substitute(repoJob ? config.repo_prompt_suffix : config.prompt_suffix, { ...base, prompt: "{prompt}" })
    const values: Placeholders = { ...base, prompt: suffix.length > 0 ? `${job.prompt}\n\n${suffix}` : job.prompt }
    // Ready for programs told to write to out/ (an input file already named "out" wins); a repo job edits in place.
    if (!repoJob) {
      yield* Effect.promise(() => NodeFs.mkdir(NodePath.join(ctx.workspace, workspaceOutDir), { recursive: true }).catch(() => undefined))
    }
    const env = buildEnv(config, values, process.env, sandboxed)
    const args = buildArgs(config, values)
    if (isolation._tag === "Unsandboxed") {
      yield* ctx.log("running unsandboxed (--no-sandbox): the program runs as the executor's user, with its files and network")
      return { program: config.program, args, env, values, watched: [], egress: undefined } satisfies Launch
    }
    return yield* sandboxedLaunch(config, isolation, ctx, { args, env, values })
  })

/**
 * The sandboxed half of `prepareLaunch`: a fresh home and `/tmp` in a
 * folder beside the workspace, handed to the sandbox's user when the
 * executor runs as root, the sandbox's argv and, for an allow-list, the
 * bridge in front of the program and where the egress proxy's socket goes.
 */
const sandboxedLaunch = (
  config: CommandConfig,
  isolation: Extract<Isolation, { readonly _tag: "Sandboxed" }>,
  ctx: JobContext,
  launch: Pick<Launch, "args" | "env" | "values">
) =>
  Effect.gen(function*() {
    const root = yield* Effect.tryPromise({
      try: () => NodeFs.mkdtemp(NodePath.join(NodePath.dirname(ctx.workspace), "sandbox-")),
      catch: fsFailure("cannot prepare the sandbox")
    })
    const mounts: SandboxMounts = {
      workspace: ctx.workspace,
      out: ctx.outDir,
      home: NodePath.join(root, "home"),
      tmp: NodePath.join(root, "tmp")
    }
    const watched = [mounts.workspace, mounts.out, mounts.home, mounts.tmp]
    const egressDir = NodePath.join(root, "egress")
    yield* Effect.tryPromise({
      try: async () => {
        await Promise.all([NodeFs.mkdir(mounts.home), NodeFs.mkdir(mounts.tmp), NodeFs.mkdir(egressDir, { mode: 0o755 })])
        if (isolation.tools.setpriv !== undefined) await handOver(watched)
      },
      catch: fsFailure("cannot prepare the sandbox")
    })
    const network = config.sandbox.network
    const binds = [...sandboxBinds(config.sandbox, mounts, NodeOs.homedir()), ...isolation.programBinds]
    if (network === "none") {
      const [program = "", ...rest] = sandboxArgv(isolation.tools, config.sandbox, binds, config.program, launch.args)
      return { ...launch, program, args: rest, watched, egress: undefined } satisfies Launch
    }
    // The allow-list: the program reaches the proxy's socket (shown at `egressInside`) through the bridge on loopback.
    const [bridge = "", ...bridgeArgs] = bridgeCommand({
      socketPath: egressInside.socket,
      port: egressInside.port,
      program: config.program,
      args: launch.args
    })
    const [program = "", ...rest] = sandboxArgv(isolation.tools, config.sandbox, [...binds, ...egressBinds(egressDir)], bridge, bridgeArgs)
    return {
      ...launch,
      program,
      args: rest,
      env: { ...launch.env, ...proxyEnvironment(egressInside.port) },
      watched,
      egress: { socketPath: NodePath.join(egressDir, NodePath.basename(egressInside.socket)), allow: network.allow }
    } satisfies Launch
  })

/** How a job's program ended: by itself, past its time, or stopped when its files outgrew the sandbox's limit. */
type Outcome =
  | { readonly _tag: "Exited"; readonly exit: ChildExit }
  | { readonly _tag: "TimedOut" }
  | { readonly _tag: "WorkspaceFull"; readonly bytes: number }

/** Seconds between two measurements of a sandboxed job's files. */
const workspaceCheckInterval = Duration.seconds(1)

/** Succeeds with the total size of `dirs` once it is over `limitBytes`, measured every `workspaceCheckInterval`; never when `dirs` is empty. */
const outgrows = (dirs: ReadonlyArray<string>, limitBytes: number): Effect.Effect<number> =>
  dirs.length === 0 ? Effect.never : Effect.promise(() => workspaceUsage(dirs)).pipe(
    Effect.repeat({ schedule: Schedule.spaced(workspaceCheckInterval), until: (bytes) => bytes > limitBytes })
  )

/**
 * The sandbox limits a program meets as failing calls, each with what
 * programs print when one fails (errno texts of `ENOMEM`, `EAGAIN` from
 * fork, `EMFILE`; Node's, Python's and the shells' own words).
 */
const limitSymptoms = [
  {
    pattern: /cannot allocate memory|out ?of ?memory|memoryerror|allocation failed|std::bad_alloc/i,
    limit: (config: CommandConfig) =>
      `likely at the sandbox's memory limit of ${config.sandbox.memory_mb} MiB per process (sandbox.memory_mb)`
  },
  {
    pattern: /cannot fork|fork: retry|resource temporarily unavailable|EAGAIN/i,
    limit: (config: CommandConfig) => `likely at the sandbox's limit of ${config.sandbox.max_processes} processes (sandbox.max_processes)`
  },
  {
    pattern: /too many open files|EMFILE/i,
    limit: (config: CommandConfig) =>
      `likely at the sandbox's limit of ${config.sandbox.max_open_files} open files (sandbox.max_open_files)`
  }
]

/** Which sandbox limit the program's last lines of output say it met, if any. */
const limitInOutput = (config: CommandConfig, tail: ReadonlyArray<string>): string | undefined => {
  const text = tail.join("\n")
  return limitSymptoms.find((symptom) => symptom.pattern.test(text))?.limit(config)
}

/**
 * The failure reason of a program that did not exit 0, naming the sandbox
 * limit it hit: for certain when the runtime stopped it (workspace) or the
 * kernel did (file size), as likely when its output says so (memory,
 * processes, open files: the program sees a failing call and reports it).
 */
const failureReason = (config: CommandConfig, sandboxed: boolean, outcome: Outcome, tail: ReadonlyArray<string>): string => {
  const name = NodePath.basename(config.program)
  switch (outcome._tag) {
    case "TimedOut":
      return reasonWithTail(`timed out after ${config.timeout_seconds} s`, tail)
    case "WorkspaceFull":
      return reasonWithTail(
        `${name} was stopped: the job's files grew past the sandbox's workspace limit of ` +
          `${config.sandbox.workspace_mb} MiB (sandbox.workspace_mb)`,
        tail
      )
    case "Exited": {
      const fileTooLarge = outcome.exit.signal === "SIGXFSZ" || outcome.exit.code === 128 + 25
      const limit = sandboxed ? limitInOutput(config, tail) : undefined
      return reasonWithTail(
        fileTooLarge
          ? `${name} wrote a file past the sandbox's file size limit of ${config.sandbox.max_file_mb} MiB (sandbox.max_file_mb)`
          : `${name} failed with ${describeExit(outcome.exit)}${limit === undefined ? "" : `, ${limit}`}`,
        tail
      )
    }
  }
}

/** Run `config`'s program for one job (see `command`). */
const runCommand = Effect.fn("Command.run")(function*(config: CommandConfig, isolation: Isolation, job: Job, ctx: JobContext) {
  const launch = yield* prepareLaunch(config, isolation, job, ctx)
  const tail: Array<string> = []
  const outcome = yield* Effect.scoped(Effect.gen(function*() {
    if (launch.egress !== undefined) {
      const proxy = yield* egressProxy({
        socketPath: launch.egress.socketPath,
        allow: launch.egress.allow,
        onDecision: (decision) =>
          decision.allowed ? Effect.void : ctx.log(`[egress] refused ${decision.host}:${decision.port}: ${decision.reason}`)
      }).pipe(Effect.mapError((error) => new JobFailure({ reason: `the sandbox's egress proxy could not start: ${error.message}` })))
      // Reachable by the sandbox's user (`nobody` when the executor runs as root).
      yield* Effect.promise(() => NodeFs.chmod(proxy.socketPath, 0o666))
    }
    const child = yield* spawn({
      program: launch.program,
      args: launch.args,
      cwd: ctx.workspace,
      env: launch.env,
      stdin: config.prompt_via === "stdin" ? launch.values.prompt : undefined,
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
    const ended: Effect.Effect<Outcome> = child.exited.pipe(
      Effect.map((exit): Outcome => ({ _tag: "Exited", exit })),
      Effect.timeoutTo({ duration: Duration.seconds(config.timeout_seconds), onSuccess: (o) => o, onTimeout: () => ({ _tag: "TimedOut" }) })
    )
    const full = Effect.map(outgrows(launch.watched, config.sandbox.workspace_mb * 1024 * 1024), (bytes): Outcome => ({
      _tag: "WorkspaceFull",
      bytes
    }))
    const outcome = yield* Effect.raceFirst(ended, full)
    // Also stops what the program left running in its group (and, sandboxed, its whole PID namespace).
    yield* child.terminate
    yield* Fiber.join(logging).pipe(Effect.timeoutOption(drainWait))
    yield* Fiber.interrupt(logging)
    return outcome
  }))
  if (outcome._tag !== "Exited" || outcome.exit.code !== 0) {
    return yield* new JobFailure({ reason: failureReason(config, isolation._tag === "Sandboxed", outcome, tail) })
  }
  yield* collectResults(job, ctx)
})

/**
 * The command executor serving `agentId`: publishes `config`'s name,
 * description, tags and input schema (and whether it is sandboxed), and per
 * job runs `config.program` in the job's workspace — in the sandbox of
 * `config.sandbox` (`Command/Sandbox.ts`) unless `isolation` says
 * `Unsandboxed` — as its own process group; see `CommandConfig` for args,
 * prompt and environment. Outcomes of `run`:
 * - exit code 0: succeeds; results are the files under `ctx.outDir` plus the
 *   regular files under `<workspace>/out/` (symbolic links are dropped) —
 *   for a repo job only those under `ctx.outDir`: its workspace is the
 *   buyer's repository, which the runtime returns as `changes.patch`;
 * - other exit code or a signal: `JobFailure` "… failed with exit code N"
 *   (or "killed by signal S") and the last 20 lines of output;
 * - running past `timeout_seconds`: the group gets SIGTERM, then SIGKILL
 *   after `kill_grace_seconds`, and `JobFailure` "timed out after N s" + tail;
 * - in the sandbox, its files (workspace, out, home, `/tmp`) growing past
 *   `sandbox.workspace_mb`: stopped the same way, `JobFailure` naming the
 *   limit; a file past `sandbox.max_file_mb`: `JobFailure` naming it;
 * - program missing or not executable: `JobFailure` saying so;
 * - interruption (a canceled job): the group is stopped the same way, and
 *   the interruption completes only once it is gone;
 * - the executor dying (even by SIGKILL): the program's watchdog kills its
 *   group and every process carrying its mark (`Command/Process.ts`).
 */
export const command = (config: CommandConfig, agentId: AgentId, isolation: Isolation): ExecutorDefinition => ({
  agent_id: agentId,
  manifest: commandManifest(config, isolation),
  run: (job, ctx) => runCommand(config, isolation, job, ctx)
})
