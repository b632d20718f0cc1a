import { describe, expect, it } from "@effect/vitest"
import { Either, ParseResult, Schema } from "effect"
import { AgentManifest } from "../src/Agent.js"
import { JobId } from "../src/Ids.js"
import { StatusUpdate } from "../src/Job.js"
import { describeIssues, jsonBody, QueryInteger, queryParams, requestHeaders } from "../src/Requests.js"

/**
 * The message a failed decode of `input` gets as an API 400: its issues
 * (as `HttpApiDecodeError` lists them) joined; each issue sits at the path
 * of the field its clause names.
 */
const refusalOf = <A, I>(schema: Schema.Schema<A, I>, input: unknown) => {
  const result = Schema.decodeUnknownEither(schema)(input)
  if (Either.isRight(result)) throw new Error(`${JSON.stringify(input)} was accepted`)
  const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left)
  for (const issue of issues) {
    if (issue.path.length > 0) expect(issue.message).toContain(String(issue.path[0]))
  }
  return describeIssues(issues)
}

const Query = Schema.Struct({
  limit: Schema.optionalWith(QueryInteger({ minimum: 1, maximum: 100, description: "an integer from 1 to 100" }), { default: () => 20 }),
  job_id: Schema.optional(JobId)
}).annotations(queryParams)

describe("request schemas", () => {
  it("refuse unknown fields of a JSON body and query parameters, naming all of them", () => {
    const manifest = { name: "Bot", description: "", tags: [], input_schema: {} }
    expect(refusalOf(AgentManifest.annotations(jsonBody), { ...manifest, pricingx: {} })).toBe("unknown field `pricingx` in the body")
    expect(refusalOf(AgentManifest.annotations(jsonBody), { ...manifest, a: 1, b: 2, c: 3 })).toBe(
      "unknown field `a` in the body; unknown field `b` in the body; unknown field `c` in the body"
    )
    expect(refusalOf(Query, { limit: "5", cursor: "x" })).toBe("unknown query parameter `cursor`")
  })

  it("let unknown headers through", () => {
    const headers = Schema.Struct({ "idempotency-key": Schema.optional(Schema.String.pipe(Schema.minLength(1))) }).annotations(
      requestHeaders
    )
    expect(Schema.decodeUnknownSync(headers)({ "idempotency-key": "k", accept: "*/*" })).toEqual({ "idempotency-key": "k" })
    expect(refusalOf(headers, { "idempotency-key": "" })).toBe(
      "header `idempotency-key` must be a string at least 1 character(s) long; got \"\""
    )
  })

  it("say what a value must be and what came, by the outermost schema at its path or the filter that failed", () => {
    expect(refusalOf(Query, { limit: "abc" })).toBe("`limit` must be an integer from 1 to 100; got \"abc\"")
    expect(refusalOf(Query, { limit: "0" })).toBe("`limit` must be an integer from 1 to 100; got \"0\"")
    expect(refusalOf(Query, { limit: "2.5" })).toBe("`limit` must be an integer; got \"2.5\"")
    expect(refusalOf(Query, { job_id: "job_1" })).toBe("`job_id` must be a TypeID with prefix \"job\"; got \"job_1\"")
    expect(refusalOf(StatusUpdate.annotations(jsonBody), { status: "done", lease_id: "l" })).toBe(
      "`status` must be one of \"accepted\", \"rejected\", \"running\", \"failed\", \"canceled\"; got \"done\""
    )
  })

  it("name nested fields and what is missing, and keep quoted values short", () => {
    const manifest = AgentManifest.annotations(jsonBody)
    expect(refusalOf(manifest, {})).toBe("`name` is required; `description` is required; `tags` is required; `input_schema` is required")
    expect(refusalOf(manifest, { name: "Bot", description: "", tags: ["ok", "Not OK"], input_schema: {} })).toBe(
      "`tags[1]` must be a string matching the pattern ^[a-z0-9][a-z0-9-]{0,39}$; got \"Not OK\""
    )
    expect(refusalOf(manifest, { name: "x".repeat(200), description: "", tags: [], input_schema: {} })).toBe(
      `\`name\` must be a string at most 100 character(s) long; got "${"x".repeat(40)}…"`
    )
    expect(refusalOf(manifest, "a manifest")).toBe("the body must be an object; got \"a manifest\"")
  })

  it("read descriptions written as sentences, and unions of objects, as what a value must be", () => {
    const manifest = AgentManifest.annotations(jsonBody)
    const base = { name: "Bot", description: "", tags: [], input_schema: {} }
    expect(refusalOf(manifest, { ...base, pricing: "free" })).toBe("`pricing` must be an object; got \"free\"")
    expect(refusalOf(manifest, { ...base, pricing: { model: "per_job", amount: "x", currency: "USD" } })).toMatch(
      /^`pricing\.amount` must be a non-negative decimal amount as a string: .*; got "x"$/
    )
    expect(refusalOf(manifest, { ...base, pricing: { model: "free", amount: "1" } })).toBe("unknown field `pricing.amount` in the body")
  })

  it("describe containers by kind and size, never their insides", () => {
    let deep: unknown = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(refusalOf(StatusUpdate.annotations(jsonBody), deep)).toBe("the body must be an object; got an array of 1 item")
    expect(refusalOf(StatusUpdate.annotations(jsonBody), { status: { running: true } })).toBe(
      "`status` must be one of \"accepted\", \"rejected\", \"running\", \"failed\", \"canceled\"; got an object"
    )
  })

  it("require lease_id on every status an executor reports as the holder", () => {
    const update = StatusUpdate.annotations(jsonBody)
    for (const status of ["running", "failed", "canceled"] as const) {
      expect(refusalOf(update, { status })).toBe(`\`lease_id\` is required for status "${status}"`)
    }
    for (const status of ["accepted", "rejected"] as const) {
      expect(Schema.decodeUnknownSync(update)({ status })).toEqual(new StatusUpdate({ status }))
    }
  })
})
