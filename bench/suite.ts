/**
 * `npm run bench`: every measure, one after the other on ONE embedded
 * PostgreSQL started here (each system in a database of its own) and the
 * same cores, with a fixed seed (`SEED`, `Bench.defaultSeed` unless given),
 * then one table: measure | agnt | baseline | ratio | baseline is.
 *
 *   npm run bench                  # the full run (about 10 minutes on 2 cores)
 *   npm run bench -- --quick       # a smaller one to check it works (BENCH_QUICK=true too)
 *   npm run bench -- --only=pickup,get   # some measures only, by name
 *
 * A measure is one entry of `measures`: its script exports it (a name and
 * the rows it yields) and keeps working alone (`npx tsx bench/<name>.ts`).
 * See bench/README.md for what each row measures and how to read it.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Logger, LogLevel } from "effect"
import { benchContext, type Measure, type Row, table } from "./Bench.js"
import { filesMeasure } from "./files.js"
import { getMeasure } from "./get.js"
import { lifecycleMeasure } from "./lifecycle.js"
import { pickupMeasure } from "./pickup.js"
import { startMeasure } from "./start.js"

/** Every measure of the suite, in the order they run. */
const measures: ReadonlyArray<Measure> = [lifecycleMeasure, pickupMeasure, getMeasure, filesMeasure, startMeasure]

const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",")

const program = Effect.gen(function*() {
  const context = yield* benchContext
  const rows: Array<Row> = []
  const failed: Array<string> = []
  for (const measure of measures.filter((measure) => only === undefined || only.includes(measure.name))) {
    const started = performance.now()
    yield* Console.log(`${measure.name}…`)
    // A measure that fails is reported and left out of the table; the others still run.
    const measured = yield* Effect.scoped(measure.run(context)).pipe(
      Effect.catchAllCause((cause) =>
        Effect.sync(() => failed.push(measure.name)).pipe(
          Effect.zipRight(Console.error(`${measure.name} failed:\n${Cause.pretty(cause)}`)),
          Effect.as<ReadonlyArray<Row>>([])
        )
      )
    )
    rows.push(...measured)
    yield* Console.log(`${measure.name}: ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  yield* Console.log(`\n${context.quick ? "quick run" : "full run"}; ↑ higher is better, ↓ lower is better; ratio = agnt ÷ baseline\n`)
  yield* Console.log(table(rows))
  if (failed.length > 0) return yield* Effect.fail(new Error(`failed: ${failed.join(", ")}`))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

NodeRuntime.runMain(program)
