import { LeaseId } from "@agnt/domain/Ids"
import { HttpBody, HttpClient } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { makeAgentId, makeJobId } from "../src/Ids.js"
import { serverUrl } from "../src/Testing.js"
import { leaseForm, manifest, orderForm } from "./Fixtures.js"
import { actor, clientWith, marketplace, TestLive } from "./support.js"

const tagOf = (either: Either.Either<unknown, unknown>) =>
  Either.isLeft(either) && typeof either.left === "object" && either.left !== null && "_tag" in either.left
    ? either.left._tag
    : "ok"

layer(TestLive, { timeout: 60_000 })("the API over real HTTP", (it) => {
  describe("agents", () => {
    it.effect("search finds published agents by full text and filters by every tag", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const buyer = yield* actor("buyer")
        const reviewer = makeAgentId()
        const translator = makeAgentId()
        yield* executor.client.agents.publish({
          path: { agent_id: reviewer },
          payload: manifest("Security reviewer", ["security", "typescript"])
        })
        yield* executor.client.agents.publish({
          path: { agent_id: translator },
          payload: { ...manifest("Translator", ["language"]), description: "Translates documents between languages" }
        })
        const byText = yield* buyer.client.agents.search({ urlParams: { q: "translates documents", limit: 20 } })
        expect(byText.data.map((agent) => agent.agent_id)).toEqual([translator])
        const byTag = yield* buyer.client.agents.search({ urlParams: { tags: ["security", "typescript"], limit: 20 } })
        expect(byTag.data.map((agent) => agent.agent_id)).toEqual([reviewer])
        const none = yield* buyer.client.agents.search({ urlParams: { tags: ["security", "language"], limit: 20 } })
        expect(none.data).toEqual([])
      }))

    it.effect("search pages with a cursor until next_cursor is null", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const tag = `page-${Date.now()}`
        for (let i = 0; i < 5; i++) {
          yield* executor.client.agents.publish({ path: { agent_id: makeAgentId() }, payload: manifest(`Pager ${i}`, [tag]) })
        }
        const first = yield* executor.client.agents.search({ urlParams: { tags: [tag], limit: 2 } })
        const second = yield* executor.client.agents.search({ urlParams: { tags: [tag], limit: 2, cursor: first.next_cursor ?? "" } })
        const third = yield* executor.client.agents.search({ urlParams: { tags: [tag], limit: 2, cursor: second.next_cursor ?? "" } })
        const ids = [...first.data, ...second.data, ...third.data].map((agent) => agent.agent_id)
        expect(new Set(ids).size).toBe(5)
        expect(third.next_cursor).toBeNull()
      }))

    it.effect("an unknown agent is 404 AgentNotFound", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const result = yield* buyer.client.agents.get({ path: { agent_id: makeAgentId() } }).pipe(Effect.either)
        expect(tagOf(result)).toBe("AgentNotFound")
      }))

    it.effect("an executor may not republish another key's agent, and an invalid input_schema is refused", () =>
      Effect.gen(function*() {
        const { agentId } = yield* marketplace
        const other = yield* actor("executor")
        const stolen = yield* other.client.agents.publish({ path: { agent_id: agentId }, payload: manifest("Mine now") }).pipe(
          Effect.either
        )
        expect(tagOf(stolen)).toBe("Forbidden")
        const invalid = yield* other.client.agents.publish({
          path: { agent_id: makeAgentId() },
          payload: { ...manifest("Broken"), input_schema: { type: "no-such-type" } }
        }).pipe(Effect.either)
        expect(tagOf(invalid)).toBe("InvalidManifest")
      }))
  })

  describe("auth", () => {
    it.effect("no key and a bad key are 401 Unauthorized", () =>
      Effect.gen(function*() {
        const anonymous = yield* clientWith(undefined)
        expect(tagOf(yield* anonymous.jobs.list({ urlParams: { limit: 20 } }).pipe(Effect.either))).toBe("Unauthorized")
        const forged = yield* clientWith(`agnt_buyer_01m7zs84jxe4bv682cvngbb1p6_${"0".repeat(64)}`)
        expect(tagOf(yield* forged.jobs.list({ urlParams: { limit: 20 } }).pipe(Effect.either))).toBe("Unauthorized")
        const garbage = yield* clientWith("not-a-key")
        expect(tagOf(yield* garbage.agents.search({ urlParams: { limit: 20 } }).pipe(Effect.either))).toBe("Unauthorized")
      }))

    it.effect("a buyer key may not call executor endpoints (403)", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        const result = yield* buyer.client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } }).pipe(
          Effect.either
        )
        expect(tagOf(result)).toBe("Forbidden")
      }))
  })

  describe("jobs", () => {
    it.effect("params that do not match the input_schema are 400 InvalidParams naming each path", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        const result = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 9, extra: true }) }).pipe(
          Effect.flip
        )
        expect(result._tag).toBe("InvalidParams")
        if (result._tag === "InvalidParams") {
          expect(result.issues.map((issue) => issue.path).sort()).toEqual(["/", "/level"])
        }
      }))

    it.effect("an absolute or escaping file name is 400 InvalidFileName and creates no job", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        for (const name of ["/etc/passwd", "../../secret.ts", "a/../../b.ts"]) {
          const result = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }, { [name]: "x" }) }).pipe(
            Effect.either
          )
          expect(tagOf(result)).toBe("InvalidFileName")
        }
        const jobs = yield* buyer.client.jobs.list({ urlParams: { limit: 20 } })
        expect(jobs.data).toEqual([])
      }))

    it.effect("a prompt's line breaks are stored as LF, though a multipart form sends each as CRLF", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        const prompt = "first line\nsecond line\n\nlast line\n"
        const form = orderForm(agentId, { level: 1 })
        form.set("prompt", prompt)
        expect((yield* buyer.client.jobs.create({ headers: {}, payload: form })).prompt).toBe(prompt)
        const url = yield* serverUrl
        const http = yield* HttpClient.HttpClient
        const json = yield* http.post(`${url}/v1/jobs`, {
          headers: { authorization: `Bearer ${buyer.key}` },
          body: HttpBody.unsafeJson({ agent_id: agentId, prompt: "one\r\ntwo\rthree", params: { level: 1 } })
        }).pipe(Effect.flatMap((response) => response.json))
        expect(json).toMatchObject({ prompt: "one\ntwo\nthree" })
      }))

    it.effect("an order of an unknown agent is 404 AgentNotFound", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const result = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(makeAgentId(), { level: 1 }) }).pipe(Effect.either)
        expect(tagOf(result)).toBe("AgentNotFound")
      }))

    it.effect("a job goes pending → accepted → running → completed with result files, duration and stats", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const job = yield* buyer.client.jobs.create({
          headers: {},
          payload: orderForm(agentId, { level: 2 }, { "src/a.ts": "const a = 1\n", "./src//b.ts": "let b\n" })
        })
        expect(job.status).toBe("pending")
        expect(job.input_files.map((file) => file.path)).toEqual(["src/a.ts", "src/b.ts"])
        const pending = yield* executor.client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } })
        expect(pending.data.map((item) => item.job_id)).toEqual([job.job_id])
        const input = yield* executor.client.jobs.download({ path: { job_id: job.job_id, file_id: job.input_files[0]!.file_id } })
        expect(new TextDecoder().decode(input)).toBe("const a = 1\n")

        const accepted = yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
        const lease_id = accepted.lease.lease_id
        const { job: running } = yield* executor.client.executor.status({
          path: { job_id: job.job_id },
          payload: { status: "running", lease_id, progress: 40, message: "linting" }
        })
        expect(running.started_at).not.toBeNull()
        expect(running.progress).toBe(40)
        const form = new FormData()
        form.append("lease_id", lease_id)
        form.append("files", new Blob(["# Review\n"], { type: "text/markdown" }), "review.md")
        const done = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: form })
        expect(done.status).toBe("completed")
        expect(done.duration_seconds).toBeGreaterThan(0)

        const result = yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })
        expect(result.files.map((file) => [file.path, file.size, file.mime])).toEqual([["review.md", 9, "text/markdown"]])
        const bytes = yield* buyer.client.jobs.download({ path: { job_id: job.job_id, file_id: result.files[0]!.file_id } })
        expect(new TextDecoder().decode(bytes)).toBe("# Review\n")

        const stats = yield* buyer.client.agents.stats({ path: { agent_id: agentId } })
        expect(stats).toMatchObject({ total_jobs: 1, completed: 1, failed: 0, success_rate: 1 })
        expect(stats.avg_duration_seconds).toBeGreaterThan(0)
      }))

    it.effect("an illegal transition is 409 InvalidTransition and changes nothing", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const early = yield* executor.client.executor.status({
          path: { job_id: job.job_id },
          payload: { status: "running", lease_id: LeaseId.make("lease_x") }
        }).pipe(Effect.flip)
        expect(early._tag).toBe("InvalidTransition")
        const completeEarly = yield* executor.client.executor.complete({ path: { job_id: job.job_id }, payload: leaseForm("lease_x") })
          .pipe(Effect.flip)
        expect(completeEarly._tag).toBe("InvalidTransition")
        yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "rejected", reason: "busy" } })
        const after = yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } }).pipe(
          Effect.flip
        )
        expect(after._tag).toBe("InvalidTransition")
        const final = yield* buyer.client.jobs.get({ path: { job_id: job.job_id } })
        expect([final.status, final.decision_reason, final.failure_reason]).toEqual(["rejected", "busy", null])
      }))

    it.effect("of 12 parallel accepts of one job exactly one succeeds", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const results = yield* Effect.all(
          Array.from({ length: 12 }, () =>
            executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } }).pipe(Effect.either)),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Either.isRight)).toHaveLength(1)
        expect(results.filter(Either.isLeft).map(tagOf)).toEqual(Array(11).fill("InvalidTransition"))
      }))

    it.effect("a buyer sees only its own jobs: another buyer gets 404 and an empty list", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const other = yield* actor("buyer")
        expect(tagOf(yield* other.client.jobs.get({ path: { job_id: job.job_id } }).pipe(Effect.either))).toBe("JobNotFound")
        expect(tagOf(yield* other.client.jobs.result({ path: { job_id: job.job_id } }).pipe(Effect.either))).toBe("JobNotFound")
        expect((yield* other.client.jobs.list({ urlParams: { limit: 20 } })).data).toEqual([])
        const unknown = yield* buyer.client.jobs.get({ path: { job_id: makeJobId() } }).pipe(Effect.either)
        expect(tagOf(unknown)).toBe("JobNotFound")
      }))

    it.effect("job lists filter by status and agent and page newest first", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const created = []
        for (let i = 0; i < 5; i++) {
          created.push(yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) }))
        }
        yield* executor.client.executor.status({ path: { job_id: created[0]!.job_id }, payload: { status: "rejected", reason: "no" } })
        const first = yield* buyer.client.jobs.list({ urlParams: { status: "pending", agent_id: agentId, limit: 2 } })
        expect(first.data.map((job) => job.job_id)).toEqual([created[4]!.job_id, created[3]!.job_id])
        const rest = yield* buyer.client.jobs.list({ urlParams: { status: "pending", limit: 10, cursor: first.data[1]!.job_id } })
        expect(rest.data.map((job) => job.job_id)).toEqual([created[2]!.job_id, created[1]!.job_id])
        expect(rest.next_cursor).toBeNull()
      }))

    it.effect("/metrics counts jobs by agent and status in Prometheus text", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const text = yield* buyer.client.health.metrics()
        expect(text).toContain("# TYPE agnt_jobs gauge")
        expect(text).toContain(`agnt_jobs{agent_id="${agentId}",status="pending"} 1`)
        expect(text).toMatch(/^agnt_agents \d+$/m)
      }))

    it.effect("a changed input_schema applies to the very next order, though the previous order's schema is remembered", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        expect((yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })).status).toBe("pending")
        yield* executor.client.agents.publish({
          path: { agent_id: agentId },
          payload: {
            ...manifest("Lint bot"),
            input_schema: { type: "object", properties: { depth: { type: "integer" } }, required: ["depth"] }
          }
        })
        const refused = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) }).pipe(Effect.flip)
        expect(refused._tag).toBe("InvalidParams")
        const ordered = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { depth: 2 }) })
        expect(ordered.params).toEqual({ depth: 2 })
        const listed = yield* buyer.client.jobs.list({ urlParams: { agent_id: agentId, limit: 10 } })
        expect(listed.data.map((job) => job.params)).toEqual([{ depth: 2 }, { level: 1 }])
      }))

    it.effect("a complete sent as JSON ends the job; one without the result an output_schema asks for is 400 InvalidResult and the job stays running", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const http = yield* HttpClient.HttpClient
        const url = yield* serverUrl
        const completeJson = (jobId: string, body: unknown) =>
          http.post(`${url}/v1/executor/jobs/${jobId}/complete`, {
            headers: { authorization: `Bearer ${executor.key}` },
            body: HttpBody.unsafeJson(body)
          }).pipe(Effect.flatMap((r) => Effect.map(r.json, (json) => ({ status: r.status, json }))))
        const running = Effect.gen(function*() {
          const job = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
          const claimed = yield* executor.client.executor.claim({ payload: { agent_id: agentId, executor_id: "json", wait: 0 } })
          const leaseId = claimed.claimed?.lease.lease_id ?? LeaseId.make("")
          expect(claimed.claimed?.job.job_id).toBe(job.job_id)
          yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: leaseId } })
          return { jobId: job.job_id, leaseId }
        })

        const plain = yield* running
        const done = yield* completeJson(plain.jobId, { lease_id: plain.leaseId, message: "all good" })
        expect(done.status).toBe(200)
        expect(done.json).toMatchObject({ job_id: plain.jobId, status: "completed", status_message: "completed with no result files" })
        // A retry of the complete that went through changes nothing; another holder's is 409.
        expect((yield* completeJson(plain.jobId, { lease_id: plain.leaseId, message: "all good" })).status).toBe(200)
        expect((yield* completeJson(plain.jobId, { lease_id: "lease_other" })).json).toMatchObject({ _tag: "InvalidTransition" })

        yield* executor.client.agents.publish({
          path: { agent_id: agentId },
          payload: {
            ...manifest("Lint bot"),
            output_schema: { type: "object", properties: { score: { type: "number" } }, required: ["score"] }
          }
        })
        const strict = yield* running
        const refused = yield* completeJson(strict.jobId, { lease_id: strict.leaseId })
        expect(refused.status).toBe(400)
        expect(refused.json).toMatchObject({ _tag: "InvalidResult" })
        expect((yield* buyer.client.jobs.get({ path: { job_id: strict.jobId } })).status).toBe("running")
        const scored = yield* completeJson(strict.jobId, { lease_id: strict.leaseId, result: JSON.stringify({ score: 3 }) })
        expect(scored.json).toMatchObject({ status: "completed", result: { score: 3 } })
      }))

    it.effect("a claim with start hands the job over running, after its accepted and running events, and it completes", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
        const response = yield* executor.client.executor.claim({
          payload: { agent_id: agentId, executor_id: "starter", wait: 0, start: true }
        })
        const claimed = response.claimed
        expect(claimed?.job).toMatchObject({ job_id: job.job_id, status: "running", progress: 0 })
        expect(claimed?.job.started_at).not.toBeNull()
        const events = yield* buyer.client.jobs.events({ path: { job_id: job.job_id }, urlParams: { after: 0, limit: 10, wait: 0 } })
        expect(events.data.map((event) => event.status)).toEqual(["pending", "accepted", "running"])
        const done = yield* executor.client.executor.complete({
          path: { job_id: job.job_id },
          payload: leaseForm(claimed?.lease.lease_id ?? "")
        })
        expect(done.status).toBe("completed")
      }))

    it.effect("a malformed JSON body is a 400, not a 500", () =>
      Effect.gen(function*() {
        const { buyer } = yield* marketplace
        const http = yield* HttpClient.HttpClient
        const url = yield* serverUrl
        const response = yield* http.post(`${url}/v1/jobs`, {
          headers: { authorization: `Bearer ${buyer.key}`, "content-type": "application/json" },
          body: undefined
        }).pipe(Effect.flatMap((r) => Effect.map(r.json, (body) => ({ status: r.status, body }))))
        expect(response.status).toBe(400)
      }))
  })
})
