/**
 * Fuzzing the API from its own OpenAPI document: for every path × method
 * of `/openapi.json` (fetched from the running server), raw requests over
 * real HTTP with random and malformed path parameters, query strings,
 * headers and bodies. Whatever arrives, the server answers without a 5xx,
 * every 4xx carries a JSON body with a string `_tag` that the document
 * declares for that operation and status (the request edge's answers
 * included; a path the document has, asked with another method, is 405
 * with `Allow`), and the server stays healthy.
 *
 * Raw `fetch` on purpose: the derived client cannot send what it would
 * refuse to encode. A fixed seed keeps CI deterministic; a failure prints
 * the request fast-check shrank it to.
 */
import type { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { layer } from "@effect/vitest"
import { Effect, FastCheck, Layer, Redacted } from "effect"
import * as NodeNet from "node:net"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId, makeFileId, makeJobId } from "../src/Ids.js"
import { serverUrl, TestServerLive } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"
import { clientWith } from "./support.js"

/**
 * Requests sent by the property (a few hundred keep CI within seconds) and
 * the seed. `AGNT_FUZZ_RUNS` and `AGNT_FUZZ_SEED` fuzz longer or elsewhere
 * locally. What a seed found is pinned in "requests that once broke the
 * server" below (seed 20261121 found the unanswered and untyped ones,
 * seed 2 the NUL character).
 */
const numRuns = Number(process.env["AGNT_FUZZ_RUNS"] ?? 400)
const seed = Number(process.env["AGNT_FUZZ_SEED"] ?? 20_261_121)

// ---------------------------------------------------------------------------
// The OpenAPI document, as far as the fuzzer reads it

interface Operation {
  readonly method: string
  readonly path: string
  readonly pathParams: ReadonlyArray<string>
  readonly queryParams: ReadonlyArray<string>
  readonly bodyType: "json" | "multipart" | "none"
  /** status → the `_tag`s the document declares for it. */
  readonly errors: ReadonlyMap<number, ReadonlyArray<string>>
}

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
const field = (value: unknown, key: string): unknown => isRecord(value) ? value[key] : undefined
const list = (value: unknown): ReadonlyArray<unknown> => Array.isArray(value) ? value : []

/** The `_tag`s a response schema can carry: its `$ref`s (and `anyOf` members) resolved to their `_tag` enums. */
const tagsOf = (doc: unknown, schema: unknown): ReadonlyArray<string> => {
  const ref = field(schema, "$ref")
  if (typeof ref === "string") {
    const target = field(field(field(doc, "components"), "schemas"), ref.replace("#/components/schemas/", ""))
    return list(field(field(field(target, "properties"), "_tag"), "enum")).filter((tag) => typeof tag === "string")
  }
  return list(field(schema, "anyOf")).flatMap((member) => tagsOf(doc, member))
}

const operationsOf = (doc: unknown): ReadonlyArray<Operation> =>
  Object.entries(isRecord(field(doc, "paths")) ? field(doc, "paths") as Record<string, unknown> : {}).flatMap(([path, methods]) =>
    Object.entries(isRecord(methods) ? methods : {}).map(([method, operation]): Operation => {
      const parameters = list(field(operation, "parameters"))
      const names = (location: string) =>
        parameters.filter((parameter) => field(parameter, "in") === location).map((parameter) => String(field(parameter, "name")))
      const content = field(field(operation, "requestBody"), "content")
      const responses = field(operation, "responses")
      return {
        method: method.toUpperCase(),
        path,
        pathParams: names("path"),
        queryParams: names("query"),
        bodyType: field(content, "multipart/form-data") !== undefined
          ? "multipart"
          : field(content, "application/json") !== undefined
          ? "json"
          : "none",
        errors: new Map(
          Object.entries(isRecord(responses) ? responses : {})
            .filter(([status]) => Number(status) >= 400)
            .map((
              [status, response]
            ) => [Number(status), tagsOf(doc, field(field(field(response, "content"), "application/json"), "schema"))])
        )
      }
    })
  )

