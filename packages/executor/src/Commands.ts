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
 *
 * This module only defines the commands; each loads what it runs when it
 * runs (`Serve.ts` and the executor it serves, `Init.ts`), so the process
 * holds only that code: an idle `run code-review` has not loaded the
 * command executor, and help loads neither (`bench/start.ts`'s idle RSS).
 */
import { AgentId } from "@agnt/domain/Ids"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Config, Console, Effect, Option } from "effect"
import { presetNames } from "./Command/Presets.js"
import { defaultClaimWaitSeconds, defaultConcurrency, defaultGraceSeconds, defaultPollIntervalSeconds } from "./Runtime/Defaults.js"

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

/** `agnt-executor run code-review`. */
export const codeReview = Command.make("code-review", {
  ...runtimeOptions,
  agentId: Options.text("agent-id").pipe(
    Options.withPseudoName("AGENT-ID"),
    Options.withSchema(AgentId),
    Options.optional,
    Options.withDescription("serve another agent id than the built-in one")
  )
}, (flags) =>
  Effect.gen(function*() {
    const [{ serve }, { builtins }] = yield* Effect.promise(() => Promise.all([import("./Serve.js"), import("./Builtins.js")]))
    const make = builtins["code-review"]
    return make === undefined
      ? yield* Effect.dieMessage("code-review is not built in")
      : yield* serve(make(Option.getOrUndefined(flags.agentId)), flags)
  })).pipe(Command.withDescription("Run the built-in code-review executor (ESLint) until SIGTERM"))

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
    const [{ serve }, { commandDefinition }] = yield* Effect.promise(() =>
      Promise.all([import("./Serve.js"), import("./Command/Start.js")])
    )
    // Settled before anything is published: the config, its program, the sandbox, and which agent this is.
    const definition = yield* commandDefinition(flags.source, flags.agentId, flags.noSandbox)
    return yield* serve(definition, flags)
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
    const { initExecutor } = yield* Effect.promise(() => import("./Init.js"))
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
