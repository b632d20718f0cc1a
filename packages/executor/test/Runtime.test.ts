import { isTransient } from "@agnt/client/ApiClient"
import { Forbidden, InvalidTransition, LeaseLost, NotReady } from "@agnt/domain/Errors"
import { JobId, LeaseId } from "@agnt/domain/Ids"
import { Lease } from "@agnt/domain/Job"
import { maxLogLineLength } from "@agnt/domain/Limits"
import { isStorable } from "@agnt/domain/Text"
import { HttpClientError, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Cause, DateTime, Duration, Effect, Ref, Schedule, Schema } from "effect"
import { isJobLost } from "../src/ApiClient.js"
import { decodeCommandConfig } from "../src/Command/Config.js"
import { initConfig, initProgram, makeAgentId } from "../src/Init.js"
import { heartbeatInterval } from "../src/Runtime/JobRunner.js"
import { capLine, makeLogBatcher } from "../src/Runtime/LogBatcher.js"

const jobId = Schema.decodeSync(JobId)("job_01m7zs84jxe4bv682cvngbb1p6")
const request = HttpClientRequest.get("http://127.0.0.1:1/v1/x")
const responseError = (status: number) =>
  new HttpClientError.ResponseError({
    request,
    response: HttpClientResponse.fromWeb(request, new Response(null, { status })),
    reason: "StatusCode"
  })

/** Polls `read` every 20 ms until `until` holds, for at most 5 s. */
const eventually = <A>(read: Effect.Effect<A>, until: (value: A) => boolean) =>
  read.pipe(
    Effect.filterOrFail(until, () => "not yet"),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds"))),
    Effect.orDie
  )

/** A batcher whose batches land in a Ref. */
const recordingBatcher = (options: { readonly flushSeconds: number }) =>
  Effect.gen(function*() {
    const sent = yield* Ref.make<ReadonlyArray<ReadonlyArray<string>>>([])
    const batcher = yield* makeLogBatcher((lines) => Ref.update(sent, (all) => [...all, lines]), options)
    return { batcher, sent }
  })

describe("log batcher", () => {
  it.scopedLive("50 buffered lines go out at once as one batch; the rest wait for the interval or a flush", () =>
    Effect.gen(function*() {
      const { batcher, sent } = yield* recordingBatcher({ flushSeconds: 600 })
      yield* Effect.forEach(Array.from({ length: 120 }, (_, i) => `line ${i + 1}`), batcher.log)
      const early = yield* eventually(Ref.get(sent), (batches) => batches.length >= 2)
      expect(early.map((batch) => batch.length)).toEqual([50, 50])
      yield* batcher.flush("5 seconds")
      const all = yield* Ref.get(sent)
      expect(all.map((batch) => batch.length)).toEqual([50, 50, 20])
      expect(all.flat()).toEqual(Array.from({ length: 120 }, (_, i) => `line ${i + 1}`))
    }))

  it.scopedLive("fewer than 50 lines go out once the interval has passed", () =>
    Effect.gen(function*() {
      const { batcher, sent } = yield* recordingBatcher({ flushSeconds: 0.1 })
      yield* batcher.log("one")
      yield* batcher.log("two")
      expect(yield* eventually(Ref.get(sent), (batches) => batches.length >= 1)).toEqual([["one", "two"]])
    }))

  it.scopedLive("lines logged after a flush are dropped", () =>
    Effect.gen(function*() {
      const { batcher, sent } = yield* recordingBatcher({ flushSeconds: 600 })
      yield* batcher.log("before")
      yield* batcher.flush("5 seconds")
      yield* batcher.log("after")
      expect(yield* Ref.get(sent)).toEqual([["before"]])
    }))

  it.scopedLive("a failing send loses only its batch; later batches still go out", () =>
    Effect.gen(function*() {
      const sent = yield* Ref.make<ReadonlyArray<string>>([])
      const batcher = yield* makeLogBatcher(
        (lines) => lines.includes("boom") ? Effect.die("send failed") : Ref.update(sent, (all) => [...all, ...lines]),
        { flushSeconds: 0.05 }
      )
      yield* batcher.log("boom")
      yield* Effect.sleep("300 millis")
      yield* batcher.log("fine")
      yield* batcher.flush("5 seconds")
      expect(yield* Ref.get(sent)).toEqual(["fine"])
    }))

  it.scopedLive("text with line breaks becomes one log line per line; lines are cut at 4000 characters", () =>
    Effect.gen(function*() {
      const { batcher, sent } = yield* recordingBatcher({ flushSeconds: 600 })
      yield* batcher.log("first\r\nsecond\n")
      yield* batcher.log("x".repeat(5000))
      yield* batcher.flush("5 seconds")
      const lines = (yield* Ref.get(sent)).flat()
      expect(lines.slice(0, 2)).toEqual(["first", "second"])
      expect(lines[2]).toHaveLength(maxLogLineLength)
      expect(lines[2]?.endsWith("…")).toBe(true)
      expect(capLine("short")).toBe("short")
      // A cut that would fall inside a surrogate pair drops the pair's first half.
      const split = capLine(`${"x".repeat(maxLogLineLength - 2)}😀tail`)
      expect(split).toBe(`${"x".repeat(maxLogLineLength - 2)}…`)
      expect(isStorable(split)).toBe(true)
    }))
})

