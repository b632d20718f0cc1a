/**
 * Prompts of any length (`agnt order --prompt-file PATH`, `--prompt -`):
 * the real `agnt` sends a prompt larger than one command-line argument may
 * be (128 KiB) to the real server, which keeps it exactly; one over the
 * server's `AGNT_MAX_PROMPT_CHARS` is refused with that limit in the error.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { binPath, run } from "./Processes.js"

/** The server's prompt limit here, in characters: room for the 300 KiB prompt. */
const maxPromptChars = 400_000

const TestLive = TestServerLive(inject("pgAdminUrl"), { maxPromptChars }).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** Lines of mixed one- to four-byte UTF-8 characters until the text is at least `bytes` long. */
const promptOf = (bytes: number) => {
  const lines: Array<string> = []
  let size = 0
  for (let i = 0; size < bytes; i++) {
    const line = `${i}: prüfe die Änderung — ✓ 🙂\n`
    lines.push(line)
    size += Buffer.byteLength(line)
  }
  return lines.join("")
}

/** A buyer, an agent accepting any params, a work dir and the environment `agnt` runs with. */
const setUp = Effect.gen(function*() {
  const url = yield* serverUrl
  const keys = yield* ApiKeys
  const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
  const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
  const executor = yield* makeApiClient({ baseUrl: url, key: Redacted.make(executorKey) })
  const agentId = makeAgentId()
  yield* executor.agents.publish({
    path: { agent_id: agentId },
    payload: new AgentManifest({ name: "Long reader", description: "", tags: [], input_schema: {} })
  })
  const work = yield* temporaryDirectory("agnt-e2e-prompt-")
  const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url, AGNT_API_KEY: buyerKey }
  const buyer = yield* makeApiClient({ baseUrl: url, key: Redacted.make(buyerKey) })
  return { agentId, buyer, env, work }
})

describe("end to end: prompts longer than a command-line argument", () => {
  it.scopedLive("a 300 KiB prompt sent with --prompt-file and with --prompt - (stdin) comes back equal", () =>
    Effect.gen(function*() {
      const { agentId, buyer, env, work } = yield* setUp
      const prompt = promptOf(300 * 1024)
      expect(Buffer.byteLength(prompt)).toBeGreaterThanOrEqual(300 * 1024)
      expect(prompt.length).toBeLessThanOrEqual(maxPromptChars)
      const file = NodePath.join(work, "prompt.md")
      yield* Effect.promise(() => NodeFs.writeFile(file, prompt))

      const viaFile = yield* run(binPath("cli", "agnt.js"), ["order", agentId, "--prompt-file", file], { cwd: work, env })
      const viaStdin = yield* run(binPath("cli", "agnt.js"), ["order", agentId, "--prompt", "-"], { cwd: work, env, input: prompt })
      for (const [source, finished] of [["--prompt-file", viaFile], ["--prompt -", viaStdin]] as const) {
        expect([finished.code, finished.stderr], source).toEqual([0, ""])
        const printed = JSON.parse(finished.stdout)
        expect(printed.prompt === prompt, `${source}: the printed job's prompt`).toBe(true)
        const stored = yield* buyer.jobs.get({ path: { job_id: printed.job_id } })
        expect(stored.prompt === prompt, `${source}: the stored job's prompt`).toBe(true)
      }
    }).pipe(Effect.provide(TestLive)))

  it.scopedLive("a prompt over the server's limit is refused with exit 3 and an error that says the limit", () =>
    Effect.gen(function*() {
      const { agentId, buyer, env, work } = yield* setUp
      const file = NodePath.join(work, "too-long.txt")
      yield* Effect.promise(() => NodeFs.writeFile(file, "x".repeat(maxPromptChars + 1)))
      const refused = yield* run(binPath("cli", "agnt.js"), ["order", agentId, "--prompt-file", file], { cwd: work, env })
      expect(refused.code).toBe(3)
      expect(JSON.parse(refused.stderr)).toMatchObject({
        _tag: "PayloadTooLarge",
        limit: maxPromptChars,
        message: `prompt is over ${maxPromptChars} characters`
      })
      expect((yield* buyer.jobs.list({ urlParams: { limit: 10 } })).data).toEqual([])
    }).pipe(Effect.provide(TestLive)))
})
