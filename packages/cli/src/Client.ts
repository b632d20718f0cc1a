/**
 * The API client of `agnt`: its settings (`@agnt/client/ClientConfig`:
 * `AGNT_API_URL` / `AGNT_API_KEY`, else `api_url` / `api_key` of the client
 * config file) and the client derived from the domain's `HttpApi`
 * (`@agnt/client/ApiClient`) — the CLI never hand-writes an API call.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { type ClientSettings, readClientSettings } from "@agnt/client/ClientConfig"
import type { FileSystem } from "@effect/platform"
import { Context, Effect, Layer, Option } from "effect"
import { UsageError } from "./Output.js"

/** The resolved client settings. */
export class Settings extends Context.Tag("@agnt/cli/Settings")<Settings, ClientSettings>() {
  /**
   * Read the environment and the config file. A missing file is fine; an
   * unreadable or malformed one, or a malformed variable, is a `UsageError`.
   */
  static readonly layer: Layer.Layer<Settings, UsageError, FileSystem.FileSystem> = Layer.effect(
    Settings,
    readClientSettings("api_key").pipe(Effect.mapError((error) => new UsageError({ message: error.message })))
  )
}

/**
 * The client derived from `Api` (`client.agents.search(…)`, `client.jobs.get(…)`,
 * …) with the configured base URL and bearer key. Each method fails with the
 * endpoint's typed errors, `HttpClientError` (unreachable server, unexpected
 * status) or `ParseError` (undecodable body).
 */
export class AgntClient extends Effect.Service<AgntClient>()("@agnt/cli/AgntClient", {
  effect: Effect.flatMap(Settings, (settings) => makeApiClient({ baseUrl: settings.api_url, key: Option.getOrUndefined(settings.api_key) }))
}) {}
