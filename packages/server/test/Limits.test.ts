/**
 * Every configurable limit (OWASP API4, unrestricted resource consumption)
 * answers with its typed error, and a refusal loses nothing accepted
 * before it. Small limits through `TestServerLive(…, overrides)`.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Either, Layer, Queue, Schedule, Stream } from "effect"
import { inject } from "vitest"
import { makeAgentId } from "../src/Ids.js"
import type { ServerSettings } from "../src/ServerConfig.js"
import { serverUrl, TestServerLive } from "../src/Testing.js"
import { order } from "./Fixtures.js"
import { actor, openMarket as market } from "./support.js"

type Caller = Effect.Effect.Success<ReturnType<typeof actor>>

const kib = 1024

const limits = {
  maxBodyBytes: 48 * kib,
  maxFileBytes: 8 * kib,
  maxFiles: 4,
  maxJobBytes: 20 * kib,
  maxPromptChars: 1000,
  maxParamsBytes: 512,
  maxLongPollsPerKey: 2
} satisfies Partial<ServerSettings>

const serverWith = (overrides: Partial<ServerSettings>) =>
  TestServerLive(inject("pgAdminUrl"), overrides).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** `count` files named `f<i>.txt` of `size` bytes each. */
const filesOf = (count: number, size: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`f${i}.txt`, String.fromCharCode(97 + i).repeat(size)]))

/** A raw request's status, headers and JSON body. */
const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.execute(request)
    const text = yield* response.text
    return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) as unknown }
  })

const withKey = (key: string) => HttpClientRequest.bearerToken(key)