const decoded = (segment: string) => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** The router takes a path parameter of 1 to 100 characters (find-my-way's `maxParamLength`, decoded). */
const maxParamLength = 100

/**
 * The operation the router picks for `method` and an encoded `pathname`,
 * if any — as find-my-way does: repeated and trailing slashes ignored,
 * static segments before parameters.
 */
const routeOf = (operations: ReadonlyArray<Operation>, method: string, pathname: string) => {
  const segments = pathname.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1").split("/")
  return operations
    .filter((operation) => operation.method === method)
    .filter((operation) => {
      const template = operation.path.split("/")
      return template.length === segments.length && template.every((part, index) => {
        const segment = segments[index] ?? ""
        return part.startsWith("{") ? segment !== "" && decoded(segment).length <= maxParamLength : part === segment
      })
    })
    .sort((a, b) => a.pathParams.length - b.pathParams.length)[0]
}

/**
 * Typed answers the request edge gives on any route, known or not: body
 * limits, malformed bodies, the request rate. On a route of the document
 * its operation must declare them.
 */
const edgeErrors: ReadonlyArray<readonly [number, string]> = [[413, "PayloadTooLarge"], [400, "InvalidRequest"], [429, "RateLimited"]]

// ---------------------------------------------------------------------------
// Abstract requests: choices resolved against the document and the fixtures at run time

type PathValue =
  | { readonly kind: "valid" | "fresh" | "wrongPrefix" | "empty" | "encodedSlash" }
  | { readonly kind: "garbage" | "unicode"; readonly text: string }
  | { readonly kind: "long"; readonly length: number }
  | { readonly kind: "dots"; readonly text: string }

type QueryValue =
  | { readonly kind: "missing" | "valid" | "array" | "empty" }
  | { readonly kind: "text"; readonly text: string }

type Auth = "none" | "buyer" | "executor" | "admin" | "unknownKey" | "malformedKey" | "basic" | "emptyBearer"

type Mutation =
  | { readonly kind: "missing"; readonly field: number }
  | { readonly kind: "set"; readonly field: number; readonly value: Json }
  | { readonly kind: "extra"; readonly value: Json }

type Body =
  | { readonly kind: "none" | "empty" | "valid" }
  | { readonly kind: "invalidJson"; readonly text: string }
  | { readonly kind: "wrongShape"; readonly value: unknown }
  | { readonly kind: "mutated"; readonly mutation: Mutation }
  | { readonly kind: "deep"; readonly depth: number; readonly inField: boolean }
  | { readonly kind: "huge"; readonly size: number }
  | { readonly kind: "multipartGarbage"; readonly text: string }
  | { readonly kind: "truncated"; readonly fraction: number }
  | { readonly kind: "badFileName"; readonly name: string }

interface RequestSpec {
  readonly operation: number
  /** A method the document does not list for the path, now and then. */
  readonly otherMethod: "DELETE" | "PATCH" | "OPTIONS" | null
  readonly path: ReadonlyArray<PathValue>
  readonly query: ReadonlyArray<QueryValue>
  readonly extraQuery: boolean
  readonly auth: Auth
  readonly accept: string | null
  readonly contentType: "matching" | "none" | string
  readonly idempotencyKey: string | null
  readonly body: Body
}

const notANumber = FastCheck.string({ maxLength: 12 }).map((text) => `~${text}`)
const badValues: ReadonlyArray<Json> = [
  null,
  true,
  -1,
  31,
  1e308,
  "",
  "x".repeat(9000),
  [],
  {},
  [1, "a"],
  { nested: { deeper: [] } },
  "\u0000",
  "a\u0000b",
  "\ud800",
  { "\u0000": "\udfff" },
  "😀".repeat(50)
]

const pathValue: FastCheck.Arbitrary<PathValue> = FastCheck.oneof(
  { weight: 4, arbitrary: FastCheck.constantFrom({ kind: "valid" as const }, { kind: "fresh" as const }) },
  {
    weight: 2,
    arbitrary: FastCheck.constantFrom({ kind: "wrongPrefix" as const }, { kind: "empty" as const }, { kind: "encodedSlash" as const })
  },
  { weight: 1, arbitrary: FastCheck.record({ kind: FastCheck.constant("garbage" as const), text: FastCheck.string({ maxLength: 40 }) }) },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("unicode" as const),
      text: FastCheck.string({ unit: "grapheme", maxLength: 20 })
    })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({ kind: FastCheck.constant("long" as const), length: FastCheck.constantFrom(300, 2000, 6000) })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("dots" as const),
      text: FastCheck.constantFrom("..", ".", "%2e%2e", "..%2f..", "../..")
    })
  }
)

