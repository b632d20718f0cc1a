/**
 * An executor orders a child job on the buyer's behalf (DESIGN.md "Repo
 * jobs": handoff), through the real runtime (`runExecutor`, in process)
 * against the real API: `ctx.childKey` is a key scoped to the running job,
 * the child it orders is the buyer's with `parent_job_id` set, the buyer
 * sees the key's issue in the job's events, and once the job ended the
 * key orders nothing.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import type { ExecutorDefinition } from "@agnt/executor/Executor"
import { runExecutor } from "@agnt/executor/Runtime"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Either, Layer, Redacted } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { serverUrl, TestServerLive } from "../packages/server/src/Testing.js"
import { agentPublished, allEvents, buyerClient, jobWhen, logLines, order } from "./Executors.js"

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(
  Layer.provideMerge(Layer.mergeAll(FetchHttpClient.layer, NodeContext.layer))
)

layer(TestLive, { timeout: 120_000, excludeTestServices: true })("child orders by an executor", (it) => {
  it.scoped("ctx.childKey orders a child of the running job for its buyer, shows in its events, and is refused once the job ended", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const executorKey = (yield* keys.create({ role: "executor" })).key
      const buyerKeyCreated = yield* keys.create({ role: "buyer" })
      const buyer = yield* buyerClient(url, Redacted.value(buyerKeyCreated.key))
      const agentId = makeAgentId()
      const issued = yield* Deferred.make<Redacted.Redacted>()
      const planner: ExecutorDefinition = {
        agent_id: agentId,
        manifest: new AgentManifest({ name: "Planner", description: "orders a follow-up job", tags: [], input_schema: {} }),
        run: (job, ctx) =>
          Effect.gen(function*() {
            if (job.parent_job_id !== null) return
            const key = yield* ctx.childKey
            const client = yield* makeApiClient({ baseUrl: url, key })
            const form = new FormData()
            form.append("agent_id", agentId)
            form.append("prompt", "the follow-up")
            form.append("parent_job_id", job.job_id)
            yield* client.jobs.create({ headers: {}, payload: form }).pipe(Effect.orDie)
            yield* Deferred.succeed(issued, key)
          }).pipe(Effect.provide(FetchHttpClient.layer))
      }
      yield* runExecutor(planner, { baseUrl: url, key: executorKey, claimWaitSeconds: 1 }).pipe(Effect.forkScoped)
      yield* agentPublished(buyer, agentId)

      const parent = yield* order(buyer, agentId, "plan")
      const ended = yield* jobWhen(
        buyer,
        parent.job_id,
        (job) => job.status === "completed" || job.status === "failed",
        "60 seconds",
        "ended"
      )
      expect(ended.status).toBe("completed")
      const children = yield* buyer.jobs.list({ urlParams: { parent_job_id: parent.job_id, limit: 20 } })
      expect(children.data.map((job) => [job.prompt, job.account_id])).toEqual([["the follow-up", buyerKeyCreated.info.account_id]])
      const lines = logLines(yield* allEvents(buyer, parent.job_id))
      expect(lines.some((line) => line.includes("child-order key key_") && line.includes(`children of ${parent.job_id} only`))).toBe(true)

      const scoped = yield* makeApiClient({ baseUrl: url, key: yield* Deferred.await(issued) })
      const form = new FormData()
      form.append("agent_id", agentId)
      form.append("prompt", "one more, too late")
      form.append("parent_job_id", parent.job_id)
      const late = yield* scoped.jobs.create({ headers: {}, payload: form }).pipe(Effect.either)
      expect(Either.isLeft(late) && ["Forbidden", "Unauthorized"].includes(late.left._tag)).toBe(true)
    }))
})
