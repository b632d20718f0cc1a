/**
 * The client configuration file the embedded server writes so that the CLI
 * and executors work with no set-up (DESIGN.md "Auth"):
 * `$XDG_CONFIG_HOME/agnt/config.json` or `~/.config/agnt/config.json`,
 * mode 0600, holding `{ api_url, api_key, executor_api_key }`.
 */
import { Config, Effect, Option, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** The fields agnt reads from the file; others are kept as they are. */
export const ClientConfigFile = Schema.Struct({
  api_url: Schema.optional(Schema.String),
  api_key: Schema.optional(Schema.String),
  executor_api_key: Schema.optional(Schema.String)
})

/** Where the config file lives. */
export const clientConfigPath = Config.option(Config.string("XDG_CONFIG_HOME")).pipe(
  Config.map((xdg) =>
    NodePath.join(Option.getOrElse(xdg, () => NodePath.join(NodeOs.homedir(), ".config")), "agnt", "config.json"))
)

const readObject = (path: string) =>
  NodeFs.readFile(path, "utf8").then(
    (text): Record<string, unknown> => {
      const parsed: unknown = JSON.parse(text)
      return typeof parsed === "object" && parsed !== null ? { ...parsed } : {}
    },
    () => ({})
  )

/** The file's agnt fields; a missing or unreadable file reads as empty. */
export const readClientConfig = Effect.gen(function*() {
  const path = yield* clientConfigPath
  const raw = yield* Effect.promise(() => readObject(path).catch(() => ({})))
  return yield* Schema.decodeUnknown(ClientConfigFile)(raw).pipe(
    Effect.orElseSucceed((): typeof ClientConfigFile.Type => ({}))
  )
})

/** Merge `values` into the config file, creating it (mode 0600) if missing. Yields its path. */
export const updateClientConfig = (values: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const path = yield* clientConfigPath
    yield* Effect.tryPromise(async () => {
      const merged = { ...(await readObject(path).catch(() => ({}))), ...values }
      await NodeFs.mkdir(NodePath.dirname(path), { recursive: true, mode: 0o700 })
      await NodeFs.writeFile(path, JSON.stringify(merged, null, 2) + "\n", { mode: 0o600 })
    })
    return path
  })
