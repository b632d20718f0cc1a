import { HttpBody, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeHttp from "node:http"
import { HttpClientLive } from "../src/HttpClientLive.js"

/** A plain `node:http` server on loopback answering every request with its number, counting the connections opened to it. */
const countingServer = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly connections: () => number; readonly server: NodeHttp.Server }>((resume) => {
    let connections = 0
    let requests = 0
    const server = NodeHttp.createServer((request, response) => {
      request.resume()
      response.end(String(++requests))
    })
    server.on("connection", () => connections++)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, connections: () => connections, server }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

describe("HttpClientLive", () => {
  it.scoped("sequential requests, GETs and POSTs with bodies, share one kept-alive connection", () =>
    Effect.gen(function*() {
      const { connections, url } = yield* countingServer
      const client = yield* HttpClient.HttpClient
      const answers: Array<string> = []
      for (let i = 0; i < 5; i++) {
        answers.push(yield* Effect.flatMap(client.get(`${url}/jobs`), (response) => response.text))
        answers.push(
          yield* Effect.flatMap(client.post(`${url}/complete`, { body: HttpBody.text(`{"n":${i}}`, "application/json") }), (response) =>
            response.text)
        )
      }
      expect(answers).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
      expect(connections()).toBe(1)
    }).pipe(Effect.provide(HttpClientLive)))
})
