/**
 * Nothing a job started outlives its executor: the real `agnt-executor`
 * process is killed with SIGKILL while its `command` program runs — a
 * program that ignores SIGTERM, with a grandchild that ignores it too, an
 * orphaned grandchild re-parented away from it and one in a session of its
 * own — and every one of them is gone soon after (their watchdog). When the watchdog dies with the
 * executor, the next executor started on the same state directory kills
 * them and removes the dead one's job directories. Deadlines are generous;
 * nothing asserts on speed.
 */
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { allProcesses, isLive, readStat } from "../packages/executor/src/ProcessTable.js"
import { TestServerLive } from "../packages/server/src/Testing.js"
import { commandAgent, eventually, exitOf, jobWhen, killGroup, order, readPid } from "./Executors.js"

const TestLive = TestServerLive(inject("pgAdminUrl"), { leaseSeconds: 3, reaperIntervalSeconds: 0.5 }).pipe(
  Layer.provideMerge(FetchHttpClient.layer)
)

/**
 * The program: ignores SIGTERM; starts a grandchild that ignores it too,
 * an orphaned grandchild (its parent subshell exits at once) and one that
 * leaves for a session of its own (`setsid`, as a daemon does); records
 * the four pids in `dir`, then waits.
 */
const stubborn = (dir: string) =>
  [
    "trap '' TERM",
    `echo $$ > ${dir}/pid`,
    `sh -c 'trap "" TERM; echo $$ > ${dir}/grandchild.pid; exec sleep 300' &`,
    `( sleep 300 & echo $! > ${dir}/orphan.pid )`,
    `setsid sh -c 'trap "" TERM; echo $$ > ${dir}/escaped.pid; exec sleep 300' < /dev/null > /dev/null 2>&1 &`,
    "echo started",
    "wait"
  ].join("\n")

/** SIGKILL process `pid` if it is still there. */
const killProcess = (pid: number) =>
  Effect.sync(() => {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  })

/** Whether process `pid` is a program's watchdog (`agnt-watchdog` in its command line). */
const isWatchdog = (pid: number): boolean => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("agnt-watchdog")
  } catch {
    return false
  }
}

/** The watchdogs `executorPid` started, once there is one. */
const watchdogsOf = (executorPid: number) =>
  eventually(
    Effect.sync(() => (allProcesses() ?? []).filter((stat) => stat.ppid === executorPid && isWatchdog(stat.pid))),
    (found) => found.length === 1,
    { within: "30 seconds", what: "the program's watchdog" }
  )

/** Whether process `pid` has ended: gone, or a zombie nobody has reaped yet. */
const ended = (pid: number): boolean => {
  const stat = readStat(pid)
  return stat === undefined || !isLive(stat)
}

/** A fresh agent served by the stubborn program, and how to order a job of it and see its processes run. */
const setup = (name: string) =>
  Effect.gen(function*() {
    const { agentId, client, dir, start } = yield* commandAgent(name, stubborn)
    /** Order a job and wait until its program and its descendants run; yields their pids. */
    const runJob = Effect.gen(function*() {
      const job = yield* order(client, agentId, "never finish")
      yield* jobWhen(client, job.job_id, (found) => found.status === "running", "30 seconds", "running")
      const pids = yield* Effect.all(
        ["pid", "grandchild.pid", "orphan.pid", "escaped.pid"].map((file) => readPid(NodePath.join(dir, file)))
      )
      // Should the test fail, nothing it started stays behind.
      for (const pid of pids) yield* Effect.addFinalizer(() => Effect.zipRight(killGroup(pid), killProcess(pid)))
      expect(pids.map(ended)).toEqual([false, false, false, false])
      return pids
    })
    // `startExecutor`'s default: the executor-state directory in the test's own.
    return { stateDir: NodePath.join(dir, "executor-state"), start: start(), runJob }
  })

/** The program and all its descendants end, within a generous deadline. */
const allEnd = (pids: ReadonlyArray<number>) =>
  eventually(Effect.sync(() => pids.filter((pid) => !ended(pid))), (alive) => alive.length === 0, {
    within: "30 seconds",
    what: "the job's processes still running"
  })

layer(TestLive, { excludeTestServices: true, timeout: "120 seconds" })("a killed executor leaves no program running", (it) => {
  it.scoped("kill -9 of the executor: its program, which ignores SIGTERM, and the program's grandchildren, even one that left with setsid, all end", () =>
    Effect.gen(function*() {
      const { runJob, start } = yield* setup("orphans")
      const executor = yield* start
      const pids = yield* runJob
      // The program may run before its watchdog is in place: wait for it.
      yield* watchdogsOf(executor.child.pid ?? expect.fail("the executor has no pid"))

      executor.child.kill("SIGKILL")
      yield* exitOf(executor.child, "10 seconds")
      yield* allEnd(pids)
    }))

  it.scoped("an executor killed together with its watchdog: the next one on the same state directory kills its program and removes its job directories", () =>
    Effect.gen(function*() {
      const { runJob, start, stateDir } = yield* setup("leftovers")
      const first = yield* start
      const pids = yield* runJob
      const executorPid = first.child.pid ?? expect.fail("the executor has no pid")
      const ownDirs = () => NodeFs.readdirSync(stateDir).filter((name) => name.startsWith(`${executorPid}-`))
      const [ownDir] = ownDirs()
      const ownDirPath = NodePath.join(stateDir, ownDir ?? "")
      expect(NodeFs.readdirSync(ownDirPath).filter((name) => name.startsWith("agnt-job-"))).toHaveLength(1)
      // The program may run before its watchdog and its record are in place: wait for both.
      const watchdogs = yield* watchdogsOf(executorPid)
      yield* eventually(Effect.sync(() => NodeFs.readdirSync(NodePath.join(ownDirPath, "groups"))), (records) => records.length === 1, {
        within: "30 seconds",
        what: "the program's group record"
      })

      for (const watchdog of watchdogs) process.kill(watchdog.pid, "SIGKILL")
      first.child.kill("SIGKILL")
      yield* exitOf(first.child, "10 seconds")
      // Nothing stopped them: the watchdog was gone.
      expect(pids.map(ended)).toEqual([false, false, false, false])

      yield* start
      yield* allEnd(pids)
      yield* eventually(Effect.sync(ownDirs), (left) => left.length === 0, {
        within: "30 seconds",
        what: "the killed executor's directory still there"
      })
    }))
})
