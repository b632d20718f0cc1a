import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { isLive, markVariable, readStat, startTicksOf } from "../src/ProcessTable.js"
import { openExecutorState } from "../src/Runtime/ExecutorState.js"

/** A fresh state root, removed with the scope. */
const stateRoot = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "agnt-state-"))),
  (root) => Effect.promise(() => rm(root, { recursive: true, force: true }))
)

/** `sleep 300` leading a process group of its own, with `env`; SIGKILLed with the scope. */
const sleeper = (env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore", env: { PATH: process.env.PATH ?? "", ...env } })
      return child.pid ?? expect.fail("sleep has no pid")
    }),
    (pid) =>
      Effect.sync(() => {
        try {
          process.kill(-pid, "SIGKILL")
        } catch {
          // already gone
        }
      })
  )

const ended = (pid: number) => {
  const stat = readStat(pid)
  return stat === undefined || !isLive(stat)
}

/** Waits until `pid` has ended, at most 10 s. */
const endedSoon = (pid: number) =>
  Effect.sync(() => ended(pid)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")), until: (done) => done }),
    Effect.zipRight(Effect.sync(() => ended(pid)))
  )

/** A pid no process has: above the kernel's largest (4194304). */
const deadPid = 4_194_305

/** Write a gone executor's directory under `root` holding one job directory and `records` as `groups/*.json`. */
const goneExecutor = (root: string, records: ReadonlyArray<Record<string, unknown>>) =>
  Effect.promise(async () => {
    const dir = join(root, `${deadPid}-12345`)
    await mkdir(join(dir, "agnt-job-abc", "workspace"), { recursive: true })
    await writeFile(join(dir, "agnt-job-abc", "workspace", "notes.txt"), "left behind")
    await mkdir(join(dir, "groups"), { recursive: true })
    for (const [index, record] of records.entries()) await writeFile(join(dir, "groups", `${index}.json`), JSON.stringify(record))
    return dir
  })

describe("executor state directory", () => {
  it.scopedLive("a gone executor's directory is removed with its job directories; a running executor's is left alone", () =>
    Effect.gen(function*() {
      const root = yield* stateRoot
      const live = yield* sleeper()
      const liveDir = join(root, `${live}-${startTicksOf(live) ?? "0"}`)
      yield* Effect.promise(() => mkdir(join(liveDir, "agnt-job-xyz"), { recursive: true }))
      yield* goneExecutor(root, [])

      const state = yield* openExecutorState(root)
      const entries = yield* Effect.promise(() => readdir(root))
      expect(entries.sort()).toEqual([`${live}-${startTicksOf(live) ?? "0"}`, state.dir.slice(root.length + 1)].sort())
      expect(yield* Effect.promise(() => readdir(liveDir))).toEqual(["agnt-job-xyz"])
    }))

  it.scopedLive("a gone executor's recorded group still running is killed; a group whose leader has another start time is not", () =>
    Effect.gen(function*() {
      const root = yield* stateRoot
      const left = yield* sleeper()
      const other = yield* sleeper()
      yield* goneExecutor(root, [
        { pgid: left, start: startTicksOf(left), mark: null },
        // The pid reused by a process started later than the recorded one.
        { pgid: other, start: String(BigInt(startTicksOf(other) ?? "0") - 1n), mark: null }
      ])

      yield* openExecutorState(root)
      expect(yield* endedSoon(left)).toBe(true)
      expect(ended(other)).toBe(false)
    }))

  it.scopedLive("a process carrying a gone executor's recorded mark is killed even outside the recorded group", () =>
    Effect.gen(function*() {
      const root = yield* stateRoot
      const escaped = yield* sleeper({ [markVariable]: "f00dfeed" })
      const unmarked = yield* sleeper({ [markVariable]: "another" })
      yield* goneExecutor(root, [{ pgid: deadPid, start: "1", mark: "f00dfeed" }])

      yield* openExecutorState(root)
      expect(yield* endedSoon(escaped)).toBe(true)
      expect(ended(unmarked)).toBe(false)
    }))

  it.scopedLive("this executor's directory holds its jobs' records and is removed when it stops", () =>
    Effect.gen(function*() {
      const root = yield* stateRoot
      const dir = yield* Effect.scoped(Effect.gen(function*() {
        const state = yield* openExecutorState(root)
        yield* state.recordGroup(4242, "abc")
        expect(yield* Effect.promise(() => readdir(join(state.dir, "groups")))).toEqual(["4242.json"])
        yield* state.forgetGroup(4242)
        expect(yield* Effect.promise(() => readdir(join(state.dir, "groups")))).toEqual([])
        return state.dir
      }))
      expect(yield* Effect.promise(() => readdir(root))).not.toContain(dir.slice(root.length + 1))
    }))
})

describe("process table", () => {
  it.live("readStat tells the CPU a process has used and, once it has waited for them, the CPU of its children", () =>
    Effect.gen(function*() {
      const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
      const own = readStat(process.pid) ?? expect.fail("no stat of this process")
      const usage = process.cpuUsage()
      // Both are the kernel's count of this process's CPU; the stat's is in whole ticks, read a moment earlier.
      expect(Math.abs((own.cpuTicks * 1000) / ticksPerSecond - (usage.user + usage.system) / 1000)).toBeLessThan(100)

      const before = own.childCpuTicks
      yield* Effect.promise(() =>
        new Promise((resolve) => {
          spawn("sh", ["-c", "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"], { stdio: "ignore" }).on("exit", resolve)
        })
      )
      expect((readStat(process.pid) ?? expect.fail("no stat of this process")).childCpuTicks).toBeGreaterThan(before)
    }))
})
