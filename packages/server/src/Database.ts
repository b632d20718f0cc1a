/**
 * The database: `@effect/sql-pg` over `DATABASE_URL`, or over the embedded
 * PostgreSQL when it is unset; the numbered SQL files of `migrations/` run
 * at start through the `@effect/sql` Migrator (already-run ones are skipped,
 * so running them twice is a no-op).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { Effect, Layer, Option, type Redacted } from "effect"
import * as NodeFsSync from "node:fs"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import Pg from "pg"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"
import { ServerConfig } from "./ServerConfig.js"

/**
 * The directory of the migrations: `migrations/` beside the running module
 * when there is one (a bundle, `dist/agnt-server.js`: `npm run build`
 * copies them there), else the repository's `migrations/` (running from
 * source, `packages/server/src/Database.ts`).
 */
export const migrationsDir: string = NodeFsSync.existsSync(new URL("./migrations/", import.meta.url))
  ? NodeUrl.fileURLToPath(new URL("./migrations/", import.meta.url))
  : NodeUrl.fileURLToPath(new URL("../../../migrations/", import.meta.url))

/**
 * Loads `NNNN_name.sql` files from `dir`, each run as one multi-statement
 * script inside the Migrator's transaction.
 */
export const sqlFileLoader = (dir: string): Migrator.Loader =>
  Effect.tryPromise({
    try: async () => {
      const names = (await NodeFs.readdir(dir)).filter((name) => /^\d+_.+\.sql$/.test(name)).sort()
      return Promise.all(names.map(async (name): Promise<Migrator.ResolvedMigration> => {
        const text = await NodeFs.readFile(NodePath.join(dir, name), "utf8")
        const [, id = "0", title = name] = /^(\d+)_(.+)\.sql$/.exec(name) ?? []
        return [Number(id), title, Effect.succeed(PgClient.PgClient.pipe(Effect.flatMap((sql) => sql.unsafe(text))))]
      }))
    },
    catch: (cause) => new Migrator.MigrationError({ reason: "import-error", message: `cannot read migrations from ${dir}`, cause })
  })

/**
 * Column types decoded to what the domain schemas expect: `timestamptz` and
 * `timestamp` as RFC 3339 strings, `int8` as a number (sizes and event ids
 * stay far below 2^53).
 */
const types: Pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === Pg.types.builtins.TIMESTAMPTZ || oid === Pg.types.builtins.TIMESTAMP) {
      const parse = Pg.types.getTypeParser(oid, "text")
      return (value: string) => new Date(parse(value)).toISOString()
    }
    if (oid === Pg.types.builtins.INT8) return (value: string) => Number(value)
    return format === "binary" ? Pg.types.getTypeParser(oid, "binary") : Pg.types.getTypeParser(oid, "text")
  }) as Pg.CustomTypesConfig["getTypeParser"]
}

/**
 * A `PgClient` over the given URL, with agnt's type parsers. Getting a
 * connection — a new one, or a turn at the pool when all 20 are busy —
 * gives up after 10 s, so an unreachable database fails requests (503,
 * `databaseUnavailable`) instead of holding them.
 */
export const pgLayer = (url: Redacted.Redacted) =>
  PgClient.layer({ url, types, maxConnections: 20, connectTimeout: "10 seconds", applicationName: "agnt-server" })

/** Node.js error codes of a connection that could not be made or was cut. */
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN"
])

/** SQLSTATEs of a server going away (PostgreSQL Appendix A): class 08, and 57P01–57P03 (admin/crash shutdown, cannot connect now). */
const unavailableState = (code: string) => /^08[0-9A-Z]{3}$/.test(code) || ["57P01", "57P02", "57P03"].includes(code)

/** Messages node-postgres fails with when its connection ends, cannot be used, or is not had in time. */
const unavailableMessage =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Cannot use a pool after calling end/

/**
 * Whether `error` — a `SqlError`, its cause, or a defect carrying one —
 * says the database is away rather than that the query was wrong: a
 * connection refused, reset or cut, a server shutting down or starting up,
 * no connection within `connectTimeout`. Looks through `cause` chains and
 * the `errors` of an `AggregateError`, a few levels deep.
 */
export const databaseUnavailable = (error: unknown, depth = 0): boolean => {
  if (typeof error !== "object" || error === null || depth > 5) return false
  const code = "code" in error && typeof error.code === "string" ? error.code : ""
  if (connectionCodes.has(code) || unavailableState(code)) return true
  if (error instanceof Error && unavailableMessage.test(error.message)) return true
  const nested = [
    "cause" in error ? error.cause : undefined,
    ...("errors" in error && Array.isArray(error.errors) ? error.errors : [])
  ]
  return nested.some((inner) => databaseUnavailable(inner, depth + 1))
}

/** Runs the migrations of `migrationsDir`. */
export const MigrationsLive = PgMigrator.layer({ loader: sqlFileLoader(migrationsDir) }).pipe(
  Layer.provide(NodeContext.layer)
)

/**
 * The database as configured: `DATABASE_URL`, or the embedded PostgreSQL in
 * the data dir, with migrations run before anything uses it.
 */
export const DatabaseLive = Layer.unwrapScoped(
  Effect.gen(function*() {
    const settings = yield* ServerConfig
    const url = Option.isSome(settings.databaseUrl)
      ? settings.databaseUrl.value
      : yield* EmbeddedPostgres.start(settings.dataDir).pipe(Effect.orDie)
    return MigrationsLive.pipe(Layer.provideMerge(pgLayer(url)))
  })
)
