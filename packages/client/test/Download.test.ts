import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { isAbsoluteHttpUrl, saveVerified } from "../src/Download.js"

const sha256 = (bytes: Uint8Array) => NodeCrypto.createHash("sha256").update(bytes).digest("hex")

const folder = Effect.acquireRelease(
  Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-download-"))),
  (path) => Effect.promise(() => NodeFs.rm(path, { recursive: true, force: true }))
)

/** `bytes` as a stream of 64 KiB chunks, as a response body arrives. */
const body = (bytes: Uint8Array) =>
  Stream.fromIterable(
    Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, index) => bytes.subarray(index * 65536, (index + 1) * 65536))
  )

/** Every file under `dir`, by relative path. */
const filesUnder = (dir: string) =>
  Effect.promise(async () =>
    (await NodeFs.readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) =>
      NodePath.relative(dir, NodePath.join(entry.parentPath, entry.name))
    ).sort()
  )

describe("saveVerified", () => {
  it.scoped("bytes matching the record land at the destination (its folders made), byte-exact, and nothing else is left", () =>
    Effect.gen(function*() {
      const dir = yield* folder
      const bytes = NodeCrypto.randomBytes(3 * 1024 * 1024 + 17)
      const destination = NodePath.join(dir, "a", "b", "data.bin")
      const saved = yield* saveVerified(body(bytes), destination, { size: bytes.length, sha256: sha256(bytes).toUpperCase() })
      expect(saved).toEqual({ size: bytes.length, sha256: sha256(bytes) })
      expect(Buffer.from(yield* Effect.promise(() => NodeFs.readFile(destination))).equals(bytes)).toBe(true)
      expect(yield* filesUnder(dir)).toEqual([NodePath.join("a", "b", "data.bin")])
    }))

  it.scoped("other bytes of the recorded size are DownloadMismatch; the file already at the destination is untouched and no temporary file is left", () =>
    Effect.gen(function*() {
      const dir = yield* folder
      const destination = NodePath.join(dir, "data.bin")
      yield* Effect.promise(() => NodeFs.writeFile(destination, "before"))
      const recorded = NodeCrypto.randomBytes(200_000)
      const damaged = Buffer.from(recorded)
      damaged[123_456] = (damaged[123_456] ?? 0) ^ 1
      const exit = yield* Effect.exit(saveVerified(body(damaged), destination, { size: recorded.length, sha256: sha256(recorded) }))
      expect(exit).toStrictEqual(Exit.fail(expect.objectContaining({
        _tag: "DownloadMismatch",
        destination,
        expected_size: recorded.length,
        actual_size: recorded.length,
        expected_sha256: sha256(recorded),
        actual_sha256: sha256(damaged)
      })))
      expect(yield* Effect.promise(() => NodeFs.readFile(destination, "utf8"))).toBe("before")
      expect(yield* filesUnder(dir)).toEqual(["data.bin"])
    }))

  it.scoped("a body longer than recorded is refused once it passes the recorded size: an endless body is not read to its end", () =>
    Effect.gen(function*() {
      const dir = yield* folder
      const endless = Stream.repeatValue(new Uint8Array(65536)).pipe(Stream.rechunk(1))
      const error = yield* Effect.flip(
        saveVerified(endless, NodePath.join(dir, "data.bin"), { size: 100_000, sha256: sha256(new Uint8Array()) })
      )
      expect(error._tag).toBe("DownloadMismatch")
      expect(error._tag === "DownloadMismatch" && error.actual_size > 100_000).toBe(true)
      expect(yield* filesUnder(dir)).toEqual([])
    }))

  it.scoped("a shorter body is DownloadMismatch; a body that fails part-way fails with its error; neither leaves a file", () =>
    Effect.gen(function*() {
      const dir = yield* folder
      const bytes = NodeCrypto.randomBytes(300_000)
      const destination = NodePath.join(dir, "data.bin")
      const expected = { size: bytes.length, sha256: sha256(bytes) }
      const short = yield* Effect.flip(saveVerified(body(bytes.subarray(0, 299_999)), destination, expected))
      expect(short).toMatchObject({ _tag: "DownloadMismatch", actual_size: 299_999 })
      const broken = Stream.concat(body(bytes.subarray(0, 131_072)), Stream.fail("connection reset" as const))
      expect(yield* Effect.flip(saveVerified(broken, destination, expected))).toBe("connection reset")
      expect(yield* filesUnder(dir)).toEqual([])
    }))

  it.scoped("an empty file is saved when an empty file was recorded", () =>
    Effect.gen(function*() {
      const dir = yield* folder
      const destination = NodePath.join(dir, "empty")
      yield* saveVerified(Stream.fromChunk(Chunk.empty<Uint8Array>()), destination, { size: 0, sha256: sha256(new Uint8Array()) })
      expect((yield* Effect.promise(() => NodeFs.stat(destination))).size).toBe(0)
    }))
})

describe("isAbsoluteHttpUrl", () => {
  it("only absolute http(s) URLs are fetched outside the API", () => {
    expect(isAbsoluteHttpUrl("https://bucket.s3.amazonaws.com/jobs/x?X-Amz-Signature=1")).toBe(true)
    expect(isAbsoluteHttpUrl("HTTP://minio:9000/x")).toBe(true)
    expect(isAbsoluteHttpUrl("/v1/jobs/job_x/files/file_y")).toBe(false)
    expect(isAbsoluteHttpUrl("file:///etc/passwd")).toBe(false)
  })
})
