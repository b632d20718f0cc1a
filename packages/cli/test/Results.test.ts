import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as NodePath from "node:path"
import { safeOutputPath } from "../src/Results.js"

const refused = (out: string, path: string) => {
  const result = safeOutputPath(out, path)
  return Either.isLeft(result) && result.left._tag === "UnsafePath"
}

describe("result file output paths", () => {
  it.effect("a relative path lands under the output directory, normalised", () =>
    Effect.gen(function*() {
      expect(yield* safeOutputPath("out", "review.md")).toBe(NodePath.join("out", "review.md"))
      expect(yield* safeOutputPath("out", "reports//sub/./review.sarif")).toBe(NodePath.join("out", "reports", "sub", "review.sarif"))
      expect(yield* safeOutputPath("/tmp/res", "a\\b.txt")).toBe(NodePath.join("/tmp/res", "a", "b.txt"))
      expect(yield* safeOutputPath(".", "a..b")).toBe("a..b")
    }))

  it.effect("paths escaping the directory, absolute paths and control characters are refused", () =>
    Effect.sync(() => {
      expect(refused("out", "../secret")).toBe(true)
      expect(refused("out", "a/../../secret")).toBe(true)
      expect(refused("out", "/etc/passwd")).toBe(true)
      expect(refused("out", "C:\\Windows\\x")).toBe(true)
      expect(refused("out", "..")).toBe(true)
      expect(refused("out", ".")).toBe(true)
      expect(refused("out", "")).toBe(true)
      expect(refused("out", "a\u0000b")).toBe(true)
    }))
})
