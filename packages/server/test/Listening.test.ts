/**
 * The window in which agnt-server listens but no API handler is attached
 * (start-up, and shutdown after the handler is removed): a request then
 * gets the typed 503 `NotReady` with `Retry-After`, never silence.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeHttpServer } from "../src/Server.js"
import { testSettings } from "../src/Testing.js"

/** `makeHttpServer`'s server listening on a free loopback port for the scope; yields it and its base URL. */
const listening = Effect.acquireRelease(
  Effect.async<{ readonly server: ReturnType<typeof makeHttpServer>; readonly url: string }>((resume) => {
    const server = makeHttpServer(testSettings("/nonexistent", "postgres://unused"))
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}` }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const get = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/v1/jobs`, { signal: AbortSignal.timeout(5000) }).then(async (response) => ({
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      body: await response.json() as unknown
    }))
  )

describe("the HTTP server before and after the API is attached", () => {
  it.scoped("a request while no API handler is attached is 503 NotReady with Retry-After; once one is, it alone answers", () =>
    Effect.gen(function*() {
      const { server, url } = yield* listening
      const early = yield* get(url)
      expect(early).toMatchObject({ status: 503, retryAfter: "1", body: { _tag: "NotReady" } })

      server.on("request", (_request, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({ answered: "api" }))
      })
      const served = yield* get(url)
      expect(served).toEqual({ status: 200, retryAfter: null, body: { answered: "api" } })
    }))
})
