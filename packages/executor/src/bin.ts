/**
 * `agnt-executor run <name>`: run a built-in executor against the API.
 * Connection: `AGNT_API_URL` and `AGNT_API_KEY` (an executor key), else
 * `api_url` and `executor_api_key` from the config file the embedded
 * server writes (`$XDG_CONFIG_HOME/agnt/config.json`).
 */
import { AgentId } from "@agnt/domain/Ids"
import { Args, Command, Options } from "@effect/cli"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { builtins } from "./Builtins.js"
import { connectionConfig } from "./Connection.js"
import { defaultPollInterval, runExecutor } from "./Runtime.js"

const run = Command.make("run", {
  name: Args.choice(Object.keys(builtins).map((name) => [name, name] as const), { name: "executor" }),
  agentId: Options.text("agent-id").pipe(Options.withSchema(AgentId), Options.optional, Options.withDescription("serve another agent id")),
  concurrency: Options.integer("concurrency").pipe(Options.withDefault(2), Options.withDescription("jobs at once")),
  pollSeconds: Options.float("poll-interval").pipe(Options.withDefault(1), Options.withDescription("seconds between polls when idle"))
}, ({ agentId, concurrency, name, pollSeconds }) =>
  Effect.gen(function*() {
    const connection = yield* connectionConfig
    const make = builtins[name]
    if (make === undefined) return yield* Effect.dieMessage(`unknown executor ${name}`)
    return yield* runExecutor(make(Option.getOrUndefined(agentId)), {
      baseUrl: connection.apiUrl,
      key: connection.key,
      concurrency,
      pollInterval: pollSeconds > 0 ? `${pollSeconds} seconds` : defaultPollInterval
    })
  }).pipe(Effect.scoped)).pipe(Command.withDescription("Run a built-in executor until SIGTERM"))

const cli = Command.run(Command.make("agnt-executor").pipe(Command.withSubcommands([run])), {
  name: "agnt-executor",
  version: "0.1.0"
})

cli(process.argv).pipe(Effect.provide(Layer.mergeAll(NodeContext.layer, FetchHttpClient.layer)), NodeRuntime.runMain)