const queryValue: FastCheck.Arbitrary<QueryValue> = FastCheck.oneof(
  { weight: 3, arbitrary: FastCheck.constantFrom({ kind: "missing" as const }, { kind: "valid" as const }) },
  { weight: 1, arbitrary: FastCheck.constantFrom({ kind: "array" as const }, { kind: "empty" as const }) },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("text" as const),
      text: FastCheck.oneof(
        FastCheck.constantFrom(
          "abc",
          "true",
          "-1",
          "-0.5",
          "0",
          "1e309",
          "99999999999999999999999",
          "9007199254740993",
          "NaN",
          "1.5",
          "%zz",
          "x".repeat(5000),
          "a\u0000b",
          "\ud800",
          "\u202e\u0007"
        ),
        notANumber
      )
    })
  }
)

const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.oneof(
  FastCheck.record({ kind: FastCheck.constant("missing" as const), field: FastCheck.nat(7) }),
  FastCheck.record({ kind: FastCheck.constant("set" as const), field: FastCheck.nat(7), value: FastCheck.constantFrom(...badValues) }),
  FastCheck.record({ kind: FastCheck.constant("extra" as const), value: FastCheck.constantFrom(...badValues) })
)

const body: FastCheck.Arbitrary<Body> = FastCheck.oneof(
  { weight: 3, arbitrary: FastCheck.constantFrom({ kind: "none" as const }, { kind: "empty" as const }, { kind: "valid" as const }) },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("invalidJson" as const),
      text: FastCheck.oneof(
        FastCheck.constantFrom("{", "nul", "{\"a\":", "[1,]", "\u0000", "{\"agent_id\": }", "\"unterminated"),
        FastCheck.string({ maxLength: 30 })
      )
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({ kind: FastCheck.constant("wrongShape" as const), value: FastCheck.jsonValue({ maxDepth: 3 }) })
  },
  { weight: 4, arbitrary: FastCheck.record({ kind: FastCheck.constant("mutated" as const), mutation }) },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("deep" as const),
      depth: FastCheck.constantFrom(100, 5000, 100_000),
      inField: FastCheck.boolean()
    })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({ kind: FastCheck.constant("huge" as const), size: FastCheck.constantFrom(10_000, 200_000, 2_000_000) })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({ kind: FastCheck.constant("multipartGarbage" as const), text: FastCheck.string({ maxLength: 200 }) })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("truncated" as const),
      fraction: FastCheck.double({ min: 0, max: 1, noNaN: true })
    })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("badFileName" as const),
      name: FastCheck.constantFrom("../../etc/passwd", "/abs.txt", "a\u0000b", "C:\\x", "x".repeat(600), "", "./", "dir/../../up", "ok.txt")
    })
  }
)

const requestSpec: FastCheck.Arbitrary<RequestSpec> = FastCheck.record({
  operation: FastCheck.nat(1000),
  otherMethod: FastCheck.oneof({ weight: 15, arbitrary: FastCheck.constant(null) }, {
    weight: 1,
    arbitrary: FastCheck.constantFrom("DELETE" as const, "PATCH" as const, "OPTIONS" as const)
  }),
  path: FastCheck.array(pathValue, { minLength: 2, maxLength: 2 }),
  query: FastCheck.array(queryValue, { minLength: 4, maxLength: 4 }),
  extraQuery: FastCheck.boolean(),
  auth: FastCheck.oneof(
    { weight: 6, arbitrary: FastCheck.constantFrom<Auth>("buyer", "executor", "admin") },
    { weight: 2, arbitrary: FastCheck.constantFrom<Auth>("none", "unknownKey", "malformedKey", "basic", "emptyBearer") }
  ),
  accept: FastCheck.constantFrom(null, null, "application/json", "text/event-stream", "*/*", "text/html;q=0.1, nonsense"),
  contentType: FastCheck.oneof(
    { weight: 6, arbitrary: FastCheck.constant("matching") },
    {
      weight: 2,
      arbitrary: FastCheck.constantFrom(
        "none",
        "text/plain",
        "application/xml",
        "multipart/form-data",
        "multipart/form-data; boundary=wrong",
        "application/json; charset=utf-16",
        "application/x-www-form-urlencoded",
        "%%%",
        "application/json"
      )
    }
  ),
  idempotencyKey: FastCheck.constantFrom(null, null, null, "key-1", "", "k".repeat(300)),
  body
})

