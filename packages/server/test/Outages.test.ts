/**
 * The server across outages of itself and of its database: holders of
 * leases get a full lease to reconnect after a restart; the notification
 * connection comes back after a PostgreSQL restart; requests while it is
 * away are 503 `NotReady`.
 */
import { isTransient, makeApiClient } from "@agnt/client/ApiClient"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, Schedule, Scope } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { freshDatabase, serverUrl, TestServerLive, TestServerOn } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"
import { ownPostgres } from "./OwnPostgres.js"

/** A sample of `/metrics` (`name` with its labels, as written), or -1 when absent. */
const sample = (text: string, name: string) => {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? -1 : Number(line.slice(name.length + 1))
}

/** `/metrics` of the server at `baseUrl`, as text. */
const metricsAt = (baseUrl: string) => Effect.flatMap(makeApiClient({ baseUrl }), (client) => client.health.metrics())

describe("outages", () => {
  it.scopedLive("a lease that expired while no server ran is not reaped at the next start: its holder renews it within a full lease", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      // The first server: short leases, and no reaper pass after its first (which falls in its start-up grace).
      const held = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(TestServerOn(databaseUrl, { leaseSeconds: 1, reaperIntervalSeconds: 3600 }))
        const baseUrl = yield* serverUrl.pipe(Effect.provide(context))
        const keys = yield* ApiKeys.pipe(Effect.provide(context))
        const executorKey = (yield* keys.create({ role: "executor" })).key
        const executor = yield* makeApiClient({ baseUrl, key: executorKey })
        const buyer = yield* makeApiClient({ baseUrl, key: (yield* keys.create({ role: "buyer" })).key })
        const agentId = makeAgentId()
        yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Patient") })
        const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const claimed = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "holder", wait: 0 } })
        const lease = claimed.claimed?.lease
        if (lease === undefined) return yield* Effect.die("no job claimed")
        yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
        return { executorKey, jobId: job.job_id, leaseId: lease.lease_id }
      }))
      // The server is down past the lease.
      yield* Effect.sleep("2 seconds")

      const context = yield* Layer.build(TestServerOn(databaseUrl, { leaseSeconds: 30, reaperIntervalSeconds: 0.1 }))
      const executor = yield* makeApiClient({ baseUrl: yield* serverUrl.pipe(Effect.provide(context)), key: held.executorKey })
      // Many reaper passes run meanwhile; none may fail the job.
      yield* Effect.sleep("1 second")
      const renewed = yield* executor.executor.heartbeat({ path: { job_id: held.jobId }, payload: { lease_id: held.leaseId } })
      expect(renewed.lease_id).toBe(held.leaseId)
      const progressed = yield* executor.executor.status({
        path: { job_id: held.jobId },
        payload: { status: "running", lease_id: held.leaseId, progress: 50 }
      })
      expect([progressed.job.status, progressed.job.progress]).toEqual(["running", 50])
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive(
    "after PostgreSQL restarts, the server listens again: the reconnect is counted and a new job reaches a waiting claim by NOTIFY",
    () =>
      Effect.gen(function*() {
        const postgres = yield* ownPostgres
        // The fallback re-check is longer than the claim's wait: only a notification can hand over the job.
        const context = yield* Layer.build(
          TestServerLive(postgres.adminUrl, { pollFallbackSeconds: 60 }).pipe(Layer.provideMerge(FetchHttpClient.layer))
        )
        const baseUrl = yield* serverUrl.pipe(Effect.provide(context))
        const keys = yield* ApiKeys.pipe(Effect.provide(context))
        const executor = yield* makeApiClient({ baseUrl, key: (yield* keys.create({ role: "executor" })).key })
        const buyer = yield* makeApiClient({ baseUrl, key: (yield* keys.create({ role: "buyer" })).key })
        const agentId = makeAgentId()
        yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Listener") })
        expect(sample(yield* metricsAt(baseUrl), "agnt_notification_reconnects_total")).toBe(0)

        yield* postgres.stop
        yield* postgres.start
        const after = yield* metricsAt(baseUrl).pipe(
          Effect.filterOrFail((text) => sample(text, "agnt_notification_reconnects_total") === 1),
          Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds")))
        )
        expect(sample(after, "agnt_notification_listening")).toBe(1)
        const receivedBefore = sample(after, `agnt_notifications_received_total{channel="agnt_pending"}`)

        const waiting = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "listener", wait: 20 } }).pipe(
          Effect.fork
        )
        yield* Effect.sleep("500 millis")
        const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const response = yield* Fiber.join(waiting)
        expect(response.claimed?.job.job_id).toBe(job.job_id)
        const received = sample(yield* metricsAt(baseUrl), `agnt_notifications_received_total{channel="agnt_pending"}`)
        expect(received).toBeGreaterThan(receivedBefore)
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    120_000
  )

  it.scopedLive(
    "while PostgreSQL is stopped, a request that needs it is 503 NotReady with Retry-After, typed for the client; it answers again once PostgreSQL is back",
    () =>
      Effect.gen(function*() {
        const postgres = yield* ownPostgres
        const context = yield* Layer.build(TestServerLive(postgres.adminUrl).pipe(Layer.provideMerge(FetchHttpClient.layer)))
        const baseUrl = yield* serverUrl.pipe(Effect.provide(context))
        const keys = yield* ApiKeys.pipe(Effect.provide(context))
        const key = (yield* keys.create({ role: "buyer" })).key
        const buyer = yield* makeApiClient({ baseUrl, key })

        yield* postgres.stop
        const response = yield* Effect.promise(() =>
          fetch(`${baseUrl}/v1/jobs?limit=5`, { headers: { authorization: `Bearer ${Redacted.value(key)}` } })
        )
        expect(response.status).toBe(503)
        expect(response.headers.get("retry-after")).toMatch(/^\d+$/)
        expect(yield* Effect.promise(() => response.json())).toMatchObject({ _tag: "NotReady" })
        const typed = yield* Effect.flip(buyer.jobs.list({ urlParams: { limit: 5 } }))
        expect(typed._tag).toBe("NotReady")
        expect(isTransient(typed)).toBe(true)

        yield* postgres.start
        const page = yield* buyer.jobs.list({ urlParams: { limit: 5 } }).pipe(
          Effect.retry({ schedule: Schedule.spaced("200 millis").pipe(Schedule.upTo("30 seconds")), while: isTransient })
        )
        expect(page.data).toEqual([])
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    120_000
  )

  it.scopedLive(
    "a claim long-poll open when the server shuts down gracefully is answered with an empty claim, not held or a 500",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(TestServerLive(inject("pgAdminUrl")), scope)
        const baseUrl = yield* serverUrl.pipe(Effect.provide(context))
        const keys = yield* ApiKeys.pipe(Effect.provide(context))
        const key = (yield* keys.create({ role: "executor" })).key
        const executor = yield* makeApiClient({ baseUrl, key })
        const agentId = makeAgentId()
        yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Shutdown") })
        // The claim would be held 30 s, past this test's timeout; only the shutdown's wake-up ends it sooner.
        const polling = yield* Effect.promise(() =>
          fetch(`${baseUrl}/v1/executor/jobs/claim`, {
            method: "POST",
            headers: { authorization: `Bearer ${Redacted.value(key)}`, "content-type": "application/json" },
            body: JSON.stringify({ agent_id: agentId, executor_id: "shutdown", wait: 30 })
          }).then(async (response) => ({ status: response.status, body: await response.text() }))
        ).pipe(Effect.fork)
        yield* Effect.sleep("500 millis")
        yield* Scope.close(scope, Exit.void)
        const answered = yield* Fiber.join(polling)
        expect(answered.status).toBe(200)
        expect(JSON.parse(answered.body)).toEqual({ claimed: null })
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    20_000
  )
})
