/**
 * The HTTP API: handlers for every group of `@agnt/domain/Api`, the bearer
 * authentication layer, and the edge that turns request-parsing failures
 * (an oversized or malformed multipart body, bad JSON) into typed 4xx
 * bodies instead of 500s.
 */
import { Api } from "@agnt/domain/Api"
import { Authentication, CurrentPrincipal } from "@agnt/domain/Auth"
import { AgentNotFound, InvalidRequest, NotReady, PayloadTooLarge } from "@agnt/domain/Errors"
import {
  FileSystem,
  HttpApiBuilder,
  HttpApp,
  HttpServerResponse,
  Multipart
} from "@effect/platform"
import { HttpIncomingMessage } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Cause, Effect, Layer, Option, Schema } from "effect"
import { AgentsRepo } from "./AgentsRepo.js"
import { ApiKeys } from "./ApiKeys.js"
import { Jobs, requireRole } from "./Jobs.js"
import { JobsRepo } from "./JobsRepo.js"
import { JsonSchemas } from "./JsonSchemas.js"
import { ServerConfig } from "./ServerConfig.js"

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
          yield* schemas.checkSchema(payload.input_schema)
          return yield* principal.role === "admin"
            ? agents.upsert(path.agent_id, payload)
            : agents.publishAs(principal.key_id, path.agent_id, payload)
        }))
  }))

const JobsLive = HttpApiBuilder.group(Api, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    return handlers
      .handle("create", ({ payload }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.create(principal, payload)))
      .handle("list", ({ urlParams }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.list(principal, urlParams)))
      .handle("get", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.get(principal, path.job_id)))
      .handle("result", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.result(principal, path.job_id)))
      .handle("download", ({ path }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.download(principal, path.job_id, path.file_id)).pipe(
          Effect.map(({ content, file }) =>
            HttpServerResponse.stream(content, {
              contentType: file.mime,
              contentLength: file.size,
              headers: {
                "content-disposition": `attachment; filename="${encodeURIComponent(file.path)}"`,
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
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.pending(principal, urlParams.agent_id, urlParams.limit)).pipe(
          Effect.map((data) => ({ data, next_cursor: null }))
        ))
      .handle("status", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.report(principal, path.job_id, payload)))
      .handle("complete", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.complete(principal, path.job_id, payload)))
  }))

const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        sql`SELECT 1`.pipe(
          Effect.as({ status: "ok" as const }),
          Effect.catchAll(() => Effect.fail(new NotReady({ message: "database unreachable" })))
        ))
  }))

/** Every group of the API with its services. */
export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([AgentsLive, JobsLive, ExecutorLive, HealthLive]),
  Layer.provide(AuthenticationLive),
  Layer.provide(Jobs.Default),
  Layer.provide([AgentsRepo.Default, JobsRepo.Default, JsonSchemas.Default, ApiKeys.Default])
)

const invalidRequest = (message: string) =>
  HttpServerResponse.unsafeJson(Schema.encodeSync(InvalidRequest)(new InvalidRequest({ message })), { status: 400 })

const payloadTooLarge = (message: string, limit: number) =>
  HttpServerResponse.unsafeJson(Schema.encodeSync(PayloadTooLarge)(new PayloadTooLarge({ message, limit })), {
    status: 413
  })

/**
 * Applies the configured body limits to every request and answers the
 * failures of parsing a body — which the API builder treats as defects —
 * with typed errors: 413 `PayloadTooLarge` for limits, 400 `InvalidRequest`
 * for malformed JSON or multipart.
 */
export const withRequestLimits = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(ServerConfig, (settings) => app.pipe(
    Multipart.withMaxFileSize(Option.some(FileSystem.Size(settings.maxFileBytes))),
    Multipart.withMaxParts(Option.some(settings.maxFiles + 16)),
    HttpIncomingMessage.withMaxBodySize(Option.some(FileSystem.Size(settings.maxBodyBytes))),
    Effect.catchAllCause((cause) => {
      const defect = Cause.dieOption(cause)
      if (Option.isSome(defect) && defect.value instanceof Multipart.MultipartError) {
        const error = defect.value
        if (error.reason === "Parse" || error.reason === "InternalError") {
          return Effect.succeed(invalidRequest(`malformed multipart body: ${error.reason}`))
        }
        const limit = error.reason === "FileTooLarge" ? settings.maxFileBytes : error.reason === "TooManyParts" ? settings.maxFiles : settings.maxBodyBytes
        return Effect.succeed(payloadTooLarge(`request refused: ${error.reason}`, limit))
      }
      if (Option.isSome(defect) && typeof defect.value === "object" && defect.value !== null && "_tag" in defect.value && defect.value._tag === "RequestError") {
        return Effect.succeed(invalidRequest("malformed request body"))
      }
      return Effect.failCause(cause)
    })
  ))
