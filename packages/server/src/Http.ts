/**
 * The HTTP API: handlers for every group of `@agnt/domain/Api`, the bearer
 * authentication layer, and the edge that turns request-parsing failures
 * (an oversized or malformed multipart body, bad JSON) into typed 4xx
 * bodies instead of 500s.
 */
import { Api } from "@agnt/domain/Api"
import { Authentication, CurrentPrincipal, type Principal } from "@agnt/domain/Auth"
import { Job, JobEvent } from "@agnt/domain/Job"
import { isTerminal } from "@agnt/domain/Lifecycle"
import { describeIssues } from "@agnt/domain/Requests"
import { AgentNotFound, InvalidRequest, NotReady, PayloadTooLarge, RateLimited, RouteNotFound } from "@agnt/domain/Errors"
import {
  FileSystem,
  HttpApiBuilder,
  HttpApp,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  Multipart
} from "@effect/platform"
import { HttpIncomingMessage } from "@effect/platform"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { SqlClient } from "@effect/sql"
import { Cause, Chunk, Effect, Layer, Option, Schema, Stream } from "effect"
import { AgentsRepo } from "./Agents/Repo.js"
import { ApiKeys } from "./ApiKeys.js"
import { Jobs, requireRole } from "./Jobs.js"
import { JobsRepo } from "./Jobs/Repo.js"
import { JsonSchemas } from "./JsonSchemas.js"
import { Notifier } from "./Notifier.js"
import { RateLimits } from "./RateLimits.js"
import { ServerConfig, type ServerSettings } from "./ServerConfig.js"
import { guardMultipart } from "./MultipartGuard.js"
import { maxFieldBytesOf, multipartFailure, readBody } from "./Uploads.js"

/** Resolves `Authorization: Bearer` keys to principals. */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(ApiKeys, (keys) => Authentication.of({ bearer: keys.authenticate }))
)

const AgentsLive = HttpApiBuilder.group(Api, "agents", (handlers) =>
  Effect.gen(function*() {
    const agents = yield* AgentsRepo
    const schemas = yield* JsonSchemas
    const found = <A>(agentId: string) => (option: Option.Option<A>) =>
      Option.match(option, { onNone: () => Effect.fail(AgentNotFound.of(agentId)), onSome: Effect.succeed })
    return handlers
      .handle("search", ({ urlParams }) => agents.search(urlParams))
      .handle("get", ({ path }) => agents.findById(path.agent_id).pipe(Effect.flatMap(found(path.agent_id))))
      .handle("stats", ({ path }) =>
        agents.findById(path.agent_id).pipe(
          Effect.flatMap(found(path.agent_id)),
          Effect.zipRight(agents.stats(path.agent_id))
        ))
      .handle("publish", ({ path, payload }) =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          yield* requireRole(principal, "executor", "admin")
          yield* schemas.checkSchema(payload.input_schema, "input_schema")
          yield* schemas.checkSchema(payload.output_schema, "output_schema")
          return yield* principal.role === "admin"
            ? agents.upsert(path.agent_id, payload, principal.account_id)
            : agents.publishAs(principal, path.agent_id, payload)
        }))
  }))

const JobsLive = HttpApiBuilder.group(Api, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    return handlers
      .handleRaw("create", ({ headers, request }) =>
        Effect.all([CurrentPrincipal, readBody(request)]).pipe(
          Effect.flatMap(([principal, body]) => jobs.create(principal, body, headers["idempotency-key"])),
          Effect.map((job) => HttpServerResponse.unsafeJson(encodeJob(job), { status: 201 }))
        ))
      .handle("list", ({ urlParams }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.list(principal, urlParams)))
      .handle("get", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.get(principal, path.job_id)))
      .handle("result", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.result(principal, path.job_id)))
      .handle("cancel", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.cancel(principal, path.job_id)))
      .handle("events", ({ path, request, urlParams }) =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          if (!(request.headers["accept"] ?? "").includes("text/event-stream")) {
            return yield* jobs.events(principal, path.job_id, urlParams)
          }
          const lastEventId = Number(request.headers["last-event-id"] ?? "0")
          const after = Math.max(urlParams.after, Number.isSafeInteger(lastEventId) ? lastEventId : 0)
          const job = yield* jobs.get(principal, path.job_id)
          return HttpServerResponse.stream(eventStream(jobs, principal, job, after), {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
          })
        }))
      .handle("download", ({ path }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.download(principal, path.job_id, path.file_id)).pipe(
          Effect.map(({ content, file }) =>
            HttpServerResponse.stream(content, {
              contentType: file.mime,
              contentLength: file.size,
              headers: {
                "content-disposition": `attachment; filename="${encodeURIComponent(file.path)}"`,
                "x-content-type-options": "nosniff",
                "x-content-sha256": file.sha256
              }
            })
          )
        ))
  }))

