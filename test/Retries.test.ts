/**
 * At-least-once delivery on real processes: an agent whose command config
 * declares `max_attempts: 3` loses its executor to SIGKILL mid-job; the
 * reaper returns the job to `pending` and the next executor completes it
 * as attempt 2 (DESIGN.md "Delivery").
 */
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { TestServerLive } from "../packages/server/src/Testing.js"
import { allEvents, commandAgent, eventually, exitOf, jobWhen, order } from "./Executors.js"

const TestLive = TestServerLive(inject("pgAdminUrl"), { leaseSeconds: 3, reaperIntervalSeconds: 0.5 }).pipe(
  Layer.provideMerge(FetchHttpClient.layer)
)

/** The first run marks `dir` and waits; a later one writes its result. */
const secondTimeLucky = (dir: string) =>
  [
    `if [ -f ${dir}/first-ran ]; then`,
    "  echo done > out/result.txt",
    "else",
    `  touch ${dir}/first-ran`,
    "  exec sleep 300",
    "fi"
  ].join("\n")

layer(TestLive, { excludeTestServices: true, timeout: "120 seconds" })("retries across executors", (it) => {
  it.scoped("a job of an agent with max_attempts 3 whose executor is killed mid-job completes on its second attempt, with another executor", () =>
    Effect.gen(function*() {
      const { agentId, client, dir, start } = yield* commandAgent("retried", secondTimeLucky, {
        max_attempts: 3,
        retry_delay_seconds: 0
      })
      const first = yield* start()
      const job = yield* order(client, agentId, "try twice")
      yield* jobWhen(client, job.job_id, (found) => found.status === "running", "30 seconds", "running")
      yield* eventually(Effect.sync(() => NodeFs.existsSync(NodePath.join(dir, "first-ran"))), (ran) => ran, {
        within: "30 seconds",
        what: "the first attempt's program"
      })
      first.child.kill("SIGKILL")
      yield* exitOf(first.child, "10 seconds")

      yield* start()
      const done = yield* jobWhen(
        client,
        job.job_id,
        (found) => found.status === "completed" || found.status === "failed",
        "60 seconds",
        "ended"
      )
      expect([done.status, done.attempt, done.max_attempts]).toEqual(["completed", 2, 3])
      const result = yield* client.jobs.result({ path: { job_id: job.job_id } })
      expect(result.files.map((file) => file.path)).toEqual(["result.txt"])
      const retries = (yield* allEvents(client, job.job_id)).flatMap((event) => event._tag === "Retried" ? [event.data] : [])
      expect(retries.map((data) => [data.reason, data.attempt])).toEqual([["lease_expired", 2]])
    }))
})
