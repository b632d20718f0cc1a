/**
 * `agnt-executor`:
 * - `run code-review [--agent-id ID]`: the built-in ESLint reviewer;
 * - `run command --agent-id ID (--config FILE | --preset NAME)`: the
 *   command executor over a `CommandConfig` file or a shipped preset
 *   (`claude-code`, `codex`, `gemini`);
 * - `init <name> [--dir DIR]`: write a working command executor to start from.
 *
 * `run` takes the runtime options `--concurrency`, `--claim-wait`,
 * `--poll-interval`, `--heartbeat-seconds` and `--grace-seconds` (seconds
 * throughout) and `--state-dir` (or `AGNT_EXECUTOR_STATE_DIR`), and runs
 * until SIGTERM/SIGINT, then shuts down gracefully.
 * Connection: `AGNT_API_URL` and `AGNT_API_KEY` (an executor key), else
 * `api_url` and `executor_api_key` from the config file the embedded
 * server writes (`$XDG_CONFIG_HOME/agnt/config.json`).
 */
import { HttpClientLive } from "@agnt/client/HttpClientLive"
import { AgentId } from "@agnt/domain/Ids"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Config, Console, Effect, Either, Layer, Option, Predicate } from "effect"
import { builtins } from "./Builtins.js"
import { loadCommandConfig } from "./Command/Config.js"
import { command } from "./Command/Executor.js"
import { loadPreset, presetNames } from "./Command/Presets.js"
import { connectionConfig } from "./Connection.js"
import type { ExecutorDefinition } from "./Executor.js"
import { initExecutor } from "./Init.js"
import {
  defaultClaimWaitSeconds,
  defaultConcurrency,
  defaultGraceSeconds,
  defaultPollIntervalSeconds,
  ExecutorError,
  runExecutor
} from "./Runtime.js"

/** The runtime's options, shared by every `run` subcommand. */
const runtimeOptions = {
  concurrency: Options.integer("concurrency").pipe(
    Options.withDefault(defaultConcurrency),
    Options.withDescription("jobs run at once")
  ),
  claimWait: Options.float("claim-wait").pipe(
    Options.withDefault(defaultClaimWaitSeconds),
    Options.withDescription("seconds the API may hold a claim open while no job is pending (0–30)")
  ),
  pollInterval: Options.float("poll-interval").pipe(
    Options.withDefault(defaultPollIntervalSeconds),
    Options.withDescription("least seconds between the starts of two claims that found nothing")
  ),
  heartbeatSeconds: Options.float("heartbeat-seconds").pipe(
    Options.optional,
    Options.withDescription("seconds between lease renewals (default: a third of the lease, at most 15)")
  ),
  graceSeconds: Options.float("grace-seconds").pipe(
    Options.withDefault(defaultGraceSeconds),
    Options.withDescription("seconds running jobs get to finish after SIGTERM before they are failed")
  ),
  stateDir: Options.text("state-dir").pipe(
    Options.withFallbackConfig(Config.string("AGNT_EXECUTOR_STATE_DIR")),
    Options.optional,
    Options.withDescription(
      "where jobs' directories and their running programs are recorded, so a restarted executor cleans up after a killed one " +
        "(default: agnt-executor-<uid> in the temporary directory; env AGNT_EXECUTOR_STATE_DIR)"
    )
  )
}

type RuntimeFlags = {
  readonly concurrency: number
  readonly claimWait: number
  readonly pollInterval: number
  readonly heartbeatSeconds: Option.Option<number>
  readonly graceSeconds: number
  readonly stateDir: Option.Option<string>
}

/** Connect and serve `definition` with the flags' pacing, until interrupted. */
const serve = <R>(definition: ExecutorDefinition<R>, flags: RuntimeFlags) =>
  Effect.gen(function*() {
    const connection = yield* connectionConfig
    return yield* runExecutor(definition, {
      baseUrl: connection.apiUrl,
      key: connection.key,
      concurrency: flags.concurrency,
      claimWaitSeconds: flags.claimWait,
      pollIntervalSeconds: flags.pollInterval,
      heartbeatSeconds: Option.getOrUndefined(flags.heartbeatSeconds),
      graceSeconds: flags.graceSeconds,
      stateDir: Option.getOrUndefined(flags.stateDir)
    })
  })

