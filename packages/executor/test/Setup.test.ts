/**
 * What `run command` settles before publishing: which agent it serves
 * (flag, config, else an id kept per preset or file) and that its program
 * can be started.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option } from "effect"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeCommandConfig } from "../src/Command/Config.js"
import { agentIdOf, findProgram, SetupError, storedAgentIdPath } from "../src/Command/Setup.js"
import { makeAgentId } from "../src/Init.js"

/** A temporary directory for the scope. */
const scratch = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "agnt-setup-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** Run `effect` with only `vars` in its environment. */
const withEnv = (vars: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))

const preset = { _tag: "Preset", name: "claude-code" } as const
const configOf = (fields: Record<string, unknown>) =>
  decodeCommandConfig({ name: "Test", description: "test", program: "claude", ...fields })

describe("Command/Setup", () => {
  it.scoped("the flag wins, the config's agent_id comes next, and a flag naming another agent is refused", () =>
    Effect.gen(function*() {
      const [flag, own] = [makeAgentId(), makeAgentId()]
      const withId = yield* configOf({ agent_id: own })
      const without = yield* configOf({})
      expect(yield* agentIdOf(Option.some(flag), without, preset, makeAgentId)).toBe(flag)
      expect(yield* agentIdOf(Option.none(), withId, preset, makeAgentId)).toBe(own)
      expect(yield* agentIdOf(Option.some(own), withId, preset, makeAgentId)).toBe(own)
      const refused = yield* Effect.exit(agentIdOf(Option.some(flag), withId, preset, makeAgentId))
      expect(refused).toEqual(
        Exit.fail(new SetupError({ message: `the config serves ${own} but --agent-id says ${flag}; make them agree` }))
      )
    }))

  it.scoped("with neither, an id is made once per preset and kept: concurrent first runs agree on it", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const config = yield* configOf({})
      const ids = yield* Effect.all(
        Array.from({ length: 4 }, () => agentIdOf(Option.none(), config, preset, makeAgentId)),
        { concurrency: "unbounded" }
      ).pipe(withEnv({ XDG_CONFIG_HOME: dir }))
      expect(new Set(ids).size).toBe(1)
      const path = yield* storedAgentIdPath(preset).pipe(withEnv({ XDG_CONFIG_HOME: dir }))
      expect(path).toBe(join(dir, "agnt", "agents", "preset-claude-code"))
      expect((yield* Effect.promise(() => readFile(path, "utf8"))).trim()).toBe(ids[0])
      const other = yield* agentIdOf(Option.none(), config, { _tag: "Preset", name: "codex" }, makeAgentId).pipe(
        withEnv({ XDG_CONFIG_HOME: dir })
      )
      expect(other).not.toBe(ids[0])
    }))

  it.scoped("a program is found on PATH or as an executable path; otherwise one line says which config runs what", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const bin = join(dir, "bin")
      yield* Effect.promise(async () => {
        await mkdir(bin)
        await writeFile(join(bin, "claude"), "#!/bin/sh\n", { mode: 0o755 })
        await writeFile(join(dir, "plain.txt"), "not a program\n", { mode: 0o644 })
      })
      const onPath = yield* configOf({})
      expect(yield* findProgram(onPath, preset).pipe(withEnv({ PATH: `/nonexistent:${bin}` }))).toBe(join(bin, "claude"))
      const missing = yield* Effect.flip(findProgram(onPath, preset).pipe(withEnv({ PATH: "/nonexistent" })))
      expect(missing.message).toBe("preset claude-code runs claude, which is not on PATH: install it, or put its directory on PATH")
      const notExecutable = yield* configOf({ program: join(dir, "plain.txt") })
      const refused = yield* Effect.flip(findProgram(notExecutable, { _tag: "File", path: "x.json" }).pipe(withEnv({ PATH: bin })))
      expect(refused.message).toBe(`config x.json runs ${join(dir, "plain.txt")}, which is not an executable file`)
    }))
})
