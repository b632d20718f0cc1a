/**
 * The executor runtime as a real process against the real API (in process,
 * over HTTP, on PostgreSQL) with a short lease: crash, cancel, graceful
 * shutdown and logs. Deadlines are generous; nothing asserts on speed.
 */
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { processExists } from "../packages/executor/src/ProcessTable.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { allEvents, commandAgent, exitOf, jobWhen, killGroup, logLines, order, readPid, runWithUnknownKey } from "./Executors.js"

const leaseSeconds = 3
const reaperIntervalSeconds = 0.5

const TestLive = TestServerLive(inject("pgAdminUrl"), { leaseSeconds, reaperIntervalSeconds }).pipe(
  Layer.provideMerge(FetchHttpClient.layer)
)

layer(TestLive, { excludeTestServices: true, timeout: "60 seconds" })("executor runtime against a real API", (it) => {
  it.scoped("an executor whose key the API refuses (401) exits 1 with a JSON error on stderr saying so, without retrying forever", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const dir = yield* temporaryDirectory("agnt-refused-")
      const refused = yield* runWithUnknownKey(dir, url)
      expect(refused.code).toBe(1)
      const error = JSON.parse(refused.stderr)
      expect(error._tag).toBe("ExecutorError")
      expect(error.message).toContain("the API refused to publish")
      expect(error.message).toContain("Unauthorized")
    }))

  it.scoped("kill -9 of the executor mid-job fails the job with lease_expired once the lease runs out", () =>
    Effect.gen(function*() {
      const { agentId, client, dir, start } = yield* commandAgent("crash", (dir) => `echo $$ > ${dir}/pid\nexec sleep 30`)
      const executor = yield* start()
      const job = yield* order(client, agentId, "sleep, please")
      yield* jobWhen(client, job.job_id, (found) => found.status === "running", "30 seconds", "running")
      const pid = yield* readPid(NodePath.join(dir, "pid"))
      yield* Effect.addFinalizer(() => killGroup(pid)) // the orphaned child of the killed executor

      executor.child.kill("SIGKILL")
      yield* exitOf(executor.child, "10 seconds")
      const failed = yield* jobWhen(
        client,
        job.job_id,
        (found) => found.status !== "running",
        `${leaseSeconds + reaperIntervalSeconds + 20} seconds`,
        "ended"
      )
      expect([failed.status, failed.failure_reason]).toEqual(["failed", "lease_expired"])
    }))

  it.scoped("a buyer's cancel mid-run stops the program (its process is gone) and the job ends canceled", () =>
    Effect.gen(function*() {
      const { agentId, client, dir, start } = yield* commandAgent("cancel", (dir) => `echo "started"\necho $$ > ${dir}/pid\nexec sleep 60`)
      yield* start()
      const job = yield* order(client, agentId, "run until canceled")
      const pid = yield* readPid(NodePath.join(dir, "pid"))
      yield* Effect.addFinalizer(() => killGroup(pid))
      expect(processExists(pid)).toBe(true)

      const requested = yield* client.jobs.cancel({ path: { job_id: job.job_id } })
      expect(requested.cancel_requested).toBe(true)
      const canceled = yield* jobWhen(
        client,
        job.job_id,
        (found) => found.status !== "running" && found.status !== "accepted",
        "30 seconds",
        "ended"
      )
      expect(canceled.status).toBe("canceled")
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }))
      const lines = logLines(yield* allEvents(client, job.job_id))
      expect(lines).toContain("started")
      expect(lines).toContain("[agnt-executor] canceled by the buyer; work stopped")
    }))

  it.scoped("SIGTERM with a job still running past the grace period fails it with executor_shutdown, and the executor exits", () =>
    Effect.gen(function*() {
      const { agentId, client, dir, start } = yield* commandAgent("shutdown", (dir) => `echo $$ > ${dir}/pid\nexec sleep 60`)
      const executor = yield* start("--grace-seconds", "1")
      const job = yield* order(client, agentId, "run forever")
      const pid = yield* readPid(NodePath.join(dir, "pid"))
      yield* Effect.addFinalizer(() => killGroup(pid))
      yield* jobWhen(client, job.job_id, (found) => found.status === "running", "30 seconds", "running")

      executor.child.kill("SIGTERM")
      const exit = yield* exitOf(executor.child, "60 seconds")
      expect(exit).toEqual({ code: 0, signal: null })
      const failed = yield* client.jobs.get({ path: { job_id: job.job_id } })
      expect([failed.status, failed.failure_reason]).toEqual(["failed", "executor_shutdown"])
      expect(processExists(pid)).toBe(false)
    }))

  it.scoped("SIGTERM lets a job that ends within the grace period complete before the executor exits", () =>
    Effect.gen(function*() {
      const { agentId, client, dir, start } = yield* commandAgent(
        "drain",
        (dir) => `echo $$ > ${dir}/pid\nsleep 2\necho done > out/done.txt`
      )
      const executor = yield* start("--grace-seconds", "60")
      const job = yield* order(client, agentId, "finish quickly")
      yield* readPid(NodePath.join(dir, "pid"))

      executor.child.kill("SIGTERM")
      const exit = yield* exitOf(executor.child, "60 seconds")
      expect(exit).toEqual({ code: 0, signal: null })
      const completed = yield* client.jobs.result({ path: { job_id: job.job_id } })
      expect(completed.status).toBe("completed")
      expect(completed.files.map((file) => file.path)).toEqual(["done.txt"])
    }))

  it.scoped("lines the program prints arrive as log events, in order and in batches, with the executor's milestones", () =>
    Effect.gen(function*() {
      const { agentId, client, start } = yield* commandAgent("chatty", () =>
        [
          "i=1",
          "while [ $i -le 120 ]; do echo \"line $i\"; i=$((i+1)); done",
          "echo \"a warning\" >&2",
          "echo report > out/report.txt"
        ].join("\n"))
      yield* start()
      const job = yield* order(client, agentId, "talk")
      yield* jobWhen(client, job.job_id, (found) => found.status === "completed", "60 seconds", "completed")

      const events = yield* allEvents(client, job.job_id)
      const lines = logLines(events)
      // stdout and stderr are separate pipes: their lines keep their own order, not each other's.
      const stdout = lines.filter((line) => line.startsWith("line "))
      expect(stdout).toEqual(Array.from({ length: 120 }, (_, i) => `line ${i + 1}`))
      expect(lines).toContain("[stderr] a warning")
      const batches = events.filter((event) => event.type === "log")
      expect(batches.length).toBeGreaterThanOrEqual(3)
      for (const batch of batches) {
        const batchLines = batch.data["lines"]
        expect(Array.isArray(batchLines) && batchLines.length >= 1 && batchLines.length <= 50).toBe(true)
      }
      expect(lines).toContain("[agnt-executor] running Test chatty")
      expect(lines).toContain("[agnt-executor] uploading 1 result file(s)")
      expect(lines.indexOf("[agnt-executor] uploading 1 result file(s)")).toBeGreaterThan(lines.indexOf("line 120"))
    }))
})
