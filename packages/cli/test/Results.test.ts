import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as NodePath from "node:path"
import { isAbsoluteHttpUrl, safeOutputPath, sha256Hex } from "../src/Results.js"

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

describe("downloads", () => {
  it.effect("sha256 is lowercase hex of the bytes", () =>
    Effect.sync(() => {
      expect(sha256Hex(new TextEncoder().encode("abc"))).toBe(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
      )
      expect(sha256Hex(new Uint8Array())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }))

  it.effect("only absolute http(s) URLs are fetched outside the API", () =>
    Effect.sync(() => {
      expect(isAbsoluteHttpUrl("https://bucket.s3.amazonaws.com/jobs/x?X-Amz-Signature=1")).toBe(true)
      expect(isAbsoluteHttpUrl("HTTP://minio:9000/x")).toBe(true)
      expect(isAbsoluteHttpUrl("/v1/jobs/job_x/files/file_y")).toBe(false)
      expect(isAbsoluteHttpUrl("file:///etc/passwd")).toBe(false)
    }))
})