// ---------------------------------------------------------------------------
// Fixtures and turning a spec into a real request

interface Fixtures {
  readonly baseUrl: string
  readonly keys: Readonly<Record<"buyer" | "executor" | "admin", string>>
  readonly agentId: AgentId
  readonly jobId: string
  readonly fileId: string
  readonly leaseId: string
}

const idOfParam = (fixtures: Fixtures, name: string, kind: "valid" | "fresh" | "wrongPrefix") => {
  const prefix = name.replace(/_id$/, "")
  if (kind === "wrongPrefix") return prefix === "job" ? makeAgentId() : makeJobId()
  if (kind === "fresh") return prefix === "job" ? makeJobId() : prefix === "file" ? makeFileId() : makeAgentId()
  return prefix === "job" ? fixtures.jobId : prefix === "file" ? fixtures.fileId : fixtures.agentId
}

const pathSegment = (fixtures: Fixtures, name: string, value: PathValue): string => {
  switch (value.kind) {
    case "valid":
    case "fresh":
    case "wrongPrefix":
      return idOfParam(fixtures, name, value.kind)
    case "empty":
      return ""
    case "encodedSlash":
      return `${idOfParam(fixtures, name, "valid")}%2Fx`
    case "garbage":
    case "unicode":
      return encodeURIComponent(value.text)
    case "long":
      return `${name.replace(/_id$/, "")}_${"a".repeat(value.length)}`
    case "dots":
      return value.text
  }
}

const validQuery: Readonly<Record<string, (fixtures: Fixtures) => string>> = {
  q: () => "lint",
  tags: () => "test,fuzz",
  limit: () => "5",
  cursor: () => "",
  status: () => "pending",
  agent_id: (fixtures) => fixtures.agentId,
  after: () => "0",
  // Long-polls are held up to `wait` seconds: a valid wait stays short.
  wait: () => "1"
}

/** Field names and valid values of each operation's body (the order `Mutation.field` counts in). */
const template = (fixtures: Fixtures, operation: Operation): ReadonlyArray<readonly [string, Json]> => {
  const key = `${operation.method} ${operation.path}`
  switch (key) {
    case "PUT /v1/agents/{agent_id}":
      return [["name", "Fuzzed"], ["description", "an agent the fuzzer publishes"], ["tags", ["fuzz"]], ["input_schema", {
        type: "object"
      }]]
    case "POST /v1/jobs":
      return [["agent_id", fixtures.agentId], ["prompt", "fuzz"], ["params", { level: 2 }]]
    case "POST /v1/executor/jobs/claim":
      return [["agent_id", fixtures.agentId], ["executor_id", "fuzzer"], ["wait", 0]]
    case "POST /v1/executor/jobs/{job_id}/status":
      return [["status", "running"], ["lease_id", fixtures.leaseId], ["progress", 10], ["message", "fuzzing"]]
    case "POST /v1/executor/jobs/{job_id}/heartbeat":
      return [["lease_id", fixtures.leaseId]]
    case "POST /v1/executor/jobs/{job_id}/logs":
      return [["lease_id", fixtures.leaseId], ["lines", ["a", "b"]]]
    case "POST /v1/executor/jobs/{job_id}/complete":
      return [["lease_id", fixtures.leaseId], ["message", "done"]]
    default:
      return [["unexpected", true]]
  }
}

const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

