/**
 * The seed's whole data model over real HTTP (DESIGN.md "Data model"):
 * agents' `pricing` and `output_schema`, jobs' structured `result`,
 * `decision_reason` and outcome `status_message`, `success_rate`, and the
 * media types recorded for files and served with their downloads.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId, JobId } from "@agnt/domain/Ids"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { makeAgentId } from "../src/Ids.js"
import { serverUrl } from "../src/Testing.js"
import { order } from "./Fixtures.js"
import { actor, TestLive } from "./support.js"

/** A review agent's result: a score and a summary, nothing else. */
const reviewOutput = {
  type: "object",
  properties: { score: { type: "integer", minimum: 0 }, summary: { type: "string" } },
  required: ["score", "summary"],
  additionalProperties: false
}

const reviewManifest = (overrides: Partial<ConstructorParameters<typeof AgentManifest>[0]> = {}) =>
  new AgentManifest({
    name: "Scored review",
    description: "reviews code and scores it",
    tags: ["review"],
    input_schema: {},
    output_schema: reviewOutput,
    ...overrides
  })

/** A multipart `complete` body: the lease, an optional `result` (JSON text as given) and `files` (name → [text, declared type]). */
const completion = (leaseId: string, options: {
  readonly result?: string
  readonly files?: Readonly<Record<string, readonly [string, string]>>
} = {}) => {
  const form = new FormData()
  form.append("lease_id", leaseId)
  if (options.result !== undefined) form.append("result", options.result)
  for (const [name, [text, type]] of Object.entries(options.files ?? {})) form.append("files", new Blob([text], { type }), name)
  return form
}

/** An executor that published `manifest`, a buyer, and one of the buyer's jobs, running under the executor's lease. */
const runningJob = (manifest: AgentManifest, files: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const executor = yield* actor("executor")
    const buyer = yield* actor("buyer")
    const agentId = makeAgentId()
    yield* executor.client.agents.publish({ path: { agent_id: agentId }, payload: manifest })
    const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { files }) })
    const accepted = yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
    const leaseId = accepted.lease.lease_id
    yield* executor.client.executor.status({
      path: { job_id: job.job_id },
      payload: { status: "running", lease_id: leaseId, progress: 50, message: "running the linter" }
    })
    return { executor, buyer, agentId, job, leaseId }
  })

/** A raw request with a bearer key: status, headers and the body as text. */
const raw = (request: HttpClientRequest.HttpClientRequest, key: string) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.execute(HttpClientRequest.bearerToken(request, key))
    return { status: response.status, headers: response.headers, text: yield* response.text }
  })

const publishRaw = (agentId: AgentId, key: string, body: unknown) =>
  Effect.flatMap(
    serverUrl,
    (url) => raw(HttpClientRequest.put(`${url}/v1/agents/${agentId}`).pipe(HttpClientRequest.bodyUnsafeJson(body)), key)
  )

