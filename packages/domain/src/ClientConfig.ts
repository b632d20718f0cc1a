/**
 * The client configuration file (DESIGN.md "Configuration and defaults",
 * "Auth"): where it lives and what it holds. The embedded server writes it
 * on first start; the CLI reads `api_url` and `api_key`, executors
 * `api_url` and `executor_api_key`. Reading and writing it is each
 * package's own I/O; this module only describes it.
 */
import { Config, Option, Schema } from "effect"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** The file's agnt fields; other fields are kept as they are and ignored. */
export const ClientConfigFile = Schema.Struct({
  /** Base URL of the API, e.g. `http://127.0.0.1:8080`. */
  api_url: Schema.optional(Schema.String),
  /** A buyer key, for `agnt`. */
  api_key: Schema.optional(Schema.String),
  /** An executor key, for `agnt-executor`. */
  executor_api_key: Schema.optional(Schema.String)
})
export type ClientConfigFile = typeof ClientConfigFile.Type

/** The file's text decoded (`ParseError` when it is not that JSON). */
export const ClientConfigFileJson = Schema.parseJson(ClientConfigFile)

/**
 * `$XDG_CONFIG_HOME/agnt/config.json`, or `~/.config/agnt/config.json` when
 * `XDG_CONFIG_HOME` is unset or empty (XDG Base Directory Specification).
 */
export const clientConfigPath: Config.Config<string> = Config.option(Config.string("XDG_CONFIG_HOME")).pipe(
  Config.map((xdg) =>
    NodePath.join(
      Option.getOrElse(Option.filter(xdg, (dir) => dir.trim() !== ""), () => NodePath.join(NodeOs.homedir(), ".config")),
      "agnt",
      "config.json"
    )
  )
)
