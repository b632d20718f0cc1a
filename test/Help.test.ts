/**
 * The help of the real `agnt` and `agnt-executor` processes teaches as
 * `gh`'s does — USAGE with the program's name, flags in their own words,
 * examples, the environment and the exit codes — on stdout with exit 0,
 * without colour when stdout is not a terminal or `NO_COLOR` is set; an
 * unknown command is a JSON usage error on stderr with exit 2.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { temporaryDirectory } from "../packages/server/src/Testing.js"
import { binPath, run } from "./Processes.js"

const agnt = binPath("cli", "agnt.js")
const executor = binPath("executor", "agnt-executor.js")

// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const ansi = /\u001b\[/

/** Run `file` with `args` in a fresh directory, with no config and no key. */
const runIn = (file: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const cwd = yield* temporaryDirectory("agnt-help-")
    const { AGNT_API_KEY: _key, AGNT_API_URL: _url, NO_COLOR: _noColor, ...inherited } = process.env
    return yield* run(file, args, { cwd, env: { ...inherited, XDG_CONFIG_HOME: cwd, ...env } })
  })

describe("help of the real programs", () => {
  it.scopedLive("agnt order --help shows its USAGE line, an example and its flags' own descriptions, on stdout", () =>
    Effect.gen(function*() {
      const help = yield* runIn(agnt, ["order", "--help"])
      expect(help.code).toBe(0)
      expect(help.stderr).toBe("")
      expect(help.stdout).toContain("USAGE\n  agnt order <agent-id> [flags]\n")
      expect(help.stdout).toMatch(/^ {2}\$ agnt order agent_\w+ --prompt /m)
      expect(help.stdout).toMatch(/^ {2}--prompt TEXT +What the agent should do/m)
      expect(help.stdout).toMatch(/^ {2}--file PATH +An input file.*\(repeatable\)$/m)
      expect(help.stdout).toContain("AGNT_API_URL")
      expect(help.stdout).toContain("~/.config/agnt/config.json")
      expect(help.stdout).toMatch(/^ {2}6 +Missing, unknown or revoked key/m)
      expect(help.stdout).not.toMatch(/user-defined piece of text|--wizard|--log-level/)
    }))

  it.scopedLive("agnt help order prints exactly what agnt order --help prints", () =>
    Effect.gen(function*() {
      const [viaHelp, viaFlag] = yield* Effect.all([runIn(agnt, ["help", "order"]), runIn(agnt, ["order", "-h"])])
      expect(viaHelp.code).toBe(0)
      expect(viaHelp.stdout).toBe(viaFlag.stdout)
    }))

  it.scopedLive("agnt --help lists every command and has no ANSI escapes, piped or with NO_COLOR", () =>
    Effect.gen(function*() {
      const [piped, noColor] = yield* Effect.all([runIn(agnt, ["--help"]), runIn(agnt, ["--help"], { NO_COLOR: "1" })])
      expect(piped.code).toBe(0)
      for (const command of ["search", "info", "stats", "order", "jobs", "status", "cancel", "watch", "logs", "result"]) {
        expect(piped.stdout).toMatch(new RegExp(`^ {2}${command} +\\S`, "m"))
      }
      expect(piped.stdout).toContain("USAGE\n  agnt <command> [flags]\n")
      expect(piped.stdout).toContain("EXIT CODES")
      expect(piped.stdout).not.toMatch(ansi)
      expect(noColor.stdout).toBe(piped.stdout)
    }))

  it.scopedLive("an unknown command or flag is a JSON UsageError on stderr naming it, exit 2, nothing on stdout", () =>
    Effect.gen(function*() {
      for (const args of [["serch", "review"], ["help", "serch"]]) {
        const unknown = yield* runIn(agnt, args)
        expect(unknown.code).toBe(2)
        expect(unknown.stdout).toBe("")
        const error = JSON.parse(unknown.stderr)
        expect(error._tag).toBe("UsageError")
        expect(error.message).toContain(`unknown command "serch"`)
        expect(error.message).toContain("search")
      }
      const wizard = yield* runIn(agnt, ["search", "--wizard"])
      expect(wizard.code).toBe(2)
      expect(JSON.parse(wizard.stderr).message).toBe("unknown flag --wizard for agnt search (agnt search --help)")
    }))

  it.scopedLive("agnt-executor run command --help teaches the same way; an unknown command is a JSON UsageError", () =>
    Effect.gen(function*() {
      const help = yield* runIn(executor, ["run", "command", "--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("USAGE\n  agnt-executor run command [flags]\n")
      expect(help.stdout).toContain("$ agnt-executor run command --preset claude-code")
      expect(help.stdout).toMatch(/^ {2}--preset PRESET +A shipped config \(one of: claude-code, codex, gemini\)$/m)
      expect(help.stdout).toMatch(/^ {2}--agent-id AGENT-ID +The agent this executor serves/m)
      expect(help.stdout).not.toMatch(ansi)
      const viaHelp = yield* runIn(executor, ["help", "run", "command"])
      expect(viaHelp.stdout).toBe(help.stdout)

      const unknown = yield* runIn(executor, ["serve"])
      expect(unknown.code).toBe(2)
      expect(JSON.parse(unknown.stderr)).toMatchObject({ _tag: "UsageError" })
      expect(JSON.parse(unknown.stderr).message).toContain(`unknown command "serve"`)
    }))
})
