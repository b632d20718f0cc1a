/**
 * The API client of `agnt`: settings (where the API is, which key to send)
 * and the client derived from the domain's `HttpApi` — the CLI never
 * hand-writes an API call.
 *
 * Settings come from `AGNT_API_URL` / `AGNT_API_KEY`, else from the file
 * `$XDG_CONFIG_HOME/agnt/config.json` (or `~/.config/agnt/config.json`) with
 * fields `api_url` / `api_key`; the environment wins field by field. The URL
 * defaults to `http://127.0.0.1:8080`.
 */
import { Api } from "@agnt/domain/Api"
import { ClientConfigFileJson, clientConfigPath } from "@agnt/domain/ClientConfig"
import { FileSystem, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { isHttpClientError } from "@effect/platform/HttpClientError"
import { Config, Context, Effect, Layer, Option, Predicate, Redacted, Schedule, Schema } from "effect"
import { parseErrorText, UsageError } from "./Output.js"

/** The API URL used when neither the environment nor the config file names one. */
export const defaultApiUrl = "http://127.0.0.1:8080"

/** Where the CLI finds the API and which key it sends. */
export interface ClientSettings {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080`. */
  readonly api_url: string
  /** Bearer key; `None` sends no `Authorization` header (the server then answers 401). */
  readonly api_key: Option.Option<Redacted.Redacted<string>>
}


const nonEmpty = (value: Option.Option<string>) => Option.filter(value, (text) => text.trim() !== "")

/**
 * Merge the settings from the environment (per field, first) and the file
 * contents `file` (`None` when there is no file).
 *
 * @returns the settings, or `UsageError` when the file is not the expected JSON.
 */
export const mergeSettings = (
  env: { readonly api_url: Option.Option<string>; readonly api_key: Option.Option<Redacted.Redacted<string>> },
  file: Option.Option<{ readonly path: string; readonly text: string }>
): Effect.Effect<ClientSettings, UsageError> =>
  Effect.gen(function*() {
    const fromFile = Option.isSome(file)
      ? yield* Schema.decode(ClientConfigFileJson)(file.value.text).pipe(
        Effect.mapError((error) =>
          new UsageError({ message: `config file ${file.value.path} is not valid: ${parseErrorText(error)}` })
        )
      )
      : {}
    const api_url = Option.orElse(nonEmpty(env.api_url), () => nonEmpty(Option.fromNullable(fromFile.api_url)))
    const api_key = Option.orElse(
      Option.filter(env.api_key, (key) => Redacted.value(key).trim() !== ""),
      () => Option.map(nonEmpty(Option.fromNullable(fromFile.api_key)), Redacted.make)
    )
    return { api_url: Option.getOrElse(api_url, () => defaultApiUrl), api_key }
  })

/** The resolved client settings. */
export class Settings extends Context.Tag("@agnt/cli/Settings")<Settings, ClientSettings>() {
  /**
   * Read the environment and the config file. A missing file is fine; an
   * unreadable or malformed one, or a malformed variable, is a `UsageError`.
   */
  static readonly layer: Layer.Layer<Settings, UsageError, FileSystem.FileSystem> = Layer.effect(
    Settings,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const toUsage = (error: { readonly message: string }) => new UsageError({ message: error.message })
      const env = yield* Config.all({
        api_url: Config.option(Config.string("AGNT_API_URL")),
        api_key: Config.option(Config.redacted("AGNT_API_KEY"))
      }).pipe(Effect.mapError(toUsage))
      const path = yield* Effect.mapError(clientConfigPath, toUsage)
      const exists = yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))
      const text = exists
        ? yield* fs.readFileString(path).pipe(
          Effect.mapError((error) => new UsageError({ message: `cannot read config file ${path}: ${error.message}` }))
        )
        : undefined
      return yield* mergeSettings(env, text === undefined ? Option.none() : Option.some({ path, text }))
    })
  )
}

/** Add `Authorization: Bearer <key>` to every request when a key is configured. */
const authenticate = (key: Option.Option<Redacted.Redacted<string>>) => (client: HttpClient.HttpClient) =>
  Option.match(key, {
    onNone: () => client,
    onSome: (secret) => HttpClient.mapRequest(client, HttpClientRequest.bearerToken(secret))
  })

/**
 * The client derived from `Api` (`client.agents.search(…)`, `client.jobs.get(…)`,
 * …) with the configured base URL and bearer key. Each method fails with the
 * endpoint's typed errors, `HttpClientError` (unreachable server, unexpected
 * status) or `ParseError` (undecodable body).
 */
export class AgntClient extends Effect.Service<AgntClient>()("@agnt/cli/AgntClient", {
  effect: Effect.gen(function*() {
    const settings = yield* Settings
    return yield* HttpApiClient.make(Api, {
      baseUrl: settings.api_url,
      transformClient: authenticate(settings.api_key)
    })
  })
}) {}

/**
 * A failure worth retrying: the server was unreachable, answered 5xx or was
 * not ready, or rate limited us (429). Never another 4xx.
 */
export const isTransient = (error: unknown): boolean => {
  if (!isHttpClientError(error)) return Predicate.isTagged(error, "NotReady") || Predicate.isTagged(error, "RateLimited")
  return error._tag === "RequestError"
    ? error.reason === "Transport"
    : error.response.status >= 500 || error.response.status === 429
}

/** Retry policy for polling: jittered exponential from 200 ms, at most 5 retries, transient failures only. */
export const retryTransient = {
  schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
  times: 5,
  while: isTransient
} as const

/**
 * Reconnect policy for following a job's events (`watch`, `logs --follow`,
 * `order --wait`), which may run for as long as the job: the same jittered
 * exponential backoff from 200 ms, each delay capped at 5 s, at most 20
 * retries in a row (about 80 s without an answer), transient failures only.
 * Each request resumes at the last cursor, so nothing is lost or repeated.
 */
export const reconnectTransient = {
  schedule: Schedule.exponential("200 millis").pipe(
    Schedule.union(Schedule.spaced("5 seconds")),
    Schedule.jittered
  ),
  times: 20,
  while: isTransient
} as const
