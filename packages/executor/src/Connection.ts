/**
 * Where the executor connects and with which key: `AGNT_API_URL` and
 * `AGNT_API_KEY`, else `api_url` and `executor_api_key` from
 * `$XDG_CONFIG_HOME/agnt/config.json` (or `~/.config/agnt/config.json`),
 * which the embedded server writes on first start.
 */
import { ClientConfigFileJson, clientConfigPath } from "@agnt/domain/ClientConfig"
import { Config, type ConfigError, Data, Effect, Option, Redacted, Schema } from "effect"
import * as NodeFs from "node:fs/promises"

/** No executor key was found; `message` says where to put one. */
export class ConnectionConfigError extends Data.TaggedError("ConnectionConfigError")<{ readonly message: string }> {}

/** The API URL and executor key to use. Fails with `ConnectionConfigError` when no key is found. */
export const connectionConfig: Effect.Effect<
  { readonly apiUrl: string; readonly key: Redacted.Redacted },
  ConnectionConfigError | ConfigError.ConfigError
> = Effect.gen(function*() {
  const file = yield* clientConfigPath
  const stored = yield* Effect.promise(() => NodeFs.readFile(file, "utf8").catch(() => "{}")).pipe(
    Effect.flatMap(Schema.decodeUnknown(ClientConfigFileJson)),
    Effect.orElseSucceed(() => ({ api_url: undefined, executor_api_key: undefined }))
  )
  const apiUrl = yield* Config.string("AGNT_API_URL").pipe(Config.withDefault(stored.api_url ?? "http://127.0.0.1:8080"))
  const key = yield* Config.option(Config.redacted("AGNT_API_KEY"))
  const resolved = Option.orElse(key, () => Option.map(Option.fromNullable(stored.executor_api_key), Redacted.make))
  if (Option.isNone(resolved)) {
    return yield* new ConnectionConfigError({ message: `no executor key: set AGNT_API_KEY or executor_api_key in ${file}` })
  }
  return { apiUrl, key: resolved.value }
})
