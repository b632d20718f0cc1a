/**
 * What `agnt-executor run command` settles before it publishes anything:
 * which agent it serves and that its program can be started.
 *
 * - The agent id: `--agent-id`, else the config's `agent_id`, else one made
 *   on the first run and kept in the client config directory
 *   (`$XDG_CONFIG_HOME/agnt/agents/<source>`, one file per preset or config
 *   file), so a seller starts `--preset claude-code` with no id at all and
 *   serves the same agent on every later start.
 * - The program: looked up on `PATH` (or, given as a path, checked) at start,
 *   so a missing `claude` is one clear line before the agent is published,
 *   not a failed job later.
 */
import { clientConfigPath } from "@agnt/domain/ClientConfig"
import { AgentId } from "@agnt/domain/Ids"
import { Config, Effect, Option, Schema } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import type { CommandConfig } from "./Config.js"
import { findExecutable } from "./Sandbox.js"

/** `run command` cannot start as configured; `message` says what to change, in one line. */
export class SetupError extends Schema.TaggedError<SetupError>()("SetupError", { message: Schema.String }) {}

/** Where a command config came from: a shipped preset, or a file. */
export type ConfigSource =
  | { readonly _tag: "Preset"; readonly name: string }
  | { readonly _tag: "File"; readonly path: string }

/** How a config source is named in messages: `preset claude-code`, `config ./x.json`. */
export const describeSource = (source: ConfigSource): string => source._tag === "Preset" ? `preset ${source.name}` : `config ${source.path}`

/**
 * The file holding the agent id made for `source`: `preset-<name>`, or
 * `config-<first 16 hex digits of the SHA-256 of the file's absolute path>`,
 * under `agents/` beside the client config file.
 */
export const storedAgentIdPath = (source: ConfigSource): Effect.Effect<string, SetupError> =>
  Effect.map(
    Effect.mapError(clientConfigPath, (error) => new SetupError({ message: `cannot find the config directory: ${error.message}` })),
    (configPath) => {
      const name = source._tag === "Preset"
        ? `preset-${source.name}`
        : `config-${NodeCrypto.createHash("sha256").update(NodePath.resolve(source.path)).digest("hex").slice(0, 16)}`
      return NodePath.join(NodePath.dirname(configPath), "agents", name)
    }
  )

const errorText = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

/**
 * The agent id kept for `source`, made with `makeAgentId` and written on
 * the first call. The file is created exclusively, so two executors
 * starting at once for the same source agree on one id.
 */
export const storedAgentId = (source: ConfigSource, makeAgentId: () => AgentId): Effect.Effect<AgentId, SetupError> =>
  Effect.gen(function*() {
    const path = yield* storedAgentIdPath(source)
    const text = yield* Effect.tryPromise({
      try: async () => {
        await NodeFs.mkdir(NodePath.dirname(path), { recursive: true })
        await NodeFs.writeFile(path, `${makeAgentId()}\n`, { flag: "wx" }).catch((error: unknown) => {
          if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) throw error
        })
        return NodeFs.readFile(path, "utf8")
      },
      catch: (cause) => new SetupError({ message: `cannot keep the agent id of ${describeSource(source)} in ${path}: ${errorText(cause)}` })
    })
    return yield* Schema.decodeUnknown(AgentId)(text.trim()).pipe(
      Effect.mapError(() => new SetupError({ message: `${path} holds no agent id (agent_…); remove it to make a new one` }))
    )
  })

/**
 * The agent `run command` serves: `flag` (`--agent-id`), else the config's
 * `agent_id`, else the id stored for `source`. A flag naming another agent
 * than the config's is a `SetupError` (a copied config serving the wrong
 * agent).
 */
export const agentIdOf = (
  flag: Option.Option<AgentId>,
  config: CommandConfig,
  source: ConfigSource,
  makeAgentId: () => AgentId
): Effect.Effect<AgentId, SetupError> => {
  if (Option.isSome(flag) && config.agent_id !== undefined && config.agent_id !== flag.value) {
    return new SetupError({ message: `the config serves ${config.agent_id} but --agent-id says ${flag.value}; make them agree` })
  }
  if (Option.isSome(flag)) return Effect.succeed(flag.value)
  if (config.agent_id !== undefined) return Effect.succeed(config.agent_id)
  return storedAgentId(source, makeAgentId)
}

/**
 * The absolute path `config.program` starts from: a path (containing `/`)
 * as it is, a name from the first `PATH` directory holding an executable
 * file of that name. Fails with `SetupError` naming the program and the
 * config when there is none.
 */
export const findProgram = (config: CommandConfig, source: ConfigSource): Effect.Effect<string, SetupError> =>
  Effect.gen(function*() {
    const program = config.program
    const pathVar = yield* Config.string("PATH").pipe(Config.withDefault(""), Effect.orElseSucceed(() => ""))
    const found = findExecutable(program, pathVar)
    if (found !== undefined) return found
    return yield* new SetupError({
      message: program.includes("/")
        ? `${describeSource(source)} runs ${program}, which is not an executable file`
        : `${describeSource(source)} runs ${program}, which is not on PATH: install it, or put its directory on PATH`
    })
  })
