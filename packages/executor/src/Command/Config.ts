/**
 * What the built-in command executor runs, as data: a `CommandConfig` names
 * the program, how its argument vector is built, how the job's prompt
 * reaches it, its limits (in seconds), and the manifest the agent publishes.
 * Configs live in JSON files (`loadCommandConfig`); the shipped presets for
 * Claude Code, Codex and Gemini CLI are such files (`Presets.ts`).
 */
import { freePricing, JsonSchemaDocument, MaxAttempts, Pricing, RetryDelaySeconds, Tag } from "@agnt/domain/Agent"
import { AgentId } from "@agnt/domain/Ids"
import { defaultRetryDelaySeconds } from "@agnt/domain/Limits"
import { maxAgentDescriptionLength, maxAgentNameLength, maxAgentTags } from "@agnt/domain/Limits"
import { Data, Effect, ParseResult, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { type PresetName, presetPath } from "./Presets.js"
import { SandboxSettings } from "./Sandbox.js"

/**
 * How the job's prompt reaches the program:
 * - `"argument"`: substituted wherever an arg says `{prompt}`, or appended as
 *   the last argument when no arg mentions it;
 * - `"stdin"`: written to the program's stdin, which is then closed;
 * - `"env"`: set in the `AGNT_PROMPT` environment variable.
 *
 * With `"argument"` and `"env"` the program's stdin is `/dev/null`.
 */
export const PromptVia = Schema.Literal("argument", "stdin", "env")
export type PromptVia = typeof PromptVia.Type

/** A number of seconds, finite and greater than zero. */
const PositiveSeconds = Schema.Number.pipe(Schema.finite(), Schema.positive())
/** A number of seconds, finite and at least zero. */
const NonNegativeSeconds = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())

/**
 * One command executor. Every string in `args` (and `prompt_suffix`) may
 * contain these placeholders, each replaced in a single pass (substituted
 * text is never scanned again):
 * - `{prompt}`: the job's prompt followed by `prompt_suffix` (args only);
 * - `{workspace}`: absolute path of the job's workspace (the program's cwd,
 *   holding the input files at their relative paths; `/job/workspace` in
 *   the sandbox);
 * - `{out}`: absolute path of the directory whose files become results
 *   (`/job/out` in the sandbox);
 * - `{job_id}`: the job's id;
 * - `{params_json}`: the job's `params` as JSON.
 *
 * The program's environment: in the sandbox, only `PATH`, the locale and
 * terminal variables, the variables `sandbox.pass_env` names, `HOME`
 * (`/job/home`) and `TMPDIR` (`/tmp`); with `--no-sandbox`, the executor's
 * own environment minus any `AGNT_*` variable (so the executor's API key
 * never leaks). Then `env`, then `AGNT_JOB_ID`, `AGNT_WORKSPACE`,
 * `AGNT_OUT_DIR`, `AGNT_PARAMS` (JSON), `AGNT_PROMPT` when `prompt_via` is
 * `"env"`, and `AGNT_PROCESS_MARK` (random; how the executor finds what the
 * program started, `Command/Process.ts`).
 *
 * Results: every file the program writes under `{out}` / `$AGNT_OUT_DIR`,
 * and every regular file it leaves under `out/` in its working directory,
 * becomes a result file. Symbolic links are never results. For a repo job
 * the working directory is the buyer's repository: what the program
 * changes there comes back as `changes.patch` (the runtime's), and its
 * `out/`, if any, is the buyer's own directory, not results.
 */
