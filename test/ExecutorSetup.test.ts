/**
 * A seller starts an executor with no agent id: `agnt-executor run command
 * --preset claude-code` makes one on its first run, keeps it, and serves
 * the same agent on every later start; a preset whose program is not on
 * `PATH` stops at start with one JSON line on stderr, before anything is
 * published.
 */
import { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { agentPublished, buyerClient, eventually, jobWhen, order, startExecutor } from "./Executors.js"
import { binPath, run } from "./Processes.js"

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

/**
 * A stand-in `claude` on its own `PATH` directory: it writes the prompt
 * (the argument after `-p`, as the preset passes it) to `out/answer.md`.
 */
const fakeClaude = (bin: string) =>
  Effect.promise(async () => {
    await NodeFs.mkdir(bin, { recursive: true })
    await NodeFs.writeFile(
      NodePath.join(bin, "claude"),
      "#!/bin/sh\nmkdir -p out\nprintf '%s\\n' \"$2\" > out/answer.md\necho answered\n",
      { mode: 0o755 }
    )
  })

/** The id kept for the preset, once the executor has written it. */
const keptAgentId = (config: string) =>
  eventually(
    Effect.promise(() => NodeFs.readFile(NodePath.join(config, "agnt", "agents", "preset-claude-code"), "utf8").catch(() => "")),
    (text) => text.trim() !== "",
    { within: "60 seconds", what: "the kept agent id" }
  ).pipe(Effect.flatMap((text) => Schema.decodeUnknown(AgentId)(text.trim())))

describe("agnt-executor run command without an agent id", () => {
  it.scopedLive("--preset claude-code makes an agent id on its first run, serves a job with it, and keeps it for the next start", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const work = yield* temporaryDirectory("agnt-preset-")
      const bin = NodePath.join(work, "bin")
      yield* fakeClaude(bin)
      const config = NodePath.join(work, "config")
      const env = {
        ...process.env,
        PATH: `${bin}${NodePath.delimiter}${process.env.PATH ?? ""}`,
        XDG_CONFIG_HOME: config,
        AGNT_API_URL: url,
        AGNT_API_KEY: executorKey
      }
      const client = yield* buyerClient(url, buyerKey)

      const first = yield* Effect.scoped(Effect.gen(function*() {
        yield* startExecutor(["command", "--preset", "claude-code"], { cwd: work, env })
        const agentId = yield* keptAgentId(config)
        yield* agentPublished(client, agentId)
        const job = yield* order(client, agentId, "say hello")
        const done = yield* jobWhen(client, job.job_id, (job) => job.status === "completed", "60 seconds", "completed")
        expect(done.status).toBe("completed")
        const result = yield* client.jobs.result({ path: { job_id: job.job_id } })
        expect(result.files.map((file) => file.path)).toContain("answer.md")
        return agentId
      }))

      const second = yield* startExecutor(["command", "--preset", "claude-code"], { cwd: work, env })
      yield* eventually(
        Effect.sync(() => second.output.join("")),
        (output) => output.includes(`(${first})`),
        { within: "60 seconds", what: `the second start publishing ${first}` }
      )
      expect(yield* keptAgentId(config)).toBe(first)
    }).pipe(Effect.provide(TestLive)))

  it.scopedLive("a preset whose program is not on PATH exits 1 at start with one JSON line naming it, and publishes nothing", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const work = yield* temporaryDirectory("agnt-nopath-")
      const empty = NodePath.join(work, "empty-bin")
      yield* Effect.promise(() => NodeFs.mkdir(empty))
      const config = NodePath.join(work, "config")
      const env = { ...process.env, PATH: empty, XDG_CONFIG_HOME: config, AGNT_API_URL: url, AGNT_API_KEY: executorKey }

      const started = yield* run(binPath("executor", "agnt-executor.js"), ["run", "command", "--preset", "codex"], { cwd: work, env })
      expect(started.code).toBe(1)
      const error = JSON.parse(started.stderr)
      expect(error).toEqual({ _tag: "SetupError", message: expect.stringContaining("preset codex runs codex, which is not on PATH") })
      expect(error.message).not.toContain("\n")
      expect(started.stdout).not.toContain("published")
      const client = yield* buyerClient(url, buyerKey)
      const agents = yield* client.agents.search({ urlParams: { limit: 100 } })
      expect(agents.data.filter((agent) => agent.name === "Codex")).toEqual([])
      const kept = yield* Effect.promise(() => NodeFs.readdir(NodePath.join(config, "agnt", "agents")).catch(() => []))
      expect(kept).toEqual([])
    }).pipe(Effect.provide(TestLive)))
})
