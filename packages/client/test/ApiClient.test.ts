import { isTransient } from "@agnt/client/ApiClient"
import { Forbidden, InvalidRequest, InvalidTransition, JobNotFound, LeaseLost, NotReady, RateLimited } from "@agnt/domain/Errors"
import { JobId } from "@agnt/domain/Ids"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, ParseResult, Schema } from "effect"

const request = HttpClientRequest.get("http://127.0.0.1:8080/v1/jobs")
const status = (code: number) =>
  new HttpClientError.ResponseError({
    request,
    response: HttpClientResponse.fromWeb(request, new Response("", { status: code })),
    reason: "StatusCode"
  })
const jobId = Schema.decodeSync(JobId)("job_01m7zsfha0esgawak4ja3zj5fv")

/** Each failure a client call can end with, and whether it is retried. */
const table: ReadonlyArray<readonly [string, unknown, boolean]> = [
  ["API unreachable (transport)", new HttpClientError.RequestError({ request, reason: "Transport" }), true],
  ["500", status(500), true],
  ["502", status(502), true],
  ["503 undeclared", status(503), true],
  ["429 undeclared", status(429), true],
  ["503 NotReady", new NotReady({ message: "starting" }), true],
  ["429 RateLimited", new RateLimited({ message: "slow down", retry_after_seconds: 1 }), true],
  ["client-side timeout", new Cause.TimeoutException(), true],
  ["bad URL", new HttpClientError.RequestError({ request, reason: "InvalidUrl" }), false],
  ["request not encodable", new HttpClientError.RequestError({ request, reason: "Encode" }), false],
  ["400", status(400), false],
  ["404", status(404), false],
  ["409", status(409), false],
  ["400 InvalidRequest", new InvalidRequest({ message: "bad cursor" }), false],
  ["403 Forbidden", new Forbidden({ message: "not yours" }), false],
  ["404 JobNotFound", JobNotFound.of("job_x"), false],
  ["409 LeaseLost", LeaseLost.of(jobId), false],
  ["409 InvalidTransition", InvalidTransition.of(jobId, "completed", "running"), false],
  ["undecodable body", new ParseResult.ParseError({ issue: new ParseResult.Type(Schema.String.ast, 1) }), false],
  ["anything else", new Error("bug"), false]
]

describe("which failures are transient", () => {
  it.effect("transport errors, 5xx, 503 NotReady, 429 RateLimited and timeouts are; other 4xx and the rest never", () =>
    Effect.sync(() => {
      expect(table.map(([what, error]) => [what, isTransient(error)])).toEqual(table.map(([what, , transient]) => [what, transient]))
    }))
})