export class CommandConfig extends Schema.Class<CommandConfig>("CommandConfig")({
  /**
   * The agent this config serves (a TypeID, `agent_…`), as `agnt-executor
   * init` writes it. Optional — the shipped presets leave it out, since each
   * seller serves an agent of its own; when present, `agnt-executor run
   * command --agent-id` must name the same agent (a guard against serving
   * the wrong one with a copied config).
   */
  agent_id: Schema.optional(AgentId),
  /** Agent display name published in the manifest, 1–100 characters. */
  name: Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(maxAgentNameLength)),
  /** What the agent does (published, searched), at most 4000 characters. */
  description: Schema.String.pipe(Schema.maxLength(maxAgentDescriptionLength)),
  /** Published search tags: at most 20, each 1–40 of a-z, 0-9 and `-`. Default none. */
  tags: Schema.optionalWith(Schema.Array(Tag).pipe(Schema.maxItems(maxAgentTags)), { default: () => [] }),
  /** JSON Schema for the job's `params`, published in the manifest. Default `{}` (anything). */
  input_schema: Schema.optionalWith(JsonSchemaDocument, { default: () => ({}) }),
  /**
   * What a job costs, published in the manifest: `{"model": "free"}` (the
   * default) or `{"model": "per_job", "amount": "0.50", "currency": "USD"}`.
   */
  pricing: Schema.optionalWith(Pricing, { default: () => freePricing }),
  /**
   * How many times a job may be started, 1–10, published in the manifest:
   * 1 (the default) fails a job whose executor vanished; above 1 retries it
   * on another claim (at-least-once — the program must then tolerate a rerun).
   */
  max_attempts: Schema.optionalWith(MaxAttempts, { default: () => 1 }),
  /** Seconds before a retry may be claimed, doubled per further attempt, 0–3600; published. Default 10. */
  retry_delay_seconds: Schema.optionalWith(RetryDelaySeconds, { default: () => defaultRetryDelaySeconds }),
  /**
   * The executable: a name looked up on `PATH`, or a path. A relative path
   * (one containing `/`) in a config file is resolved against the file's
   * directory by `loadCommandConfig`.
   */
  program: Schema.String.pipe(Schema.minLength(1)),
  /** Arguments after the program, with placeholders substituted. Default none. */
  args: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** How the prompt reaches the program. Default `"argument"`. */
  prompt_via: Schema.optionalWith(PromptVia, { default: () => "argument" as const }),
  /**
   * Text appended to the job's prompt after a blank line before it is passed
   * on — e.g. telling an agent CLI where result files go. Placeholders other
   * than `{prompt}` are substituted. Default none.
   */
  prompt_suffix: Schema.optionalWith(Schema.String, { default: () => "" }),
  /**
   * What replaces `prompt_suffix` for a repo job (`agnt order --repo`),
   * whose workspace is a git repository holding the buyer's tree: the
   * program edits it in place (and may commit), and the runtime returns
   * the changes as `changes.patch`. Default none.
   */
  repo_prompt_suffix: Schema.optionalWith(Schema.String, { default: () => "" }),
  /** Extra environment variables for the program (the `AGNT_*` ones above win). Default none. */
  env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  /**
   * Seconds the program may run; past it the process group is terminated
   * (see `kill_grace_seconds`) and the job fails "timed out". Default 3600.
   */
  timeout_seconds: Schema.optionalWith(PositiveSeconds, { default: () => 3600 }),
  /**
   * Seconds between SIGTERM and SIGKILL when the process group is stopped
   * (timeout or cancellation). Default 10.
   */
  kill_grace_seconds: Schema.optionalWith(NonNegativeSeconds, { default: () => 10 }),
  /**
   * The sandbox the program runs in (`Command/Sandbox.ts`): its network
   * policy (default `"none"`), read-only host paths, passed environment
   * variables and limits. Default: the default sandbox. Ignored when the
   * executor runs with `--no-sandbox`.
   */
  sandbox: Schema.optionalWith(SandboxSettings, { default: () => new SandboxSettings({}) })
}) {}

/** A command config file could not be read, parsed or decoded; `message` says which and why. */
export class CommandConfigError extends Data.TaggedError("CommandConfigError")<{
  /** The config file's path as given. */
  readonly path: string
  /** What is wrong, for a human: I/O error, JSON syntax error, or each schema violation with its field path. */
  readonly message: string
}> {}

/**
 * Decode a config from already-parsed JSON (applying defaults). Fails with
 * `CommandConfigError` whose `message` lists each violation by field path;
 * `source` names the origin in that message.
 */
export const decodeCommandConfig = (input: unknown, source = "<config>"): Effect.Effect<CommandConfig, CommandConfigError> =>
  Schema.decodeUnknown(CommandConfig, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) =>
      new CommandConfigError({
        path: source,
        message: `invalid command config ${source}:\n${ParseResult.TreeFormatter.formatErrorSync(error)}`
      })
    )
  )

const readText = (path: string) =>
  Effect.tryPromise({
    try: () => NodeFs.readFile(path, "utf8"),
    catch: (cause) =>
      new CommandConfigError({
        path,
        message: `cannot read command config ${path}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

const parseJson = (path: string, text: string) =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: (cause) =>
      new CommandConfigError({
        path,
        message: `command config ${path} is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

/**
 * Read a JSON `CommandConfig` from `path` and decode it (unknown keys are
 * errors, so typos do not pass silently). A `program` containing `/` but not
 * absolute is resolved against the file's directory. Fails with
 * `CommandConfigError` naming the file and the problem.
 */
export const loadCommandConfig = (path: string): Effect.Effect<CommandConfig, CommandConfigError> =>
  Effect.gen(function*() {
    const text = yield* readText(path)
    const json = yield* parseJson(path, text)
    const config = yield* decodeCommandConfig(json, path)
    if (!config.program.includes("/") || NodePath.isAbsolute(config.program)) return config
    return new CommandConfig({ ...config, program: NodePath.resolve(NodePath.dirname(path), config.program) })
  }).pipe(Effect.withSpan("Command.loadCommandConfig", { attributes: { path } }))

/** Load and decode shipped preset `name` (`Presets.ts`); a `CommandConfigError` here means the shipped file is broken. */
export const loadPreset = (name: PresetName): Effect.Effect<CommandConfig, CommandConfigError> => loadCommandConfig(presetPath(name))
