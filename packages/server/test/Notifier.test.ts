/**
 * Wake-ups of long-polls (`Notifier.ts`, migration 0008): NOTIFY only for a
 * job that becomes pending, a job that ends and a cancel request; every
 * other event wakes the followers of the server that appends it in memory,
 * and followers elsewhere at their fallback re-check; a notification for
 * one key re-runs only that key's waiters; key revocations reach handlers.
 *
 * Servers here re-check only every 60 s unless a test says otherwise, and
 * long-polls wait 30 s, past the timeout of the tests that need a wake-up:
 * such a test passes only if the long-poll was woken.
 */

/** The timeout of a test that passes only if a 30 s long-poll is woken before its end (or its fallback re-check). */
const beforeTheWaitEnds = 20_000
import { makeApiClient } from "@agnt/client/ApiClient"
import type { AgentId, JobId } from "@agnt/domain/Ids"
import { LeaseId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Redacted, Ref, Schedule } from "effect"
import Pg from "pg"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { pgLayer } from "../src/Database.js"
import { makeAgentId } from "../src/Ids.js"
import { everyKey, Notifier } from "../src/Notifier.js"
import { ServerConfig, type ServerSettings } from "../src/ServerConfig.js"
import { freshDatabase, serverUrl, temporaryDirectory, TestServerOn, testSettings } from "../src/Testing.js"
import { leaseForm, manifest, orderForm } from "./Fixtures.js"
import { ownPostgres } from "./OwnPostgres.js"

const quiet: Partial<ServerSettings> = { pollFallbackSeconds: 60, reaperIntervalSeconds: 3600 }

/** A server on `databaseUrl` with `overrides` for the life of the scope; yields its base URL and its keys. */
const serverOn = (databaseUrl: string, overrides: Partial<ServerSettings> = quiet) =>
  Effect.flatMap(
    Layer.build(TestServerOn(databaseUrl, overrides)),
    (context) => Effect.provide(Effect.all({ url: serverUrl, keys: ApiKeys }), context)
  )

/** An executor that published a fresh agent, and a buyer, made on `server`, with clients of it. */
const marketOn = ({ keys, url }: Effect.Effect.Success<ReturnType<typeof serverOn>>) =>
  Effect.gen(function*() {
    const [executorKey, buyerKey] = [yield* keys.create({ role: "executor" }), yield* keys.create({ role: "buyer" })]
    const agentId: AgentId = makeAgentId()
    const executor = yield* makeApiClient({ baseUrl: url, key: executorKey.key })
    yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Notified") })
    const buyer = yield* makeApiClient({ baseUrl: url, key: buyerKey.key })
    return { agentId, executorKey, buyerKey, executor, buyer }
  })

type Market = Effect.Effect.Success<ReturnType<typeof marketOn>>

/** A job of `market` claimed and running; yields its id and lease. */
const runningJob = ({ agentId, buyer, executor }: Market) =>
  Effect.gen(function*() {
    const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
    const claimed = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "notified", wait: 0 } })
    const leaseId = claimed.claimed?.lease.lease_id ?? LeaseId.make("")
    yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: leaseId } })
    return { jobId: job.job_id, leaseId }
  })

/** The events of `jobId` after the last one now, held up to 30 s by `follower` (a client of any server). */
const follow = (follower: Market["buyer"], jobId: JobId) =>
  Effect.gen(function*() {
    const now = yield* follower.jobs.events({ path: { job_id: jobId }, urlParams: { after: 0, limit: 500, wait: 0 } })
    return yield* Effect.fork(
      follower.jobs.events({ path: { job_id: jobId }, urlParams: { after: now.next_cursor, limit: 500, wait: 30 } })
    )
  })

/**
 * A running job ordered and reported on one server, followed by its buyer
 * through another (with `overrides`) while `act` runs; yields the page the
 * follower got.
 */
const followedElsewhere = <E, R>(
  overrides: Partial<ServerSettings>,
  act: (market: Market, job: Effect.Effect.Success<ReturnType<typeof runningJob>>) => Effect.Effect<unknown, E, R>
) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
    const [serverA, serverB] = [yield* serverOn(databaseUrl), yield* serverOn(databaseUrl, overrides)]
    const market = yield* marketOn(serverA)
    const job = yield* runningJob(market)
    const following = yield* follow(yield* makeApiClient({ baseUrl: serverB.url, key: market.buyerKey.key }), job.jobId)
    yield* Effect.sleep("500 millis")
    yield* act(market, job)
    return yield* Fiber.join(following)
  })

/**
 * A LISTEN connection to `databaseUrl` on `channels`, closed with the
 * scope; `drained` yields what it received once a NOTIFY sent after it
 * came through (notifications arrive in commit order).
 */