const codeReview = Command.make("code-review", {
  ...runtimeOptions,
  agentId: Options.text("agent-id").pipe(
    Options.withSchema(AgentId),
    Options.optional,
    Options.withDescription("serve another agent id than the built-in one")
  )
}, (flags) => {
  const make = builtins["code-review"]
  return make === undefined
    ? Effect.dieMessage("code-review is not built in")
    : serve(make(Option.getOrUndefined(flags.agentId)), flags)
}).pipe(Command.withDescription("Run the built-in code-review executor (ESLint) until SIGTERM"))

const commandExecutor = Command.make("command", {
  ...runtimeOptions,
  agentId: Options.text("agent-id").pipe(
    Options.withSchema(AgentId),
    Options.withDescription("the agent this executor serves (agent_…)")
  ),
  source: Options.file("config", { exists: "yes" }).pipe(
    Options.withDescription("a command config JSON file"),
    Options.orElseEither(
      Options.choice("preset", presetNames).pipe(Options.withDescription("a shipped config: claude-code, codex or gemini"))
    )
  )
}, (flags) =>
  Effect.gen(function*() {
    const config = yield* Either.match(flags.source, { onLeft: loadCommandConfig, onRight: loadPreset })
    if (config.agent_id !== undefined && config.agent_id !== flags.agentId) {
      return yield* new ExecutorError({
        message: `the config serves ${config.agent_id} but --agent-id says ${flags.agentId}; make them agree`
      })
    }
    return yield* serve(command(config, flags.agentId), flags)
  })).pipe(Command.withDescription("Run a program per job (Claude Code, Codex, Gemini CLI, or anything) until SIGTERM"))

const run = Command.make("run").pipe(
  Command.withSubcommands([codeReview, commandExecutor]),
  Command.withDescription("Serve an agent: claim its jobs and run them")
)

const init = Command.make("init", {
  name: Args.text({ name: "name" }).pipe(Args.withDescription("the executor's name: 1–40 of a-z, 0-9 and -")),
  dir: Options.directory("dir").pipe(Options.withDefault("."), Options.withDescription("where to write the files"))
}, ({ dir, name }) =>
  Effect.gen(function*() {
    const written = yield* initExecutor(name, dir, process.cwd())
    yield* Console.log([
      `Wrote ${written.configPath} (agent ${written.agentId})`,
      `  and ${written.programPath}.`,
      "",
      "Start the executor (it uses AGNT_API_URL and AGNT_API_KEY, an executor key, or the embedded server's config file):",
      "",
      `  ${written.startCommand}`,
      "",
      "Then, in another terminal, order a job from it:",
      "",
      `  npx agnt order ${written.agentId} --prompt "hello" --wait --out ./results`,
      ""
    ].join("\n"))
  })).pipe(Command.withDescription("Write <name>.executor.json and <name>.sh: a working command executor to start from"))

const cli = Command.run(Command.make("agnt-executor").pipe(Command.withSubcommands([run, init])), {
  name: "agnt-executor",
  version: "0.1.0"
})

/** Print a failure for a human: our errors by their message; @effect/cli has already printed usage errors. */
const reportFailure = (cause: Cause.Cause<unknown>) => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ValidationError.isValidationError(error)) return Effect.void
    if (Predicate.hasProperty(error, "message") && typeof error.message === "string") {
      return Console.error(`agnt-executor: ${error.message}`)
    }
  }
  return Console.error(Cause.pretty(cause))
}

// The API over keep-alive `node:http` (`HttpClientLive`).
cli(process.argv).pipe(
  Effect.tapErrorCause(reportFailure),
  Effect.provide(Layer.mergeAll(NodeContext.layer, HttpClientLive)),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