layer(TestLive, { timeout: 60_000 })("the seed's data model over real HTTP", (it) => {
  describe("pricing", () => {
    it.effect("a manifest without pricing or output_schema is published free with an output_schema accepting anything", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const agentId = makeAgentId()
        const published = yield* publishRaw(agentId, executor.key, { name: "Old executor", description: "", tags: [], input_schema: {} })
        expect(published.status).toBe(200)
        const agent = yield* executor.client.agents.get({ path: { agent_id: agentId } })
        expect([agent.pricing, agent.output_schema]).toEqual([{ model: "free" }, {}])
      }))

    it.effect("a per-job price is stored and returned by get and search as published", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const buyer = yield* actor("buyer")
        const agentId = makeAgentId()
        const pricing = { model: "per_job", amount: "0.50", currency: "USD" } as const
        const published = yield* executor.client.agents.publish({
          path: { agent_id: agentId },
          payload: reviewManifest({ name: "Priced reviewer", tags: ["priced"], pricing })
        })
        expect(published.pricing).toEqual(pricing)
        expect((yield* buyer.client.agents.get({ path: { agent_id: agentId } })).pricing).toEqual(pricing)
        const found = yield* buyer.client.agents.search({ urlParams: { tags: ["priced"], limit: 20 } })
        expect(found.data.map((agent) => [agent.agent_id, agent.pricing])).toEqual([[agentId, pricing]])
      }))

    it.effect("a negative, malformed or unknown-currency price is a 400 naming the field, and nothing is kept", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const agentId = makeAgentId()
        const base = { name: "Cheap", description: "", tags: [], input_schema: {} }
        const cases = [
          [{ model: "per_job", amount: "-0.50", currency: "USD" }, "amount"],
          [{ model: "per_job", amount: "1e3", currency: "USD" }, "amount"],
          [{ model: "per_job", amount: "0.1234567", currency: "USD" }, "amount"],
          [{ model: "per_job", amount: 0.5, currency: "USD" }, "amount"],
          [{ model: "per_job", amount: "0.50", currency: "usd" }, "currency"],
          [{ model: "per_job", amount: "0.50", currency: "XYZ" }, "currency"],
          [{ model: "per_job", amount: "0.50" }, "currency"],
          [{ model: "subscription" }, "model"]
        ] as const
        for (const [pricing, field] of cases) {
          const refused = yield* publishRaw(agentId, executor.key, { ...base, pricing })
          expect(refused.status).toBe(400)
          const body = JSON.parse(refused.text)
          expect(body._tag).toBe("HttpApiDecodeError")
          expect(body.issues.map((issue: { path: ReadonlyArray<string> }) => issue.path[0])).toContain("pricing")
          expect(JSON.stringify(body.issues)).toContain(field)
        }
        const missing = yield* executor.client.agents.get({ path: { agent_id: agentId } }).pipe(Effect.flip)
        expect(missing._tag).toBe("AgentNotFound")
      }))
  })

  describe("output_schema and result", () => {
    it.effect("an invalid output_schema is 400 InvalidManifest naming /output_schema, and the agent keeps its manifest", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const agentId = makeAgentId()
        yield* executor.client.agents.publish({ path: { agent_id: agentId }, payload: reviewManifest() })
        const refused = yield* executor.client.agents.publish({
          path: { agent_id: agentId },
          payload: reviewManifest({ output_schema: { type: "no-such-type" }, pricing: { model: "per_job", amount: "1", currency: "EUR" } })
        }).pipe(Effect.flip)
        expect(refused._tag).toBe("InvalidManifest")
        if (refused._tag === "InvalidManifest") {
          expect(refused.message).toContain("output_schema")
          expect(refused.issues.length).toBeGreaterThan(0)
          for (const issue of refused.issues) expect(issue.path.startsWith("/output_schema")).toBe(true)
        }
        const agent = yield* executor.client.agents.get({ path: { agent_id: agentId } })
        expect([agent.output_schema, agent.pricing]).toEqual([reviewOutput, { model: "free" }])
      }))

    it.effect("a result violating the output_schema is 400 InvalidResult naming each path; the job stays running and keeps nothing", () =>
      Effect.gen(function*() {
        const { buyer, executor, job, leaseId } = yield* runningJob(reviewManifest())
        const path = { job_id: job.job_id }
        const files = { "review.md": ["# Review\n", "text/markdown"] } as const
        const invalid = yield* executor.client.executor.complete({
          path,
          payload: completion(leaseId, { result: JSON.stringify({ score: -1, extra: true }), files })
        }).pipe(Effect.flip)
        expect(invalid._tag).toBe("InvalidResult")
        if (invalid._tag === "InvalidResult") {
          expect(invalid.issues.map((issue) => issue.path).sort()).toEqual(["/", "/", "/score"])
          expect(invalid.issues.map((issue) => issue.message).join("; ")).toMatch(/summary/)
          expect(invalid.issues.map((issue) => issue.message).join("; ")).toMatch(/extra/)
        }
        // No result at all is checked as null, which this output_schema refuses.
        const absent = yield* executor.client.executor.complete({ path, payload: completion(leaseId, { files }) }).pipe(Effect.flip)
        expect(absent._tag).toBe("InvalidResult")
        // A result that is not JSON is refused while decoding the request's fields, naming the field.
        const unparsable = yield* executor.client.executor.complete({ path, payload: completion(leaseId, { result: "{score: 1" }) }).pipe(
          Effect.flip
        )
        expect(unparsable._tag).toBe("InvalidRequest")
        if (unparsable._tag === "InvalidRequest") expect(unparsable.message).toContain("result")

        const after = yield* buyer.client.jobs.result({ path })
        expect([after.status, after.result, after.files]).toEqual(["running", null, []])
        const still = yield* buyer.client.jobs.get({ path })
        expect([still.status, still.status_message]).toEqual(["running", "running the linter"])
      }))

    it.effect("a valid result is stored with the job and returned by get, result and list; a retried complete must carry the same result", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor, job, leaseId } = yield* runningJob(reviewManifest())
        const path = { job_id: job.job_id }
        const result = { score: 7, summary: "two findings" }
        const files = { "review.md": ["# Review\n", "text/markdown"] } as const
        const done = yield* executor.client.executor.complete({
          path,
          payload: completion(leaseId, { result: JSON.stringify(result), files })
        })
        expect([done.status, done.result]).toEqual(["completed", result])
        const fetched = yield* buyer.client.jobs.result({ path })
        expect([fetched.result, fetched.files.map((file) => file.path)]).toEqual([result, ["review.md"]])
        expect((yield* buyer.client.jobs.get({ path })).result).toEqual(result)
        const listed = yield* buyer.client.jobs.list({ urlParams: { agent_id: agentId, limit: 20 } })
        expect(listed.data.map((item) => item.result)).toEqual([result])

        // The same completion again (a retry after a lost answer) changes nothing; another result is a conflict.
        const retried = yield* executor.client.executor.complete({
          path,
          payload: completion(leaseId, { result: JSON.stringify({ summary: "two findings", score: 7 }), files })
        })
        expect(retried.result).toEqual(result)
        const other = yield* executor.client.executor.complete({
          path,
          payload: completion(leaseId, { result: JSON.stringify({ score: 8, summary: "changed" }), files })
        }).pipe(Effect.flip)
        expect(other._tag).toBe("InvalidTransition")
        expect((yield* buyer.client.jobs.get({ path })).result).toEqual(result)
      }))

    it.effect("an agent with the default output_schema completes with or without a result", () =>
      Effect.gen(function*() {
        const open = new AgentManifest({ name: "Open", description: "", tags: [], input_schema: {} })
        const first = yield* runningJob(open)
        const without = yield* first.executor.client.executor.complete({
          path: { job_id: first.job.job_id },
          payload: completion(first.leaseId)
        })
        expect([without.status, without.result]).toEqual(["completed", null])
        const second = yield* runningJob(open)
        const withList = yield* second.executor.client.executor.complete({
          path: { job_id: second.job.job_id },
          payload: completion(second.leaseId, { result: "[1, \"two\", null]" })
        })
        expect([withList.status, withList.result]).toEqual(["completed", [1, "two", null]])
      }))
  })

  describe("decisions and outcomes", () => {
    it.effect("decision_reason records why an executor accepted or rejected a job; failure_reason is only for failures", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor")
        const buyer = yield* actor("buyer")
        const agentId = makeAgentId()
        yield* executor.client.agents.publish({ path: { agent_id: agentId }, payload: reviewManifest() })
        const taken = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        const declined = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        const accepted = yield* executor.client.executor.status({
          path: { job_id: taken.job_id },
          payload: { status: "accepted", reason: "a TypeScript repository, which this agent reviews" }
        })
        expect([accepted.job.decision_reason, accepted.job.failure_reason]).toEqual([
          "a TypeScript repository, which this agent reviews",
          null
        ])
        yield* executor.client.executor.status({
          path: { job_id: declined.job_id },
          payload: { status: "rejected", reason: "no input files\nsend the sources to review" }
        })
        const rejected = yield* buyer.client.jobs.get({ path: { job_id: declined.job_id } })
        expect([rejected.status, rejected.decision_reason, rejected.failure_reason, rejected.status_message]).toEqual([
          "rejected",
          "no input files\nsend the sources to review",
          null,
          "rejected: no input files"
        ])
        const result = yield* buyer.client.jobs.result({ path: { job_id: declined.job_id } })
        expect([result.decision_reason, result.failure_reason]).toEqual(["no input files\nsend the sources to review", null])
      }))

    it.effect("a job that ends carries its outcome as status_message, not its last progress line", () =>
      Effect.gen(function*() {
        const open = new AgentManifest({ name: "Outcomes", description: "", tags: [], input_schema: {} })
        const completed = yield* runningJob(open)
        const done = yield* completed.executor.client.executor.complete({
          path: { job_id: completed.job.job_id },
          payload: completion(completed.leaseId, { files: { "a.md": ["a", "text/markdown"], "b.md": ["b", "text/markdown"] } })
        })
        expect(done.status_message).toBe("completed with 2 result files")

        const failing = yield* runningJob(open)
        const failed = yield* failing.executor.client.executor.status({
          path: { job_id: failing.job.job_id },
          payload: { status: "failed", lease_id: failing.leaseId, reason: "eslint crashed\nat line 3", message: "still linting" }
        })
        expect([failed.job.status_message, failed.job.failure_reason]).toEqual(["failed: eslint crashed", "eslint crashed\nat line 3"])

        const canceling = yield* runningJob(open)
        yield* canceling.buyer.client.jobs.cancel({ path: { job_id: canceling.job.job_id } })
        const canceled = yield* canceling.executor.client.executor.status({
          path: { job_id: canceling.job.job_id },
          payload: { status: "canceled", lease_id: canceling.leaseId }
        })
        expect([canceled.job.status, canceled.job.status_message]).toEqual(["canceled", "canceled by the buyer"])

        const pending = yield* canceling.buyer.client.jobs.create({ headers: {}, payload: order(canceling.agentId) })
        const withdrawn = yield* canceling.buyer.client.jobs.cancel({ path: { job_id: pending.job_id } })
        expect([withdrawn.status, withdrawn.status_message]).toEqual(["canceled", "canceled by the buyer"])
      }))

    it.effect("success_rate is completed ÷ (completed + failed), with rejected and canceled jobs beside it", () =>
      Effect.gen(function*() {
        const open = new AgentManifest({ name: "Rated", description: "", tags: [], input_schema: {} })
        const first = yield* runningJob(open)
        const { agentId, buyer, executor } = first
        yield* executor.client.executor.complete({ path: { job_id: first.job.job_id }, payload: completion(first.leaseId) })
        const fail = (jobId: JobId) =>
          Effect.gen(function*() {
            const accepted = yield* executor.client.executor.status({ path: { job_id: jobId }, payload: { status: "accepted" } })
            yield* executor.client.executor.status({
              path: { job_id: jobId },
              payload: { status: "failed", lease_id: accepted.lease.lease_id, reason: "no" }
            })
          })
        yield* fail((yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })).job_id)
        for (let i = 0; i < 2; i++) {
          const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
          yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "rejected", reason: "busy" } })
        }
        const canceled = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        yield* buyer.client.jobs.cancel({ path: { job_id: canceled.job_id } })
        const stats = yield* buyer.client.agents.stats({ path: { agent_id: agentId } })
        expect(stats).toMatchObject({ total_jobs: 5, completed: 1, failed: 1, rejected: 2, canceled: 1, success_rate: 0.5 })
      }))
  })

  describe("media types", () => {
    it.effect("files are recorded with the media type of their name, whatever the part declared, and downloads carry it", () =>
      Effect.gen(function*() {
        const open = new AgentManifest({ name: "Typed", description: "", tags: [], input_schema: {} })
        const { buyer, executor, job, leaseId } = yield* runningJob(open, { "src/a.ts": "export const a = 1\n" })
        expect(job.input_files.map((file) => [file.path, file.mime])).toEqual([["src/a.ts", "text/typescript"]])
        yield* executor.client.executor.complete({
          path: { job_id: job.job_id },
          payload: completion(leaseId, {
            files: {
              "review.sarif": ["{\"version\": \"2.1.0\"}", "application/octet-stream"],
              "review.md": ["# Review\n", "text/plain"],
              "notes.unknownext": ["<script>alert(1)</script>", "text/html"]
            }
          })
        })
        const result = yield* buyer.client.jobs.result({ path: { job_id: job.job_id } })
        const types = [
          ["notes.unknownext", "application/octet-stream"],
          ["review.md", "text/markdown"],
          ["review.sarif", "application/sarif+json"]
        ]
        expect(result.files.map((file) => [file.path, file.mime])).toEqual(types)
        const url = yield* serverUrl
        for (const file of result.files) {
          const download = yield* raw(HttpClientRequest.get(`${url}${file.download_url}`), buyer.key)
          expect([download.status, download.headers["content-type"], download.headers["x-content-type-options"]]).toEqual([
            200,
            file.mime,
            "nosniff"
          ])
        }
      }))
  })
})
