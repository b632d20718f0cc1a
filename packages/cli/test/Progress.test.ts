import { JobId } from "@agnt/domain/Ids"
import { JobEvent } from "@agnt/domain/Job"
import type { JobStatus } from "@agnt/domain/Lifecycle"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Schema } from "effect"
import {
  applyEvent,
  drawsProgress,
  eraseLine,
  type ProgressState,
  renderProgress,
  singleLine,
  statusLine,
  terminalColumns
} from "../src/Progress.js"

const jobId = Schema.decodeSync(JobId)("job_01m7zsfha0esgawak4ja3zj5fv")
const at = DateTime.unsafeMake("2025-01-02T03:04:05Z")
/** An event as the API sends it, decoded: the CLI only ever sees typed events. */
const event = (type: JobEvent["type"], status: JobStatus, data: Record<string, unknown>): JobEvent =>
  Schema.decodeUnknownSync(JobEvent)({ event_id: 1, job_id: jobId, type, status, data, created_at: DateTime.formatIso(at) })

const pending: ProgressState = { status: "pending", progress: null, message: null, cancel_requested: false }
const running: ProgressState = { status: "running", progress: 40, message: "linting", cancel_requested: false }

describe("progress state from events", () => {
  it.effect("a progress event sets the percentage and message and keeps the status", () =>
    Effect.sync(() => {
      expect(applyEvent(running, event("progress", "running", { progress: 75, message: "writing report" }))).toEqual({
        ...running,
        progress: 75,
        message: "writing report"
      })
      expect(applyEvent(running, event("progress", "running", { progress: 80 }))).toEqual({ ...running, progress: 80 })
    }))

  it.effect("a change of status replaces the message with the event's own message or reason", () =>
    Effect.sync(() => {
      expect(applyEvent(pending, event("status", "accepted", { message: "picked up" }))).toMatchObject({
        status: "accepted",
        message: "picked up"
      })
      expect(applyEvent(running, event("status", "failed", { reason: "eslint crashed" }))).toMatchObject({
        status: "failed",
        message: "eslint crashed",
        progress: 40
      })
      expect(applyEvent(running, event("status", "completed", {}))).toMatchObject({ status: "completed", message: null })
    }))

  it.effect("completion means 100% unless the event says otherwise", () =>
    Effect.sync(() => {
      expect(applyEvent(running, event("status", "completed", { message: "done" })).progress).toBe(100)
      expect(applyEvent(running, event("status", "completed", { progress: 97 })).progress).toBe(97)
      expect(applyEvent(running, event("status", "failed", {})).progress).toBe(40)
    }))

  it.effect("a status event with cancel_requested marks the cancel request", () =>
    Effect.sync(() => {
      expect(applyEvent(running, event("status", "running", { cancel_requested: true }))).toEqual({
        ...running,
        cancel_requested: true
      })
    }))

  it.effect("log events change nothing but the status", () =>
    Effect.sync(() => {
      expect(applyEvent(running, event("log", "running", { lines: ["progress: 99", "message"] }))).toEqual(running)
    }))
})

describe("progress line rendering", () => {
  it.effect("shows the job, status, rounded percentage and last message", () =>
    Effect.sync(() => {
      expect(renderProgress(jobId, { ...running, progress: 42.6 }, 200)).toBe(`${jobId} · running · 43% · linting`)
      expect(renderProgress(jobId, pending, 200)).toBe(`${jobId} · pending`)
    }))

  it.effect("shows a pending cancel request only while the job is live", () =>
    Effect.sync(() => {
      expect(renderProgress("j", { ...running, cancel_requested: true }, 200)).toBe("j · running · 40% · cancel requested · linting")
      expect(renderProgress("j", { ...running, status: "canceled", cancel_requested: true }, 200)).toBe(
        "j · canceled · 40% · linting"
      )
    }))

  it.effect("never wraps: the text is cut to one less than the terminal width, ending in an ellipsis", () =>
    Effect.sync(() => {
      const line = renderProgress("j", { ...running, message: "x".repeat(500) }, 40)
      expect(Array.from(line)).toHaveLength(39)
      expect(line.endsWith("…")).toBe(true)
    }))

  it.effect("messages are put on one line with terminal escapes and control characters removed", () =>
    Effect.sync(() => {
      expect(singleLine("a\nb\t c\u001b[31mred\u0007")).toBe("a b c [31mred")
      expect(renderProgress("j", { ...running, message: "line one\nline two" }, 200)).toBe("j · running · 40% · line one line two")
    }))
})

/** A fake stderr recording what was written. */
const recorder = (isTTY: boolean) => {
  const written: Array<string> = []
  return { written, output: { isTTY, columns: 80, write: (text: string) => written.push(text) } }
}

describe("the progress line on stderr", () => {
  it.effect("is drawn only when stderr is a terminal", () =>
    Effect.sync(() => {
      expect(drawsProgress({ isTTY: true, write: () => true })).toBe(true)
      expect(drawsProgress({ isTTY: false, write: () => true })).toBe(false)
      expect(drawsProgress({ write: () => true })).toBe(false)
    }))

  it.scoped("writes nothing when stderr is not a terminal", () =>
    Effect.gen(function*() {
      const { output, written } = recorder(false)
      const line = yield* statusLine(output, "j", true)
      yield* line.show(running)
      expect(yield* line.printing(Effect.succeed("printed"))).toBe("printed")
      expect(written).toEqual([])
    }))

  it.effect("redraws in place only when the text changes, and is erased when its scope ends", () =>
    Effect.gen(function*() {
      const { output, written } = recorder(true)
      yield* Effect.scoped(Effect.gen(function*() {
        const line = yield* statusLine(output, "j", true)
        yield* line.show(running)
        yield* line.show(running)
        yield* line.show({ ...running, progress: 50 })
      }))
      expect(written).toEqual([`${eraseLine}j · running · 40% · linting`, `${eraseLine}j · running · 50% · linting`, eraseLine])
    }))

  it.effect("is erased before stdout is printed and drawn again by the next update, even when unchanged", () =>
    Effect.gen(function*() {
      const { output, written } = recorder(true)
      yield* Effect.scoped(Effect.gen(function*() {
        const line = yield* statusLine(output, "j", true)
        yield* line.show(pending)
        yield* line.printing(Effect.sync(() => written.push("<stdout>")))
        yield* line.show(pending)
      }))
      expect(written).toEqual([`${eraseLine}j · pending`, eraseLine, "<stdout>", `${eraseLine}j · pending`, eraseLine])
    }))

  it.effect("is not erased for stdout printed elsewhere (a pipe or file)", () =>
    Effect.gen(function*() {
      const { output, written } = recorder(true)
      yield* Effect.scoped(Effect.gen(function*() {
        const line = yield* statusLine(output, "j", false)
        yield* line.show(pending)
        yield* line.printing(Effect.sync(() => written.push("<stdout>")))
        yield* line.show(pending)
      }))
      expect(written).toEqual([`${eraseLine}j · pending`, "<stdout>", eraseLine])
    }))

  it.effect("a terminal that reports no width counts as 80 columns", () =>
    Effect.sync(() => {
      expect(terminalColumns({ isTTY: true, columns: 0, write: () => true })).toBe(80)
      expect(terminalColumns({ isTTY: true, write: () => true })).toBe(80)
      expect(terminalColumns({ isTTY: true, columns: 132, write: () => true })).toBe(132)
    }))
})
