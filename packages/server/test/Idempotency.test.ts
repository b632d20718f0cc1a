/**
 * Idempotent orders (`Idempotency-Key` on `POST /v1/jobs`, as Stripe and
 * draft-ietf-httpapi-idempotency-key-header) and idempotent executor
 * completion: a retry of the same request gets the same answer and changes
 * nothing; the same key with another request is 409.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId, JobId } from "@agnt/domain/Ids"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { makeAgentId } from "../src/Ids.js"
import { serverUrl } from "../src/Testing.js"
import { order } from "./Fixtures.js"
import { actor, openMarket as market, TestLive } from "./support.js"

type Caller = Effect.Effect.Success<ReturnType<typeof actor>>

const inputs = { "src/a.ts": "const a = 1\n", "src/b.ts": "let b = 2\n" }

const count = (sql: SqlClient.SqlClient, table: "jobs" | "job_files" | "job_events", jobIds: ReadonlyArray<JobId> | "all") =>
  Effect.map(
    jobIds === "all"
      ? sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`
      : sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)} WHERE job_id IN ${sql.in(jobIds)}`,
    (rows) => rows[0]?.n ?? -1
  )

/** A job of `agentId` accepted and running under `executor`'s lease. */
const running = (buyer: Caller, executor: Caller, agentId: AgentId) =>
  Effect.gen(function*() {
    const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
    const { lease } = yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
    yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
    return { job, lease_id: lease.lease_id }
  })

/** A completion form: the lease and `files` (name → content). */
const completion = (leaseId: string, files: Readonly<Record<string, string>>) => {
  const form = new FormData()
  form.append("lease_id", leaseId)
  form.append("message", "done")
  for (const [name, text] of Object.entries(files)) form.append("files", new Blob([text], { type: "text/markdown" }), name)
  return form
}

const completedEvents = (caller: Caller, jobId: JobId) =>
  Effect.map(
    caller.client.jobs.events({ path: { job_id: jobId }, urlParams: { after: 0, limit: 500, wait: 0 } }),
    (page) => page.data.filter((event) => event.type === "status" && event.status === "completed")
  )

