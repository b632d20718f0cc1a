import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import * as NodePath from "node:path"
import type { UsageError } from "../src/Output.js"
import { readPrompt } from "../src/Prompt.js"

const none = Option.none<string>()
const some = Option.some<string>
const bytes = (text: string) => new TextEncoder().encode(text)
/** Standard input that must not be read. */
const untouched: Stream.Stream<Uint8Array, UsageError> = Stream.die("standard input was read")

/** A file holding `content` in a fresh temporary directory, removed with the scope. */
const tempFile = (content: string | Uint8Array) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "agnt-prompt-" })
    const path = NodePath.join(dir, "prompt.md")
    yield* typeof content === "string" ? fs.writeFileString(path, content) : fs.writeFile(path, content)
    return path
  })

describe("the prompt of agnt order", () => {
  it.effect("--prompt TEXT is the prompt as given; stdin is not read", () =>
    Effect.gen(function*() {
      expect(yield* readPrompt({ prompt: some("review this"), promptFile: none }, untouched)).toBe("review this")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("--prompt - reads standard input to its end, chunks joined, multi-byte characters across chunks intact", () =>
    Effect.gen(function*() {
      const text = "Prüfe 🙂 das\n"
      const encoded = bytes(text)
      // Split inside the 4-byte emoji.
      const stdin = Stream.make(encoded.slice(0, 9), encoded.slice(9))
      expect(yield* readPrompt({ prompt: some("-"), promptFile: none }, stdin)).toBe(text)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("--prompt-file PATH is the file's text, as it is (trailing newline kept)", () =>
    Effect.gen(function*() {
      const text = "line one\nline two 🙂\n"
      const path = yield* tempFile(text)
      expect(yield* readPrompt({ prompt: none, promptFile: some(path) }, untouched)).toBe(text)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("no source, two sources, an unreadable file or bytes that are not UTF-8 are usage errors saying so", () =>
    Effect.gen(function*() {
      const path = yield* tempFile(new Uint8Array([0x66, 0xff, 0xfe, 0x0a]))
      const refusal = (prompt: Option.Option<string>, promptFile: Option.Option<string>, stdin = untouched) =>
        Effect.map(Effect.flip(readPrompt({ prompt, promptFile }, stdin)), (error) => [error._tag, error.message])
      expect(yield* refusal(none, none)).toEqual([
        "UsageError",
        "missing the prompt: --prompt TEXT, --prompt - (standard input) or --prompt-file PATH"
      ])
      expect((yield* refusal(some("text"), some(path)))[1]).toContain("give the prompt once")
      expect((yield* refusal(some("-"), some(path)))[1]).toContain("give the prompt once")
      expect((yield* refusal(none, some(`${path}.missing`)))[1]).toContain(`cannot read the prompt file ${path}.missing`)
      expect(yield* refusal(none, some(path))).toEqual(["UsageError", `the prompt in ${path} is not UTF-8 text`])
      expect(yield* refusal(some("-"), none, Stream.make(new Uint8Array([0xc3])))).toEqual([
        "UsageError",
        "the prompt in standard input is not UTF-8 text"
      ])
    }).pipe(Effect.provide(NodeContext.layer)))
})
