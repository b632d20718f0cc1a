import { JobEvent } from "@agnt/domain/Job"
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Effect, Either, Schema } from "effect"

const base = { event_id: 41, job_id: "job_01m7zsfha0esgawak4ja3zj5fv", created_at: "2025-01-02T03:04:05.000Z" }

/** One wire event of each kind, as the server writes it, with the `_tag` it decodes to. */
const kinds = [
  ["Created", { type: "status", status: "pending", data: { files: 2 } }],
  ["Claimed", { type: "status", status: "accepted", data: { executor_id: "laptop-1" } }],
  ["StatusChanged", { type: "status", status: "accepted", data: {} }],
  ["StatusChanged", { type: "status", status: "failed", data: { reason: "eslint crashed", message: "m", progress: 40 } }],
  ["Progressed", { type: "progress", status: "running", data: { progress: 42.5, message: "linting" } }],
  ["Logged", { type: "log", status: "running", data: { lines: ["one", "", "three"] } }],
  ["CancelRequested", { type: "status", status: "running", data: { cancel_requested: true } }],
  ["LeaseExpired", { type: "status", status: "failed", data: { reason: "lease_expired" } }],
  ["LeaseExpired", { type: "status", status: "canceled", data: { reason: "lease_expired" } }]
] as const

describe("job events", () => {
  it.effect("each kind decodes from its wire form to its tag and encodes back to the same JSON", () =>
    Effect.sync(() => {
      for (const [tag, fields] of kinds) {
        const wire = { ...base, ...fields }
        const decoded = Schema.decodeUnknownSync(JobEvent)(wire)
        expect(decoded._tag).toBe(tag)
        expect(Schema.encodeSync(JobEvent)(decoded)).toEqual(wire)
      }
    }))

  it.effect("the tag never goes on the wire", () =>
    Effect.sync(() => {
      const decoded = Schema.decodeUnknownSync(JobEvent)({ ...base, ...kinds[0][1] })
      expect(Object.keys(Schema.encodeSync(JobEvent)(decoded))).not.toContain("_tag")
    }))

  it.effect("data that is not its kind's is refused: extra fields, wrong types, a log with no lines", () =>
    Effect.sync(() => {
      const decode = Schema.decodeUnknownEither(JobEvent)
      expect(Either.isLeft(decode({ ...base, type: "log", status: "running", data: { lines: ["a"], extra: 1 } }))).toBe(true)
      expect(Either.isLeft(decode({ ...base, type: "log", status: "running", data: {} }))).toBe(true)
      expect(Either.isLeft(decode({ ...base, type: "progress", status: "running", data: { progress: "10" } }))).toBe(true)
      expect(Either.isLeft(decode({ ...base, type: "status", status: "running", data: { cancel_requested: false } }))).toBe(true)
    }))

  it.effect.prop(
    "any event round-trips through its wire form",
    [Arbitrary.make(JobEvent)],
    ([event]) =>
      Effect.sync(() => {
        const wire = Schema.encodeSync(JobEvent)(event)
        expect(Schema.decodeUnknownSync(JobEvent)(JSON.parse(JSON.stringify(wire)))).toEqual(event)
      }),
    { fastCheck: { numRuns: 200 }, timeout: 60_000 }
  )
})
