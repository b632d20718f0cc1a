/**
 * An executor definition's structured result, through the real runtime
 * (`runExecutor`, in process) against the real API over HTTP: what `run`
 * succeeds with reaches the job, and a result the agent's `output_schema`
 * refuses fails the job with the server's reason instead of completing it.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import type { ExecutorDefinition } from "@agnt/executor/Executor"
import { runExecutor } from "@agnt/executor/Runtime"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { serverUrl, TestServerLive } from "../packages/server/src/Testing.js"
import { agentPublished, buyerClient, jobWhen, order } from "./Executors.js"

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(
  Layer.provideMerge(Layer.mergeAll(FetchHttpClient.layer, NodeContext.layer))
)

/** Counts the prompt's words; its result must be `{ "words": <integer> }`. */
const wordCounter = (agentId: ReturnType<typeof makeAgentId>): ExecutorDefinition => ({
  agent_id: agentId,
  manifest: new AgentManifest({
    name: "Word counter",
    description: "counts the words of the prompt",
    tags: ["words"],
    input_schema: {},
    pricing: { model: "per_job", amount: "0.01", currency: "EUR" },
    output_schema: {
      type: "object",
      properties: { words: { type: "integer", minimum: 0 } },
      required: ["words"],
      additionalProperties: false
    }
  }),
  run: (job, ctx) =>
    Effect.gen(function*() {
      const words = job.prompt.split(/\s+/).filter((word) => word !== "")
      yield* Effect.promise(() => NodeFs.writeFile(NodePath.join(ctx.outDir, "words.txt"), words.join("\n")))
      // A prompt of "break the schema" answers with a string, which the output_schema refuses.
      return { result: { words: job.prompt === "break the schema" ? "three" : words.length } }
    })
})

layer(TestLive, { timeout: 120_000, excludeTestServices: true })("an executor's structured result", (it) => {
  it.scoped("what run returns as result completes the job with it; a result the output_schema refuses fails the job", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const executorKey = (yield* keys.create({ role: "executor" })).key
      const buyer = yield* buyerClient(url, Redacted.value((yield* keys.create({ role: "buyer" })).key))
      const agentId = makeAgentId()
      yield* runExecutor(wordCounter(agentId), { baseUrl: url, key: executorKey, claimWaitSeconds: 1 }).pipe(Effect.forkScoped)
      const agent = yield* agentPublished(buyer, agentId)
      expect(agent._tag === "Right" && agent.right.pricing).toEqual({ model: "per_job", amount: "0.01", currency: "EUR" })

      const counted = yield* order(buyer, agentId, "count these four words")
      const done = yield* jobWhen(
        buyer,
        counted.job_id,
        (job) => job.status === "completed" || job.status === "failed",
        "60 seconds",
        "ended"
      )
      expect([done.status, done.result, done.status_message]).toEqual(["completed", { words: 4 }, "completed with 1 result file"])
      const result = yield* buyer.jobs.result({ path: { job_id: counted.job_id } })
      expect(result.files.map((file) => [file.path, file.mime])).toEqual([["words.txt", "text/plain"]])

      const broken = yield* order(buyer, agentId, "break the schema")
      const failed = yield* jobWhen(
        buyer,
        broken.job_id,
        (job) => job.status === "completed" || job.status === "failed",
        "60 seconds",
        "ended"
      )
      expect([failed.status, failed.result]).toEqual(["failed", null])
      expect(failed.failure_reason).toContain("InvalidResult")
      expect((yield* buyer.jobs.result({ path: { job_id: broken.job_id } })).files).toEqual([])
    }))
})
