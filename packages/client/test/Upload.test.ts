import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { uploadForm } from "../src/Upload.js"

const sha256 = (bytes: Uint8Array) => NodeCrypto.createHash("sha256").update(bytes).digest("hex")

describe("uploadForm", () => {
  it.scoped("states each file's SHA-256 by its name and sends each file's exact bytes under that name", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-upload-"))),
        (path) => Effect.promise(() => NodeFs.rm(path, { recursive: true, force: true }))
      )
      const contents = { "a/index.js": NodeCrypto.randomBytes(70_000), "b/日本 語.md": Buffer.from("b"), "empty": Buffer.alloc(0) }
      const files = yield* Effect.forEach(Object.entries(contents), ([name, bytes], index) =>
        Effect.promise(async () => {
          const path = NodePath.join(dir, String(index))
          await NodeFs.writeFile(path, bytes)
          return { name, path, type: "application/octet-stream" }
        }))
      const form = yield* uploadForm({ agent_id: "agent_x", prompt: "p" }, files)
      expect(form.get("agent_id")).toBe("agent_x")
      expect(JSON.parse(String(form.get("sha256")))).toEqual(
        Object.fromEntries(Object.entries(contents).map(([name, bytes]) => [name, sha256(bytes)]))
      )
      const sent = yield* Effect.promise(() =>
        Promise.all(
          form.getAll("files").map(async (part) => {
            const file = part as File
            return [file.name, Buffer.from(await file.arrayBuffer())] as const
          })
        )
      )
      expect(sent.map(([name]) => decodeURIComponent(name))).toEqual(Object.keys(contents))
      for (const [name, bytes] of sent) expect(bytes.equals(contents[decodeURIComponent(name) as keyof typeof contents])).toBe(true)
    }))

  it.effect("a file that cannot be read fails with UnreadableFile naming it", () =>
    Effect.gen(function*() {
      const error = yield* uploadForm({}, [{ name: "x", path: "/nonexistent/agnt/x", type: "text/plain" }]).pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "UnreadableFile", path: "/nonexistent/agnt/x" })
    }))
})
