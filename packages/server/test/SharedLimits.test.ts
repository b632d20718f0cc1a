/**
 * The abuse limits hold across API instances and count only verified keys
 * (DESIGN.md "Auth"): two real servers on one database share a key's
 * request rate and its long-poll count, a key id sent with a wrong secret
 * spends its caller's address allowance and none of the key's, and slots
 * left by an instance that died free themselves when they expire.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schedule } from "effect"
import { inject } from "vitest"
import { ApiKeys, principalCacheSeconds } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { reservationSize } from "../src/RateLimits.js"
import type { ServerSettings } from "../src/ServerConfig.js"
import { freshDatabase, serverUrl, TestServerOn } from "../src/Testing.js"
import { manifest } from "./Fixtures.js"

/** Two servers on one fresh database, each with `overrides`: their URLs, and keys and SQL through the first. */
const twoServers = (overrides: Partial<ServerSettings>) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
    const first = yield* Layer.build(TestServerOn(databaseUrl, overrides))
    const second = yield* Layer.build(TestServerOn(databaseUrl, overrides))
    const urls = [yield* Effect.provide(serverUrl, first), yield* Effect.provide(serverUrl, second)] as const
    const keys = Context.get(first, ApiKeys)
    const sql = Context.get(first, SqlClient.SqlClient)
    return { urls, keys, sql }
  })

/** `method path` on `url` with `key` (and a JSON `body`); the status and the parsed body. */
const call = (url: string, key: string, path: string, init: { readonly method?: string; readonly body?: unknown } = {}) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
    })
    const text = await response.text()
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      body: text === "" ? null : JSON.parse(text) as unknown
    }
  })

/** `count` listings of jobs with `key`, alternating between `urls`; their statuses in order. */
const alternate = (urls: ReadonlyArray<string>, key: string, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => urls[i % urls.length] ?? ""),
    (url) => Effect.map(call(url, key, "/v1/jobs"), (response) => response.status)
  )

