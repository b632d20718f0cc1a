import { makeApiClient } from "@agnt/client/ApiClient"
import { type AgentId, type JobId, LeaseId } from "@agnt/domain/Ids"
import { JobEvent } from "@agnt/domain/Job"
import { FetchHttpClient, HttpClient, type HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { type Context, Effect, Fiber, Layer, Redacted, Schedule, Schema } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import type { ServerSettings } from "../src/ServerConfig.js"
import { freshDatabase, serverUrl, TestServerLive, TestServerOn } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"

const withServer = (overrides: Partial<ServerSettings> = {}) =>
  Effect.provide(TestServerLive(inject("pgAdminUrl"), overrides).pipe(Layer.provideMerge(FetchHttpClient.layer)))

const clientAt = (baseUrl: string, key: string) => makeApiClient({ baseUrl, key: Redacted.make(key) })

/** An executor key with a published agent and a buyer key, with clients on `baseUrl`. */
const setup = (baseUrl: string) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const executorCreated = yield* keys.create({ role: "executor" })
    const executorKey = Redacted.value(executorCreated.key)
    const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
    const executor = yield* clientAt(baseUrl, executorKey)
    const buyer = yield* clientAt(baseUrl, buyerKey)
    const agentId = makeAgentId()
    yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Leased") })
    return { executor, buyer, agentId, executorKey, buyerKey, sellerAccount: executorCreated.info.account_id }
  })

const claim = (client: Effect.Effect.Success<ReturnType<typeof clientAt>>, agentId: AgentId, wait = 0) =>
  client.executor.claim({ payload: { agent_id: agentId, executor_id: "test-executor", wait } })

const eventsOf = (client: Effect.Effect.Success<ReturnType<typeof clientAt>>, jobId: JobId) =>
  client.jobs.events({ path: { job_id: jobId }, urlParams: { after: 0, limit: 500, wait: 0 } })

