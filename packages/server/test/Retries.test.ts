/**
 * Retries of jobs whose lease expired (DESIGN.md "Delivery"): at-most-once
 * by default, at-least-once up to the agent's `max_attempts`, each retry an
 * event and a later claim after its delay.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId, JobId } from "@agnt/domain/Ids"
import { JobEvent } from "@agnt/domain/Job"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Layer, Schedule, Schema } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import type { ServerSettings } from "../src/ServerConfig.js"
import { serverUrl, TestServerLive } from "../src/Testing.js"
import { leaseForm, manifest, orderForm } from "./Fixtures.js"

const withServer = (overrides: Partial<ServerSettings>) =>
  Effect.provide(TestServerLive(inject("pgAdminUrl"), overrides).pipe(Layer.provideMerge(FetchHttpClient.layer)))

type Client = Effect.Effect.Success<ReturnType<typeof makeApiClient>>

/** Clients of a fresh executor and buyer key, and an agent published with `retries` (max_attempts, retry_delay_seconds). */
const setup = (retries: { readonly max_attempts?: number; readonly retry_delay_seconds?: number }) =>
  Effect.gen(function*() {
    const baseUrl = yield* serverUrl
    const keys = yield* ApiKeys
    const executor = yield* makeApiClient({ baseUrl, key: (yield* keys.create({ role: "executor" })).key })
    const buyer = yield* makeApiClient({ baseUrl, key: (yield* keys.create({ role: "buyer" })).key })
    const agentId = makeAgentId()
    const published = yield* executor.agents.publish({
      path: { agent_id: agentId },
      payload: new AgentManifest({ ...manifest("Retried"), ...retries })
    })
    return { executor, buyer, agentId, published }
  })

/** Claim `agentId`'s next job and report it running; fails when there is none. */
const claimAndRun = (executor: Client, agentId: AgentId) =>
  Effect.gen(function*() {
    const { claimed } = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "test-executor", wait: 5 } })
    if (claimed === null) return yield* Effect.dieMessage("nothing to claim")
    yield* executor.executor.status({
      path: { job_id: claimed.job.job_id },
      payload: { status: "running", lease_id: claimed.lease.lease_id }
    })
    return claimed
  })

/** The job once `done` holds of it (polled every 200 ms for up to 30 s). */
const jobWhen = (buyer: Client, jobId: JobId, done: (status: string) => boolean) =>
  buyer.jobs.get({ path: { job_id: jobId } }).pipe(
    Effect.filterOrFail((job) => done(job.status)),
    Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 })
  )

const eventsOf = (buyer: Client, jobId: JobId) =>
  buyer.jobs.events({ path: { job_id: jobId }, urlParams: { after: 0, limit: 500, wait: 0 } }).pipe(
    Effect.map((page) => page.data)
  )

describe("retries after an expired lease", () => {
  it.scopedLive("an agent publishes max_attempts 1 and a 10 s retry delay unless it says otherwise, and a job keeps its agent's", () =>
    Effect.gen(function*() {
      const { agentId, buyer, published } = yield* setup({})
      expect([published.max_attempts, published.retry_delay_seconds]).toEqual([1, 10])
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      expect([job.attempt, job.max_attempts, job.retry_at]).toEqual([1, 1, null])
    }).pipe(withServer({})))

  it.scopedLive("a job of an agent with max_attempts 3 goes back to pending after its lease expires, is claimed again as attempt 2 and completes", () =>
    Effect.gen(function*() {
      const { agentId, buyer, executor } = yield* setup({ max_attempts: 3, retry_delay_seconds: 0 })
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const first = yield* claimAndRun(executor, agentId)
      expect(first.job.attempt).toBe(1)

      // The first holder goes silent; the reaper hands the job back.
      const second = yield* claimAndRun(executor, agentId)
      expect([second.job.job_id, second.job.attempt, second.job.max_attempts]).toEqual([job.job_id, 2, 3])
      expect(second.lease.lease_id).not.toBe(first.lease.lease_id)
      const late = yield* executor.executor.heartbeat({ path: { job_id: job.job_id }, payload: { lease_id: first.lease.lease_id } }).pipe(
        Effect.flip
      )
      expect(late._tag).toBe("LeaseLost")
      yield* executor.executor.complete({ path: { job_id: job.job_id }, payload: leaseForm(second.lease.lease_id) })

      const done = yield* jobWhen(buyer, job.job_id, (status) => status === "completed")
      expect([done.attempt, done.failure_reason, done.retry_at]).toEqual([2, null, null])
      const retries = (yield* eventsOf(buyer, job.job_id)).filter((event) => event._tag === "Retried")
      expect(retries.map((event) => [event.status, event._tag === "Retried" && event.data.attempt])).toEqual([["pending", 2]])
      // The wire form decodes as the same kind.
      const [retried] = retries
      expect(Schema.decodeUnknownSync(JobEvent)(Schema.encodeSync(JobEvent)(retried!))._tag).toBe("Retried")
    }).pipe(withServer({ leaseSeconds: 1, reaperIntervalSeconds: 0.2 })))

  it.scopedLive("a job whose attempts are spent fails lease_expired on its last attempt; a retry waits out its delay before it can be claimed", () =>
    Effect.gen(function*() {
      const { agentId, buyer, executor } = yield* setup({ max_attempts: 2, retry_delay_seconds: 2 })
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      yield* claimAndRun(executor, agentId)

      const waiting = yield* jobWhen(buyer, job.job_id, (status) => status === "pending").pipe(
        Effect.filterOrFail((found) => found.attempt === 2)
      )
      const retryAt = waiting.retry_at
      expect(retryAt).not.toBe(null)
      const early = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "test-executor", wait: 0 } })
      const now = yield* DateTime.now
      if (retryAt !== null && DateTime.lessThan(now, retryAt)) expect(early.claimed).toBe(null)

      const second = yield* claimAndRun(executor, agentId)
      expect(second.job.attempt).toBe(2)
      expect(DateTime.greaterThanOrEqualTo(yield* DateTime.now, retryAt!)).toBe(true)
      const failed = yield* jobWhen(buyer, job.job_id, (status) => status === "failed")
      expect([failed.attempt, failed.failure_reason, failed.status_message]).toEqual([2, "lease_expired", "failed: lease_expired"])
      const kinds = (yield* eventsOf(buyer, job.job_id)).map((event) => event._tag)
      expect(kinds.filter((kind) => kind === "Retried" || kind === "LeaseExpired")).toEqual(["Retried", "LeaseExpired"])
    }).pipe(withServer({ leaseSeconds: 1, reaperIntervalSeconds: 0.2 })))
})
