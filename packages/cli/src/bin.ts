/**
 * `agnt`: the buyer's command line. Runs one command, prints its JSON on
 * stdout, reports any failure as JSON on stderr and exits with the code of
 * its kind (see `Output.ExitCode` and the README). Help (`--help`, `-h`,
 * `help <command>`) is plain text on stdout, exit 0 (`Help.ts`).
 */
import { answerHelp } from "@agnt/client/CliHelp"
import { HttpClientLive } from "@agnt/client/HttpClientLive"
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer } from "effect"
import { AgntClient, Settings } from "./Client.js"
import { agnt, withDefaultRepoDir } from "./Commands.js"
import { agntHelp } from "./Help.js"
import { ExitCode, exitCodeOf, reportDefect, reportFailure, UsageError } from "./Output.js"

/**
 * The API client and its settings, built only when a command runs (so
 * `--help` works with a broken config), over keep-alive `node:http`
 * (`HttpClientLive`).
 */
const ClientLive = AgntClient.Default.pipe(Layer.provideMerge(Settings.layer), Layer.provideMerge(HttpClientLive))

const cli = Command.run(agnt.pipe(Command.provide(ClientLive)), { name: "agnt", version: "0.1.0" })

/** Print the help page `args` ask for, fail on an unknown command, or run the command. */
const program = Effect.gen(function*() {
  const answered = yield* answerHelp(
    agntHelp,
    process.argv.slice(2),
    process.stdout.isTTY === true,
    (message) => new UsageError({ message })
  )
  if (answered) return
  // `@effect/cli` prints its parse errors as plain text on stderr before failing
  // with them; drop that printing so `reportFailure` can print them as JSON.
  const console = yield* Effect.console
  yield* cli(withDefaultRepoDir(process.argv)).pipe(Effect.withConsole({ ...console, error: () => Effect.void }))
}).pipe(
  Effect.catchAll(reportFailure),
  Effect.catchAllDefect(reportDefect),
  Effect.provide(NodeContext.layer),
  // No tracer exports spans: making one per request (and its `traceparent`) costs about a sixth of a call's CPU.
  Effect.withTracerEnabled(false)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    const code = exitCodeOf(exit)
    if (code === ExitCode.Interrupted) return onExit(code)
    // Set the code and let Node exit once stdout/stderr are flushed, rather
    // than `process.exit`, which may cut off piped output.
    process.exitCode = code
    onExit(ExitCode.Ok)
  }
})