layer(serverWith(limits), { timeout: 60_000, excludeTestServices: true })("request and upload limits", (it) => {
  describe("bodies and uploads", () => {
    it.effect("a JSON body over maxBodyBytes is 413 PayloadTooLarge with the body limit", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const url = yield* serverUrl
        const response = yield* send(
          HttpClientRequest.post(`${url}/v1/jobs`).pipe(
            withKey(buyer.key),
            HttpClientRequest.bodyUnsafeJson({ agent_id: agentId, prompt: "p".repeat(limits.maxBodyBytes + kib), params: {} })
          )
        )
        expect(response.status).toBe(413)
        expect(response.body).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxBodyBytes })
      }))

    it.effect("a multipart body over maxBodyBytes is 413 PayloadTooLarge", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const result = yield* buyer.client.jobs.create({
          headers: {},
          payload: order(agentId, { prompt: "p".repeat(limits.maxBodyBytes + kib) })
        }).pipe(Effect.flip)
        expect(result).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxBodyBytes })
      }))

    it.effect("a prompt over maxPromptChars is 413 PayloadTooLarge naming the character limit", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const result = yield* buyer.client.jobs.create({
          headers: {},
          payload: order(agentId, { prompt: "p".repeat(limits.maxPromptChars + 1) })
        }).pipe(Effect.flip)
        expect(result).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxPromptChars })
        // Exactly at the limit is accepted.
        yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { prompt: "p".repeat(limits.maxPromptChars) }) })
      }))

    it.effect("params over maxParamsBytes of JSON are 413 PayloadTooLarge, in a form or a JSON body", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const params = { note: "n".repeat(limits.maxParamsBytes) }
        const form = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { params }) }).pipe(Effect.flip)
        expect(form).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxParamsBytes })
        const url = yield* serverUrl
        const json = yield* send(
          HttpClientRequest.post(`${url}/v1/jobs`).pipe(
            withKey(buyer.key),
            HttpClientRequest.bodyUnsafeJson({ agent_id: agentId, prompt: "p", params })
          )
        )
        expect(json.status).toBe(413)
        expect(json.body).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxParamsBytes })
      }))

    it.effect("an input file over maxFileBytes is 413 PayloadTooLarge with the per-file limit", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const result = yield* buyer.client.jobs.create({
          headers: {},
          payload: order(agentId, { files: { "big.txt": "b".repeat(limits.maxFileBytes + 1) } })
        }).pipe(Effect.flip)
        expect(result).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxFileBytes })
      }))

    it.effect("a file over maxFileBytes after other files is refused with 413, never dropped from an accepted job", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const result = yield* buyer.client.jobs.create({
          headers: {},
          payload: order(agentId, { files: { "a.txt": "small", "z-big.txt": "b".repeat(limits.maxFileBytes + 1) } })
        }).pipe(Effect.either)
        expect(Either.isLeft(result) ? result.left : result.right).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxFileBytes })
        expect((yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })).data).toEqual([])
      }))

    it.effect("a chunked JSON body (no Content-Length) over maxBodyBytes is 413 PayloadTooLarge", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const url = yield* serverUrl
        const text = JSON.stringify({ agent_id: agentId, prompt: "p".repeat(limits.maxBodyBytes + kib), params: {} })
        const chunks = Array.from({ length: Math.ceil(text.length / 4096) }, (_, i) =>
          new TextEncoder().encode(text.slice(i * 4096, (i + 1) * 4096)))
        const response = yield* send(
          HttpClientRequest.post(`${url}/v1/jobs`).pipe(
            withKey(buyer.key),
            HttpClientRequest.bodyStream(Stream.fromIterable(chunks), { contentType: "application/json" })
          )
        )
        expect(response.status).toBe(413)
        expect(response.body).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxBodyBytes })
      }))

    it.effect("a chunked multipart body (no Content-Length) is held to the same limits: a big file and a big body are 413", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const url = yield* serverUrl
        const boundary = "agnt-test-boundary"
        const part = (name: string, value: string, filename?: string) =>
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${
            filename === undefined ? "" : `; filename="${filename}"`
          }\r\n\r\n${value}\r\n`
        const chunked = (parts: ReadonlyArray<string>) => {
          const text = `${parts.join("")}--${boundary}--\r\n`
          const chunks = Array.from(
            { length: Math.ceil(text.length / 1000) },
            (_, i) => new TextEncoder().encode(text.slice(i * 1000, (i + 1) * 1000))
          )
          return send(
            HttpClientRequest.post(`${url}/v1/jobs`).pipe(
              withKey(buyer.key),
              HttpClientRequest.bodyStream(Stream.fromIterable(chunks), { contentType: `multipart/form-data; boundary=${boundary}` })
            )
          )
        }
        const fields = [part("agent_id", agentId), part("prompt", "chunked")]
        const bigFile = yield* chunked([
          ...fields,
          part("files", "small", "a.txt"),
          part("files", "b".repeat(limits.maxFileBytes + 1), "big.txt")
        ])
        expect(bigFile.status).toBe(413)
        expect(bigFile.body).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxFileBytes })
        // Files are held to the per-file limit as they stream, so the body limit is reached through a field.
        const bigBody = yield* chunked([
          part("agent_id", agentId),
          part("files", "small", "a.txt"),
          part("prompt", "b".repeat(limits.maxBodyBytes + kib))
        ])
        expect(bigBody.status).toBe(413)
        expect(bigBody.body).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxBodyBytes })
        const fine = yield* chunked([...fields, part("files", "small", "a.txt")])
        expect(fine.status).toBe(201)
        expect((yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })).data.map((job) => job.prompt)).toEqual(["chunked"])
      }))

    it.effect("a result file over maxFileBytes is 413 PayloadTooLarge and the job stays running", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        const { lease } = yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
        yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
        const form = new FormData()
        form.append("lease_id", lease.lease_id)
        form.append("files", new Blob(["r".repeat(limits.maxFileBytes + 1)]), "huge.txt")
        const result = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: form }).pipe(Effect.flip)
        expect(result).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxFileBytes })
        expect((yield* buyer.client.jobs.get({ path: { job_id: job.job_id } })).status).toBe("running")
      }))

    it.effect("input files over maxJobBytes together are 413 PayloadTooLarge with the per-job limit", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        // Three files each under the per-file limit, together over the per-job one.
        const result = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { files: filesOf(3, 7 * kib) }) }).pipe(
          Effect.flip
        )
        expect(result).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxJobBytes })
      }))

    it.effect("more than maxFiles files are 413 PayloadTooLarge with the file-count limit in body and message; maxFiles are accepted", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const result = yield* buyer.client.jobs.create({
          headers: {},
          payload: order(agentId, { files: filesOf(limits.maxFiles + 1, 10) })
        }).pipe(Effect.flip)
        expect(result).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxFiles, message: "at most 4 files per job" })
        // So many parts that the multipart parser stops reading says the same limit.
        const flood = yield* buyer.client.jobs.create({
          headers: {},
          payload: order(agentId, { files: filesOf(limits.maxFiles + 40, 1) })
        }).pipe(Effect.flip)
        expect(flood).toMatchObject({ _tag: "PayloadTooLarge", limit: limits.maxFiles })
        expect(flood.message).toContain("at most 4 files per job")
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { files: filesOf(limits.maxFiles, 10) }) })
        expect(job.input_files).toHaveLength(limits.maxFiles)
      }))

    it.effect("after every kind of refusal, the job accepted before is intact and no refused order left a job or file", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const sql = yield* SqlClient.SqlClient
        const files = { "keep/a.txt": "alpha\n", "keep/b.txt": "beta\n" }
        const kept = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { files }) })
        const jobsBefore = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs`
        const filesBefore = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM job_files`

        const refusals = [
          order(agentId, { prompt: "p".repeat(limits.maxBodyBytes + kib) }),
          order(agentId, { prompt: "p".repeat(limits.maxPromptChars + 1), files }),
          order(agentId, { params: { note: "n".repeat(limits.maxParamsBytes) }, files }),
          order(agentId, { files: { ...files, "big.txt": "b".repeat(limits.maxFileBytes + 1) } }),
          order(agentId, { files: filesOf(3, 7 * kib) }),
          order(agentId, { files: filesOf(limits.maxFiles + 1, 10) })
        ]
        for (const payload of refusals) {
          const refused = yield* buyer.client.jobs.create({ headers: {}, payload }).pipe(Effect.flip)
          expect(refused._tag).toBe("PayloadTooLarge")
        }

        const listed = yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })
        expect(listed.data.map((job) => job.job_id)).toEqual([kept.job_id])
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs`)[0]?.n).toBe(jobsBefore[0]?.n)
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM job_files`)[0]?.n).toBe(filesBefore[0]?.n)
        const current = yield* buyer.client.jobs.get({ path: { job_id: kept.job_id } })
        expect(current).toEqual(kept)
        for (const file of kept.input_files) {
          const bytes = yield* executor.client.jobs.download({ path: { job_id: kept.job_id, file_id: file.file_id } })
          expect(new TextDecoder().decode(bytes)).toBe(files[file.path as keyof typeof files])
        }
      }))
  })

  describe("list sizes", () => {
    it.effect("a list limit over 100 (or under 1) is 400, on every list endpoint; 100 is accepted", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const url = yield* serverUrl
        const get = (path: string, key: string) => send(HttpClientRequest.get(`${url}${path}`).pipe(withKey(key)))
        for (
          const [path, key] of [
            ["/v1/jobs", buyer.key],
            ["/v1/agents/search", buyer.key],
            [`/v1/executor/jobs?agent_id=${agentId}&`, executor.key]
          ] as const
        ) {
          const separator = path.endsWith("&") ? "" : "?"
          for (const limit of [101, 1000, 0]) {
            const response = yield* get(`${path}${separator}limit=${limit}`, key)
            expect(response.status, `${path} limit=${limit}`).toBe(400)
            expect(response.body, `${path} limit=${limit}`).toMatchObject({ _tag: "HttpApiDecodeError" })
          }
          expect((yield* get(`${path}${separator}limit=100`, key)).status, path).toBe(200)
        }
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        const events = yield* get(`/v1/jobs/${job.job_id}/events?limit=501`, buyer.key)
        expect(events.status).toBe(400)
      }))
  })

  describe("long-polls", () => {
    /** Fork `count` claims of `agentId` by `caller` that wait up to 30 s, and wait until each holds its long-poll. */
    const holdClaims = (caller: Caller, agentId: AgentId, count: number) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const done = yield* Queue.unbounded<string | null>()
        const prefix = `holder-${agentId}`
        for (let i = 0; i < count; i++) {
          yield* caller.client.executor.claim({ payload: { agent_id: agentId, executor_id: `${prefix}-${i}`, wait: 30 } }).pipe(
            Effect.flatMap((response) => Queue.offer(done, response.claimed?.job.job_id ?? null)),
            Effect.forkScoped
          )
        }
        // A claim that finds no job takes one of its key's long-poll slots: wait until all hold theirs, so that no
        // probe that follows takes a slot one of them still has to take (it would then be the one refused).
        const subject = `long-poll:${caller.info.key_id}`
        yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM limit_slots WHERE subject = ${subject} AND expires_at > now()`.pipe(
          Effect.filterOrFail((rows) => rows[0]?.n === count),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 })
        )
        return done
      })

    /** Retry `probe` (a long-poll that returns at once when let in) until it is refused with RateLimited. */
    const untilRateLimited = <A, E extends { readonly _tag: string }, R>(probe: Effect.Effect<A, E, R>) =>
      probe.pipe(
        Effect.flip,
        Effect.filterOrFail((error) => error._tag === "RateLimited"),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 50 })
      )

    it.scoped("once maxLongPollsPerKey long-polls are held open, the next is 429 RateLimited; when one ends, a new one is let in", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const done = yield* holdClaims(executor, agentId, limits.maxLongPollsPerKey)
        // A claim that would wait (one answered at once holds no slot).
        const another = executor.client.executor.claim({ payload: { agent_id: agentId, executor_id: "another", wait: 1 } })
        const refused = yield* untilRateLimited(another)
        expect(refused).toMatchObject({ _tag: "RateLimited", retry_after_seconds: 1 })

        // Other keys are not held back by this one's polls.
        const other = yield* actor("executor", [agentId])
        const listed = yield* other.client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } })
        expect(listed.data).toEqual([])

        // An order ends one of the held polls; its slot is free again.
        const first = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        expect(yield* Queue.take(done)).toBe(first.job_id)
        expect((yield* another).claimed).toBeNull()
        const second = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        expect(yield* Queue.take(done)).toBe(second.job_id)
      }))

    it.scoped("claims, pending-job lists and job-event long-polls share one per-key count", () =>
      Effect.gen(function*() {
        const { agentId } = yield* market
        const admin = yield* actor("admin")
        // A job on another agent to watch, so that the held claims do not take it.
        const elsewhere = makeAgentId()
        yield* admin.client.agents.publish({
          path: { agent_id: elsewhere },
          payload: new AgentManifest({ name: "Elsewhere", description: "", tags: [], input_schema: {} })
        })
        const watched = yield* admin.client.jobs.create({ headers: {}, payload: order(elsewhere) })
        const done = yield* holdClaims(admin, agentId, limits.maxLongPollsPerKey)

        const events = admin.client.jobs.events({
          path: { job_id: watched.job_id },
          urlParams: { after: 1_000_000_000, limit: 100, wait: 1 }
        })
        expect(yield* untilRateLimited(events)).toMatchObject({ _tag: "RateLimited" })
        // A list that waits: nothing is pending for the held claims' agent.
        const pending = admin.client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 1 } })
        expect(yield* untilRateLimited(pending)).toMatchObject({ _tag: "RateLimited" })

        // Orders end the held claims; then the event long-poll is let in again.
        for (let i = 0; i < limits.maxLongPollsPerKey; i++) {
          const job = yield* admin.client.jobs.create({ headers: {}, payload: order(agentId) })
          expect(yield* Queue.take(done)).toBe(job.job_id)
        }
        expect((yield* events).data).toEqual([])
        expect((yield* pending).data).toEqual([])
      }))
  })
})

