/**
 * The `HttpClient` every agnt program talks to the API with: the streaming
 * client native to the runtime, keeping connections alive between requests.
 *
 * - On Node.js (`agnt-executor`, `agnt-server`'s tools, the `agnt` bundle):
 *   `node:http` — it streams request bodies with backpressure, where Node
 *   20's `fetch` holds a whole upload in memory — over one agent that keeps
 *   connections alive. `@effect/platform-node`'s own `NodeHttpClient.layer`
 *   makes its agent with Node's defaults, which close the connection after
 *   every response: each claim, heartbeat, log batch and complete of an
 *   executor (and each call of `agnt order --wait`) would pay a new TCP
 *   connection on both sides. An idle connection is closed by the agent
 *   before the server's advertised `Keep-Alive: timeout` (Node's agent reads
 *   that hint), so a request is not sent on a connection the server is closing.
 * - On Bun (the compiled `agnt`): Bun's `fetch`, which keeps connections
 *   alive by itself and streams both ways with backpressure, where Bun's
 *   `node:http` does not hold back a response body the program reads slower
 *   than it arrives. Moving 1 GiB, the compiled `agnt` peaks lower with it
 *   (`bench/files.ts`).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Layer } from "effect"

/** Whether this process runs on Bun (the compiled `agnt`) rather than Node.js. */
const onBun = typeof process.versions.bun === "string"

/** `HttpClient` with keep-alive connections: `node:http` on Node.js (its agent's sockets destroyed when the layer's scope closes), `fetch` on Bun. */
export const HttpClientLive: Layer.Layer<HttpClient.HttpClient> = onBun ? FetchHttpClient.layer : NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)
