/**
 * Where the executor connects and with which key (`@agnt/client/ClientConfig`):
 * `AGNT_API_URL` and `AGNT_API_KEY`, else `api_url` and `executor_api_key`
 * from the client config file, which the embedded server writes on first
 * start.
 */
import { readClientSettings } from "@agnt/client/ClientConfig"
import type { FileSystem } from "@effect/platform"
import { Data, Effect, Option, type Redacted } from "effect"

/** No executor key was found, or the config file or a variable is malformed; `message` says where to look. */
export class ConnectionConfigError extends Data.TaggedError("ConnectionConfigError")<{ readonly message: string }> {}

/**
 * The API URL and executor key to use. Fails with `ConnectionConfigError`
 * when no key is found, or the config file is unreadable or malformed.
 */
export const connectionConfig: Effect.Effect<
  { readonly apiUrl: string; readonly key: Redacted.Redacted<string> },
  ConnectionConfigError,
  FileSystem.FileSystem
> = Effect.gen(function*() {
  const settings = yield* readClientSettings("executor_api_key").pipe(
    Effect.mapError((error) => new ConnectionConfigError({ message: error.message }))
  )
  if (Option.isNone(settings.api_key)) {
    return yield* new ConnectionConfigError({
      message: `no executor key: set AGNT_API_KEY or executor_api_key in ${settings.config_path}`
    })
  }
  return { apiUrl: settings.api_url, key: settings.api_key.value }
})
