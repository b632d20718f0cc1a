/**
 * The server across outages of itself and of its database: holders of
 * leases get a full lease to reconnect after a restart.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { freshDatabase, serverUrl, TestServerOn } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"

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
})
