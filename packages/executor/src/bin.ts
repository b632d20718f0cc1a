/**
 * `agnt-executor`: serves an agent until SIGTERM/SIGINT (`Commands.ts`).
 * Help (`--help`, `-h`, `help <command>`) is plain text on stdout, exit 0
 * (`Help.ts`); a failure is one JSON document on stderr, `{"_tag": …,
 * "message": …}` as `agnt` prints its own, with exit 1, or 2 for bad
 * arguments (`ExecutorExitCode`).
 */
import { answerHelp, helpDocText } from "@agnt/client/CliHelp"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Option, Predicate, Schema } from "effect"
import { agntExecutor } from "./Commands.js"
import { ExecutorExitCode, executorHelp } from "./Help.js"

/** Bad arguments (exit 2): an unknown command or flag, or what `@effect/cli` refused. */
class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

const cli = Command.run(agntExecutor, { name: "agnt-executor", version: "0.1.0" })

/** Print the help page the arguments ask for, fail on an unknown command, or run the command. */
const program = Effect.gen(function*() {
  const answered = yield* answerHelp(
    executorHelp,
    process.argv.slice(2),
    process.stdout.isTTY === true,
    (message) => new UsageError({ message })
  )
  if (answered) return
  // `@effect/cli` prints its parse errors as text on stderr; drop that so `reportFailure` prints them as JSON.
  const console = yield* Effect.console
  yield* cli(process.argv).pipe(
    Effect.withConsole({ ...console, error: () => Effect.void }),
    Effect.mapError((error) => ValidationError.isValidationError(error) ? new UsageError({ message: validationMessage(error) }) : error)
  )
})

/** The text of an `@effect/cli` validation error, on one line. */
const validationMessage = (error: ValidationError.ValidationError): string => helpDocText(error.error) || error._tag

/** Print a failure as one JSON document on stderr: our errors by `_tag` and `message`, anything else as `InternalError`. */
const reportFailure = (cause: Cause.Cause<unknown>) => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Cause.failureOption(cause)
  const body = Option.isSome(failure) && Predicate.hasProperty(failure.value, "_tag") &&
      Predicate.hasProperty(failure.value, "message") && Predicate.isString(failure.value.message)
    ? { _tag: String(failure.value._tag), message: failure.value.message }
    : { _tag: "InternalError", message: Cause.pretty(cause) }
  return Console.error(JSON.stringify(body, null, 2))
}

/** 0 on success or interruption, 2 for a usage error, else 1. */
const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return ExecutorExitCode.Ok
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) && failure.value instanceof UsageError ? ExecutorExitCode.Usage : ExecutorExitCode.Failed
}

program.pipe(
  Effect.tapErrorCause(reportFailure),
  Effect.provide(NodeContext.layer),
  // No tracer exports spans: making one per request (and its `traceparent`) costs about a sixth of a call's CPU.
  Effect.withTracerEnabled(false),
  (main) =>
    NodeRuntime.runMain(main, {
      disableErrorReporting: true,
      // Set the code and let Node exit once stderr is flushed, rather than cut off piped output.
      teardown: (exit, onExit) => {
        process.exitCode = exitCodeOf(exit)
        onExit(ExecutorExitCode.Ok)
      }
    })
)
