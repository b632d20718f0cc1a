/**
 * Strict and readable requests, over real HTTP: a field of a JSON body or a
 * manifest, or a query parameter, that the API does not know is a 400
 * naming it (never dropped); a holder's call without `lease_id` is a 400
 * naming it (not a 409 `LeaseLost`); every refusal of a request's shape is
 * one sentence naming the field, what it must be and what came; query
 * integers are integers in `/openapi.json`.
 *
 * Raw requests on purpose: the derived client refuses to encode most of
 * these (it checks with the same schemas — the last test shows it says the
 * same sentence).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, ParseResult, Schema } from "effect"
import { makeAgentId } from "../src/Ids.js"
import { serverUrl } from "../src/Testing.js"
import { manifest, order } from "./Fixtures.js"
import { marketplace, TestLive } from "./support.js"

/** The part of an OpenAPI document this file reads: each operation's parameters. */
const OpenApiParameters = Schema.Struct({
  paths: Schema.Record({
    key: Schema.String,
    value: Schema.Record({
      key: Schema.String,
      value: Schema.Struct({
        parameters: Schema.optional(Schema.Array(Schema.Struct({
          name: Schema.String,
          in: Schema.String,
          schema: Schema.Struct({ type: Schema.optional(Schema.String) })
        })))
      })
    })
  })
})

/** A raw request's status and JSON body. */
const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.execute(request)
    const text = yield* response.text
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) as unknown }
  })

/** The message of a 400 the schemas gave, checked to be one line of text without a formatted issue tree. */
const refusal = (answer: { readonly status: number; readonly body: unknown }) => {
  expect(answer.status).toBe(400)
  expect(answer.body).toMatchObject({ _tag: "HttpApiDecodeError", message: expect.any(String) })
  const message = typeof answer.body === "object" && answer.body !== null && "message" in answer.body ? String(answer.body.message) : ""
  expect(message).not.toMatch(/\n|Expected|actual/)
  return message
}

/** A published agent, a buyer's job on it, and an executor holding that job's lease. */
const heldJob = Effect.gen(function*() {
  const { agentId, buyer, executor } = yield* marketplace
  const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { params: { level: 2 } }) })
  const claimed = yield* executor.client.executor.claim({ payload: { agent_id: agentId, executor_id: "strict-test", wait: 0 } })
  const lease = claimed.claimed?.lease
  if (lease === undefined || claimed.claimed?.job.job_id !== job.job_id) return yield* Effect.die(new Error("the job was not claimed"))
  return { agentId, buyer, executor, job, lease }
})

