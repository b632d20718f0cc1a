/**
 * The `HttpClient` every agnt program on Node.js talks to the API with:
 * `node:http` (it streams request bodies with backpressure, where Node
 * 20's `fetch` holds a whole upload in memory) over one agent that keeps
 * connections alive between requests.
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
import { Layer } from "effect"

/** `HttpClient` over `node:http` with keep-alive connections; the agent's sockets are destroyed when the layer's scope closes. */
export const HttpClientLive = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)
