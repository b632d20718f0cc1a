/**
 * A job's log on its way to the API (DESIGN.md "Executors": logs batched
 * every 2 s or 50 lines): lines are buffered and sent as one batch when 50
 * have gathered or 2 seconds have passed since the last batch, whichever
 * comes first. The buffer is bounded, so a program that writes faster than
 * the API takes its output is slowed down instead of filling memory.
 */
import { maxLogLineLength } from "@agnt/domain/Limits"
import { Chunk, Duration, Effect, Fiber, Mailbox, type Scope, Stream } from "effect"

/** Lines per batch: a batch goes out as soon as this many are buffered. */
export const logBatchLines = 50
/** Longest wait, in seconds, before buffered lines are sent. */
export const logFlushSeconds = 2
/** Lines buffered at most; `log` waits while the buffer is full. */
const bufferLines = 10_000

/** Cut `line` to the API's limit (`maxLogLineLength` characters), marking the cut with `…`. */
export const capLine = (line: string): string => {
  if (line.length <= maxLogLineLength) return line
  const cut = line.slice(0, maxLogLineLength - 1)
  // Never half of a surrogate pair: the API refuses text it cannot store.
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`
}

/** A started batcher (see `makeLogBatcher`). */
export interface LogBatcher {
  /**
   * Buffer `text`; each of its lines (split at line breaks; one trailing
   * break ignored) becomes one log line, cut at 4000 characters.
   */
  readonly log: (text: string) => Effect.Effect<void>
  /**
   * Send everything buffered and stop; lines logged afterwards are dropped.
   * Waits at most `within` for the last batches to go out.
   */
  readonly flush: (within: Duration.DurationInput) => Effect.Effect<void>
  /** Stop at once, dropping whatever is buffered (the job is no longer ours). */
  readonly discard: Effect.Effect<void>
}

/**
 * Start a batcher that hands each batch to `send`, one batch at a time, in
 * order. `send` must handle its own failures (retry, or drop with a
 * warning); a failing `send` never stops the batcher. The sending fiber
 * lives until `flush`, `discard` or the end of the scope.
 */
export const makeLogBatcher = (
  send: (lines: ReadonlyArray<string>) => Effect.Effect<void>,
  options: { readonly batchLines?: number | undefined; readonly flushSeconds?: number | undefined } = {}
): Effect.Effect<LogBatcher, never, Scope.Scope> =>
  Effect.gen(function*() {
    const buffer = yield* Mailbox.make<string>({ capacity: bufferLines, strategy: "suspend" })
    const sender = yield* Mailbox.toStream(buffer).pipe(
      Stream.groupedWithin(options.batchLines ?? logBatchLines, Duration.seconds(options.flushSeconds ?? logFlushSeconds)),
      Stream.runForEach((batch) =>
        Chunk.isEmpty(batch)
          ? Effect.void
          : send(Chunk.toReadonlyArray(batch)).pipe(
            Effect.catchAllCause((cause) => Effect.logWarning("dropped a batch of log lines", cause))
          )
      ),
      Effect.forkScoped
    )
    return {
      log: (text) => buffer.offerAll(text.replace(/\r?\n$/, "").split(/\r?\n/).map(capLine)).pipe(Effect.asVoid),
      flush: (within) =>
        buffer.end.pipe(
          Effect.zipRight(Fiber.join(sender).pipe(Effect.timeoutOption(within))),
          Effect.zipRight(Fiber.interrupt(sender)),
          Effect.asVoid
        ),
      discard: Fiber.interrupt(sender).pipe(Effect.zipRight(buffer.shutdown), Effect.asVoid)
    }
  })