const multipart = (boundary: string, fields: ReadonlyArray<readonly [string, Json]>, files: ReadonlyArray<readonly [string, string]>) =>
  [
    ...fields.map(([name, value]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${
        typeof value === "string" ? value : JSON.stringify(value)
      }\r\n`
    ),
    ...files.map(([name, content]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n`
    ),
    `--${boundary}--\r\n`
  ].join("")

const mutate = (fields: ReadonlyArray<readonly [string, Json]>, change: Mutation): ReadonlyArray<readonly [string, Json]> => {
  switch (change.kind) {
    case "missing":
      return fields.filter((_, index) => index !== change.field % fields.length)
    case "set":
      return fields.map(([name, value], index) => index === change.field % fields.length ? [name, change.value] : [name, value])
    case "extra":
      return [...fields, ["unexpected_field", change.value]]
  }
}

/** The body text and its natural content type. */
const bodyOf = (fixtures: Fixtures, operation: Operation, spec: Body): { readonly text: string; readonly type: string } | undefined => {
  const boundary = "fuzzBoundary7MA4YWxkTrZu0gW"
  const asMultipart = operation.bodyType === "multipart"
  const encode = (
    fields: ReadonlyArray<readonly [string, Json]>,
    files: ReadonlyArray<readonly [string, string]> = [["input.txt", "hello"]]
  ) =>
    asMultipart
      ? { text: multipart(boundary, fields, files), type: `multipart/form-data; boundary=${boundary}` }
      : { text: JSON.stringify(Object.fromEntries(fields)), type: "application/json" }
  const fields = template(fixtures, operation)
  switch (spec.kind) {
    case "none":
      return undefined
    case "empty":
      return { text: "", type: asMultipart ? `multipart/form-data; boundary=${boundary}` : "application/json" }
    case "valid":
      return encode(fields)
    case "invalidJson":
      return { text: spec.text, type: "application/json" }
    case "wrongShape":
      return { text: JSON.stringify(spec.value), type: "application/json" }
    case "mutated":
      return encode(mutate(fields, spec.mutation))
    case "deep":
      return spec.inField
        ? asMultipart
          ? {
            text: multipart(boundary, [...fields.filter(([name]) => name !== "params"), ["params", `{"a":${deep(spec.depth)}}`]], []),
            type: `multipart/form-data; boundary=${boundary}`
          }
          : {
            text: `{${fields.map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`).join(",")},"nested":${
              deep(spec.depth)
            }}`,
            type: "application/json"
          }
        : { text: deep(spec.depth), type: "application/json" }
    case "huge":
      return encode(fields.map(([name, value]) => [name, typeof value === "string" ? "x".repeat(spec.size) : value]))
    case "multipartGarbage":
      return { text: spec.text, type: `multipart/form-data; boundary=${boundary}` }
    case "truncated": {
      const whole = encode(fields)
      return { ...whole, text: whole.text.slice(0, Math.floor(whole.text.length * spec.fraction)) }
    }
    case "badFileName":
      return asMultipart ? encode(fields, [[spec.name, "content"]]) : encode(fields)
  }
}

const authorization = (fixtures: Fixtures, auth: Auth): string | undefined => {
  switch (auth) {
    case "none":
      return undefined
    case "buyer":
    case "executor":
    case "admin":
      return `Bearer ${fixtures.keys[auth]}`
    case "unknownKey":
      return `Bearer agnt_buyer_01m7zs84jxe4bv682cvngbb1p6_${"0".repeat(64)}`
    case "malformedKey":
      return "Bearer not-a-key"
    case "basic":
      return "Basic dXNlcjpwYXNz"
    case "emptyBearer":
      return "Bearer "
  }
}

interface Sent {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | undefined
  readonly operation: Operation
}

const toRequest = (fixtures: Fixtures, operations: ReadonlyArray<Operation>, spec: RequestSpec): Sent => {
  const operation = operations[spec.operation % operations.length] ?? operations[0]
  if (operation === undefined) throw new Error("the OpenAPI document lists no operations")
  const method = spec.otherMethod ?? operation.method
  let path = operation.path
  operation.pathParams.forEach((name, index) => {
    path = path.replace(`{${name}}`, pathSegment(fixtures, name, spec.path[index] ?? { kind: "valid" }))
  })
  const query = new URLSearchParams()
  operation.queryParams.forEach((name, index) => {
    const value = spec.query[index] ?? { kind: "missing" }
    const valid = validQuery[name]?.(fixtures) ?? "x"
    if (value.kind === "valid") query.append(name, valid)
    if (value.kind === "array") {
      query.append(name, valid)
      query.append(name, valid)
    }
    if (value.kind === "empty") query.append(name, "")
    if (value.kind === "text") query.append(name, value.text)
  })
  if (spec.extraQuery) query.append("unexpected", "1")
  const headers: Record<string, string> = {}
  const auth = authorization(fixtures, spec.auth)
  if (auth !== undefined) headers["authorization"] = auth
  if (spec.accept !== null) headers["accept"] = spec.accept
  if (spec.idempotencyKey !== null) headers["idempotency-key"] = spec.idempotencyKey
  // fetch sends no body with GET or HEAD.
  const content = method === "GET" ? undefined : bodyOf(fixtures, operation, spec.body)
  if (content !== undefined && spec.contentType === "matching") headers["content-type"] = content.type
  else if (content !== undefined && spec.contentType !== "none") headers["content-type"] = spec.contentType
  const search = query.toString()
  return { method, url: `${fixtures.baseUrl}${path}${search === "" ? "" : `?${search}`}`, headers, body: content?.text, operation }
}

const describeSent = (sent: Sent) =>
  `${sent.method} ${sent.url.length > 300 ? `${sent.url.slice(0, 300)}…` : sent.url}\n  headers ${
    JSON.stringify(sent.headers).slice(0, 300)
  }` +
  `\n  body ${
    sent.body === undefined
      ? "(none)"
      : JSON.stringify(sent.body.slice(0, 300)) + (sent.body.length > 300 ? `… (${sent.body.length} chars)` : "")
  }`

/**
 * A 400's message is one sentence a person can act on: a line of text, not
 * a schema's formatted issue tree ("Expected …, actual …" on many lines).
 */
const readable = (message: unknown) =>
  typeof message === "string" && message.length > 0 && !message.includes("\n") && !/\bExpected\b|\bactual\b/.test(message)

/** Paths that are the API's (as `Web.ts` tells them from the web app's pages). */
const apiPath = /^\/(v1(\/|$)|healthz$|readyz$|metrics$|openapi\.json$|docs$)/

/** Send one request; check the status and, for a 4xx, its typed body (a 400's message readable). */
const sendAndCheck = (operations: ReadonlyArray<Operation>, sent: Sent) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(sent.url, {
        method: sent.method,
        headers: sent.headers,
        ...(sent.body === undefined ? {} : { body: sent.body }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)])
      })
      const problem = (what: string, text: string) =>
        new Error(
          `${what}\n  answer ${response.status} ${response.headers.get("content-type")} ${JSON.stringify(text.slice(0, 500))}\n  request ${
            describeSent(sent)
          }`
        )
      if (response.status < 400) {
        // An event stream stays open: the status is all this test needs.
        await response.body?.cancel()
        return response.status
      }
      const text = await response.text()
      if (response.status >= 500) throw problem("a 5xx answer", text)
      // A path that resolves outside the API (`/v1/jobs/../..` is `/`) is the web app's page, not an API answer.
      if (!apiPath.test(new URL(sent.url).pathname)) return response.status
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        throw problem("a 4xx answer without a JSON body", text)
      }
      const tag = field(parsed, "_tag")
      if (typeof tag !== "string") throw problem("a 4xx answer without a string _tag", text)
      const message = field(parsed, "message")
      if (response.status === 400 && !readable(message)) throw problem("a 400 whose message is not one readable sentence", text)
      const route = routeOf(operations, sent.method, new URL(sent.url).pathname)
      if (response.status === 405 && response.headers.get("allow") === null) throw problem("a 405 without an Allow header", text)
      // An operation declares every error it can answer, the edge's too; a request no operation serves gets
      // the edge's answers, 404 RouteNotFound, or 405 MethodNotAllowed when its path has other methods.
      const declared = route === undefined
        ? edgeErrors.some(([status, edgeTag]) => status === response.status && edgeTag === tag) ||
          (response.status === 404 && tag === "RouteNotFound") || (response.status === 405 && tag === "MethodNotAllowed")
        : (route.errors.get(response.status) ?? []).includes(tag)
      if (!declared) {
        throw problem(
          `${response.status} ${tag} is not declared for ${route === undefined ? "an unknown route" : `${route.method} ${route.path}`}`,
          text
        )
      }
      return response.status
    },
    catch: (cause) => cause instanceof Error ? cause : new Error(String(cause))
  })

const FuzzServerLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** Keys of every role, an agent, a job with an input file, and the lease of another, claimed job. */
const fixtures = Effect.gen(function*() {
  const keys = yield* ApiKeys
  const keyOf = (role: "buyer" | "executor" | "admin") => Effect.map(keys.create({ role }), (created) => Redacted.value(created.key))
  const buyerKey = yield* keyOf("buyer")
  const executorKey = yield* keyOf("executor")
  const adminKey = yield* keyOf("admin")
  const buyer = yield* clientWith(buyerKey)
  const executor = yield* clientWith(executorKey)
  const agentId = makeAgentId()
  // Any object is valid params, so that odd params get past validation to storage.
  yield* executor.agents.publish({
    path: { agent_id: agentId },
    payload: { ...manifest("Fuzzed agent", ["test", "fuzz"]), input_schema: { type: "object" } }
  })
  const claimedJob = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }, { "in.txt": "claimed" }) })
  const claimed = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "fuzz-fixture", wait: 0 } })
  const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }, { "src/a.ts": "export {}" }) })
  const file = job.input_files[0]
  return {
    baseUrl: yield* serverUrl,
    keys: { buyer: buyerKey, executor: executorKey, admin: adminKey },
    agentId,
    jobId: claimed.claimed?.job.job_id === claimedJob.job_id ? job.job_id : claimedJob.job_id,
    fileId: file?.file_id ?? makeFileId(),
    leaseId: claimed.claimed?.lease.lease_id ?? "lease_none"
  } satisfies Fixtures
})

/** Requests per `METHOD path` the property sent, to show every operation was reached. */
const sentPerOperation = new Map<string, number>()

layer(FuzzServerLive, { timeout: 60_000, excludeTestServices: true })("fuzzing the API from its OpenAPI document", (it) => {
  const state: { fixtures: Fixtures | undefined; operations: ReadonlyArray<Operation> } = { fixtures: undefined, operations: [] }

  it.effect("the OpenAPI document of the running server lists the API's operations", () =>
    Effect.gen(function*() {
      state.fixtures = yield* fixtures
      const doc: unknown = yield* Effect.promise(() => fetch(`${state.fixtures?.baseUrl}/openapi.json`).then((response) => response.json()))
      state.operations = operationsOf(doc)
      const names = state.operations.map((operation) => `${operation.method} ${operation.path}`)
      for (
        const expected of [
          "POST /v1/jobs",
          "GET /v1/jobs/{job_id}/events",
          "POST /v1/executor/jobs/{job_id}/complete",
          "PUT /v1/agents/{agent_id}"
        ]
      ) {
        if (!names.includes(expected)) return yield* Effect.die(new Error(`${expected} is missing from /openapi.json`))
      }
    }))

  it.effect.prop(
    "malformed path params, queries, headers and bodies never get a 5xx, and every 4xx is a typed JSON error the document declares",
    [requestSpec],
    ([spec]) =>
      Effect.gen(function*() {
        const { fixtures: current, operations } = state
        if (current === undefined) return yield* Effect.die(new Error("fixtures were not made"))
        const sent = toRequest(current, operations, spec)
        const name = `${sent.operation.method} ${sent.operation.path}`
        sentPerOperation.set(name, (sentPerOperation.get(name) ?? 0) + 1)
        yield* sendAndCheck(operations, sent)
      }),
    { timeout: 120_000, fastCheck: { numRuns, seed } }
  )

  it.effect("every operation of the document was fuzzed, and the server is still healthy", () =>
    Effect.gen(function*() {
      const { fixtures: current, operations } = state
      if (current === undefined) return yield* Effect.die(new Error("fixtures were not made"))
      const missed = operations.map((operation) => `${operation.method} ${operation.path}`).filter((name) =>
        (sentPerOperation.get(name) ?? 0) < 5
      )
      if (missed.length > 0) return yield* Effect.die(new Error(`fuzzed fewer than 5 times: ${missed.join(", ")}`))
      for (const path of ["/healthz", "/readyz"]) {
        const status = yield* Effect.promise(() => fetch(`${current.baseUrl}${path}`).then((response) => response.status))
        if (status !== 200) return yield* Effect.die(new Error(`${path} answered ${status} after fuzzing`))
      }
      const buyer = yield* clientWith(current.keys.buyer)
      yield* buyer.jobs.create({ headers: {}, payload: orderForm(current.agentId, { level: 1 }) })
    }))

  it.effect("requests that once broke the server get typed 4xx answers", () =>
    Effect.gen(function*() {
      const { fixtures: current } = state
      if (current === undefined) return yield* Effect.die(new Error("fixtures were not made"))
      const buyer = { authorization: `Bearer ${current.keys.buyer}` }
      const form = (fields: ReadonlyArray<readonly [string, string]>) => multipart("b", fields, [])
      const cases: ReadonlyArray<readonly [string, string, Record<string, string>, string | undefined, number, string]> = [
        // The multipart parser neither failed nor finished: never answered.
        ["POST", "/v1/jobs", { ...buyer, "content-type": "multipart/form-data; boundary=b" }, "", 400, "InvalidRequest"],
        ["POST", "/v1/jobs", { ...buyer, "content-type": "multipart/form-data; boundary=b" }, "--b\r\n", 400, "InvalidRequest"],
        [
          "POST",
          "/v1/jobs",
          { ...buyer, "content-type": "multipart/form-data; boundary=b" },
          "--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n",
          400,
          "InvalidRequest"
        ],
        // The parser threw from its constructor: 500.
        ["POST", "/v1/executor/jobs/claim", { ...buyer, "content-type": "multipart/form-data" }, "{}", 400, "InvalidRequest"],
        // Formatting the decode error of a deeply nested body ran out of stack: 500. Its answer now says what
        // the body is instead ("the body must be an object; got an array of 1 item"), never formatting its depth.
        ["POST", "/v1/executor/jobs/claim", { ...buyer, "content-type": "application/json" }, deep(100_000), 400, "HttpApiDecodeError"],
        // PostgreSQL refused a NUL character or an unpaired surrogate: 500.
        [
          "POST",
          "/v1/jobs",
          { ...buyer, "content-type": "multipart/form-data; boundary=b" },
          form([["agent_id", current.agentId], ["prompt", "a\u0000b"]]),
          400,
          "InvalidRequest"
        ],
        [
          "POST",
          "/v1/jobs",
          { ...buyer, "content-type": "multipart/form-data; boundary=b" },
          form([["agent_id", current.agentId], ["prompt", "p"], ["params", "{\"a\":\"\\ud800\"}"]]),
          400,
          "InvalidRequest"
        ],
        ["GET", "/v1/agents/search?q=a%00b", buyer, undefined, 400, "InvalidRequest"],
        // The router's own 404 had no body; a path with other methods is 405.
        ["DELETE", "/v1/jobs", buyer, undefined, 405, "MethodNotAllowed"],
        ["POST", "/v1/agents/search", buyer, undefined, 405, "MethodNotAllowed"],
        ["GET", "/v1/nothing", buyer, undefined, 404, "RouteNotFound"],
        ["GET", `/v1/agents/agent_${"a".repeat(300)}`, buyer, undefined, 404, "RouteNotFound"]
      ]
      for (const [method, path, headers, body, status, tag] of cases) {
        const answer = yield* Effect.promise(() =>
          fetch(`${current.baseUrl}${path}`, {
            method,
            headers,
            ...(body === undefined ? {} : { body }),
            signal: AbortSignal.timeout(10_000)
          })
            .then(async (response) => ({ status: response.status, body: await response.text() }))
            .catch((error: unknown) => ({ status: 0, body: String(error) }))
        )
        const answered = [answer.status, field(JSON.parse(answer.body.startsWith("{") ? answer.body : "{}"), "_tag")]
        if (answered[0] !== status || answered[1] !== tag) {
          return yield* Effect.die(
            new Error(`${method} ${path.slice(0, 80)}: expected ${status} ${tag}, got ${answer.status} ${answer.body.slice(0, 300)}`)
          )
        }
      }
    }))

  it.effect("a connection that closes halfway through a declared body leaves the server serving", () =>
    Effect.gen(function*() {
      const { fixtures: current } = state
      if (current === undefined) return yield* Effect.die(new Error("fixtures were not made"))
      const { port } = new URL(current.baseUrl)
      for (
        const [path, type] of [["/v1/jobs", "multipart/form-data; boundary=b"], ["/v1/executor/jobs/claim", "application/json"]] as const
      ) {
        yield* Effect.async<void>((resume) => {
          const socket = NodeNet.connect(Number(port), "127.0.0.1", () => {
            socket.write(
              `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${current.keys.buyer}\r\n` +
                `Content-Type: ${type}\r\nContent-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhal`
            )
            setTimeout(() => socket.destroy(), 100)
          })
          socket.on("close", () => resume(Effect.void))
          socket.on("error", () => resume(Effect.void))
        })
      }
      const status = yield* Effect.promise(() => fetch(`${current.baseUrl}/healthz`).then((response) => response.status))
      if (status !== 200) return yield* Effect.die(new Error(`/healthz answered ${status}`))
    }))
})
