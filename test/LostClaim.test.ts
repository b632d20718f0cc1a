/**
 * A claim's answer lost on the way back does not strand its job: the real
 * `agnt-executor` reaches the server through a TCP proxy that cuts the
 * connection instead of passing on the first answer carrying a job — as a
 * server crash or a broken network would just after the claim was made.
 * The executor retries the claim with the same `claim_id`, gets the same
 * job and lease back, and runs it to the end. Without that, the job would
 * be held by nobody until its lease (60 s here) expired and then fail.
 */
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeNet from "node:net"
import { inject } from "vitest"
import { serverUrl, TestServerLive } from "../packages/server/src/Testing.js"
import { allEvents, commandAgent, jobWhen, order } from "./Executors.js"

const TestLive = TestServerLive(inject("pgAdminUrl"), { leaseSeconds: 60 }).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** What marks a claim's answer that hands out a job (`ClaimResponse` with a `ClaimedJob`). */
const claimedMarker = "\"claimed\":{\"job\""

/**
 * A loopback TCP proxy to `target` for the life of the scope that, the
 * first time an answer carrying a claimed job passes, destroys both ends
 * instead of forwarding it. Yields its URL and how many answers it cut.
 */
const cuttingProxy = (target: URL) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: NodeNet.Server; readonly url: string; readonly cut: () => number }>((resume) => {
      let cut = 0
      const server = NodeNet.createServer((client) => {
        const upstream = NodeNet.connect(Number(target.port), target.hostname)
        let seen = ""
        upstream.on("data", (chunk: Buffer) => {
          // Keep the tail of what came before, so a marker split across reads is still found.
          seen = seen.slice(-claimedMarker.length) + chunk.toString("latin1")
          if (cut === 0 && seen.includes(claimedMarker)) {
            cut += 1
            upstream.destroy()
            client.destroy()
            return
          }
          client.write(chunk)
        })
        client.on("data", (chunk: Buffer) => upstream.write(chunk))
        client.on("error", () => upstream.destroy())
        upstream.on("error", () => client.destroy())
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, cut: () => cut }))
      })
    }),
    ({ server }) => Effect.sync(() => server.close())
  )

layer(TestLive, { excludeTestServices: true, timeout: "120 seconds" })("a claim whose answer is lost", (it) => {
  it.scoped("the executor's retried claim (same claim_id) gets the job back and completes it; one accepted event, no lease expiry", () =>
    Effect.gen(function*() {
      const proxy = yield* cuttingProxy(new URL(yield* serverUrl))
      const { agentId, client, start } = yield* commandAgent("lost-answer", () => "echo done > out/result.txt", {}, {
        env: { AGNT_API_URL: proxy.url }
      })
      yield* start()
      const job = yield* order(client, agentId, "finish despite the cut")

      const ended = yield* jobWhen(
        client,
        job.job_id,
        (found) => ["completed", "failed", "canceled"].includes(found.status),
        "30 seconds",
        "ended"
      )
      expect(proxy.cut()).toBe(1)
      expect([ended.status, ended.failure_reason]).toEqual(["completed", null])
      const statuses = (yield* allEvents(client, job.job_id)).flatMap((event) => event.type === "status" ? [event.status] : [])
      expect(statuses).toEqual(["pending", "accepted", "running", "completed"])
    }))
})
