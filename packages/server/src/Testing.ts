/**
 * The real server for tests: a fresh PostgreSQL database per call (created
 * through an admin URL, e.g. the one the vitest global setup provides),
 * migrated, served over real HTTP on a free loopback port, with a local
 * object directory in a temporary folder.
 */
import { defaultSessionSeconds } from "@agnt/domain/Session"
import { HttpServer } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import Pg from "pg"
import { ServerLive } from "./Server.js"
import { ServerConfig, type ServerSettings } from "./ServerConfig.js"

/** Create an empty database on the server of `adminUrl` and yield its URL. */
export const freshDatabase = (adminUrl: string) =>
  Effect.promise(async () => {
    const name = `agnt_test_${NodeCrypto.randomBytes(6).toString("hex")}`
    const client = new Pg.Client({ connectionString: adminUrl })
    await client.connect()
    await client.query(`CREATE DATABASE ${name}`)
    await client.end()
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return url.toString()
  })

/** A temporary directory, removed when the scope closes. */
export const temporaryDirectory = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), prefix))
      await NodeFs.chmod(dir, 0o755)
      return dir
    }),
    (dir) => Effect.promise(() => NodeFs.rm(dir, { recursive: true, force: true }))
  )

/** Settings for a test server on `databaseUrl`; `overrides` replace defaults. */
export const testSettings = (dataDir: string, databaseUrl: string, overrides: Partial<ServerSettings> = {}): ServerSettings => ({
  port: 0,
  host: "127.0.0.1",
  dataDir,
  databaseUrl: Option.some(Redacted.make(databaseUrl)),
  s3: Option.none(),
  maxBodyBytes: 64 * 1024 * 1024,
  maxFileBytes: 8 * 1024 * 1024,
  maxFiles: 200,
  maxJobBytes: 32 * 1024 * 1024,
  maxPromptChars: 100_000,
  maxParamsBytes: 64 * 1024,
  maxLongPollsPerKey: 20,
  maxUploadsPerKey: 64,
  rateLimitPerSecond: 10_000,
  rateLimitBurst: 10_000,
  addressRateLimitPerSecond: 10_000,
  addressRateLimitBurst: 10_000,
  trustedProxies: [],
  headersTimeoutSeconds: 20,
  requestTimeoutSeconds: 600,
  bodyIdleTimeoutSeconds: 30,
  leaseSeconds: 60,
  reaperIntervalSeconds: 1,
  pollFallbackSeconds: 2,
  sessionSeconds: defaultSessionSeconds,
  ...overrides
})

/** The whole server on `databaseUrl` (several may share one); `HttpServer` in the output tells its address. */
export const TestServerOn = (databaseUrl: string, overrides: Partial<ServerSettings> = {}) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const dataDir = yield* temporaryDirectory("agnt-test-data-")
      return ServerLive.pipe(Layer.provide(ServerConfig.make(testSettings(dataDir, databaseUrl, overrides))))
    })
  )

/** The whole server on a fresh database; `HttpServer` in the output tells its address. */
export const TestServerLive = (adminUrl: string, overrides: Partial<ServerSettings> = {}) =>
  Layer.unwrapScoped(Effect.map(freshDatabase(adminUrl), (databaseUrl) => TestServerOn(databaseUrl, overrides)))

/** The base URL of the running server, e.g. `http://127.0.0.1:41234`. */
export const serverUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : ""
)
