/**
 * The whole server as one layer: database (migrated), object store, the
 * API groups (each with its own services) behind the HTTP edge, with
 * `/openapi.json`, `/docs` and the web app at `/` (`Web.ts`), the lease reaper, the sweepers of rate
 * limits and ended sessions, and dev keys on a first embedded start. Composed once here; `bin.ts` launches it, tests build it
 * on port 0.
 */
import { Api } from "@agnt/domain/Api"
import { NotReady } from "@agnt/domain/Errors"
import { ApiKeyId } from "@agnt/domain/Ids"
import { HttpApi, HttpApiBuilder, HttpServer, HttpServerResponse, OpenApi } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Option, Schema } from "effect"
import * as NodeHttp from "node:http"
import { AgentsHttpLive } from "./Agents/Http.js"
import { ApiKeys } from "./ApiKeys.js"
import { DatabaseLive } from "./Database.js"
import { DevKeysLive } from "./DevKeys.js"
import { ExecutorHttpLive } from "./Executor/Http.js"
import { HealthHttpLive } from "./Health/Http.js"
import { BodyLimitsLive, withRequestLimits, withRequestSettings } from "./HttpEdge.js"
import { JobsHttpLive } from "./Jobs/Http.js"
import { everyKey, Notifier } from "./Notifier.js"
import { LocalObjectStoreLive } from "./ObjectStore.js"
import { RateLimits, RateLimitsSweeperLive } from "./RateLimits.js"
import { ReaperLive } from "./Reaper.js"
import { ServerConfig, type ServerSettings } from "./ServerConfig.js"
import { SessionsSweeperLive } from "./Sessions.js"
import { SessionsHttpLive } from "./Sessions/Http.js"
import { WebLive } from "./Web.js"

/** The body of the 503 answered while no API handler is attached: the typed `NotReady`, as JSON. */
const notReadyBody = JSON.stringify(
  Schema.encodeSync(NotReady)(new NotReady({ message: "the server is starting or stopping; retry shortly" }))
)

/**
 * Node's HTTP server with limits on slow clients (slowloris): the headers
 * within `headersTimeoutSeconds`, the whole request within
 * `requestTimeoutSeconds` (both checked every 5 s), and no pause of more
 * than `bodyIdleTimeoutSeconds` while a body arrives — the connection is
 * closed, and the request reading it fails and frees what it held.
 *
 * The server listens before the API's handler is attached (and keeps its
 * socket a moment after the handler is removed at shutdown); a request
 * that arrives then would be answered by nothing, held until the request
 * timeout. It gets 503 `NotReady` with `Retry-After: 1` instead, which
 * clients retry.
 */
export const makeHttpServer = (settings: ServerSettings) => {
  const server = NodeHttp.createServer({
    headersTimeout: settings.headersTimeoutSeconds * 1000,
    requestTimeout: Math.max(settings.requestTimeoutSeconds, settings.headersTimeoutSeconds) * 1000,
    connectionsCheckingInterval: 5000
  })
  const bodyIdleTimeout = (request: NodeHttp.IncomingMessage) => {
    const hasBody = (request.headers["content-length"] ?? "0") !== "0" || request.headers["transfer-encoding"] !== undefined
    if (!hasBody || request.complete) return
    const socket = request.socket
    socket.setTimeout(settings.bodyIdleTimeoutSeconds * 1000)
    const idleNoMore = () => socket.setTimeout(0)
    request.once("end", idleNoMore)
    request.once("close", idleNoMore)
  }
  const whileNoApi = (_request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => {
    if (server.listenerCount("request") > ownRequestListeners) return
    response.writeHead(503, { "content-type": "application/json", "retry-after": "1", connection: "close" })
    response.end(notReadyBody)
  }
  const ownRequestListeners = 2
  server.on("request", bodyIdleTimeout)
  server.on("request", whileNoApi)
  return server
}

const NodeServerLive = Layer.unwrapEffect(
  Effect.map(ServerConfig, (settings) => NodeHttpServer.layer(() => makeHttpServer(settings), { port: settings.port, host: settings.host }))
)

/**
 * S3 when configured (`S3_BUCKET`), else the local directory in the data
 * dir. The S3 SDK is imported only when S3 is configured: a server on the
 * local directory never loads (or parses) it.
 */
const ObjectStoreLive = Layer.unwrapEffect(
  Effect.flatMap(ServerConfig, (settings) =>
    Option.match(settings.s3, {
      onNone: () => Effect.succeed(LocalObjectStoreLive),
      onSome: (s3) => Effect.promise(() => import("./S3ObjectStore.js")).pipe(Effect.map((module) => module.S3ObjectStoreLive(s3)))
    }))
)

/**
 * `GET /openapi.json`, the OpenAPI document derived from the API (what
 * `HttpApiBuilder.middlewareOpenApi` serves), derived on the first request
 * rather than at every start, where it cost about 30 ms of CPU.
 */
const OpenApiLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const { api } = yield* HttpApi.Api
    const document = yield* Effect.cached(Effect.suspend(() => HttpServerResponse.json(OpenApi.fromApi(api))).pipe(Effect.orDie))
    yield* router.get("/openapi.json", document)
  })
)

/**
 * `GET /docs`, the API explorer, from `Docs.ts`: imported, and its 2 MB
 * page made, on the first request, not at start.
 */
const DocsLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const api = yield* HttpApi.Api
    const docs = yield* Effect.cached(Effect.flatMap(Effect.promise(() => import("./Docs.js")), (module) => module.docsRouter(api)))
    yield* router.get("/docs", Effect.flatMap(docs, (app) => Effect.orDie(app)))
  })
)

/**
 * Every instance forgets the principal it remembers of a key changed
 * anywhere (revoked, or given another agent), as soon as the notification
 * arrives (`ApiKeys.principalCacheSeconds` bounds it however late).
 */
const KeyChangesLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const notifier = yield* Notifier
    const keys = yield* ApiKeys
    yield* notifier.onKeyChanged((keyId) => keys.forget(keyId === everyKey ? "*" : ApiKeyId.make(keyId)))
  })
).pipe(Layer.provide(Notifier.Default))

/** Every group of the API, each providing its own services. */
const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([AgentsHttpLive, JobsHttpLive, ExecutorHttpLive, SessionsHttpLive, HealthHttpLive])
)

/**
 * The HTTP API serving on the configured port, with everything it needs
 * but `ServerConfig`. Outputs the `HttpServer` (for its address) and the
 * services tests drive directly.
 *
 * Tracing is off: no tracer exports spans, and making the spans of every
 * request (one per `Effect.fn`, the HTTP server's, the SQL client's) costs
 * about a tenth of a request's CPU (`bench/lifecycle.ts`). A deployment that
 * adds an exporter turns it on with it.
 */
export const ServerLive = HttpApiBuilder.serve(withRequestLimits).pipe(
  Layer.provide([
    DocsLive,
    OpenApiLive,
    WebLive,
    BodyLimitsLive
  ]),
  Layer.provide(ApiLive),
  withRequestSettings,
  HttpServer.withLogAddress,
  Layer.merge(DevKeysLive),
  Layer.merge(ReaperLive),
  Layer.merge(RateLimitsSweeperLive),
  Layer.merge(SessionsSweeperLive),
  Layer.merge(KeyChangesLive),
  Layer.provideMerge(NodeServerLive),
  Layer.provide(RateLimits.Default),
  Layer.provideMerge(ApiKeys.Default),
  Layer.provide(ObjectStoreLive),
  Layer.provideMerge(DatabaseLive),
  Layer.provide(Layer.setTracerEnabled(false))
)