const listenerOn = (databaseUrl: string, channels: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const received: Array<readonly [string, string]> = []
    const client = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new Pg.Client({ connectionString: databaseUrl })
        client.on("error", () => {})
        await client.connect()
        client.on("notification", (message) => received.push([message.channel, message.payload ?? ""]))
        await client.query([...channels, "agnt_sentinel"].map((channel) => `LISTEN ${channel}`).join("; "))
        return client
      }),
      (client) => Effect.promise(() => client.end().catch(() => undefined))
    )
    const drained = Effect.gen(function*() {
      yield* Effect.promise(() => client.query("NOTIFY agnt_sentinel"))
      yield* Effect.sync(() => received.some(([channel]) => channel === "agnt_sentinel")).pipe(
        Effect.filterOrFail((arrived) => arrived),
        Effect.retry(Schedule.spaced("20 millis"))
      )
      return received.filter(([channel]) => channel !== "agnt_sentinel")
    })
    return { drained }
  })

/** A Notifier of its own on `databaseUrl` (its own LISTEN connection), with `overrides`, for the life of the scope. */
const notifierOn = (databaseUrl: string, overrides: Partial<ServerSettings> = quiet) =>
  Effect.gen(function*() {
    const dir = yield* temporaryDirectory("agnt-test-notifier-")
    const layer = Notifier.Default.pipe(
      Layer.provideMerge(pgLayer(Redacted.make(databaseUrl))),
      Layer.provide(ServerConfig.make(testSettings(dir, databaseUrl, overrides)))
    )
    return yield* Effect.provide(Effect.all([Notifier, SqlClient.SqlClient]), yield* Layer.build(layer))
  })

