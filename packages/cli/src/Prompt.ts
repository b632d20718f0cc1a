/**
 * The prompt of `agnt order`, from exactly one source: `--prompt TEXT`,
 * `--prompt -` (standard input, read to its end) or `--prompt-file PATH`.
 * One command-line argument holds at most 128 KiB on Linux
 * (`MAX_ARG_STRLEN`), so longer prompts come from a file or stdin; the
 * server's own limit (`AGNT_MAX_PROMPT_CHARS`) still holds, and its 413
 * says it. A prompt from a file or stdin is sent as it is (no newline
 * trimmed) and must be UTF-8.
 */
import { FileSystem } from "@effect/platform"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Chunk, Effect, Option, Stream } from "effect"
import { UsageError } from "./Output.js"

/** `--prompt` with this value reads the prompt from standard input. */
export const stdinMarker = "-"

const sources = "--prompt TEXT, --prompt - (standard input) or --prompt-file PATH"

/**
 * Decode `bytes` as UTF-8 (a leading byte-order mark dropped).
 *
 * @fails UsageError naming `source` when the bytes are not UTF-8.
 */
const decodeUtf8 = (bytes: Uint8Array, source: string) =>
  Effect.try({
    try: () => new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    catch: () => new UsageError({ message: `the prompt in ${source} is not UTF-8 text` })
  })

/** This process's standard input, as bytes. */
export const processStdin: Stream.Stream<Uint8Array, UsageError> = NodeStream.fromReadable(
  () => process.stdin,
  (cause) => new UsageError({ message: `cannot read the prompt from standard input: ${String(cause)}` })
)

/**
 * The prompt from `prompt` (text, or `-` for `stdin`) or `promptFile` (a
 * path), exactly one of which must be given. `stdin` is read only for `-`.
 *
 * @fails UsageError when neither or both are given, or the file or stdin cannot be read or is not UTF-8.
 */
export const readPrompt = (
  options: { readonly prompt: Option.Option<string>; readonly promptFile: Option.Option<string> },
  stdin: Stream.Stream<Uint8Array, UsageError>
): Effect.Effect<string, UsageError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (Option.isSome(options.prompt) && Option.isSome(options.promptFile)) {
      return yield* new UsageError({ message: `give the prompt once: ${sources}, not both` })
    }
    if (Option.isSome(options.promptFile)) {
      const path = options.promptFile.value
      const fs = yield* FileSystem.FileSystem
      const bytes = yield* fs.readFile(path).pipe(
        Effect.mapError((error) => new UsageError({ message: `cannot read the prompt file ${path}: ${error.message}` }))
      )
      return yield* decodeUtf8(bytes, path)
    }
    if (Option.isNone(options.prompt)) return yield* new UsageError({ message: `missing the prompt: ${sources}` })
    if (options.prompt.value !== stdinMarker) return options.prompt.value
    const chunks = yield* Stream.runCollect(stdin)
    return yield* decodeUtf8(Buffer.concat(Chunk.toReadonlyArray(chunks)), "standard input")
  })
