import {
  AgentNotFound,
  Forbidden,
  IdempotencyConflict,
  InvalidFileName,
  InvalidParams,
  InvalidRequest,
  InvalidTransition,
  JobNotFound,
  LeaseLost,
  NotReady,
  PayloadTooLarge,
  RateLimited,
  Unauthorized
} from "@agnt/domain/Errors"
import { JobId } from "@agnt/domain/Ids"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FiberId, Option, Schema } from "effect"
import {
  apiErrorReports,
  CliExit,
  CorruptDownload,
  ExitCode,
  exitCodeOf,
  exitCodeOfStatus,
  type Failure,
  JobFailed,
  NetworkError,
  reportOf,
  retryAfterSeconds,
  ServerError,
  UnsafePath,
  UsageError
} from "../src/Output.js"

const jobId = Schema.decodeSync(JobId)("job_01m7zsfha0esgawak4ja3zj5fv")
const request = HttpClientRequest.get("http://127.0.0.1:8080/v1/jobs")
const responseWith = (status: number, headers: Record<string, string> = {}) =>
  HttpClientResponse.fromWeb(request, new Response("", { status, headers }))

const exitCodes = (failures: ReadonlyArray<Failure>) => failures.map((failure) => reportOf(failure).exitCode)

describe("exit codes", () => {
  it.effect("each API error maps to the code of its HTTP status", () =>
    Effect.sync(() => {
      expect(exitCodes([
        new InvalidParams({ message: "bad", issues: [{ path: "/max_findings", message: "must be integer" }] }),
        new InvalidFileName({ path: "../x", message: "no" }),
        new InvalidRequest({ message: "bad cursor" }),
        new PayloadTooLarge({ message: "too big", limit: 10 }),
        new HttpApiDecodeError({ message: "bad body", issues: [] })
      ])).toEqual(Array(5).fill(ExitCode.InvalidInput))
      expect(exitCodes([AgentNotFound.of("agent_x"), JobNotFound.of("job_x")])).toEqual([ExitCode.NotFound, ExitCode.NotFound])
      expect(exitCodes([
        InvalidTransition.of(jobId, "completed", "canceled"),
        LeaseLost.of(jobId),
        new IdempotencyConflict({ idempotency_key: "k", job_id: jobId, message: "reused" })
      ])).toEqual([ExitCode.Conflict, ExitCode.Conflict, ExitCode.Conflict])
      expect(exitCodes([new RateLimited({ message: "slow down", retry_after_seconds: 3 })])).toEqual([10])
      expect(exitCodes([new Unauthorized({ message: "no key" }), new Forbidden({ message: "role" })])).toEqual([
        ExitCode.Auth,
        ExitCode.Auth
      ])
      expect(exitCodes([new NotReady({ message: "migrating" })])).toEqual([ExitCode.Server])
    }))

  it.effect("an error class declared with status 404 on any API gets exit 4, with no change to the CLI", () =>
    Effect.sync(() => {
      class ThingVanished extends Schema.TaggedError<ThingVanished>()(
        "ThingVanished",
        { thing: Schema.String, message: Schema.String },
        HttpApiSchema.annotations({ status: 404 })
      ) {}
      class Teapot extends Schema.TaggedError<Teapot>()(
        "Teapot",
        { message: Schema.String },
        HttpApiSchema.annotations({ status: 418 })
      ) {}
      const api = HttpApi.make("test").add(
        HttpApiGroup.make("things").add(HttpApiEndpoint.get("get", "/things").addError(ThingVanished).addError(Teapot))
      )
      const reports = apiErrorReports(api)
      expect(reports.reportOf(new ThingVanished({ thing: "t", message: "gone" }))).toEqual(
        Option.some({ body: { _tag: "ThingVanished", thing: "t", message: "gone" }, exitCode: 4 })
      )
      expect(Option.map(reports.reportOf(new Teapot({ message: "short and stout" })), (report) => report.exitCode)).toEqual(
        Option.some(ExitCode.InvalidInput)
      )
      expect(reports.reportOf(new UsageError({ message: "not the API's" }))).toEqual(Option.none())
    }))

  it.effect("exit codes follow HTTP statuses as the README's table says", () =>
    Effect.sync(() => {
      expect([400, 413, 404, 409, 401, 403, 429, 500, 502, 503].map(exitCodeOfStatus)).toEqual([3, 3, 4, 5, 6, 6, 10, 7, 7, 7])
    }))

  it.effect("the CLI's own errors have their codes", () =>
    Effect.sync(() => {
      expect(exitCodes([
        new JobFailed({ job_id: jobId, status: "failed", failure_reason: "boom", message: "ended failed" }),
        new UsageError({ message: "bad" }),
        new ServerError({ message: "500" }),
        new CorruptDownload({
          path: "a",
          expected_sha256: "x",
          actual_sha256: "y",
          expected_size: 1,
          actual_size: 1,
          message: "corrupt"
        }),
        new UnsafePath({ path: "../a", out: "out", message: "escapes" }),
        new NetworkError({ message: "refused" })
      ])).toEqual([1, 2, 7, 7, 7, 8])
    }))

  it.effect("transport failures are NetworkError (8); bad URLs are usage errors (2)", () =>
    Effect.sync(() => {
      const refused = reportOf(
        new HttpClientError.RequestError({
          request,
          reason: "Transport",
          cause: new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:8080") })
        })
      )
      expect(refused.exitCode).toBe(ExitCode.Network)
      expect(refused.body._tag).toBe("NetworkError")
      expect(refused.body.message).toContain("ECONNREFUSED")
      expect(reportOf(new HttpClientError.RequestError({ request, reason: "InvalidUrl" })).exitCode).toBe(ExitCode.Usage)
    }))

  it.effect("unexpected statuses and undecodable bodies are ServerError (7)", () =>
    Effect.gen(function*() {
      const unexpected = reportOf(
        new HttpClientError.ResponseError({ request, response: responseWith(502), reason: "Decode" })
      )
      expect(unexpected).toMatchObject({ exitCode: ExitCode.Server, body: { _tag: "ServerError", status: 502 } })
      const parseError = yield* Effect.flip(Schema.decodeUnknown(Schema.Number)("x"))
      expect(reportOf(parseError)).toMatchObject({ exitCode: ExitCode.Server, body: { _tag: "ServerError" } })
    }))

  it.effect("a 429 the endpoint does not declare is RateLimited (10) with the Retry-After delay", () =>
    Effect.sync(() => {
      const limited = reportOf(
        new HttpClientError.ResponseError({ request, response: responseWith(429, { "retry-after": "7" }), reason: "StatusCode" })
      )
      expect(limited).toMatchObject({ exitCode: ExitCode.RateLimited, body: { _tag: "RateLimited", retry_after_seconds: 7 } })
      const bare = reportOf(new HttpClientError.ResponseError({ request, response: responseWith(429), reason: "StatusCode" }))
      expect(bare).toMatchObject({ exitCode: ExitCode.RateLimited, body: { _tag: "RateLimited", retry_after_seconds: 1 } })
    }))

  it.effect("Retry-After is read as seconds or as an HTTP date", () =>
    Effect.sync(() => {
      const now = new Date("2025-01-02T03:04:05Z")
      expect(retryAfterSeconds("12", now)).toBe(12)
      expect(retryAfterSeconds("Thu, 02 Jan 2025 03:04:35 GMT", now)).toBe(30)
      expect(retryAfterSeconds("Thu, 02 Jan 2025 03:00:00 GMT", now)).toBe(0)
      expect(retryAfterSeconds(undefined, now)).toBeUndefined()
      expect(retryAfterSeconds("soon", now)).toBeUndefined()
    }))

  it.effect("@effect/cli validation errors are UsageError (2) with the parser's message as plain text", () =>
    Effect.sync(() => {
      const report = reportOf(ValidationError.missingFlag(HelpDoc.p("Expected to find option: '--prompt'")))
      expect(report).toEqual({
        exitCode: ExitCode.Usage,
        body: { _tag: "UsageError", message: "Expected to find option: '--prompt'" }
      })
    }))

  it.effect("an API error's body is the wire body, _tag first", () =>
    Effect.sync(() => {
      const report = reportOf(JobNotFound.of("job_x"))
      expect(report.body).toEqual({ _tag: "JobNotFound", job_id: "job_x", message: "job job_x not found" })
      expect(Object.keys(report.body)[0]).toBe("_tag")
    }))

  it.effect("the process exit code follows the program's Exit", () =>
    Effect.sync(() => {
      expect(exitCodeOf(Exit.void)).toBe(0)
      expect(exitCodeOf(Exit.fail(new CliExit({ code: ExitCode.NotFound })))).toBe(4)
      expect(exitCodeOf(Exit.interrupt(FiberId.none))).toBe(ExitCode.Interrupted)
      expect(exitCodeOf(Exit.die(new Error("bug")))).toBe(ExitCode.Internal)
      expect(exitCodeOf(Exit.fail("something else"))).toBe(ExitCode.Internal)
    }))
})