describe("leases, claims, cancellation and events", () => {
  it.scopedLive("a claim hands a job to one executor with a lease; an expired lease fails it as lease_expired and a late call is refused", () =>
    Effect.gen(function*() {
      const { agentId, buyer, executor } = yield* setup(yield* serverUrl)
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const claims = yield* Effect.all([claim(executor, agentId), claim(executor, agentId), claim(executor, agentId)], {
        concurrency: "unbounded"
      })
      const won = claims.flatMap((response) => response.claimed === null ? [] : [response.claimed])
      expect(won.map((claimed) => claimed.job.job_id)).toEqual([job.job_id])
      const lease = won[0]!.lease
      yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })

      const reaped = yield* buyer.jobs.get({ path: { job_id: job.job_id } }).pipe(
        Effect.filterOrFail((current) => current.status !== "running"),
        Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 100 })
      )
      expect([reaped.status, reaped.failure_reason, reaped.status_message]).toEqual(["failed", "lease_expired", "failed: lease_expired"])
      const late = yield* executor.executor.heartbeat({ path: { job_id: job.job_id }, payload: { lease_id: lease.lease_id } }).pipe(
        Effect.flip
      )
      expect(["LeaseLost", "InvalidTransition"]).toContain(late._tag)
      const wrongLease = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) }).pipe(
        Effect.zipRight(claim(executor, agentId)),
        Effect.flatMap((response) =>
          executor.executor.status({
            path: { job_id: response.claimed!.job.job_id },
            payload: { status: "running", lease_id: LeaseId.make("lease_forged") }
          })
        ),
        Effect.flip
      )
      expect(wrongLease._tag).toBe("LeaseLost")
    }).pipe(withServer({ leaseSeconds: 1, reaperIntervalSeconds: 0.3 })))

  it.scopedLive("a retried claim with the same claim_id gets the same job and lease back while the job is held; another claim_id or key does not", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const { agentId, buyer, executor, sellerAccount } = yield* setup(url)
      const keys = yield* ApiKeys
      const otherKey = Redacted.value((yield* keys.create({ role: "executor", account_id: sellerAccount, agent_ids: [agentId] })).key)
      const other = yield* clientAt(url, otherKey)
      const claimWith = (client: typeof executor, claimId: string) =>
        client.executor.claim({ payload: { agent_id: agentId, executor_id: "test-executor", wait: 0, start: true, claim_id: claimId } })
      const first = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const second = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 2 }) })

      const taken = (yield* claimWith(executor, "claim-a")).claimed!
      expect(taken.job.job_id).toBe(first.job_id)
      const again = (yield* claimWith(executor, "claim-a")).claimed!
      expect([again.job.job_id, again.job.status, again.lease.lease_id]).toEqual([first.job_id, "running", taken.lease.lease_id])
      expect(again.lease.lease_expires_at.epochMillis).toBeGreaterThanOrEqual(taken.lease.lease_expires_at.epochMillis)
      // Another key sending the same claim_id takes the next pending job, not the held one.
      expect((yield* claimWith(other, "claim-a")).claimed?.job.job_id).toBe(second.job_id)
      // A new claim_id finds nothing left.
      expect((yield* claimWith(executor, "claim-b")).claimed).toBeNull()
      // One accepted and one running event: the retry appended none.
      const statuses = (yield* eventsOf(buyer, first.job_id)).data.flatMap((event) => event.type === "status" ? [event.status] : [])
      expect(statuses).toEqual(["pending", "accepted", "running"])

      // Once the job has ended, its claim_id takes a new job.
      yield* executor.executor.status({
        path: { job_id: first.job_id },
        payload: { status: "failed", lease_id: taken.lease.lease_id, reason: "done" }
      })
      const third = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 3 }) })
      expect((yield* claimWith(executor, "claim-a")).claimed?.job.job_id).toBe(third.job_id)
    }).pipe(withServer()))

  it.scopedLive("heartbeats keep a lease alive past its length", () =>
    Effect.gen(function*() {
      const { agentId, buyer, executor } = yield* setup(yield* serverUrl)
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const { lease } = (yield* claim(executor, agentId)).claimed!
      for (let i = 0; i < 6; i++) {
        yield* Effect.sleep("400 millis")
        yield* executor.executor.heartbeat({ path: { job_id: job.job_id }, payload: { lease_id: lease.lease_id } })
      }
      expect((yield* buyer.jobs.get({ path: { job_id: job.job_id } })).status).toBe("accepted")
    }).pipe(withServer({ leaseSeconds: 1, reaperIntervalSeconds: 0.2 })))

  it.scopedLive("cancel: a pending job is canceled at once; a running one is flagged, its holder learns it and confirms", () =>
    Effect.gen(function*() {
      const { agentId, buyer, executor } = yield* setup(yield* serverUrl)
      const pending = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      expect((yield* buyer.jobs.cancel({ path: { job_id: pending.job_id } })).status).toBe("canceled")
      const again = yield* buyer.jobs.cancel({ path: { job_id: pending.job_id } }).pipe(Effect.flip)
      expect(again._tag).toBe("InvalidTransition")

      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const { lease } = (yield* claim(executor, agentId)).claimed!
      yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
      const flagged = yield* buyer.jobs.cancel({ path: { job_id: job.job_id } })
      expect([flagged.status, flagged.cancel_requested]).toEqual(["running", true])
      const beat = yield* executor.executor.heartbeat({ path: { job_id: job.job_id }, payload: { lease_id: lease.lease_id } })
      expect(beat.cancel_requested).toBe(true)
      const confirmed = yield* executor.executor.status({
        path: { job_id: job.job_id },
        payload: { status: "canceled", lease_id: lease.lease_id }
      })
      expect(confirmed.job.status).toBe("canceled")
    }).pipe(withServer()))

  it.scopedLive("the SSE stream starts with the job, carries the same events as the events page, and ends at a terminal state", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const { agentId, buyer, buyerKey, executor } = yield* setup(url)
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const { lease } = (yield* claim(executor, agentId)).claimed!
      const http = yield* HttpClient.HttpClient
      const sse = yield* http.get(`${url}/v1/jobs/${job.job_id}/events`, {
        headers: { authorization: `Bearer ${buyerKey}`, accept: "text/event-stream" }
      }).pipe(Effect.flatMap((response) => response.text), Effect.fork)

      const lease_id = lease.lease_id
      yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id } })
      yield* executor.executor.logs({ path: { job_id: job.job_id }, payload: { lease_id, lines: ["one", "two", "x".repeat(5000)] } })
      yield* executor.executor.status({
        path: { job_id: job.job_id },
        payload: { status: "running", lease_id, progress: 50, message: "half" }
      })
      const form = new FormData()
      form.append("lease_id", lease_id)
      yield* executor.executor.complete({ path: { job_id: job.job_id }, payload: form })

      const text = yield* Fiber.join(sse).pipe(Effect.timeout("30 seconds"))
      const frames = text.split("\n\n").filter((frame) => frame.startsWith("event:") || frame.startsWith("id:"))
      expect(frames[0]).toMatch(/^event: job\ndata: /)
      const streamed = frames.slice(1).map((frame) => JSON.parse(frame.split("\n").find((line) => line.startsWith("data: "))!.slice(6)))
      const page = yield* eventsOf(buyer, job.job_id)
      expect(streamed).toEqual(JSON.parse(JSON.stringify(Schema.encodeSync(Schema.Array(JobEvent))(page.data))))
      expect(page.data.map((event) => [event.type, event.status])).toEqual([
        ["status", "pending"],
        ["status", "accepted"],
        ["status", "running"],
        ["log", "running"],
        ["progress", "running"],
        ["status", "completed"]
      ])
      const log = page.data.find((event) => event.type === "log")!
      expect((log.data["lines"] as ReadonlyArray<string>).map((line) => line.length)).toEqual([3, 3, 4000])
      expect(page.status).toBe("completed")
    }).pipe(withServer()))

  it.scopedLive("a long-poll claim on one API instance is woken by an order placed on another (LISTEN/NOTIFY)", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      // The fallback re-check is longer than the wait: only a notification can hand over the job in time.
      const overrides = { pollFallbackSeconds: 60 }
      const first = yield* Layer.build(TestServerOn(databaseUrl, overrides))
      const second = yield* Layer.build(TestServerOn(databaseUrl, overrides))
      const urlOf = (context: Context.Context<HttpServer.HttpServer>) => serverUrl.pipe(Effect.provide(context))
      const { agentId, executorKey, buyerKey } = yield* setup(yield* urlOf(first)).pipe(Effect.provide(first))
      const executor = yield* clientAt(yield* urlOf(first), executorKey)
      const buyer = yield* clientAt(yield* urlOf(second), buyerKey)

      const waiting = yield* claim(executor, agentId, 20).pipe(Effect.fork)
      yield* Effect.sleep("500 millis")
      const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      const response = yield* Fiber.join(waiting)
      expect(response.claimed?.job.job_id).toBe(job.job_id)

      const listWait = yield* executor.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 10, wait: 20 } }).pipe(
        Effect.fork
      )
      yield* Effect.sleep("500 millis")
      const next = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
      expect((yield* Fiber.join(listWait)).data.map((item) => item.job_id)).toEqual([next.job_id])
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
