/**
 * The `HttpClient` every agnt program talks to the API with: `node:http`
 * (it streams request bodies with backpressure, where Node 20's `fetch`
 * holds a whole upload in memory) over one agent that keeps connections
 * alive between requests; and, on Bun, the client a download's body streams
 * through.
 *
 * `@effect/platform-node`'s own `NodeHttpClient.layer` makes its agent
 * with Node's defaults, which close the connection after every response:
 * each claim, heartbeat, log batch and complete of an executor (and each
 * call of `agnt order --wait`) would pay a new TCP connection on both
 * sides. An idle connection is closed by the agent before the server's
 * advertised `Keep-Alive: timeout` (Node's agent reads that hint), so a
 * request is not sent on a connection the server is closing.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Layer } from "effect"

/** `HttpClient` over `node:http` with keep-alive connections; the agent's sockets are destroyed when the layer's scope closes. */
export const HttpClientLive = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)

/** Whether this process runs on Bun (the compiled `agnt`) rather than Node.js. */
const onBun = typeof process.versions.bun === "string"

/**
 * The client to stream a download's body through, given the program's own
 * `client`: on Node.js `client` itself; on Bun (the compiled `agnt`) Bun's
 * `fetch`, which holds back a response body read slower than it arrives,
 * where Bun's `node:http` buffers it — a 1 GiB `agnt result` peaked at
 * 170 MiB with it and at 130 with `fetch` (`bench/files.ts`). Uploads stay
 * on `node:http`, which Bun's `fetch` does no better for (its peak was the
 * higher one under load).
 */
export const downloadClient = (client: HttpClient.HttpClient): Effect.Effect<HttpClient.HttpClient> =>
  onBun ? Effect.provide(HttpClient.HttpClient, FetchHttpClient.layer) : Effect.succeed(client)
