import { JobId } from "@agnt/domain/Ids"
import { JobEvent, JobEventPage } from "@agnt/domain/Job"
import type { JobStatus } from "@agnt/domain/Lifecycle"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Either, Option, Schema } from "effect"
import { logLinesOf, nextCursor } from "../src/Events.js"

const jobId = Schema.decodeSync(JobId)("job_01m7zsfha0esgawak4ja3zj5fv")
const at = DateTime.unsafeMake("2025-01-02T03:04:05Z")

/** An event as the API sends it, decoded: the CLI only ever sees typed events. */
const wire = (event_id: number, type: JobEvent["type"], data: Record<string, unknown>, status: JobStatus = "running") => ({
  event_id,
  job_id: jobId,
  type,
  status,
  data,
  created_at: DateTime.formatIso(at)
})
const event = (...args: Parameters<typeof wire>): JobEvent => Schema.decodeUnknownSync(JobEvent)(wire(...args))

const page = (status: JobStatus, data: ReadonlyArray<JobEvent>, next_cursor: number) => new JobEventPage({ data, status, next_cursor })

describe("log lines of events", () => {
  it.effect("a log event gives one line per entry of data.lines, in order, with its event id and time", () =>
    Effect.sync(() => {
      expect(logLinesOf(event(7, "log", { lines: ["first", "", "third"] }))).toEqual([
        { event_id: 7, created_at: at, line: "first" },
        { event_id: 7, created_at: at, line: "" },
        { event_id: 7, created_at: at, line: "third" }
      ])
    }))

  it.effect("status and progress events carry no log lines", () =>
    Effect.sync(() => {
      expect(logLinesOf(event(1, "status", { message: "accepted" }, "accepted"))).toEqual([])
      expect(logLinesOf(event(2, "progress", { progress: 10 }))).toEqual([])
    }))

  it.effect("an event whose data is not its kind's (lines not strings, lines on a progress event) is refused when decoded", () =>
    Effect.sync(() => {
      const decode = Schema.decodeUnknownEither(JobEvent)
      expect(Either.isLeft(decode(wire(2, "progress", { progress: 10, lines: ["not a log"] })))).toBe(true)
      expect(Either.isLeft(decode(wire(3, "log", { lines: "one" })))).toBe(true)
      expect(Either.isLeft(decode(wire(4, "log", {})))).toBe(true)
      expect(Either.isLeft(decode(wire(5, "log", { lines: [1, "kept", null] })))).toBe(true)
    }))
})

describe("when to stop reading events", () => {
  it.effect("following, an empty page of a terminal job ends it", () =>
    Effect.sync(() => {
      for (const status of ["completed", "failed", "rejected", "canceled"] as const) {
        expect(nextCursor(page(status, [], 9), true)).toEqual(Option.none())
      }
    }))

  it.effect("following, an empty page of a live job polls again at the same cursor", () =>
    Effect.sync(() => {
      for (const status of ["pending", "accepted", "running"] as const) {
        expect(nextCursor(page(status, [], 9), true)).toEqual(Option.some(9))
      }
    }))

  it.effect("following, a page with events continues after its last event even when the job is terminal", () =>
    Effect.sync(() => {
      expect(nextCursor(page("completed", [event(10, "status", {}, "completed")], 10), true)).toEqual(Option.some(10))
    }))

  it.effect("without following, the first empty page ends it whatever the status", () =>
    Effect.sync(() => {
      expect(nextCursor(page("running", [], 4), false)).toEqual(Option.none())
      expect(nextCursor(page("running", [event(5, "log", { lines: ["x"] })], 5), false)).toEqual(Option.some(5))
    }))
})