describe("heartbeat interval", () => {
  const lease = (secondsLeft: number, now: number) =>
    new Lease({
      lease_id: LeaseId.make("lease_x"),
      lease_expires_at: DateTime.unsafeMake(now + secondsLeft * 1000),
      cancel_requested: false
    })
  const now = 1_700_000_000_000

  it("is a third of the lease, at most 15 s and at least 0.5 s, unless given", () => {
    expect(Duration.toSeconds(heartbeatInterval(undefined, lease(60, now), now))).toBe(15)
    expect(Duration.toSeconds(heartbeatInterval(undefined, lease(3, now), now))).toBe(1)
    expect(Duration.toSeconds(heartbeatInterval(undefined, lease(-10, now), now))).toBe(0.5)
    expect(Duration.toSeconds(heartbeatInterval(2, lease(60, now), now))).toBe(2)
    expect(Duration.toSeconds(heartbeatInterval(0, lease(60, now), now))).toBe(15)
  })
})

describe("failure classes", () => {
  it("the API unreachable, a 5xx, 503 NotReady and a timeout are transient; 4xx answers are not", () => {
    expect(isTransient(new HttpClientError.RequestError({ request, reason: "Transport" }))).toBe(true)
    expect(isTransient(responseError(502))).toBe(true)
    expect(isTransient(new NotReady({ message: "starting" }))).toBe(true)
    expect(isTransient(new Cause.TimeoutException())).toBe(true)
    expect(isTransient(responseError(404))).toBe(false)
    expect(isTransient(new Forbidden({ message: "not yours" }))).toBe(false)
    expect(isTransient(LeaseLost.of(jobId))).toBe(false)
  })

  it("LeaseLost and InvalidTransition mean the job is no longer ours", () => {
    expect(isJobLost(LeaseLost.of(jobId))).toBe(true)
    expect(isJobLost(InvalidTransition.of(jobId, "completed", "running"))).toBe(true)
    expect(isJobLost(new Forbidden({ message: "not yours" }))).toBe(false)
  })
})

describe("init", () => {
  it.effect("writes a config the command executor accepts, for a fresh agent id", () =>
    Effect.gen(function*() {
      const agentId = makeAgentId()
      expect(agentId).not.toBe(makeAgentId())
      const config = yield* decodeCommandConfig(initConfig("hello", agentId))
      expect([config.agent_id, config.program, config.prompt_via]).toEqual([agentId, "./hello.sh", "stdin"])
      expect(initProgram("hello")).toMatch(/^#!\/bin\/sh\n/)
    }))
})
