/**
 * Type-aware linting of a workspace's TypeScript files: typescript-eslint's
 * `recommendedTypeChecked` set through its project service (each file's
 * nearest `tsconfig.json` in the workspace), run in a worker thread
 * (`type-check-worker.mjs`) so that a job's bounds hold: past
 * `TypeCheckLimits.seconds` the worker is terminated, past
 * `TypeCheckLimits.memory_mb` of V8 heap it is stopped by Node
 * (`resourceLimits`). Either way, or if it fails, the caller falls back to
 * the untyped rules and says so in the report.
 *
 * In the worker TypeScript reads nothing outside the workspace except its
 * own lib files (`ts.sys` is confined before the project service copies it),
 * so a tsconfig's `extends`, `types` or `typeRoots` reaching outside find
 * nothing; no TypeScript language-service plugin is loaded.
 */
import js from "@eslint/js"
import { Effect, Schema } from "effect"
import type { ESLint } from "eslint"
import { Worker } from "node:worker_threads"
import { besideModule } from "../Assets.js"

/**
 * The ESLint options that keep the workspace from configuring anything: no
 * config file (`overrideConfigFile: true`), no plugin resolved by name, no
 * ignore file, no globbing, no inline `eslint` comments, no cache, no fixes.
 * Every ESLint run of a review uses them, here and in the worker.
 */
export const lockedEslintOptions = {
  overrideConfigFile: true,
  plugins: null,
  ignore: false,
  globInputPaths: false,
  errorOnUnmatchedPattern: true,
  allowInlineConfig: false,
  cache: false,
  fix: false
} as const satisfies ESLint.Options

/** A job's bounds for the type-aware lint: wall-clock seconds and V8 heap megabytes. */
export interface TypeCheckLimits {
  readonly seconds: number
  readonly memory_mb: number
}

/** 120 seconds and 2048 MiB of heap. */
export const defaultTypeCheckLimits: TypeCheckLimits = { seconds: 120, memory_mb: 2048 }

/**
 * Absolute path of the worker script: beside this module (from source), or
 * one folder up when this module is a bundle's chunk (`dist/chunks/`; the
 * build copies the script to `dist/`).
 */
export const typeCheckWorkerPath: string = besideModule("type-check-worker.mjs", import.meta.url)

const LintMessage = Schema.Struct({
  ruleId: Schema.NullOr(Schema.String),
  fatal: Schema.optional(Schema.Boolean),
  severity: Schema.Number,
  message: Schema.String,
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.Number),
  endLine: Schema.optional(Schema.Number),
  endColumn: Schema.optional(Schema.Number)
})

const RuleMeta = Schema.Struct({
  type: Schema.optional(Schema.String),
  docs: Schema.optional(Schema.Struct({ description: Schema.optional(Schema.String), url: Schema.optional(Schema.String) }))
})

/** What the worker posts: ESLint's results (only what a finding needs) and its rules' metadata. */
export const TypeCheckOutcome = Schema.Struct({
  results: Schema.Array(Schema.Struct({ filePath: Schema.String, messages: Schema.Array(LintMessage) })),
  rulesMeta: Schema.Record({ key: Schema.String, value: RuleMeta })
})
export type TypeCheckOutcome = typeof TypeCheckOutcome.Type

const WorkerMessage = Schema.Union(TypeCheckOutcome, Schema.Struct({ error: Schema.String }))

/** Why the type-aware lint gave no result, in words for the report. */
export class TypeCheckUnavailable extends Schema.TaggedError<TypeCheckUnavailable>()("TypeCheckUnavailable", {
  reason: Schema.String
}) {}

/** One environment's TypeScript files (absolute paths) and its globals. */
export interface TypeCheckGroup {
  readonly globals: Record<string, boolean>
  readonly files: ReadonlyArray<string>
}

const runWorker = (workerData: unknown, limits: TypeCheckLimits) =>
  Effect.async<unknown, TypeCheckUnavailable>((resume) => {
    const worker = new Worker(typeCheckWorkerPath, {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: limits.memory_mb },
      stdout: true,
      stderr: true
    })
    worker.stdout.resume()
    worker.stderr.resume()
    worker.once("message", (message: unknown) => resume(Effect.succeed(message)))
    worker.once("error", (error) =>
      resume(
        new TypeCheckUnavailable({
          reason: "code" in error && error.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? `it needed more than ${limits.memory_mb} MB of memory`
            : `it failed: ${error.message}`
        })
      ))
    worker.once("exit", (code) => resume(new TypeCheckUnavailable({ reason: `it stopped early (exit code ${code})` })))
    return Effect.promise(() => worker.terminate())
  }).pipe(
    Effect.timeoutFail({
      duration: `${limits.seconds} seconds`,
      onTimeout: () => new TypeCheckUnavailable({ reason: `it took longer than ${limits.seconds} seconds` })
    })
  )

/**
 * Lint `groups` with the type-checked rules in a bounded worker. Fails with
 * `TypeCheckUnavailable` when the worker runs out of time or memory or fails.
 */
export const typeCheckedLint = Effect.fn("CodeReview.typeCheckedLint")(function*(
  root: string,
  realRoot: string,
  groups: ReadonlyArray<TypeCheckGroup>,
  limits: TypeCheckLimits = defaultTypeCheckLimits
) {
  const message = yield* runWorker(
    { root, realRoot, rules: js.configs.recommended.rules, groups, options: lockedEslintOptions },
    limits
  )
  const decoded = yield* Schema.decodeUnknown(WorkerMessage)(message).pipe(
    Effect.mapError(() => new TypeCheckUnavailable({ reason: "it answered with something other than lint results" }))
  )
  if ("error" in decoded) return yield* new TypeCheckUnavailable({ reason: `it failed: ${decoded.error}` })
  return decoded
})
