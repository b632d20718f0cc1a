/**
 * Every page of `agnt`'s help is complete: each command of `agnt` has a
 * page, and each of its flags and arguments a description of its own
 * (never `@effect/cli`'s "A user-defined piece of text."), and what the
 * command line asks of help is read as `gh` reads it.
 */
import { colorWanted, helpRequest, parametersOfCommand, renderCommandHelp } from "@agnt/client/CliHelp"
import * as Command from "@effect/cli/Command"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, HashMap } from "effect"
import { agnt, order } from "../src/Commands.js"
import { agntHelp } from "../src/Help.js"

/** The help entry of `agnt <name>`. */
const helpOf = (name: string) => {
  const help = agntHelp.commands.find((entry) => entry.path.join(" ") === name)
  if (help === undefined) throw new Error(`no help for ${name}`)
  return help
}

describe("agnt help", () => {
  it("has a page for every subcommand of agnt, with an example of it", () => {
    const names = Array.from(HashMap.keys(Command.getSubcommands(agnt))).sort()
    expect(agntHelp.commands.map((help) => help.path.join(" ")).sort()).toEqual(names)
    for (const help of agntHelp.commands) {
      expect(help.examples.some((example) => example.includes(`agnt ${help.path.join(" ")}`))).toBe(true)
    }
  })

  it("describes every flag and argument of every command in its own words", () => {
    for (const help of agntHelp.commands) {
      for (const parameter of parametersOfCommand(help.command)) {
        expect(parameter.description, `${help.path.join(" ")} ${parameter.names.join(", ")}`).not.toBe("")
        expect(parameter.description).not.toMatch(/user-defined|true or false value|This setting/)
      }
    }
  })

  it("shows repeatable flags as optional and repeatable, and an optional argument in brackets", () => {
    const param = parametersOfCommand(order).find((parameter) => parameter.names.includes("--param"))
    expect(param).toMatchObject({ optional: true, repeated: true })
    const page = renderCommandHelp(agntHelp, helpOf("order"), false)
    expect(page).toMatch(/^ {2}--param KEY=VALUE +A job parameter.*\(repeatable\)$/m)
    expect(renderCommandHelp(agntHelp, helpOf("search"), false)).toContain("  agnt search [<query>] [flags]")
  })

  it("reads --help anywhere before --, help <command>, and unknown flags (--wizard among them) before any parsing", () => {
    expect(helpRequest(agntHelp, ["order", "agent_x", "--wait", "-h"])).toMatchObject({ _tag: "Command" })
    expect(helpRequest(agntHelp, ["help", "order"])).toMatchObject({ _tag: "Command", help: { path: ["order"] } })
    expect(helpRequest(agntHelp, ["order", "agent_x", "--prompt", "-", "--", "--help"])._tag).toBe("Run")
    expect(helpRequest(agntHelp, ["--help"])._tag).toBe("Program")
    expect(helpRequest(agntHelp, ["help"])._tag).toBe("Program")
    expect(helpRequest(agntHelp, ["help", "nope"])).toEqual({ _tag: "Unknown", word: "nope" })
    expect(helpRequest(agntHelp, ["serch", "x"])).toEqual({ _tag: "Unknown", word: "serch" })
    expect(helpRequest(agntHelp, [])._tag).toBe("Missing")
    expect(helpRequest(agntHelp, ["--version"])._tag).toBe("Run")
    expect(helpRequest(agntHelp, ["search", "--wizard"])).toEqual({ _tag: "UnknownFlag", flag: "--wizard", command: ["search"] })
    expect(helpRequest(agntHelp, ["--log-level=debug", "jobs"])).toEqual({ _tag: "UnknownFlag", flag: "--log-level", command: [] })
    expect(helpRequest(agntHelp, ["order", "agent_x", "--bogus"])).toMatchObject({ _tag: "UnknownFlag", flag: "--bogus" })
    // Values of flags are never flags, however they look; aliases and --flag=value are known.
    expect(helpRequest(agntHelp, ["order", "agent_x", "--prompt", "--bogus", "--param=a=1", "--wait"])._tag).toBe("Run")
    expect(helpRequest(agntHelp, ["logs", "job_x", "-f", "--after", "-1"])._tag).toBe("Run")
    expect(helpRequest(agntHelp, ["--completions", "bash"])._tag).toBe("Run")
  })

  it.effect("uses colour only on a terminal without NO_COLOR (an empty NO_COLOR counts as unset), and plain text has no escapes", () =>
    Effect.gen(function*() {
      const withEnv = (vars: ReadonlyArray<[string, string]>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(vars)))
      expect(yield* colorWanted(true).pipe(withEnv([]))).toBe(true)
      expect(yield* colorWanted(true).pipe(withEnv([["NO_COLOR", ""]]))).toBe(true)
      expect(yield* colorWanted(true).pipe(withEnv([["NO_COLOR", "1"]]))).toBe(false)
      expect(yield* colorWanted(false).pipe(withEnv([]))).toBe(false)
      expect(renderCommandHelp(agntHelp, helpOf("jobs"), true)).toContain("\u001b[1mUSAGE\u001b[0m")
      expect(renderCommandHelp(agntHelp, helpOf("jobs"), false)).not.toContain("\u001b")
    }))
})