const ExecutorLive = HttpApiBuilder.group(Api, "executor", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.pending(principal, urlParams.agent_id, urlParams.limit, urlParams.wait)).pipe(
            Effect.map((data) => ({ data, next_cursor: null }))
          ))
      .handle("claim", ({ payload }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.claim(principal, payload)))
      .handle("heartbeat", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.renew(principal, path.job_id, payload.lease_id)))
      .handle("logs", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.renew(principal, path.job_id, payload.lease_id, payload.lines)))
      .handle("status", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.report(principal, path.job_id, payload)))
      .handleRaw("complete", ({ path, request }) =>
        Effect.all([CurrentPrincipal, readBody(request)]).pipe(
          Effect.flatMap(([principal, body]) => jobs.complete(principal, path.job_id, body)),
          Effect.map((job) => HttpServerResponse.unsafeJson(encodeJob(job)))
        ))
  }))

const encodeEvent = Schema.encodeSync(JobEvent)
const encodeJob = Schema.encodeSync(Job)

/**
 * A job's events as Server-Sent Events (WHATWG HTML §9.2): first an
 * `event: job` frame with the job's current state, then every event after
 * `after` in order (`id:` is the event id, `event:` its type, `data:` the
 * event as JSON), a comment every 15 s while nothing happens, and the end
 * of the stream once the job is terminal and all its events were sent.
 */
const eventStream = (jobs: Jobs, principal: Principal, job: Job, after: number): Stream.Stream<Uint8Array> => {
  const encoder = new TextEncoder()
  const frame = (text: string) => encoder.encode(text)
  const first = Stream.make(frame(`event: job\ndata: ${JSON.stringify(encodeJob(job))}\n\n`))
  const rest = Stream.paginateChunkEffect(after, (cursor) =>
    jobs.events(principal, job.job_id, { after: cursor, limit: 100, wait: 15 }).pipe(
      Effect.map((page) => {
        const frames = page.data.length === 0
          ? Chunk.of(frame(": keepalive\n\n"))
          : Chunk.fromIterable(page.data.map((event) =>
            frame(`id: ${event.event_id}\nevent: ${event.type}\ndata: ${JSON.stringify(encodeEvent(event))}\n\n`)))
        const finished = page.data.length === 0 && isTerminal(page.status)
        return [frames, finished ? Option.none<number>() : Option.some(page.next_cursor)] as const
      })
    ))
  return Stream.concat(first, rest).pipe(Stream.catchAll(() => Stream.empty))
}

const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const agents = yield* AgentsRepo
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        sql`SELECT 1`.pipe(
          Effect.as({ status: "ok" as const }),
          Effect.catchAll(() => Effect.fail(new NotReady({ message: "database unreachable" })))
        ))
      .handle("metrics", () =>
        agents.metrics().pipe(Effect.catchAll(() => Effect.fail(new NotReady({ message: "database unreachable" })))))
  }))

/** Every group of the API with its services. */
export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([AgentsLive, JobsLive, ExecutorLive, HealthLive]),
  Layer.provide(AuthenticationLive),
  Layer.provide(Jobs.Default),
  Layer.provide([AgentsRepo.Default, JobsRepo.Default, JsonSchemas.Default, ApiKeys.Default, Notifier.Default, RateLimits.Default])
)

const invalidRequest = (message: string) =>
  HttpServerResponse.unsafeJson(Schema.encodeSync(InvalidRequest)(new InvalidRequest({ message })), { status: 400 })

const payloadTooLarge = (message: string, limit: number) =>
  HttpServerResponse.unsafeJson(Schema.encodeSync(PayloadTooLarge)(new PayloadTooLarge({ message, limit })), {
    status: 413
  })

const rateLimited = (seconds: number) =>
  HttpServerResponse.unsafeJson(
    Schema.encodeSync(RateLimited)(new RateLimited({ message: "too many requests", retry_after_seconds: seconds })),
    { status: 429, headers: { "retry-after": String(seconds) } }
  )

/** Whom a request's rate is counted against: its API key's id, else its remote address. */
const rateClient = (request: HttpServerRequest.HttpServerRequest) => {
  const match = /^Bearer agnt_[a-z]+_([0-9a-z]{26})_/.exec(request.headers["authorization"] ?? "")
  return match?.[1] ?? `address:${Option.getOrElse(request.remoteAddress, () => "unknown")}`
}

const isRouteNotFound = (error: unknown) => HttpServerError.isServerError(error) && error._tag === "RouteNotFound"

/** A typed 404 for a method and path no endpoint serves (the router's own answer has no body). */
const routeNotFound = (request: HttpServerRequest.HttpServerRequest) => {
  const path = (request.url.split("?")[0] ?? "").slice(0, 200)
  return HttpServerResponse.unsafeJson(
    Schema.encodeSync(RouteNotFound)(
      new RouteNotFound({ method: request.method, path, message: `no endpoint answers ${request.method} ${path}` })
    ),
    { status: 404 }
  )
}

/**
 * The edge of every request: a per-key request rate (429 `RateLimited` with
 * `Retry-After`), checked before anything else runs. Body limits live in
 * `BodyLimitsLive`, inside the API app.
 */
export const withRequestLimits = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const limits = yield* RateLimits
    const request = yield* HttpServerRequest.HttpServerRequest
    const wait = limits.take(rateClient(request))
    if (wait > 0) return rateLimited(wait)
    return yield* app
  })