describe("limits shared by API instances", () => {
  it.scopedLive("a key's requests split across two instances are refused at the one shared burst, not at twice it", () =>
    Effect.gen(function*() {
      const { keys, urls } = yield* twoServers({ rateLimitPerSecond: 0.01, rateLimitBurst: 10 })
      const buyer = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const statuses = yield* alternate(urls, buyer, 30)
      expect(statuses.filter((status) => status === 200)).toHaveLength(10)
      expect(statuses.slice(10).every((status) => status === 429)).toBe(true)
      // Both instances refuse, with the domain error and Retry-After.
      for (const url of urls) {
        const refused = yield* call(url, buyer, "/v1/jobs")
        expect(refused.status).toBe(429)
        expect(refused.body).toMatchObject({ _tag: "RateLimited" })
        expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
      }
      // Refusals are counted in /metrics.
      const metrics = yield* Effect.promise(() => fetch(`${urls[0]}/metrics`).then((response) => response.text()))
      expect(Number(/^agnt_rate_limited_total\{limit="key"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(20)
      // Another key has its own allowance.
      const other = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      expect((yield* call(urls[1], other, "/v1/jobs")).status).toBe(200)
    }))

  it.scopedLive("a rate spent in reservations never lets a key past its burst, and lets it within a reservation of it per instance", () =>
    Effect.gen(function*() {
      const burst = 40
      const size = reservationSize({ perSecond: 0.01, burst })
      expect(size).toBe(2)
      const { keys, urls } = yield* twoServers({ rateLimitPerSecond: 0.01, rateLimitBurst: burst })
      const buyer = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const statuses = yield* alternate(urls, buyer, 60)
      const allowed = statuses.filter((status) => status === 200).length
      expect(allowed).toBeLessThanOrEqual(burst)
      expect(allowed).toBeGreaterThanOrEqual(burst - urls.length * (size - 1))
      expect(statuses.slice(allowed).every((status) => status === 429)).toBe(true)
    }))

  it.scopedLive("concurrent requests of one key spend one request each: a burst's worth sent at once on one instance is all answered, and the next is refused", () =>
    Effect.gen(function*() {
      const burst = 100
      expect(reservationSize({ perSecond: 0.01, burst })).toBe(5)
      const { keys, urls } = yield* twoServers({ rateLimitPerSecond: 0.01, rateLimitBurst: burst })
      const buyer = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      // Each reservation of 5 serves the requests waiting for it, none is reserved and thrown away.
      const statuses = yield* Effect.forEach(
        Array.from({ length: burst }, () => urls[0]),
        (url) => Effect.map(call(url, buyer, "/v1/jobs"), (response) => response.status),
        { concurrency: "unbounded" }
      )
      expect(statuses.filter((status) => status !== 200)).toEqual([])
      expect((yield* call(urls[1], buyer, "/v1/jobs")).status).toBe(429)
    }))

  it.scopedLive("an executor key that publishes a new agent through one instance claims its jobs through another that remembered the key at once", () =>
    Effect.gen(function*() {
      const { keys, urls } = yield* twoServers({})
      const executor = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const first = makeAgentId()
      expect((yield* call(urls[0], executor, `/v1/agents/${first}`, { method: "PUT", body: manifest("First") })).status).toBe(200)
      const claim = (agentId: string) =>
        call(urls[1], executor, "/v1/executor/jobs/claim", { method: "POST", body: { agent_id: agentId, executor_id: "e", wait: 0 } })
      expect((yield* claim(first)).status).toBe(200)
      const second = makeAgentId()
      expect((yield* call(urls[0], executor, `/v1/agents/${second}`, { method: "PUT", body: manifest("Second") })).status).toBe(200)
      // The notification crosses in moments; a principal remembered without it would be Forbidden for seconds.
      const claimed = yield* claim(second).pipe(
        Effect.filterOrFail((response) => response.status === 200),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 20 })
      )
      expect(claimed.body).toEqual({ claimed: null })
    }))

  it.scopedLive("a key revoked through one instance is refused at once by another that remembered it (its notification makes it forget)", () =>
    Effect.gen(function*() {
      const { keys, urls } = yield* twoServers({})
      const created = yield* keys.create({ role: "buyer" })
      const buyer = Redacted.value(created.key)
      expect((yield* call(urls[1], buyer, "/v1/jobs")).status).toBe(200)
      expect(yield* keys.revoke(created.info.key_id)).toBe(true)
      expect((yield* call(urls[0], buyer, "/v1/jobs")).status).toBe(401)
      // The revocation's notification crosses in moments, well before the remembered principal would expire.
      const refused = yield* call(urls[1], buyer, "/v1/jobs").pipe(
        Effect.filterOrFail((response) => response.status === 401),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 20 })
      )
      expect(principalCacheSeconds).toBeGreaterThan(1)
      expect(refused.body).toMatchObject({ _tag: "Unauthorized" })
    }))

  it.scopedLive("a key id with the wrong secret spends nothing of that key's rate: it is 401, then 429 for its address, and the real key keeps its whole burst", () =>
    Effect.gen(function*() {
      const { keys, urls } = yield* twoServers({
        rateLimitPerSecond: 0.01,
        rateLimitBurst: 5,
        addressRateLimitPerSecond: 0.01,
        addressRateLimitBurst: 8
      })
      const buyer = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const forged = `${buyer.slice(0, buyer.lastIndexOf("_") + 1)}${"0".repeat(64)}`
      expect(forged).not.toBe(buyer)
      const forgedStatuses = yield* alternate(urls, forged, 20)
      expect(forgedStatuses.slice(0, 8)).toEqual(Array(8).fill(401))
      expect(forgedStatuses.slice(8)).toEqual(Array(12).fill(429))
      const refused = yield* call(urls[0], forged, "/v1/jobs")
      expect(refused.body).toMatchObject({ _tag: "RateLimited" })
      // Another scheme than Bearer is keyless: the same address allowance refuses it.
      const basic = yield* Effect.promise(() => fetch(`${urls[1]}/v1/jobs`, { headers: { authorization: "Basic YTpi" } }))
      expect(basic.status).toBe(429)

      // The same address, with the key's real secret: all 5 of its burst, then 429.
      const statuses = yield* alternate(urls, buyer, 7)
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429])
    }))

  it.scopedLive("long-polls held on one instance count against the key on the other, a claim answered at once holds none; slots of a dead instance free themselves at expiry", () =>
    Effect.gen(function*() {
      const { keys, sql, urls } = yield* twoServers({ maxLongPollsPerKey: 2 })
      const created = yield* keys.create({ role: "executor" })
      const executor = Redacted.value(created.key)
      const agentId = makeAgentId()
      expect((yield* call(urls[0], executor, `/v1/agents/${agentId}`, { method: "PUT", body: manifest("Polled") })).status)
        .toBe(200)
      const claim = (url: string, wait: number) =>
        call(url, executor, "/v1/executor/jobs/claim", { method: "POST", body: { agent_id: agentId, executor_id: "poller", wait } })

      // Two long-polls held on the first instance…
      const held = yield* Effect.forkScoped(Effect.all([claim(urls[0], 5), claim(urls[0], 5)], { concurrency: 2 }))
      const subject = `long-poll:${created.info.key_id}`
      yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM limit_slots WHERE subject = ${subject}`.pipe(
        Effect.filterOrFail((rows) => rows[0]?.n === 2),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
        Effect.orDie
      )
      // …fill the key's count on the second, for a claim that would wait (one answered at once holds no slot).
      expect((yield* claim(urls[1], 0)).status).toBe(200)
      const refused = yield* claim(urls[1], 1)
      expect(refused.status).toBe(429)
      expect(refused.body).toMatchObject({ _tag: "RateLimited", message: "at most 2 long-polls open per key" })
      expect(refused.retryAfter).toBe("1")
      const ended = yield* held.await
      expect(ended._tag).toBe("Success")
      expect((yield* claim(urls[1], 0)).status).toBe(200)

      // Slots held by an instance that died: refused until they expire, then free again.
      yield* sql`
        INSERT INTO limit_slots (subject, slot, holder, expires_at)
        VALUES (${subject}, 0, 'dead', now() + interval '1 hour'), (${subject}, 1, 'dead', now() + interval '1 hour')`
      expect((yield* claim(urls[1], 1)).status).toBe(429)
      yield* sql`UPDATE limit_slots SET expires_at = now() - interval '1 second' WHERE holder = 'dead'`
      expect((yield* claim(urls[1], 1)).status).toBe(200)
      expect((yield* claim(urls[0], 1)).status).toBe(200)
    }))
})
