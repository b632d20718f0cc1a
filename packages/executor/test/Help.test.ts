/**
 * Every page of `agnt-executor`'s help is complete: each of its commands
 * has a page with an example, and each flag and argument a description of
 * its own (never `@effect/cli`'s "A user-defined piece of text.").
 */
import { parametersOfCommand } from "@agnt/client/CliHelp"
import * as Command from "@effect/cli/Command"
import { describe, expect, it } from "@effect/vitest"
import { HashMap } from "effect"
import { agntExecutor } from "../src/Commands.js"
import { executorHelp } from "../src/Help.js"

describe("agnt-executor help", () => {
  it("has a page with an example for every command", () => {
    expect(Array.from(HashMap.keys(Command.getSubcommands(agntExecutor))).sort()).toEqual(["init", "run"])
    expect(executorHelp.commands.map((help) => help.path.join(" ")).sort()).toEqual(["init", "run code-review", "run command"])
    for (const help of executorHelp.commands) {
      expect(help.examples.some((example) => example.includes(`agnt-executor ${help.path.join(" ")}`))).toBe(true)
    }
  })

  it("describes every flag and argument of every command in its own words", () => {
    for (const help of executorHelp.commands) {
      for (const parameter of parametersOfCommand(help.command)) {
        expect(parameter.description, `${help.path.join(" ")} ${parameter.names.join(", ")}`).not.toBe("")
        expect(parameter.description).not.toMatch(/user-defined|true or false value|This setting/)
      }
    }
  })
})
