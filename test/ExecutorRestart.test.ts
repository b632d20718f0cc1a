/**
 * The executor rides out an API outage: the real `agnt-server` process is
 * killed with SIGKILL mid-job and started again on the same port and
 * database; the executor process reconnects by itself.
 */
import type { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase } from "../packages/server/src/Testing.js"
import {
  agentPublished,
  allEvents,
  buyerClient,
  exitOf,
  jobWhen,
  logLines,
  makeKeys,
  order,
  startExecutor,
  startServer,
  startServerOn,
  writeCommandExecutor
} from "./Executors.js"

describe("executor runtime across an API restart", () => {
  it.scopedLive("the API killed with SIGKILL and restarted on the same port and database mid-job: the executor reconnects, the job completes, and new jobs are claimed", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      const { dataDir, env: serverEnv, port, server: first, url, work } = yield* startServerOn(databaseUrl, "agnt-restart-", {
        AGNT_LEASE_SECONDS: "30",
        AGNT_REAPER_INTERVAL_SECONDS: "1"
      })

      const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
      const client = yield* buyerClient(url, Redacted.value(buyerKey.key))
      // The job runs until the test creates `go`.
      const go = NodePath.join(work, "go")
      const config = yield* writeCommandExecutor(
        work,
        "patient",
        [
          "echo \"waiting for go\"",
          `while [ ! -f ${go} ]; do sleep 0.1; done`,
          "echo \"going\"",
          "echo finished > out/result.txt"
        ].join("\n")
      )
      const agentId: AgentId = makeAgentId()
      const executor = yield* startExecutor(["command", "--agent-id", agentId, "--config", config], {
        cwd: work,
        env: {
          ...process.env,
          XDG_CONFIG_HOME: NodePath.join(work, "config"),
          AGNT_API_URL: url,
          AGNT_API_KEY: Redacted.value(executorKey.key)
        }
      })
      yield* agentPublished(client, agentId)
      const job = yield* order(client, agentId, "wait for go")
      yield* jobWhen(client, job.job_id, (found) => found.status === "running", "30 seconds", "running")

      first.child.kill("SIGKILL")
      yield* exitOf(first.child, "10 seconds")
      // The work finishes while the API is down: logs and completion must wait for it.
      yield* Effect.promise(() => NodeFs.writeFile(go, ""))
      yield* Effect.sleep("1 second")
      yield* startServer(port, { cwd: work, env: serverEnv })

      const completed = yield* jobWhen(client, job.job_id, (found) => found.status !== "running", "90 seconds", "ended")
      expect(completed.status).toBe("completed")
      const result = yield* client.jobs.result({ path: { job_id: job.job_id } })
      expect(result.files.map((file) => file.path)).toEqual(["result.txt"])
      const lines = logLines(yield* allEvents(client, job.job_id))
      expect(lines).toContain("waiting for go")
      expect(lines).toContain("going")

      const next = yield* order(client, agentId, "after the restart")
      const nextDone = yield* jobWhen(
        client,
        next.job_id,
        (found) => found.status === "completed" || found.status === "failed",
        "90 seconds",
        "ended"
      )
      expect(nextDone.status).toBe("completed")

      expect(executor.child.exitCode).toBe(null)
      const output = executor.output.join("")
      expect(output).toContain("retrying with backoff until it is back")
      expect(output).toContain("API reachable again")
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
