/**
 * Order → executor pickup latency: the time from sending `POST /v1/jobs`
 * to an executor holding the job, over N jobs, once with the long-poll
 * claim (`wait` = 25 s, woken by LISTEN/NOTIFY) and once with plain polling
 * (claim with `wait` = 0 every `POLL_MS`, 1000 by default). One server on a
 * fresh embedded PostgreSQL; one executor loop; orders sent one at a time
 * (JSON, over `@agnt/client` as the CLI sends them)
 * with a random 0–100 ms gap (from the fixed seed, `SEED`). Prints p50,
 * p90, p99 and max in milliseconds, and the same for Graphile Worker
 * (`addJob` → its task starting, LISTEN/NOTIFY too) on the same PostgreSQL.
 *
 *   npx tsx bench/pickup.ts            # N=200
 *   N=500 POLL_MS=500 npx tsx bench/pickup.ts
 *
 * `pickupMeasure` is the suite's (`bench/suite.ts`): p50 and p99 of the
 * long-poll beside Graphile Worker's.
 */
import { type ApiClient, makeApiClient } from "@agnt/client/ApiClient"
import { HttpClientLive } from "@agnt/client/HttpClientLive"
import { uploadBody } from "@agnt/client/Upload"
import type { AgentId } from "@agnt/domain/Ids"
import { Config, Console, Deferred, Effect, Layer, Schedule } from "effect"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, serverUrl, TestServerOn } from "../packages/server/src/Testing.js"
import { manifest } from "../packages/server/test/Fixtures.js"
import { benchContext, type Measure, percentile, type Row, runIfMain } from "./Bench.js"
import { graphileRunner, graphileUtils } from "./peers.js"

/** An order's fields as the CLI sends them (a JSON body: no files). */
const orderFields = (agentId: AgentId) => ({ agent_id: agentId, prompt: "review this", params: JSON.stringify({ level: 1 }) })

/**
 * Order → pickup latencies of `n` jobs through `mode`, each order after a gap of `gapMs()`; milliseconds, ascending.
 * The clients run with tracing off, as `agnt` and executors do.
 */
export const pickupLatencies = (
  executor: ApiClient,
  buyer: ApiClient,
  agentId: AgentId,
  mode: "long-poll" | "polling",
  n: number,
  pollMs: number,
  random: () => number
) =>
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
      yield* Effect.sleep(`${Math.floor(random() * 100) + (mode === "polling" ? random() * pollMs : 0)} millis`)
      const sent = performance.now()
      yield* buyer.uploads.createJob(yield* uploadBody(orderFields(agentId), []), {})
      latencies.push((yield* Deferred.await(picked)) - sent)
      yield* fiber.await
    }
    return latencies.sort((a, b) => a - b)
  }).pipe(Effect.withTracerEnabled(false))

const show = (name: string, sorted: ReadonlyArray<number>) => {
  const fmt = (value: number) => value.toFixed(1).padStart(8)
  return Console.log(
    `${name.padEnd(16)} n=${sorted.length}  p50=${fmt(percentile(sorted, 50))} ms  p90=${fmt(percentile(sorted, 90))} ms  ` +
      `p99=${fmt(percentile(sorted, 99))} ms  max=${fmt(sorted[sorted.length - 1] ?? Number.NaN)} ms`
  )
}

/** A server in this process on a fresh database of `adminUrl`, an executor and a buyer client, and a new agent per call of `agent`. */
const pickupServer = (adminUrl: string) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const server = yield* Layer.build(TestServerOn(databaseUrl).pipe(Layer.provideMerge(HttpClientLive)))
    return yield* Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const executor = yield* makeApiClient({ baseUrl: url, key: (yield* keys.create({ role: "executor" })).key })
      const buyer = yield* makeApiClient({ baseUrl: url, key: (yield* keys.create({ role: "buyer" })).key })
      const agent = (name: string) =>
        Effect.gen(function*() {
          const agentId = makeAgentId()
          yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest(name) })
          return agentId
        })
      return { executor, buyer, agent }
    }).pipe(Effect.provide(server))
  })

/** Graphile Worker's `addJob` → task start over the same gaps: `n` jobs to a runner of concurrency 1; milliseconds, ascending. */
export const graphileWorkerPickup = (adminUrl: string, n: number, random: () => number) =>
  Effect.scoped(Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const utils = yield* graphileUtils(databaseUrl)
    let started: Deferred.Deferred<number> | undefined
    yield* graphileRunner(databaseUrl, 1, () => {
      if (started !== undefined) Deferred.unsafeDone(started, Effect.succeed(performance.now()))
    })
    const latencies: Array<number> = []
    for (let i = 0; i < n; i++) {
      const picked = yield* Deferred.make<number>()
      started = picked
      yield* Effect.sleep(`${Math.floor(random() * 100)} millis`)
      const sent = performance.now()
      yield* Effect.promise(() => utils.addJob("bench", { i }))
      latencies.push((yield* Deferred.await(picked)) - sent)
    }
    return latencies.sort((a, b) => a - b)
  }))

/** The suite's measure: p50 and p99 over 200 jobs (50 quick), agnt's long-poll beside Graphile Worker. */
export const pickupMeasure: Measure = {
  name: "pickup",
  run: (context) =>
    Effect.gen(function*() {
      const n = context.quick ? 50 : 200
      const { agent, buyer, executor } = yield* pickupServer(context.adminUrl)
      const agnt = yield* pickupLatencies(executor, buyer, yield* agent("Bench pickup"), "long-poll", n, 0, context.random)
      const graphile = yield* graphileWorkerPickup(context.adminUrl, n, context.random)
      return [50, 99].map((p): Row => ({
        measure: `order → pickup p${p}`,
        unit: "ms",
        better: "lower",
        agnt: percentile(agnt, p),
        baseline: percentile(graphile, p),
        baselineName: "Graphile Worker"
      }))
    })
}

const program = Effect.gen(function*() {
  const context = yield* benchContext
  const n = yield* Config.integer("N").pipe(Config.withDefault(200))
  const pollMs = yield* Config.integer("POLL_MS").pipe(Config.withDefault(1000))
  const { agent, buyer, executor } = yield* pickupServer(context.adminUrl)
  for (const mode of ["long-poll", "polling"] as const) {
    yield* show(mode, yield* pickupLatencies(executor, buyer, yield* agent(`Bench ${mode}`), mode, n, pollMs, context.random))
  }
  yield* show("Graphile Worker", yield* graphileWorkerPickup(context.adminUrl, n, context.random))
}).pipe(Effect.scoped, Effect.withLogSpan("bench"), Effect.catchAllCause(Effect.logError))

runIfMain(import.meta.url, program)