layer(TestLive, { timeout: 60_000, excludeTestServices: true })("idempotency", (it) => {
  describe("orders with an Idempotency-Key", () => {
    it.effect("the same key with the same body and files returns the same job; one job, its files and one event exist", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const sql = yield* SqlClient.SqlClient
        const headers = { "idempotency-key": "order-1" }
        const first = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })
        const again = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })
        const third = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })
        expect(again).toEqual(first)
        expect(third).toEqual(first)
        const listed = yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })
        expect(listed.data.map((job) => job.job_id)).toEqual([first.job_id])
        expect(yield* count(sql, "job_files", [first.job_id])).toBe(2)
        expect(yield* count(sql, "job_events", [first.job_id])).toBe(1)
      }))

    it.effect("params that differ only in key order are the same request", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const headers = { "idempotency-key": "key-order" }
        const first = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { params: { a: 1, b: { c: 2, d: 3 } } }) })
        const again = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { params: { b: { d: 3, c: 2 }, a: 1 } }) })
        expect(again.job_id).toBe(first.job_id)
      }))

    it.effect("the same key with another prompt, params, file content, file name or agent is 409 IdempotencyConflict naming the first job", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const sql = yield* SqlClient.SqlClient
        const otherAgent = makeAgentId()
        yield* executor.client.agents.publish({
          path: { agent_id: otherAgent },
          payload: new AgentManifest({ name: "Other", description: "", tags: [], input_schema: {} })
        })
        const headers = { "idempotency-key": "order-2" }
        const first = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })
        const jobsBefore = yield* count(sql, "jobs", "all")
        const variants = [
          order(agentId, { files: inputs, prompt: "something else" }),
          order(agentId, { files: inputs, params: { level: 2 } }),
          order(agentId, { files: { ...inputs, "src/b.ts": "let b = 3\n" } }),
          order(agentId, { files: { "src/a.ts": inputs["src/a.ts"], "src/c.ts": inputs["src/b.ts"] } }),
          order(agentId, { files: { "src/a.ts": inputs["src/a.ts"] } }),
          order(agentId),
          order(otherAgent, { files: inputs })
        ]
        for (const payload of variants) {
          const refused = yield* buyer.client.jobs.create({ headers, payload }).pipe(Effect.flip)
          expect(refused).toMatchObject({ _tag: "IdempotencyConflict", idempotency_key: "order-2", job_id: first.job_id })
        }
        expect(yield* count(sql, "jobs", "all")).toBe(jobsBefore)
        // The original request still replays.
        expect((yield* buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })).job_id).toBe(first.job_id)
      }))

    it.effect("12 concurrent requests with the same key and body make exactly one job, and all get it", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const sql = yield* SqlClient.SqlClient
        const headers = { "idempotency-key": "racing" }
        const results = yield* Effect.all(
          Array.from({ length: 12 }, () => buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })),
          { concurrency: "unbounded" }
        )
        expect(new Set(results.map((job) => job.job_id)).size).toBe(1)
        const listed = yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })
        expect(listed.data).toHaveLength(1)
        expect(yield* count(sql, "job_files", listed.data.map((job) => job.job_id))).toBe(2)
      }))

    it.effect("concurrent requests with the same key and different bodies: one job is made, every other request is 409", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const headers = { "idempotency-key": "racing-different" }
        const results = yield* Effect.all(
          Array.from(
            { length: 8 },
            (_, i) => buyer.client.jobs.create({ headers, payload: order(agentId, { prompt: `prompt ${i}` }) }).pipe(Effect.either)
          ),
          { concurrency: "unbounded" }
        )
        const made = results.filter(Either.isRight).map((result) => result.right)
        expect(made).toHaveLength(1)
        expect(results.filter(Either.isLeft).map((result) => result.left._tag)).toEqual(Array(7).fill("IdempotencyConflict"))
        const listed = yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })
        expect(listed.data.map((job) => job.job_id)).toEqual([made[0]?.job_id])
      }))

    it.effect("different buyers may use the same key independently: each gets its own job and sees only it", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const other = yield* actor("buyer")
        const headers = { "idempotency-key": "shared-key" }
        const mine = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })
        const theirs = yield* other.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })
        expect(theirs.job_id).not.toBe(mine.job_id)
        // A different body under the same key is fine for another buyer, too.
        const third = yield* actor("buyer")
        const different = yield* third.client.jobs.create({ headers, payload: order(agentId, { prompt: "mine alone" }) })
        expect([mine.job_id, theirs.job_id]).not.toContain(different.job_id)
        expect((yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })).data.map((job) => job.job_id)).toEqual([mine.job_id])
        expect((yield* other.client.jobs.list({ urlParams: { limit: 100 } })).data.map((job) => job.job_id)).toEqual([theirs.job_id])
        // Retries still resolve per buyer.
        expect((yield* other.client.jobs.create({ headers, payload: order(agentId, { files: inputs }) })).job_id).toBe(theirs.job_id)
      }))

    it.effect("without an Idempotency-Key two identical orders make two jobs", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const first = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        const second = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        expect(second.job_id).not.toBe(first.job_id)
      }))

    it.effect("an empty Idempotency-Key or one over 255 characters is 400 and makes no job", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* market
        const http = yield* HttpClient.HttpClient
        const url = yield* serverUrl
        for (const key of ["", "k".repeat(256)]) {
          const response = yield* http.execute(
            HttpClientRequest.post(`${url}/v1/jobs`).pipe(
              HttpClientRequest.bearerToken(buyer.key),
              HttpClientRequest.setHeader("idempotency-key", key),
              HttpClientRequest.bodyUnsafeJson({ agent_id: agentId, prompt: "p", params: {} })
            )
          )
          expect(response.status, `key of ${key.length} characters`).toBe(400)
        }
        expect((yield* buyer.client.jobs.create({ headers: { "idempotency-key": "k".repeat(255) }, payload: order(agentId) })).status).toBe(
          "pending"
        )
        expect((yield* buyer.client.jobs.list({ urlParams: { limit: 100 } })).data).toHaveLength(1)
      }))
  })

  describe("executor completion", () => {
    const results = { "review.md": "# Review\n", "review.sarif": "{\"version\":\"2.1.0\"}\n" }

    it.effect("a retried complete with the same lease and files succeeds and changes nothing: same result files, one completed event", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const { job, lease_id } = yield* running(buyer, executor, agentId)
        const done = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, results) })
        const before = yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })
        // The same files in another order are the same set.
        const reversed = Object.fromEntries(Object.entries(results).reverse())
        const retried = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, reversed) })
        expect(retried).toEqual(done)
        expect(yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })).toEqual(before)
        expect(before.files.map((file) => file.path)).toEqual(["review.md", "review.sarif"])
        expect(yield* completedEvents(buyer, job.job_id)).toHaveLength(1)
      }))

    it.effect("a retried complete succeeds whatever the result files' names (sorting differs between SQL and JavaScript)", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const { job, lease_id } = yield* running(buyer, executor, agentId)
        // "report" < "report.md" by path, but "report.md:…" < "report:…" as path:hash strings; "B" < "a" by code unit only.
        const files = {
          "report": "plain\n",
          "report.md": "# md\n",
          "B.txt": "upper\n",
          "a.txt": "lower\n",
          "a-b/c.txt": "dash\n",
          "a/b.txt": "slash\n"
        }
        const done = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, files) })
        const retried = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, files) })
        expect(retried).toEqual(done)
        expect((yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })).files).toHaveLength(6)
      }))

    it.effect("6 concurrent duplicate completes with the same lease and files all succeed: one result set, one completed event", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const sql = yield* SqlClient.SqlClient
        const { job, lease_id } = yield* running(buyer, executor, agentId)
        const all = yield* Effect.all(
          Array.from(
            { length: 6 },
            () =>
              executor.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, results) }).pipe(
                Effect.either
              )
          ),
          { concurrency: "unbounded" }
        )
        expect(all.map((result) => Either.isRight(result) ? "ok" : result.left._tag)).toEqual(Array(6).fill("ok"))
        expect((yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })).files).toHaveLength(2)
        expect(yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM job_files WHERE job_id = ${job.job_id} AND kind = 'result'`)
          .toEqual([{ n: 2 }])
        expect(yield* completedEvents(buyer, job.job_id)).toHaveLength(1)
      }))

    it.effect("a retried complete with other files, or another lease, is 409 and leaves the result as it was", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* market
        const { job, lease_id } = yield* running(buyer, executor, agentId)
        yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, results) })
        const before = yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })
        const conflicting = [
          completion(lease_id, { ...results, "review.md": "# Changed\n" }),
          completion(lease_id, { "review.md": results["review.md"] }),
          completion(lease_id, { ...results, "extra.txt": "more\n" }),
          completion(lease_id, { "renamed.md": results["review.md"], "review.sarif": results["review.sarif"] }),
          completion(lease_id, {}),
          completion("lease_someone_else", results)
        ]
        for (const payload of conflicting) {
          const refused = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload }).pipe(Effect.flip)
          expect(refused._tag).toBe("InvalidTransition")
        }
        expect(yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })).toEqual(before)
        expect(yield* completedEvents(buyer, job.job_id)).toHaveLength(1)
        // Another executor key, not serving the agent, does not even see the job.
        const stranger = yield* actor("executor")
        const hidden = yield* stranger.client.executor.complete({ path: { job_id: job.job_id }, payload: completion(lease_id, results) })
          .pipe(Effect.flip)
        expect(hidden._tag).toBe("JobNotFound")
      }))
  })
})
