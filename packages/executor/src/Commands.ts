/**
 * The `agnt-executor` commands:
 * - `run code-review [--agent-id ID]`: the built-in ESLint reviewer;
 * - `run command (--config FILE | --preset NAME) [--agent-id ID]`: the
 *   command executor over a `CommandConfig` file or a shipped preset
 *   (`claude-code`, `codex`, `gemini`); the agent id defaults to the
 *   config's, else one kept for the preset or file (`Command/Setup.ts`);
 * - `init <name> [--dir DIR] [--repo]`: write a working command executor to start from (`--repo`: for repo jobs).
 *
 * `run` takes the runtime options `--concurrency`, `--claim-wait`,
 * `--poll-interval`, `--heartbeat-seconds` and `--grace-seconds` (seconds
 * throughout) and `--state-dir` (or `AGNT_EXECUTOR_STATE_DIR`), and runs
 * until SIGTERM/SIGINT, then shuts down gracefully.
 * Connection: `AGNT_API_URL` and `AGNT_API_KEY` (an executor key), else
 * `api_url` and `executor_api_key` from the config file the embedded
 * server writes (`$XDG_CONFIG_HOME/agnt/config.json`).
 */
import { AgentId } from "@agnt/domain/Ids"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Config, Console, Effect, Either, Option } from "effect"
import { builtins } from "./Builtins.js"
import { loadCommandConfig } from "./Command/Config.js"
import { command, isolationFor } from "./Command/Executor.js"
import { loadPreset, presetNames } from "./Command/Presets.js"
import { agentIdOf, type ConfigSource, findProgram } from "./Command/Setup.js"
import { connectionConfig } from "./Connection.js"
import type { ExecutorDefinition } from "./Executor.js"
import { initExecutor, makeAgentId } from "./Init.js"
import { defaultClaimWaitSeconds, defaultConcurrency, defaultGraceSeconds, defaultPollIntervalSeconds, runExecutor } from "./Runtime.js"

/** The runtime's options, shared by every `run` subcommand. */
const runtimeOptions = {
  concurrency: Options.integer("concurrency").pipe(
    Options.withPseudoName("N"),
    Options.withDefault(defaultConcurrency),
    Options.withDescription("jobs run at once")
  ),
  claimWait: Options.float("claim-wait").pipe(
    Options.withPseudoName("SECONDS"),
    Options.withDefault(defaultClaimWaitSeconds),
    Options.withDescription("seconds the API may hold a claim open while no job is pending (0–30)")
  ),
  pollInterval: Options.float("poll-interval").pipe(
    Options.withPseudoName("SECONDS"),
    Options.withDefault(defaultPollIntervalSeconds),
    Options.withDescription("least seconds between the starts of two claims that found nothing")
  ),
  heartbeatSeconds: Options.float("heartbeat-seconds").pipe(
    Options.withPseudoName("SECONDS"),
    Options.optional,
    Options.withDescription("seconds between lease renewals (default: a third of the lease, at most 15)")
  ),
  graceSeconds: Options.float("grace-seconds").pipe(
    Options.withPseudoName("SECONDS"),
    Options.withDefault(defaultGraceSeconds),
    Options.withDescription("seconds running jobs get to finish after SIGTERM before they are failed")
  ),
  stateDir: Options.text("state-dir").pipe(
    Options.withPseudoName("DIR"),
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

/** `agnt-executor run code-review`. */
export const codeReview = Command.make("code-review", {
  ...runtimeOptions,
  agentId: Options.text("agent-id").pipe(
    Options.withPseudoName("AGENT-ID"),
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

/** `agnt-executor run command`. */
export const commandExecutor = Command.make("command", {
  ...runtimeOptions,
  agentId: Options.text("agent-id").pipe(
    Options.withPseudoName("AGENT-ID"),
    Options.withSchema(AgentId),
    Options.optional,
    Options.withDescription(
      "the agent this executor serves (default: the config's agent_id, else an id made on the first run and kept in " +
        "$XDG_CONFIG_HOME/agnt/agents/)"
    )
  ),
  source: Options.file("config", { exists: "yes" }).pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription("a command config JSON file"),
    Options.orElseEither(
      Options.choice("preset", presetNames).pipe(Options.withDescription("a shipped config"))
    )
  ),
  noSandbox: Options.boolean("no-sandbox").pipe(
    Options.withDescription(
      "run each job's program without the sandbox, as this executor's user with its files and network " +
        "(every job's log says so; the agent's manifest shows sandboxed: false)"
    )
  )
}, (flags) =>
  Effect.gen(function*() {
    const source = Either.match(flags.source, {
      onLeft: (path): ConfigSource => ({ _tag: "File", path }),
      onRight: (name): ConfigSource => ({ _tag: "Preset", name })
    })
    const config = yield* Either.match(flags.source, { onLeft: loadCommandConfig, onRight: loadPreset })
    // Settled before anything is published: the program exists, and which agent this is.
    const program = yield* findProgram(config, source)
    const isolation = yield* isolationFor(config, program, flags.noSandbox)
    const agentId = yield* agentIdOf(flags.agentId, config, source, makeAgentId)
    return yield* serve(command(config, agentId, isolation), flags)
  })).pipe(Command.withDescription("Run a program per job (Claude Code, Codex, Gemini CLI, or anything) until SIGTERM"))

const run = Command.make("run").pipe(
  Command.withSubcommands([codeReview, commandExecutor]),
  Command.withDescription("Serve an agent: claim its jobs and run them")
)

/** `agnt-executor init <name>`. */
export const init = Command.make("init", {
  name: Args.text({ name: "name" }).pipe(Args.withDescription("the executor's name: 1–40 of a-z, 0-9 and -")),
  dir: Options.directory("dir").pipe(
    Options.withPseudoName("DIR"),
    Options.withDefault("."),
    Options.withDescription("where to write the files")
  ),
  repo: Options.boolean("repo").pipe(
    Options.withDescription("scaffold an agent for repo jobs: its program edits the buyer's repository in place and commits")
  )
}, ({ dir, name, repo }) =>
  Effect.gen(function*() {
    const written = yield* initExecutor(name, dir, process.cwd(), { repo })
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
      repo
        ? `  npx agnt order ${written.agentId} --repo --prompt "hello" --wait && npx agnt result <job-id> --apply`
        : `  npx agnt order ${written.agentId} --prompt "hello" --wait --out ./results`,
      ""
    ].join("\n"))
  })).pipe(Command.withDescription("Write <name>.executor.json and <name>.sh: a working command executor to start from"))

/** `agnt-executor` itself: `run code-review`, `run command`, `init`. */
export const agntExecutor = Command.make("agnt-executor").pipe(Command.withSubcommands([run, init]))
