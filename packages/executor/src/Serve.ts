/**
 * What a `run` command does once its flags are parsed: connect
 * (`Connection.ts`) and serve an executor definition with the runtime
 * (`Runtime.ts`) over keep-alive `node:http` (`HttpClientLive`) until
 * interrupted, with one full collection once it has published
 * (`@agnt/client/SettleMemory`: the idle executor gives back the memory its
 * start grew). `Commands.ts` loads this module only when a `run` command
 * runs, so help and `init` load no runtime.
 */
import { HttpClientLive } from "@agnt/client/HttpClientLive"
import { SettleMemoryLive } from "@agnt/client/SettleMemory"
import { Effect, Layer, Option } from "effect"
import { connectionConfig } from "./Connection.js"
import type { ExecutorDefinition } from "./Executor.js"
import { runExecutor } from "./Runtime.js"

/** The runtime's flags, shared by every `run` subcommand (seconds throughout; `Commands.ts`). */
export interface RuntimeFlags {
  readonly concurrency: number
  readonly claimWait: number
  readonly pollInterval: number
  readonly heartbeatSeconds: Option.Option<number>
  readonly graceSeconds: number
  readonly stateDir: Option.Option<string>
}

/** Connect and serve `definition` with the flags' pacing, until interrupted. */
export const serve = <R>(definition: ExecutorDefinition<R>, flags: RuntimeFlags) =>
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
  }).pipe(Effect.provide(Layer.merge(HttpClientLive, SettleMemoryLive)))