layer(serverWith({ rateLimitPerSecond: 0.01, rateLimitBurst: 5, addressRateLimitPerSecond: 0.01, addressRateLimitBurst: 5 }), {
  timeout: 60_000,
  excludeTestServices: true
})("request rate", (it) => {
  it.effect("past its burst a key gets 429 RateLimited with a Retry-After header; other keys and earlier work are unaffected", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const buyer = yield* actor("buyer")
      const admin = yield* actor("admin")
      const executor = yield* actor("executor")
      const agentId = makeAgentId()
      // 1 request: publish.
      const published = yield* send(
        HttpClientRequest.put(`${url}/v1/agents/${agentId}`).pipe(
          withKey(executor.key),
          HttpClientRequest.bodyUnsafeJson({ name: "Rated", description: "", tags: [], input_schema: {} })
        )
      )
      expect(published.status).toBe(200)
      // 1 request: an order, accepted.
      const ordered = yield* send(
        HttpClientRequest.post(`${url}/v1/jobs`).pipe(
          withKey(buyer.key),
          HttpClientRequest.bodyUnsafeJson({ agent_id: agentId, prompt: "keep me", params: {} })
        )
      )
      expect(ordered.status).toBe(201)
      const list = (key: string) => send(HttpClientRequest.get(`${url}/v1/jobs`).pipe(withKey(key)))
      // 4 more requests use up the burst of 5.
      for (let i = 0; i < 4; i++) expect((yield* list(buyer.key)).status).toBe(200)
      const limited = yield* list(buyer.key)
      expect(limited.status).toBe(429)
      expect(limited.body).toMatchObject({ _tag: "RateLimited" })
      const retryAfter = limited.headers["retry-after"] ?? ""
      expect(retryAfter).toMatch(/^[1-9][0-9]*$/)
      expect(limited.body).toMatchObject({ retry_after_seconds: Number(retryAfter) })
      // Still limited on the next try, whatever the endpoint.
      const refusedOrder = yield* send(
        HttpClientRequest.post(`${url}/v1/jobs`).pipe(
          withKey(buyer.key),
          HttpClientRequest.bodyUnsafeJson({ agent_id: agentId, prompt: "refused", params: {} })
        )
      )
      expect(refusedOrder.status).toBe(429)

      // Another key has its own bucket, and sees that the accepted order is intact and the refused one never happened.
      const seen = yield* list(admin.key)
      expect(seen.status).toBe(200)
      const prompts = (seen.body as { data: ReadonlyArray<{ prompt: string; status: string }> }).data.map((job) => [job.prompt, job.status])
      expect(prompts).toEqual([["keep me", "pending"]])
    }))

  it.effect("requests without a key are counted per remote address and get 429 past the burst", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const statuses: Array<number> = []
      for (let i = 0; i < 7; i++) statuses.push((yield* send(HttpClientRequest.get(`${url}/v1/agents/search`))).status)
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
      expect(statuses.slice(5)).toEqual([429, 429])
      // With no trusted proxy, X-Forwarded-For is the client's own word: it cannot buy a fresh allowance.
      const spoofed = yield* send(
        HttpClientRequest.get(`${url}/v1/agents/search`).pipe(HttpClientRequest.setHeader("x-forwarded-for", "203.0.113.9"))
      )
      expect(spoofed.status).toBe(429)
    }))
})

