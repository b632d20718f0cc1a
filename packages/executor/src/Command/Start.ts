/**
 * The command executor `agnt-executor run command` serves, settled from its
 * flags before anything is published: the config (a file or a shipped
 * preset), its program found, the isolation it runs under, and the agent
 * (`Setup.ts`). `Commands.ts` loads this module only when `run command`
 * runs, so no other command loads the command executor.
 */
import type { AgentId } from "@agnt/domain/Ids"
import { Effect, Either, type Option } from "effect"
import type { ExecutorDefinition } from "../Executor.js"
import { makeAgentId } from "../Init.js"
import { type CommandConfigError, loadCommandConfig, loadPreset } from "./Config.js"
import { command, isolationFor } from "./Executor.js"
import type { PresetName } from "./Presets.js"
import type { SandboxUnavailable } from "./Sandbox.js"
import { agentIdOf, type ConfigSource, findProgram, type SetupError } from "./Setup.js"

/**
 * The definition serving `source` (`Left`: a config file's path, `Right`: a
 * preset's name) as `agentIdFlag` (`--agent-id`) says, else as `agentIdOf`
 * finds it; without the sandbox when `noSandbox`. Fails with
 * `CommandConfigError` (the config), `SetupError` (the program, the agent
 * id) or `SandboxUnavailable` (no sandbox here, saying how to fix it).
 */
export const commandDefinition = (
  source: Either.Either<PresetName, string>,
  agentIdFlag: Option.Option<AgentId>,
  noSandbox: boolean
): Effect.Effect<ExecutorDefinition, CommandConfigError | SetupError | SandboxUnavailable> =>
  Effect.gen(function*() {
    const named = Either.match(source, {
      onLeft: (path): ConfigSource => ({ _tag: "File", path }),
      onRight: (name): ConfigSource => ({ _tag: "Preset", name })
    })
    const config = yield* Either.match(source, { onLeft: loadCommandConfig, onRight: loadPreset })
    const program = yield* findProgram(config, named)
    const isolation = yield* isolationFor(config, program, noSandbox)
    const agentId = yield* agentIdOf(agentIdFlag, config, named, makeAgentId)
    return command(config, agentId, isolation)
  })
