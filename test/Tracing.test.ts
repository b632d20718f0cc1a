/**
 * `agnt` and `agnt-executor` run with tracing off (no tracer exports their
 * spans, and making one per request cost about a sixth of a call's CPU):
 * their requests carry no trace context. A real `node:http` server records
 * what the real programs send and refuses it (401), so each stops after
 * its first call.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import { temporaryDirectory } from "../packages/server/src/Testing.js"
import { runWithUnknownKey } from "./Executors.js"
import { binPath, run } from "./Processes.js"

/** A loopback server answering every request 401 `Unauthorized`, for the life of the scope; yields its URL and the headers it got. */
const refusingServer = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ readonly url: string; readonly server: NodeHttp.Server; readonly seen: Array<NodeHttp.IncomingHttpHeaders> }>(
      (resolve) => {
        const seen: Array<NodeHttp.IncomingHttpHeaders> = []
        const server = NodeHttp.createServer((request, response) => {
          seen.push(request.headers)
          request.resume()
          response.writeHead(401, { "content-type": "application/json" })
          response.end(JSON.stringify({ _tag: "Unauthorized", message: "unknown or revoked API key" }))
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ url: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`, server, seen })
        })
      }
    )
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

/** The trace-context headers of W3C Trace Context and B3 that an Effect HTTP client sends when tracing is on. */
const traceHeaders = ["traceparent", "b3"]

it.scoped("agnt and agnt-executor send no trace context with their requests", () =>
  Effect.gen(function*() {
    const { seen, url } = yield* refusingServer
    const dir = yield* temporaryDirectory("agnt-tracing-")
    const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(dir, "config"), AGNT_API_URL: url }
    const status = yield* run(binPath("cli", "agnt.js"), ["status", "job_01m8pq57tbe4dtcj5ytsj7pnwn"], {
      cwd: dir,
      env: { ...env, AGNT_API_KEY: "agnt_buyer_bogus" }
    })
    expect(status.code).not.toBe(0)
    const executor = yield* runWithUnknownKey(dir, url)
    expect(executor.code).toBe(1)
    expect(seen.length).toBeGreaterThanOrEqual(2)
    for (const headers of seen) for (const name of traceHeaders) expect(headers[name], name).toBeUndefined()
  }), { timeout: 60_000 })
