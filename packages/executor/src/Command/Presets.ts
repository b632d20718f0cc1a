/**
 * The shipped command configs, one JSON file each in `presets/` — data, not
 * code: copy one, edit it, and run it with `loadCommandConfig`.
 * - `claude-code`: `claude -p {prompt} --output-format text --permission-mode acceptEdits`
 * - `codex`: `codex exec --skip-git-repo-check --sandbox workspace-write --color never {prompt}`
 * - `gemini`: `gemini --approval-mode yolo -p {prompt}` with `GEMINI_CLI_TRUST_WORKSPACE=true`
 *
 * Each tells the agent, in its prompt suffix, to write result files to
 * `./out` in its working directory (the job's workspace). `loadPreset`
 * (`Config.ts`) reads one; this module holds only their names and paths, so
 * `agnt-executor`'s commands can list them without loading the command
 * executor.
 */
import { besideModule } from "../Assets.js"

/** The preset names, as their files are named. */
export const presetNames = ["claude-code", "codex", "gemini"] as const
export type PresetName = typeof presetNames[number]

/** Absolute path of preset `name`'s JSON file (in `presets/`, found by `besideModule`). */
export const presetPath = (name: PresetName): string => besideModule(`presets/${name}.json`, import.meta.url)