layer(TestLive, { timeout: 60_000 })("strict and readable requests", (it) => {
  describe("unknown fields and parameters", () => {
    it.effect("an unknown field in a JSON body is 400 naming it, and the request does nothing", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { params: { level: 1 } }) })
        const url = yield* serverUrl
        const answer = yield* send(
          HttpClientRequest.post(`${url}/v1/executor/jobs/claim`).pipe(
            HttpClientRequest.bearerToken(executor.key),
            HttpClientRequest.bodyUnsafeJson({ agent_id: agentId, executor_id: "strict-test", wait: 0, wait_seconds: 5, priority: 1 })
          )
        )
        expect(refusal(answer)).toBe("unknown field `wait_seconds` in the body; unknown field `priority` in the body")
        const pending = yield* executor.client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } })
        expect(pending.data.map((job) => job.status)).toEqual(["pending"])
      }))

    it.effect("an unknown query parameter is 400 naming it, on every endpoint with query parameters", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { params: { level: 1 } }) })
        const url = yield* serverUrl
        for (
          const [path, key] of [
            ["/v1/agents/search?q=lint&pricingx=1", buyer.key],
            ["/v1/jobs?limit=5&pricingx=1", buyer.key],
            [`/v1/jobs/${job.job_id}/events?after=0&pricingx=1`, buyer.key],
            [`/v1/executor/jobs?agent_id=${agentId}&pricingx=1`, executor.key]
          ] as const
        ) {
          const answer = yield* send(HttpClientRequest.get(`${url}${path}`).pipe(HttpClientRequest.bearerToken(key)))
          expect(refusal(answer), path).toBe("unknown query parameter `pricingx`")
        }
      }))

    it.effect("a manifest with an unknown field is 400 naming it, and nothing is stored", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const sql = yield* SqlClient.SqlClient
        const url = yield* serverUrl
        const publish = (id: string, body: unknown) =>
          send(
            HttpClientRequest.put(`${url}/v1/agents/${id}`).pipe(
              HttpClientRequest.bearerToken(executor.key),
              HttpClientRequest.bodyUnsafeJson(body)
            )
          )
        const agentsBefore = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM agents`

        // A new agent is not made.
        const fresh = makeAgentId()
        const valid = { ...manifest("Strict bot"), description: "checks manifests" }
        const answer = yield* publish(fresh, { ...valid, pricingx: { model: "free" } })
        expect(refusal(answer)).toBe("unknown field `pricingx` in the body")
        const missing = yield* buyer.client.agents.get({ path: { agent_id: fresh } }).pipe(Effect.flip)
        expect(missing._tag).toBe("AgentNotFound")
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM agents`)[0]?.n).toBe(agentsBefore[0]?.n)

        // A published agent is not changed.
        const before = yield* buyer.client.agents.get({ path: { agent_id: agentId } })
        const changed = yield* publish(agentId, { ...valid, description: "changed", nested: { deeper: true } })
        expect(refusal(changed)).toBe("unknown field `nested` in the body")
        expect(yield* buyer.client.agents.get({ path: { agent_id: agentId } })).toEqual(before)
      }))
  })

  describe("text PostgreSQL cannot store", () => {
    it.effect("a prompt with a NUL, or a status message with a NUL or an unpaired surrogate, is 400 naming the field, and nothing is stored", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* marketplace
        const url = yield* serverUrl
        // Multipart text is UTF-8: a lone surrogate cannot be sent in it (FormData sends U+FFFD), a NUL can.
        const form = order(agentId, { params: { level: 1 }, prompt: "fix\u0000this" })
        const ordered = yield* send(
          HttpClientRequest.post(`${url}/v1/jobs`).pipe(
            HttpClientRequest.bearerToken(buyer.key),
            HttpClientRequest.bodyFormData(form)
          )
        )
        expect(ordered.status).toBe(400)
        expect(ordered.body).toMatchObject({
          _tag: "InvalidRequest",
          message: expect.stringMatching(/`prompt` must be a string without NUL characters or unpaired UTF-16 surrogates/)
        })
        const jobs = yield* buyer.client.jobs.list({ urlParams: { agent_id: agentId, limit: 100 } })
        expect(jobs.data.filter((job) => job.prompt.startsWith("fix"))).toEqual([])

        const held = yield* heldJob
        const { executor, job, lease } = held
        for (const message of ["half \udc00 a pair", "a\u0000b"]) {
          const answer = yield* send(
            HttpClientRequest.post(`${url}/v1/executor/jobs/${job.job_id}/status`).pipe(
              HttpClientRequest.bearerToken(executor.key),
              HttpClientRequest.bodyUnsafeJson({ status: "running", lease_id: lease.lease_id, message })
            )
          )
          expect(refusal(answer)).toMatch(/^`message` must be a string without NUL characters or unpaired UTF-16 surrogates/)
        }
        expect((yield* held.buyer.client.jobs.get({ path: { job_id: job.job_id } })).status_message).toBe(null)
      }))
  })

  describe("lease_id", () => {
    it.effect("status, logs, heartbeat and complete without lease_id are 400 naming lease_id, and the job stays as it was", () =>
      Effect.gen(function*() {
        const { buyer, executor, job, lease } = yield* heldJob
        const url = yield* serverUrl
        const post = (action: string, body: unknown) =>
          send(
            HttpClientRequest.post(`${url}/v1/executor/jobs/${job.job_id}/${action}`).pipe(
              HttpClientRequest.bearerToken(executor.key),
              HttpClientRequest.bodyUnsafeJson(body)
            )
          )
        for (const status of ["running", "failed", "canceled"] as const) {
          expect(refusal(yield* post("status", { status, progress: 10 }))).toBe(`\`lease_id\` is required for status "${status}"`)
        }
        expect(refusal(yield* post("logs", { lines: ["a line"] }))).toBe("`lease_id` is required")
        expect(refusal(yield* post("heartbeat", {}))).toBe("`lease_id` is required")
        const form = new FormData()
        form.append("message", "done")
        const completed = yield* send(
          HttpClientRequest.post(`${url}/v1/executor/jobs/${job.job_id}/complete`).pipe(
            HttpClientRequest.bearerToken(executor.key),
            HttpClientRequest.bodyFormData(form)
          )
        )
        // Its multipart fields are decoded as the parts stream in, with the same schema sentence.
        expect(completed).toMatchObject({
          status: 400,
          body: { _tag: "InvalidRequest", message: expect.stringContaining("`lease_id` is required") }
        })

        const after = yield* buyer.client.jobs.get({ path: { job_id: job.job_id } })
        expect(after.status).toBe("accepted")
        expect(after.progress).toBeNull()
        const events = yield* buyer.client.jobs.events({ path: { job_id: job.job_id }, urlParams: { after: 0, limit: 100, wait: 0 } })
        expect(events.data.map((event) => event.type)).toEqual(["status", "status"])
        // The holder, with its lease, carries on.
        const running = yield* executor.client.executor.status({
          path: { job_id: job.job_id },
          payload: { status: "running", lease_id: lease.lease_id }
        })
        expect(running.job.status).toBe("running")
      }))

    it.effect("accepting and rejecting need no lease_id", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* marketplace
        const first = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { params: { level: 1 } }) })
        const second = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { params: { level: 1 } }) })
        const accepted = yield* executor.client.executor.status({ path: { job_id: first.job_id }, payload: { status: "accepted" } })
        expect(accepted.job.status).toBe("accepted")
        const rejected = yield* executor.client.executor.status({
          path: { job_id: second.job_id },
          payload: { status: "rejected", reason: "busy" }
        })
        expect(rejected.job.status).toBe("rejected")
      }))
  })

  describe("messages", () => {
    it.effect("a bad limit is 400 whose message is one sentence naming limit, what it must be and what came", () =>
      Effect.gen(function*() {
        const { buyer } = yield* marketplace
        const url = yield* serverUrl
        const list = (query: string) =>
          send(HttpClientRequest.get(`${url}/v1/jobs?${query}`).pipe(HttpClientRequest.bearerToken(buyer.key)))
        expect(refusal(yield* list("limit=abc"))).toBe("`limit` must be an integer from 1 to 100; got \"abc\"")
        expect(refusal(yield* list("limit=101"))).toBe("`limit` must be an integer from 1 to 100; got \"101\"")
        expect(refusal(yield* list("limit=1.5"))).toBe("`limit` must be an integer; got \"1.5\"")
        expect(refusal(yield* list("limit=1&limit=2"))).toBe("`limit` must be an integer from 1 to 100; got 2 values")
        expect(refusal(yield* list("limit=abc&status=done&pricingx=1"))).toBe(
          "unknown query parameter `pricingx`; `status` must be one of \"pending\", \"accepted\", \"rejected\", \"running\", " +
            "\"completed\", \"failed\", \"canceled\"; got \"done\"; `limit` must be an integer from 1 to 100; got \"abc\""
        )
      }))

    it.effect("bad ids in the path, bad field values and bodies that are not objects are named in one sentence", () =>
      Effect.gen(function*() {
        const { executor, job } = yield* heldJob
        const url = yield* serverUrl
        const authorized = HttpClientRequest.bearerToken(executor.key)
        const path = yield* send(HttpClientRequest.get(`${url}/v1/jobs/job_garbage`).pipe(authorized))
        expect(refusal(path)).toBe("`job_id` must be a TypeID with prefix \"job\"; got \"job_garbage\"")
        const status = (body: unknown) =>
          send(
            HttpClientRequest.post(`${url}/v1/executor/jobs/${job.job_id}/status`).pipe(authorized, HttpClientRequest.bodyUnsafeJson(body))
          )
        expect(refusal(yield* status({ status: "runing", lease_id: "lease_x" }))).toBe(
          "`status` must be one of \"accepted\", \"rejected\", \"running\", \"failed\", \"canceled\"; got \"runing\""
        )
        expect(refusal(yield* status({ status: "running", lease_id: "lease_x", progress: 150 }))).toBe(
          "`progress` must be a number between 0 and 100; got 150"
        )
        expect(refusal(yield* status([{ status: "running" }]))).toBe("the body must be an object; got an array of 1 item")
        const logs = yield* send(
          HttpClientRequest.post(`${url}/v1/executor/jobs/${job.job_id}/logs`).pipe(
            authorized,
            HttpClientRequest.bodyUnsafeJson({ lease_id: 7, lines: ["a", 2] })
          )
        )
        expect(refusal(logs)).toBe(
          "`lease_id` must be a string; got 7; `lines[1]` must be a string without NUL characters or unpaired UTF-16 surrogates; got 2"
        )
      }))

    it.effect("a body that is not JSON is 400 saying so", () =>
      Effect.gen(function*() {
        const { executor, job } = yield* heldJob
        const url = yield* serverUrl
        const answer = yield* send(
          HttpClientRequest.post(`${url}/v1/executor/jobs/${job.job_id}/heartbeat`).pipe(
            HttpClientRequest.bearerToken(executor.key),
            HttpClientRequest.bodyText("{\"lease_id\": ", "application/json")
          )
        )
        expect(answer).toEqual({ status: 400, body: { _tag: "InvalidRequest", message: "the request body is not valid JSON" } })
      }))

    it.effect("the derived client refuses to send a holder's report without lease_id, naming the field", () =>
      Effect.gen(function*() {
        const { executor, job } = yield* heldJob
        const refused = yield* executor.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "running" } }).pipe(
          Effect.flip
        )
        if (!ParseResult.isParseError(refused)) return yield* Effect.die(new Error(`expected a ParseError, got ${refused._tag}`))
        // Issue by issue, as the CLI prints a ParseError.
        expect(ParseResult.ArrayFormatter.formatErrorSync(refused).map(({ message, path }) => ({ message, path }))).toEqual([
          { path: ["lease_id"], message: "is required for status \"running\"" }
        ])
      }))
  })

  it.effect("/openapi.json documents the query integers limit, wait and after as integers", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const answer = yield* send(HttpClientRequest.get(`${url}/openapi.json`))
      const document = yield* Schema.decodeUnknown(OpenApiParameters)(answer.body)
      const integers = Object.values(document.paths)
        .flatMap((operations) => Object.values(operations))
        .flatMap((operation) => operation.parameters ?? [])
        .filter((parameter) => parameter.in === "query" && ["limit", "wait", "after"].includes(parameter.name))
      expect(new Set(integers.map((parameter) => parameter.name))).toEqual(new Set(["limit", "wait", "after"]))
      for (const parameter of integers) expect(parameter.schema.type, parameter.name).toBe("integer")
    }))
})
