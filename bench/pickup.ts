/**
 * Order → executor pickup latency: the time from sending `POST /v1/jobs`
 * to an executor holding the job, over N jobs, once with the long-poll
 * claim (`wait` = 25 s, woken by LISTEN/NOTIFY) and once with plain polling
 * (claim with `wait` = 0 every `POLL_MS`, 1000 by default). One server on a
 * fresh embedded PostgreSQL; one executor loop; orders sent one at a time
 * with a random 0–100 ms gap. Prints p50, p90, p99 and max in milliseconds.
 *
 *   npx tsx bench/pickup.ts            # N=200
 *   N=500 POLL_MS=500 npx tsx bench/pickup.ts
 */
import { Api } from "@agnt/domain/Api"
import type { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Deferred, Effect, Layer, Redacted, Schedule } from "effect"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import * as EmbeddedPostgres from "../packages/server/src/EmbeddedPostgres.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, serverUrl, temporaryDirectory, TestServerOn } from "../packages/server/src/Testing.js"
import { manifest, orderForm } from "../packages/server/test/Fixtures.js"

const makeClient = (baseUrl: string, key: Redacted.Redacted) =>
  HttpApiClient.make(Api, { baseUrl, transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(key))) })
type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const measure = (executor: Client, buyer: Client, agentId: AgentId, mode: "long-poll" | "polling", n: number, pollMs: number) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    for (let i = 0; i < n; i++) {
      const picked = yield* Deferred.make<number>()
      const claimOnce = executor.executor.claim({
        payload: { agent_id: agentId, executor_id: `bench-${mode}`, wait: mode === "long-poll" ? 25 : 0 }
      })
      const loop = claimOnce.pipe(
        Effect.flatMap((response) =>
          response.claimed === null ? Effect.fail("none" as const) : Deferred.succeed(picked, performance.now())
        ),
        Effect.retry(mode === "long-poll" ? Schedule.forever : Schedule.spaced(`${pollMs} millis`))
      )
      const fiber = yield* Effect.fork(loop)
      yield* Effect.sleep(`${Math.floor(Math.random() * 100) + (mode === "polling" ? Math.random() * pollMs : 0)} millis`)
      const sent = performance.now()
      yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      latencies.push((yield* Deferred.await(picked)) - sent)
      yield* fiber.await
    }
    const sorted = [...latencies].sort((a, b) => a - b)
    const fmt = (value: number) => value.toFixed(1).padStart(8)
    yield* Console.log(
      `${mode.padEnd(10)} n=${n}  p50=${fmt(percentile(sorted, 50))} ms  p90=${fmt(percentile(sorted, 90))} ms  ` +
        `p99=${fmt(percentile(sorted, 99))} ms  max=${fmt(sorted[sorted.length - 1] ?? Number.NaN)} ms`
    )
  })

const program = Effect.gen(function*() {
  const n = yield* Config.integer("N").pipe(Config.withDefault(200))
  const pollMs = yield* Config.integer("POLL_MS").pipe(Config.withDefault(1000))
  const dataDir = yield* temporaryDirectory("agnt-bench-")
  const adminUrl = yield* EmbeddedPostgres.start(dataDir)
  const databaseUrl = yield* freshDatabase(Redacted.value(adminUrl))
  const server = yield* Layer.build(TestServerOn(databaseUrl).pipe(Layer.provideMerge(FetchHttpClient.layer)))
  yield* Effect.gen(function*() {
    const url = yield* serverUrl
    const keys = yield* ApiKeys
    const executor = yield* makeClient(url, (yield* keys.create({ role: "executor" })).key)
    const buyer = yield* makeClient(url, (yield* keys.create({ role: "buyer" })).key)
    for (const mode of ["long-poll", "polling"] as const) {
      const agentId = makeAgentId()
      yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest(`Bench ${mode}`) })
      yield* measure(executor, buyer, agentId, mode, n, pollMs)
    }
  }).pipe(Effect.provide(server))
}).pipe(Effect.scoped, Effect.withLogSpan("bench"), Effect.catchAllCause(Effect.logError))

NodeRuntime.runMain(program)