/** Keyless requests from `forwardedFor`, as a proxy in front of the server forwards them. */
const viaProxy = (url: string, forwardedFor: string) =>
  Effect.map(
    send(HttpClientRequest.get(`${url}/v1/agents/search`).pipe(HttpClientRequest.setHeader("x-forwarded-for", forwardedFor))),
    (response) => response.status
  )

layer(serverWith({ addressRateLimitPerSecond: 0.01, addressRateLimitBurst: 3, trustedProxies: ["127.0.0.0/8", "::1"] }), {
  excludeTestServices: true
})("behind trusted proxies (AGNT_TRUSTED_PROXIES)", (it) => {
  it.effect(
    "keyless requests count against the address the proxy recorded, the nearest untrusted one in X-Forwarded-For, which a client cannot choose",
    () =>
      Effect.gen(function*() {
        const url = yield* serverUrl
        const first: Array<number> = []
        for (let i = 0; i < 4; i++) first.push(yield* viaProxy(url, "198.51.100.1"))
        expect(first).toEqual([401, 401, 401, 429])
        // Another client behind the same proxy has its own allowance.
        expect(yield* viaProxy(url, "198.51.100.2")).toBe(401)
        // The refused client writes a fresh address itself; the proxy appends the real one, which is what counts.
        expect(yield* viaProxy(url, "203.0.113.50, 198.51.100.1")).toBe(429)
        // A second trusted proxy in the chain (loopback) is skipped, not counted as the client.
        expect(yield* viaProxy(url, "198.51.100.1, 127.0.0.2")).toBe(429)
        expect(yield* viaProxy(url, "198.51.100.3, 127.0.0.2")).toBe(401)
      })
  )
})
