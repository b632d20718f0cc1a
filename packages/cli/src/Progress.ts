/**
 * The progress line of `agnt order --wait` and `agnt watch`: one line on
 * stderr, redrawn in place (`\r` + erase line) as the job's events come in —
 * status, progress percentage, last message — and erased at the end. Only
 * when stderr is a terminal; stdout never carries it.
 */
import type { Job, JobEvent, JobReportData } from "@agnt/domain/Job"
import { isTerminal, type JobStatus } from "@agnt/domain/Lifecycle"
import { DateTime, Effect, Option, Ref, type Scope } from "effect"

/** What the progress line shows of a job. */
export interface ProgressState {
  readonly status: JobStatus
  /** 0–100 percent; `null` before any report. */
  readonly progress: number | null
  /** The last message (or failure reason) reported; `null` when none. */
  readonly message: string | null
  readonly cancel_requested: boolean
}

/** The state of `job` as fetched. */
export const progressOfJob = (job: Job): ProgressState => ({
  status: job.status,
  progress: job.progress,
  message: job.status_message ?? job.failure_reason,
  cancel_requested: job.cancel_requested
})

/** The progress, message and reason an event reports: those of a status change or progress report, the reaper's reason for a lease that ran out (and the coming attempt of a retry), else none. */
const reportOf = (event: JobEvent): typeof JobReportData.Type => {
  switch (event._tag) {
    case "StatusChanged":
    case "Progressed":
      return event.data
    case "LeaseExpired":
      return { reason: event.data.reason }
    case "Retried":
      return { message: `${event.data.reason}; attempt ${event.data.attempt} from ${DateTime.formatIso(event.data.retry_at)}` }
    default:
      return {}
  }
}

const finite = (value: number | undefined): number | undefined => value !== undefined && Number.isFinite(value) ? value : undefined

const nonBlank = (value: string | undefined): string | undefined => value !== undefined && value.trim() !== "" ? value : undefined

/**
 * The state after `event`. The status is the event's; a reported
 * `progress` and `message` replace the previous ones when present
 * (`completed` means 100% unless it says otherwise). A change of status
 * replaces the message with the event's own message or `reason` (or none);
 * a `CancelRequested` event marks the cancel request. Log events change
 * nothing but the status.
 */
export const applyEvent = (state: ProgressState, event: JobEvent): ProgressState => {
  const report = reportOf(event)
  const progress = finite(report.progress) ?? state.progress
  const cancel_requested = state.cancel_requested || event._tag === "CancelRequested"
  switch (event.type) {
    case "log":
      return { ...state, status: event.status }
    case "progress":
      return { status: event.status, progress, message: nonBlank(report.message) ?? state.message, cancel_requested }
    case "status": {
      const own = nonBlank(report.message) ?? nonBlank(report.reason)
      const message = own ?? (event.status === state.status ? state.message : null)
      const done = event.status === "completed" ? finite(report.progress) ?? 100 : progress
      return { status: event.status, progress: done, message, cancel_requested }
    }
  }
}

// eslint-disable-next-line no-control-regex -- control characters are what it removes
const controlOrSpace = /[\u0000-\u001f\u007f-\u009f\s]+/g

/** `text` on one line: control characters (terminal escapes included) and runs of white space become one space. */
export const singleLine = (text: string): string => text.replace(controlOrSpace, " ").trim()

/** `text` cut to at most `width` characters (code points), ending in `…` when cut. */
export const truncate = (text: string, width: number): string => {
  const chars = Array.from(text)
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join("")}…`
}

/**
 * The progress line's text, at most `columns − 1` characters (so it never
 * wraps): `job_… · running · 42% · cancel requested · message`.
 */
export const renderProgress = (label: string, state: ProgressState, columns: number): string => {
  const parts = [
    label,
    state.status,
    ...(state.progress === null ? [] : [`${Math.round(Math.min(100, Math.max(0, state.progress)))}%`]),
    ...(state.cancel_requested && !isTerminal(state.status) ? ["cancel requested"] : []),
    ...(state.message === null ? [] : [singleLine(state.message)].filter((text) => text !== ""))
  ]
  return truncate(parts.join(" · "), Math.max(10, columns - 1))
}

/** Return to the start of the line and erase it (ANSI EL 2). */
export const eraseLine = "\r\u001b[2K"

/** Where the progress line is drawn: `process.stderr`, or anything shaped like it. */
export interface LineOutput {
  readonly isTTY?: boolean | undefined
  readonly columns?: number | undefined
  readonly write: (text: string) => unknown
}

/** `true` when `output` is a terminal, the only place a progress line is drawn. */
export const drawsProgress = (output: LineOutput): boolean => output.isTTY === true

/** The terminal's width, or 80 when it does not say (`columns` unset or 0, e.g. under `script`). */
export const terminalColumns = (output: LineOutput): number => output.columns !== undefined && output.columns > 0 ? output.columns : 80

/** A progress line being shown. */
export interface StatusLine {
  /** Draw the line for `state` (only when its text changed). */
  readonly show: (state: ProgressState) => Effect.Effect<void>
  /** Run `print` (which writes to stdout), first erasing the line when stdout shares its screen; the next `show` draws it again. */
  readonly printing: <A, E, R>(print: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * A progress line labelled `label` on `output`, erased when the scope closes
 * (success, failure or Ctrl-C). Does nothing when `output` is not a terminal.
 * `sharesScreen` says whether stdout is the same screen (a terminal too):
 * only then is the line erased before stdout is printed.
 */
export const statusLine = (
  output: LineOutput,
  label: string,
  sharesScreen: boolean
): Effect.Effect<StatusLine, never, Scope.Scope> => {
  if (!drawsProgress(output)) {
    return Effect.succeed({ show: () => Effect.void, printing: (print) => print })
  }
  return Effect.gen(function*() {
    const drawn = yield* Ref.make(Option.none<string>())
    const write = (text: string) => Effect.sync(() => output.write(text))
    const erase = Ref.getAndSet(drawn, Option.none()).pipe(
      Effect.flatMap((shown) => (Option.isSome(shown) ? write(eraseLine) : Effect.void))
    )
    const draw = (text: string) => write(`${eraseLine}${text}`).pipe(Effect.zipRight(Ref.set(drawn, Option.some(text))))
    yield* Effect.addFinalizer(() => erase)
    return {
      show: (state) =>
        Effect.gen(function*() {
          const text = renderProgress(label, state, terminalColumns(output))
          const shown = yield* Ref.get(drawn)
          if (Option.isNone(shown) || shown.value !== text) yield* draw(text)
        }),
      printing: (print) => (sharesScreen ? Effect.zipRight(erase, print) : print)
    } satisfies StatusLine
  })
}