/**
 * The configured body limits, and typed answers for the failures of parsing
 * a body — which the API builder treats as defects — 413 `PayloadTooLarge`
 * for limits, 400 `InvalidRequest` for malformed JSON or multipart — and
 * a typed 404 `RouteNotFound` for a method and path no endpoint serves.
 * A request that fails its schema (400 `HttpApiDecodeError`) gets as its
 * `message` the clauses of its `issues` in one sentence (`Requests.ts`).
 * Other defects are logged with their cause.
 *
 * An API-level middleware (it wraps the router inside the API app): a
 * middleware given to `HttpApiBuilder.serve` runs outside the app's own
 * error handling, which has already answered an empty 500 by the time such
 * a middleware sees the defect.
 */
export const BodyLimitsLive = HttpApiBuilder.middleware(
  Api,
  Effect.map(ServerConfig, (settings) => (app: HttpApp.Default) => respond(settings, app))
)

/**
 * PostgreSQL refused a value of the request, which any string field can
 * carry: a NUL character in text (22021) or JSON (22P05), or an unpaired
 * surrogate in JSON (22P02 "invalid input syntax for type json").
 */
const unstorableText = (defect: unknown) => {
  if (typeof defect !== "object" || defect === null || !("_tag" in defect) || defect._tag !== "SqlError" || !("cause" in defect)) {
    return false
  }
  const cause = defect.cause
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined
  const message = cause instanceof Error ? cause.message : ""
  return code === "22021" || code === "22P05" || (code === "22P02" && message.includes("type json"))
}

/** The message of the error a Node body reader fails with past `maxBodySize`. */
const bodyTooLarge = (error: unknown) =>
  typeof error === "object" && error !== null && "cause" in error && error.cause instanceof Error &&
  error.cause.message === "maxBytes exceeded"

const respond = <E, R>(settings: ServerSettings, app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = Number(request.headers["content-length"] ?? "0")
    if (Number.isFinite(declared) && declared > settings.maxBodyBytes) {
      return payloadTooLarge(`request body is over ${settings.maxBodyBytes} bytes`, settings.maxBodyBytes)
    }
    return yield* guardMultipart(request, app, invalidRequest)
  }).pipe(
    // Per-file sizes are checked after parsing (`Jobs.checkFiles`), not by the parser (multipasta 0.2.8):
    // a part over its limit that followed another file was dropped without an error (the job was made
    // without it), and in a chunked body the parser emitted an unhandled 'error' that crashed the process.
    Multipart.withMaxFileSize(Option.none()),
    // A part with a filename is a file whatever its type (a .json input is not a form field).
    Multipart.withFieldMimeTypes([]),
    Multipart.withMaxParts(Option.some(settings.maxFiles + 16)),
    Multipart.withMaxFieldSize(FileSystem.Size(maxFieldBytesOf(settings))),
    HttpIncomingMessage.withMaxBodySize(Option.some(FileSystem.Size(settings.maxBodyBytes))),
    Effect.mapError((error) =>
      error instanceof HttpApiDecodeError ? new HttpApiDecodeError({ issues: error.issues, message: describeIssues(error.issues) }) : error
    ),
    Effect.catchAllCause((cause) => {
      if (Option.exists(Cause.failureOption(cause), isRouteNotFound)) {
        return Effect.map(HttpServerRequest.HttpServerRequest, routeNotFound)
      }
      const defect = Cause.dieOption(cause)
      if (Option.isSome(defect) && unstorableText(defect.value)) {
        return Effect.succeed(invalidRequest("text must not contain NUL characters or unpaired UTF-16 surrogates"))
      }
      if (Option.isSome(defect) && defect.value instanceof RangeError && defect.value.message.includes("call stack")) {
        // Decoding (or formatting the decode error of) a deeply nested body ran out of stack.
        return Effect.succeed(invalidRequest("request body is nested too deeply"))
      }
      if (Option.isSome(defect) && defect.value instanceof Multipart.MultipartError) {
        const failure = multipartFailure(defect.value, { ...settings, maxFieldBytes: maxFieldBytesOf(settings) })
        return Effect.succeed(
          failure._tag === "InvalidRequest" ? invalidRequest(failure.message) : payloadTooLarge(failure.message, failure.limit)
        )
      }
      if (Option.isSome(defect) && typeof defect.value === "object" && defect.value !== null && "_tag" in defect.value && defect.value._tag === "RequestError") {
        const error = defect.value
        return Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
          bodyTooLarge(error)
            ? payloadTooLarge(`request body is over ${settings.maxBodyBytes} bytes`, settings.maxBodyBytes)
            // The API builder reads a body without a content type as JSON too.
            : invalidRequest(/json/.test(request.headers["content-type"] ?? "json") ? "the request body is not valid JSON" : "malformed request body"))
      }
      return Effect.zipRight(
        // Typed failures pass through here on their way to their 4xx bodies: only defects are worth a log.
        Cause.isDie(cause) ? Effect.logError("request failed", cause) : Effect.void,
        Effect.failCause(cause)
      )
    })
  )
