/**
 * The embedded default survives a hard kill of the server: the real
 * `agnt-server` process on its embedded PostgreSQL (no `DATABASE_URL`, a
 * temporary `AGNT_DATA_DIR`) is killed with SIGKILL and started again.
 * Whether the watchdog stopped the orphaned postmaster or it had to be
 * stopped by the next start, the restart comes up on the same cluster.
 */
import type { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { isLive, readStat } from "../packages/executor/src/ProcessTable.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { temporaryDirectory } from "../packages/server/src/Testing.js"
import {
  agentPublished,
  buyerClient,
  eventually,
  exitOf,
  freePort,
  jobWhen,
  order,
  readPid,
  startExecutor,
  startServer,
  writeCommandExecutor
} from "./Executors.js"
import { binPath, run } from "./Processes.js"

/** A work dir with the environment of a server on the embedded default in it. */
const embeddedSetup = Effect.gen(function*() {
  const work = yield* temporaryDirectory("agnt-embedded-crash-")
  const dataDir = NodePath.join(work, "data")
  const configHome = NodePath.join(work, "config")
  const { DATABASE_URL: _external, ...inherited } = process.env
  const env = { ...inherited, AGNT_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome, AGNT_LEASE_SECONDS: "30" }
  const port = yield* freePort
  return { work, dataDir, env, port, postmasterPid: readPid(NodePath.join(dataDir, "postgres", "postmaster.pid")) }
})

/** The dev keys the embedded default writes for the CLI and executors, once it has. */
interface ClientFile {
  readonly api_key?: string
  readonly executor_api_key?: string
}

const devKeys = (configHome: string) =>
  eventually(
    Effect.promise(() =>
      NodeFs.readFile(NodePath.join(configHome, "agnt", "config.json"), "utf8").then(
        (text): ClientFile => JSON.parse(text),
        (): ClientFile => ({})
      )
    ),
    (config) => config.api_key !== undefined && config.executor_api_key !== undefined,
    { within: "30 seconds", what: "dev keys in the client config" }
  ).pipe(Effect.map((config) => ({ api_key: config.api_key ?? "", executor_api_key: config.executor_api_key ?? "" })))

/** Whether `pid` runs: exists and is not a zombie (an orphan that exited stays one under an init that does not reap). */
const running = (pid: number) =>
  Effect.sync(() => {
    const stat = readStat(pid)
    return stat !== undefined && isLive(stat)
  })

/** The PIDs of the running processes whose command line contains `text` (Linux `/proc`). */
const processesWith = (text: string) =>
  Effect.promise(async () => {
    const pids = (await NodeFs.readdir("/proc")).filter((name) => /^\d+$/.test(name))
    const lines = await Promise.all(pids.map((pid) =>
      NodeFs.readFile(`/proc/${pid}/cmdline`, "utf8").then((line) =>
        [Number(pid), line.split("\0").join(" ")] as const, () =>
        [0, ""] as const)
    ))
    return lines.filter(([, line]) =>
      line.includes(text)
    ).map(([pid]) => pid)
  })

describe("the embedded default after a hard kill", () => {
  it.scopedLive("SIGKILL of the server mid-job: its watchdog stops the embedded PostgreSQL, a restart comes up, and the executor's job completes", () =>
    Effect.gen(function*() {
      const { dataDir, env, port, postmasterPid, work } = yield* embeddedSetup
      const first = yield* startServer(port, { cwd: work, env })
      const keys = yield* devKeys(env.XDG_CONFIG_HOME)
      const url = `http://127.0.0.1:${port}`
      const client = yield* buyerClient(url, keys.api_key)
      const go = NodePath.join(work, "go")
      const config = yield* writeCommandExecutor(work, "patient", `while [ ! -f ${go} ]; do sleep 0.1; done\necho done > out/result.txt`)
      const agentId: AgentId = makeAgentId()
      yield* startExecutor(["command", "--agent-id", agentId, "--config", config], {
        cwd: work,
        env: { ...env, AGNT_API_URL: url, AGNT_API_KEY: keys.executor_api_key }
      })
      yield* agentPublished(client, agentId)
      const job = yield* order(client, agentId, "wait for go")
      yield* jobWhen(client, job.job_id, (found) => found.status === "running", "60 seconds", "running")
      const postgres = yield* postmasterPid

      first.child.kill("SIGKILL")
      yield* exitOf(first.child, "10 seconds")
      yield* eventually(running(postgres), (exists) => !exists, {
        within: "60 seconds",
        what: `the orphaned postmaster ${postgres} stopped by the watchdog`
      })
      yield* Effect.promise(() => NodeFs.writeFile(go, ""))
      const second = yield* startServer(port, { cwd: work, env })

      const completed = yield* jobWhen(client, job.job_id, (found) => found.status !== "running", "90 seconds", "ended")
      expect(completed.status, `failure_reason: ${completed.failure_reason}`).toBe("completed")
      expect(second.output.join("")).not.toContain("lease expired")
      expect(dataDir).toBeTruthy()
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("SIGKILL of the server and its watchdog: the next start stops the PostgreSQL left running on its cluster and comes up", () =>
    Effect.gen(function*() {
      const { env, port, postmasterPid, work } = yield* embeddedSetup
      const first = yield* startServer(port, { cwd: work, env })
      const postgres = yield* postmasterPid
      const watchdogs = yield* processesWith(`agnt-postgres-watchdog ${postgres}`)
      expect(watchdogs.length).toBe(1)
      for (const pid of watchdogs) process.kill(pid, "SIGKILL")
      first.child.kill("SIGKILL")
      yield* exitOf(first.child, "10 seconds")
      expect(yield* running(postgres)).toBe(true)

      const second = yield* startServer(port, { cwd: work, env })
      expect(yield* running(postgres)).toBe(false)
      expect(second.output.join("")).toContain(`stopping a PostgreSQL left running`)
      const keys = yield* devKeys(env.XDG_CONFIG_HOME)
      const client = yield* buyerClient(`http://127.0.0.1:${port}`, keys.api_key)
      const page = yield* client.jobs.list({ urlParams: { limit: 20 } })
      expect(page.data).toEqual([])
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("agnt-server keys create beside a running embedded server uses its PostgreSQL and leaves it running; the new key works", () =>
    Effect.gen(function*() {
      const { env, port, postmasterPid, work } = yield* embeddedSetup
      const server = yield* startServer(port, { cwd: work, env })
      const postgres = yield* postmasterPid
      const created = yield* run(binPath("server", "agnt-server.js"), ["keys", "create", "--role", "buyer"], { cwd: work, env })
      expect(created.stderr).not.toContain("stopping a PostgreSQL left running")
      expect(created.code).toBe(0)
      const key: unknown = JSON.parse(created.stdout).key
      expect(typeof key).toBe("string")
      expect(yield* running(postgres)).toBe(true)
      const client = yield* buyerClient(`http://127.0.0.1:${port}`, String(key))
      const page = yield* client.jobs.list({ urlParams: { limit: 20 } })
      expect(page.data).toEqual([])
      expect(server.output.join("")).not.toContain("stopping a PostgreSQL")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("a postmaster.pid naming a live process that is not PostgreSQL is removed as stale, and the server starts", () =>
    Effect.gen(function*() {
      const { dataDir, env, port, work } = yield* embeddedSetup
      const first = yield* startServer(port, { cwd: work, env })
      first.child.kill("SIGTERM")
      yield* exitOf(first.child, "30 seconds")
      const sleeper = yield* Effect.acquireRelease(
        Effect.sync(() => spawn("sleep", ["600"], { stdio: "ignore" })),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const lock = NodePath.join(dataDir, "postgres", "postmaster.pid")
      yield* Effect.promise(() => NodeFs.writeFile(lock, `${sleeper.pid}\n${NodePath.join(dataDir, "postgres")}\n0\n5432\n`))

      const second = yield* startServer(port, { cwd: work, env })
      expect(second.output.join("")).toContain("which no longer runs PostgreSQL")
    }))
})
