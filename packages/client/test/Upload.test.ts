import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { uploadBody, type UploadFile } from "../src/Upload.js"

const sha256 = (bytes: Uint8Array) => NodeCrypto.createHash("sha256").update(bytes).digest("hex")

/** A temporary directory holding `contents`, one file each (named by index), removed with the scope. */
const filesOf = (contents: Readonly<Record<string, Uint8Array>>) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-upload-"))),
      (path) => Effect.promise(() => NodeFs.rm(path, { recursive: true, force: true }))
    )
    return yield* Effect.forEach(Object.entries(contents), ([name, bytes], index) =>
      Effect.promise(async (): Promise<UploadFile> => {
        const path = NodePath.join(dir, String(index))
        await NodeFs.writeFile(path, bytes)
        return { name, path, type: "application/octet-stream" }
      }))
  })

/** Every byte `body` sends, or how sending it failed. */
const sent = (body: Effect.Effect.Success<ReturnType<typeof uploadBody>>) =>
  body._tag === "Stream"
    ? Stream.runCollect(body.stream).pipe(Effect.map((chunks) => Buffer.concat(Chunk.toArray(chunks))), Effect.exit)
    : Effect.die(new Error(`expected a streamed body, got ${body._tag}`))

describe("uploadBody", () => {
  it.scoped(
    "a multipart body of its stated length: the fields, each file's exact bytes under its name, and last every file's SHA-256",
    () =>
      Effect.gen(function*() {
        // Larger than one read of the file (1 MiB), so that a file crosses chunk boundaries.
        const contents = {
          "a/index.js": NodeCrypto.randomBytes(3 * 1024 * 1024 + 7),
          "b/日本 語.md": Buffer.from("b"),
          "empty": Buffer.alloc(0)
        }
        const body = yield* uploadBody({ agent_id: "agent_x", prompt: "line\nbreak" }, yield* filesOf(contents))
        const bytes = yield* Effect.flatten(sent(body))
        expect(bytes.length).toBe(body._tag === "Stream" ? body.contentLength : -1)
        // Parsed by a multipart parser other than the server's: the body is standard multipart/form-data.
        const form = yield* Effect.promise(() => new Response(bytes, { headers: { "content-type": body.contentType ?? "" } }).formData())
        expect(form.get("agent_id")).toBe("agent_x")
        expect(form.get("prompt")).toBe("line\r\nbreak")
        expect([...form.keys()].at(-1)).toBe("sha256")
        expect(JSON.parse(String(form.get("sha256")))).toEqual(
          Object.fromEntries(Object.entries(contents).map(([name, bytes]) => [name, sha256(bytes)]))
        )
        const parts = yield* Effect.promise(() =>
          Promise.all(
            form.getAll("files").map(async (part) => {
              const file = part as File
              return [decodeURIComponent(file.name), Buffer.from(await file.arrayBuffer())] as const
            })
          )
        )
        expect(parts.map(([name]) => name)).toEqual(Object.keys(contents))
        for (const [name, bytes] of parts) expect(bytes.equals(contents[name as keyof typeof contents])).toBe(true)
        // Sent again (a retry), the files are read afresh and the body is the same.
        const again = yield* Effect.flatten(sent(body))
        expect(again.length).toBe(bytes.length)
      })
  )

  it.effect("without files, the body is the JSON object of the fields, line breaks as given", () =>
    Effect.gen(function*() {
      const body = yield* uploadBody({ agent_id: "agent_x", prompt: "line\nbreak", params: "{\"level\":1}" }, [])
      expect(body._tag).toBe("Uint8Array")
      expect(body.contentType).toBe("application/json")
      const text = body._tag === "Uint8Array" ? new TextDecoder().decode(body.body) : ""
      expect(JSON.parse(text)).toEqual({ agent_id: "agent_x", prompt: "line\nbreak", params: "{\"level\":1}" })
    }))

  it.effect("a file that cannot be read fails with UnreadableFile naming it", () =>
    Effect.gen(function*() {
      const error = yield* uploadBody({}, [{ name: "x", path: "/nonexistent/agnt/x", type: "text/plain" }]).pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "UnreadableFile", path: "/nonexistent/agnt/x" })
    }))

  it.scoped("a file that changes after the body was made fails the send with UnreadableFile before the closing boundary", () =>
    Effect.gen(function*() {
      const [file] = yield* filesOf({ "a.txt": Buffer.from("the original bytes") })
      if (file === undefined) return yield* Effect.die(new Error("no file"))
      const body = yield* uploadBody({}, [file])
      yield* Effect.promise(() => NodeFs.writeFile(file.path, "short"))
      const exit = yield* sent(body)
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toMatchObject({
        _tag: "Some",
        value: { _tag: "UnreadableFile", path: file.path }
      })
    }))
})
