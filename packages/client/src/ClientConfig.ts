/**
 * Where a client finds the API and which key it sends (DESIGN.md
 * "Configuration and defaults"): `AGNT_API_URL` / `AGNT_API_KEY`, else the
 * client config file (`@agnt/domain/ClientConfig`: `api_url`, and `api_key`
 * for `agnt` or `executor_api_key` for executors), which the embedded server
 * writes on first start. The environment wins field by field; empty values
 * count as unset; the URL defaults to `http://127.0.0.1:8080`.
 */
import { ClientConfigFileJson, clientConfigPath } from "@agnt/domain/ClientConfig"
import { FileSystem } from "@effect/platform"
import { Config, Data, Effect, Option, ParseResult, Redacted, Schema } from "effect"

/** The API URL used when neither the environment nor the config file names one. */
export const defaultApiUrl = "http://127.0.0.1:8080"

/** The config file could not be read or is not the expected JSON, or a variable is malformed; `message` names the file or variable. */
export class ClientConfigError extends Data.TaggedError("ClientConfigError")<{ readonly message: string }> {}

/** Which key of the config file a client sends: a buyer's (`agnt`) or an executor's. */
export type KeyField = "api_key" | "executor_api_key"

/** Where a client finds the API and which key it sends. */
export interface ClientSettings {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080`. */
  readonly api_url: string
  /** Bearer key; `None` when neither the environment nor the file has one. */
  readonly api_key: Option.Option<Redacted.Redacted<string>>
}

/** The environment's settings: `AGNT_API_URL` and `AGNT_API_KEY`, each `None` when unset. */
export interface EnvSettings {
  readonly api_url: Option.Option<string>
  readonly api_key: Option.Option<Redacted.Redacted<string>>
}

const nonEmpty = (value: Option.Option<string>) => Option.filter(value, (text) => text.trim() !== "")

/**
 * Merge the environment's settings (per field, first) with the config
 * file's text `file` (`None` when there is no file), taking the key from
 * its `keyField`.
 *
 * @returns the settings, or `ClientConfigError` naming the file and the
 * failing field when it is not the expected JSON.
 */
export const mergeSettings = (
  env: EnvSettings,
  file: Option.Option<{ readonly path: string; readonly text: string }>,
  keyField: KeyField
): Effect.Effect<ClientSettings, ClientConfigError> =>
  Effect.gen(function*() {
    const fromFile = Option.isSome(file)
      ? yield* Schema.decode(ClientConfigFileJson)(file.value.text).pipe(
        Effect.mapError((error) =>
          new ClientConfigError({
            message: `config file ${file.value.path} is not valid: ${
              ParseResult.ArrayFormatter.formatErrorSync(error)
                .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`))
                .join("; ")
            }`
          })
        )
      )
      : {}
    const api_url = Option.orElse(nonEmpty(env.api_url), () => nonEmpty(Option.fromNullable(fromFile.api_url)))
    const api_key = Option.orElse(
      Option.filter(env.api_key, (key) => Redacted.value(key).trim() !== ""),
      () => Option.map(nonEmpty(Option.fromNullable(fromFile[keyField])), Redacted.make)
    )
    return { api_url: Option.getOrElse(api_url, () => defaultApiUrl), api_key }
  })

/**
 * Read the environment and the config file at `clientConfigPath`, taking
 * the key from `keyField`. A missing file is fine; an unreadable or
 * malformed one, or a malformed variable, is a `ClientConfigError`.
 * Yields the settings and the file's path (to say where a key belongs).
 */
export const readClientSettings = (
  keyField: KeyField
): Effect.Effect<ClientSettings & { readonly config_path: string }, ClientConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fromConfig = (error: { readonly message: string }) => new ClientConfigError({ message: error.message })
    const env = yield* Config.all({
      api_url: Config.option(Config.string("AGNT_API_URL")),
      api_key: Config.option(Config.redacted("AGNT_API_KEY"))
    }).pipe(Effect.mapError(fromConfig))
    const path = yield* Effect.mapError(clientConfigPath, fromConfig)
    const exists = yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))
    const text = exists
      ? yield* fs.readFileString(path).pipe(
        Effect.mapError((error) => new ClientConfigError({ message: `cannot read config file ${path}: ${error.message}` }))
      )
      : undefined
    const settings = yield* mergeSettings(env, text === undefined ? Option.none() : Option.some({ path, text }), keyField)
    return { ...settings, config_path: path }
  })