describe("notifier", () => {
  it.scopedLive("a claim long-polling on one server is handed a job ordered on another, by NOTIFY", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      const [serverA, serverB] = [yield* serverOn(databaseUrl), yield* serverOn(databaseUrl)]
      const market = yield* marketOn(serverA)
      const executorOnB = yield* makeApiClient({ baseUrl: serverB.url, key: market.executorKey.key })
      const claiming = yield* Effect.fork(
        executorOnB.executor.claim({ payload: { agent_id: market.agentId, executor_id: "on-b", wait: 30 } })
      )
      yield* Effect.sleep("500 millis")
      const job = yield* market.buyer.jobs.create({ headers: {}, payload: orderForm(market.agentId, { level: 1 }) })
      expect((yield* Fiber.join(claiming)).claimed?.job.job_id).toBe(job.job_id)
    }).pipe(Effect.provide(FetchHttpClient.layer)), beforeTheWaitEnds)

  it.scopedLive(
    "a buyer following a job on the server its executor reports to sees a log batch at once (no NOTIFY for logs)",
    () =>
      Effect.gen(function*() {
        const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
        const server = yield* serverOn(databaseUrl)
        const market = yield* marketOn(server)
        const { jobId, leaseId } = yield* runningJob(market)
        const following = yield* follow(market.buyer, jobId)
        yield* Effect.sleep("500 millis")
        yield* market.executor.executor.logs({ path: { job_id: jobId }, payload: { lease_id: leaseId, lines: ["one", "two"] } })
        const page = yield* Fiber.join(following)
        expect(page.data.map((event) => event.type)).toEqual(["log"])
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    beforeTheWaitEnds
  )

  it.scopedLive("a follower on another server sees the job end by NOTIFY", () =>
    Effect.gen(function*() {
      const page = yield* followedElsewhere(
        quiet,
        ({ executor }, { jobId, leaseId }) => executor.executor.complete({ path: { job_id: jobId }, payload: leaseForm(leaseId) })
      )
      const statuses = page.data.map((event) => event.status)
      expect([page.status, statuses]).toEqual(["completed", ["completed"]])
    }).pipe(Effect.provide(FetchHttpClient.layer)), beforeTheWaitEnds)

  it.scopedLive("a follower on another server sees a log batch at its fallback re-check", () =>
    Effect.gen(function*() {
      const page = yield* followedElsewhere(
        { ...quiet, pollFallbackSeconds: 1 },
        ({ executor }, { jobId, leaseId }) =>
          executor.executor.logs({ path: { job_id: jobId }, payload: { lease_id: leaseId, lines: ["one"] } })
      )
      const types = page.data.map((event) => event.type)
      expect(types).toEqual(["log"])
    }).pipe(Effect.provide(FetchHttpClient.layer)), beforeTheWaitEnds)

  it.scopedLive(
    "a job's whole lifecycle notifies agnt_pending once and agnt_events once (its end), however many events it appends; a cancel request notifies",
    () =>
      Effect.gen(function*() {
        const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
        const server = yield* serverOn(databaseUrl)
        const market = yield* marketOn(server)
        const listener = yield* listenerOn(databaseUrl, ["agnt_pending", "agnt_events"])
        const done = yield* runningJob(market)
        const status = { status: "running", lease_id: done.leaseId, progress: 50, message: "half" } as const
        yield* market.executor.executor.status({ path: { job_id: done.jobId }, payload: status })
        for (const line of ["one", "two", "three"]) {
          yield* market.executor.executor.logs({ path: { job_id: done.jobId }, payload: { lease_id: done.leaseId, lines: [line] } })
        }
        yield* market.executor.executor.heartbeat({ path: { job_id: done.jobId }, payload: { lease_id: done.leaseId } })
        yield* market.executor.executor.complete({ path: { job_id: done.jobId }, payload: leaseForm(done.leaseId) })
        const canceled = yield* runningJob(market)
        yield* market.buyer.jobs.cancel({ path: { job_id: canceled.jobId } })
        yield* market.executor.executor.status({
          path: { job_id: canceled.jobId },
          payload: { status: "canceled", lease_id: canceled.leaseId }
        })
        expect(yield* listener.drained).toEqual([
          ["agnt_pending", market.agentId],
          ["agnt_events", done.jobId],
          ["agnt_pending", market.agentId],
          ["agnt_events", canceled.jobId],
          ["agnt_events", canceled.jobId]
        ])
      }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  it.scopedLive("a notification for one job re-runs the attempts of that job's long-polls only", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      const [notifier, sql] = yield* notifierOn(databaseUrl)
      /** A long-poll of `key` counting its attempts; it succeeds on its second. */
      const poll = (key: string) =>
        Effect.gen(function*() {
          const attempts = yield* Ref.make(0)
          const waiting = yield* Deferred.make<void>()
          const attempt = Effect.map(Ref.updateAndGet(attempts, (n) => n + 1), (n) => n > 1 ? Option.some(n) : Option.none())
          const fiber = yield* Effect.fork(
            notifier.longPoll("agnt_events", key, 30, Effect.tap(attempt, () => Deferred.succeed(waiting, undefined)))
          )
          yield* Deferred.await(waiting)
          return { attempts, fiber }
        })
      const [x, y] = [yield* poll("job_x"), yield* poll("job_y")]
      yield* sql`SELECT pg_notify('agnt_events', 'job_x')`
      yield* sql`SELECT pg_notify('agnt_pending', 'job_y')`
      expect(yield* Fiber.join(x.fiber)).toEqual(Option.some(2))
      // A later notification for another key came through, and y's fiber had time to run had it been woken: it was not.
      const w = yield* poll("job_w")
      yield* sql`SELECT pg_notify('agnt_events', 'job_w')`
      expect(yield* Fiber.join(w.fiber)).toEqual(Option.some(2))
      yield* Effect.sleep("200 millis")
      expect(yield* Ref.get(y.attempts)).toBe(1)
      yield* sql`SELECT pg_notify('agnt_events', 'job_y')`
      expect(yield* Fiber.join(y.fiber)).toEqual(Option.some(2))
      expect(notifier.stats().received).toMatchObject({ agnt_events: 3, agnt_pending: 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("revoking a key, or giving it another agent, calls the handlers registered with onKeyChanged with its id, once each", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      const { buyerKey, executorKey } = yield* marketOn(yield* serverOn(databaseUrl))
      const [notifier, sql] = yield* notifierOn(databaseUrl)
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const both = yield* Deferred.make<ReadonlyArray<string>>()
      yield* notifier.onKeyChanged((keyId) =>
        Effect.flatMap(
          Ref.updateAndGet(seen, (ids) => [...ids, keyId]),
          (ids) => ids.length === 3 ? Deferred.succeed(both, ids) : Effect.void
        )
      )
      const [buyer, executor] = [buyerKey.info.key_id, executorKey.info.key_id]
      yield* sql`UPDATE api_keys SET revoked_at = now() WHERE key_id = ${buyer}`
      // Neither a second revocation of the same key nor another change of keys notifies…
      yield* sql`UPDATE api_keys SET revoked_at = now() WHERE key_id = ${buyer}`
      yield* sql`UPDATE api_keys SET label = 'renamed'`
      // …but another set of agents does.
      yield* sql`UPDATE api_keys SET agent_ids = array_append(agent_ids, 'agent_other') WHERE key_id = ${executor}`
      yield* sql`UPDATE api_keys SET revoked_at = now() WHERE key_id = ${executor}`
      expect(yield* Deferred.await(both)).toEqual([buyer, executor, executor])
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive(
    "after its LISTEN connection is re-established, the handlers of onKeyChanged are called with * (revocations in the gap were missed)",
    () =>
      Effect.gen(function*() {
        const postgres = yield* ownPostgres
        const [notifier] = yield* notifierOn(yield* freshDatabase(postgres.adminUrl))
        const told = yield* Deferred.make<string>()
        yield* notifier.onKeyChanged((keyId) => Deferred.succeed(told, keyId))
        yield* postgres.stop
        yield* postgres.start
        expect(yield* Deferred.await(told)).toBe(everyKey)
        expect(notifier.stats().reconnects).toBe(1)
      }),
    120_000
  )
})
