import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { normalizeFilePath } from "../src/Files.js"
import { allowedFrom, canTransition, isTerminal, JobStatus, terminalStatuses } from "../src/Lifecycle.js"

describe("job lifecycle", () => {
  it("allows exactly the transitions of DESIGN.md", () => {
    const allowed = JobStatus.literals.flatMap((from) =>
      JobStatus.literals.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`)
    )
    expect(allowed.sort()).toEqual([
      "accepted->canceled",
      "accepted->failed",
      "accepted->running",
      "pending->accepted",
      "pending->canceled",
      "pending->rejected",
      "running->canceled",
      "running->completed",
      "running->failed",
      "running->running"
    ])
  })

  it("never leaves a terminal state", () => {
    for (const from of terminalStatuses) {
      expect(isTerminal(from)).toBe(true)
      expect(JobStatus.literals.some((to) => canTransition(from, to))).toBe(false)
    }
  })

  it("allowedFrom is the inverse of canTransition", () => {
    expect(allowedFrom("running")).toEqual(["accepted", "running"])
    expect(allowedFrom("canceled")).toEqual(["pending", "accepted", "running"])
    expect(allowedFrom("pending")).toEqual([])
  })
})

describe("file names", () => {
  it("normalises separators and dot segments", () => {
    expect(normalizeFilePath("./src//a.ts")).toEqual(Either.right("src/a.ts"))
    expect(normalizeFilePath("src\\win\\b.ts")).toEqual(Either.right("src/win/b.ts"))
  })

  it("refuses absolute, escaping, NUL-holding, empty and overlong names", () => {
    for (const name of ["/etc/passwd", "C:/x", "../a", "a/../../b", "a\u0000b", "", ".", "x".repeat(513)]) {
      expect(Either.isLeft(normalizeFilePath(name))).toBe(true)
    }
  })
})
