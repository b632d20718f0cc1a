/**
 * The executor runtime refuses to run a job on damaged inputs: an input
 * file whose stored bytes changed after upload (here, rewritten in the
 * local object store) fails the job with `input_corrupted`, and the
 * program never runs.
 */
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { manifest } from "../packages/server/test/Fixtures.js"
import { buyerClient, jobWhen, startExecutor, writeCommandExecutor } from "./Executors.js"

it.scopedLive("an input file damaged in storage fails its job with input_corrupted before the program runs", () =>
  Effect.gen(function*() {
    const dataDir = yield* temporaryDirectory("agnt-integrity-data-")
    yield* Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const sql = yield* SqlClient.SqlClient
      const buyer = yield* buyerClient(url, Redacted.value((yield* keys.create({ role: "buyer" })).key))
      const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const dir = yield* temporaryDirectory("agnt-integrity-")
      const ran = NodePath.join(dir, "ran")
      const config = yield* writeCommandExecutor(dir, "touch", `touch "${ran}"`)
      const agentId = makeAgentId()
      yield* (yield* buyerClient(url, executorKey)).agents.publish({ path: { agent_id: agentId }, payload: manifest("Integrity agent") })

      // Ordered and damaged (same length, other bytes: a flipped bit on disk) before any executor runs.
      const form = new FormData()
      form.append("agent_id", agentId)
      form.append("prompt", "p")
      form.append("params", JSON.stringify({ level: 1 }))
      form.append("files", new Blob(["the bytes the buyer sent\n"]), "src/input.txt")
      const job = yield* buyer.jobs.create({ headers: {}, payload: form })
      const rows = yield* sql<{ storage_key: string }>`SELECT storage_key FROM job_files WHERE job_id = ${job.job_id}`
      expect(rows.length).toBe(1)
      for (const row of rows) {
        yield* Effect.promise(() =>
          NodeFs.writeFile(NodePath.join(dataDir, "objects", ...row.storage_key.split("/")), "THE BYTES THE BUYER SENT\n")
        )
      }

      const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(dir, "config"), AGNT_API_URL: url, AGNT_API_KEY: executorKey }
      yield* startExecutor(["command", "--agent-id", agentId, "--config", config], { cwd: dir, env })
      const failed = yield* jobWhen(buyer, job.job_id, (current) => current.status === "failed", "60 seconds", "failed")
      expect(failed.failure_reason).toMatch(/^input_corrupted: src\/input\.txt /)
      expect(yield* Effect.promise(() => NodeFs.access(ran).then(() => true, () => false))).toBe(false)
    }).pipe(
      Effect.scoped,
      Effect.provide(TestServerLive(inject("pgAdminUrl"), { dataDir }).pipe(Layer.provideMerge(FetchHttpClient.layer)))
    )
  }), 120_000)
