/**
 * The executor's state directory: what its jobs leave on this machine —
 * their directories (workspace and out dir) and the process groups of the
 * programs they run — recorded where a later executor finds them.
 *
 * Layout: `<root>/<pid>-<start>/` per executor process (`start` is its
 * start time in clock ticks on Linux, `0` elsewhere), holding the jobs'
 * directories (`agnt-job-*`) and `groups/<pgid>.json` per running program
 * (`{"pgid": …, "start": …}`, the group leader's start time). A graceful
 * exit removes its own directory. A process killed outright (SIGKILL, the
 * OOM killer) cannot; its programs are stopped by their watchdogs
 * (`Command/Process.ts`), and the next executor started on the same root
 * finishes the cleanup: for every directory whose executor is gone it
 * kills each recorded group still running (on Linux, only when the group
 * is provably the recorded one: its members started no earlier than the
 * recorded leader and a live leader has the recorded start time) and
 * removes the directory with the jobs' workspaces.
 */
import { Context, Data, Effect, type Scope } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { allProcesses, hasProcTable, isLive, killMarked, processExists, startTicksOf } from "../ProcessTable.js"

/** The state directory of one running executor (see the module comment). */
export class ExecutorState extends Context.Tag("@agnt/executor/ExecutorState")<ExecutorState, {
  /** This executor's own directory, where its jobs' directories are made. */
  readonly dir: string
  /**
   * Record process group `pgid` (its leader's pid), whose processes carry
   * `mark` (`ProcessTable.markVariable`), as a job's running program.
   * Never fails; a failure is logged.
   */
  readonly recordGroup: (pgid: number, mark: string) => Effect.Effect<void>
  /** Forget group `pgid` once it is gone. Never fails. */
  readonly forgetGroup: (pgid: number) => Effect.Effect<void>
}>() {}

/**
 * The default root: `agnt-executor-<uid>` in the OS temporary directory —
 * what it records (running processes) means nothing after a reboot, which
 * is when temporary directories are emptied.
 */
export const defaultStateRoot = (): string => NodePath.join(NodeOs.tmpdir(), `agnt-executor-${process.getuid?.() ?? "user"}`)

/** The state directory cannot be made or is not ours. */
export class ExecutorStateError extends Data.TaggedError("ExecutorStateError")<{ readonly message: string }> {}

/** A record of one program's process group. */
interface GroupRecord {
  readonly pgid: number
  /** The leader's start time (`ProcessTable.startTicksOf`); `null` where unknown. */
  readonly start: string | null
  /** The mark in the environment of its processes (`ProcessTable.markedProcesses`); `null` in none. */
  readonly mark: string | null
}

const ownerPattern = /^(\d+)-(\d+)$/

/** The name of this process's directory: `<pid>-<start ticks or 0>`. */
const ownerName = (): string => `${process.pid}-${startTicksOf(process.pid) ?? "0"}`

/** Whether the executor that named its directory `name` still runs (a reused pid with another start time does not count). */
const ownerAlive = (pid: number, start: string): boolean => {
  if (!processExists(pid)) return false
  if (!hasProcTable() || start === "0") return true
  return startTicksOf(pid) === start
}

/**
 * Whether the group `record` names still has live members that are
 * provably the recorded program's (see the module comment); `false` where
 * that cannot be told (not on Linux).
 */
const recordedGroupRunning = (record: GroupRecord): boolean => {
  if (record.start === null || !hasProcTable()) return false
  const start = BigInt(record.start)
  const leader = startTicksOf(record.pgid)
  if (leader !== undefined && leader !== record.start) return false
  return allProcesses()?.some((stat) => stat.pgrp === record.pgid && isLive(stat) && BigInt(stat.startTicks) >= start) ?? false
}

const readRecord = (file: string): Effect.Effect<GroupRecord | undefined> =>
  Effect.promise(() =>
    NodeFs.readFile(file, "utf8").then((text): GroupRecord | undefined => {
      const value: unknown = JSON.parse(text)
      // A group id of 0 or 1 would signal our own group or every process: only a real leader's pid will do.
      if (typeof value !== "object" || value === null || !("pgid" in value) || typeof value.pgid !== "number") return undefined
      if (!Number.isSafeInteger(value.pgid) || value.pgid <= 1) return undefined
      const start = "start" in value && typeof value.start === "string" && /^\d+$/.test(value.start) ? value.start : null
      const mark = "mark" in value && typeof value.mark === "string" ? value.mark : null
      return { pgid: value.pgid, start, mark }
    }).catch(() => undefined)
  )

/**
 * Kill the recorded groups of a gone executor's directory that still run,
 * and the processes carrying their marks; yields how many were signalled.
 */
const killLeftoverGroups = (ownerDir: string): Effect.Effect<number> =>
  Effect.gen(function*() {
    const groupsDir = NodePath.join(ownerDir, "groups")
    const files = yield* Effect.promise(() => NodeFs.readdir(groupsDir).catch(() => []))
    let killed = 0
    for (const file of files) {
      const record = yield* readRecord(NodePath.join(groupsDir, file))
      if (record === undefined) continue
      if (recordedGroupRunning(record)) {
        yield* Effect.sync(() => {
          try {
            process.kill(-record.pgid, "SIGKILL")
            killed += 1
          } catch {
            // gone meanwhile
          }
        })
      } else if (!hasProcTable() && processExists(record.pgid)) {
        yield* Effect.logWarning(
          `left process group ${record.pgid} alone: without /proc it cannot be told from another process reusing its id`
        )
      }
      if (record.mark !== null) killed += killMarked(record.mark)
    }
    return killed
  })

/**
 * Clean up after every executor under `root` that is gone: kill its
 * programs still running and remove its directory. Never fails; what
 * cannot be removed is logged.
 */
const sweep = (root: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const entries = yield* Effect.promise(() => NodeFs.readdir(root).catch(() => []))
    for (const entry of entries) {
      const match = ownerPattern.exec(entry)
      if (match === null || ownerAlive(Number(match[1]), match[2] ?? "0")) continue
      const ownerDir = NodePath.join(root, entry)
      const killed = yield* killLeftoverGroups(ownerDir)
      yield* Effect.tryPromise(() => NodeFs.rm(ownerDir, { recursive: true, force: true })).pipe(
        Effect.zipRight(Effect.logInfo(
          `cleaned up after executor process ${match[1]}, which ended without cleaning up: ` +
            `killed ${killed} program group(s) and process(es) still running and removed its job directories`
        )),
        Effect.catchAll((error) => Effect.logWarning(`could not remove ${ownerDir}: ${String(error.error)}`))
      )
    }
  })

/**
 * Open the state directory under `root` (made `0700` if missing; it must
 * be the current user's): clean up after gone executors, then make this
 * executor's own directory, removed again when the scope closes.
 *
 * @fails ExecutorStateError when `root` cannot be made or belongs to another user.
 */
export const openExecutorState = (root: string): Effect.Effect<Context.Tag.Service<ExecutorState>, ExecutorStateError, Scope.Scope> =>
  Effect.gen(function*() {
    const info = yield* Effect.tryPromise({
      try: () => NodeFs.mkdir(root, { recursive: true, mode: 0o700 }).then(() => NodeFs.stat(root)),
      catch: (error) => new ExecutorStateError({ message: `cannot make the state directory ${root}: ${String(error)}` })
    })
    const uid = process.getuid?.()
    if (uid !== undefined && info.uid !== uid) {
      return yield* Effect.fail(
        new ExecutorStateError({ message: `the state directory ${root} belongs to another user (uid ${info.uid})` })
      )
    }
    yield* sweep(root)
    const dir = NodePath.join(root, ownerName())
    const groupsDir = NodePath.join(dir, "groups")
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => NodeFs.mkdir(groupsDir, { recursive: true, mode: 0o700 }),
        catch: (error) => new ExecutorStateError({ message: `cannot make ${groupsDir}: ${String(error)}` })
      }),
      () => Effect.promise(() => NodeFs.rm(dir, { recursive: true, force: true }).catch(() => undefined))
    )
    const recordFile = (pgid: number) => NodePath.join(groupsDir, `${pgid}.json`)
    return {
      dir,
      recordGroup: (pgid, mark) =>
        Effect.tryPromise(() =>
          NodeFs.writeFile(recordFile(pgid), JSON.stringify({ pgid, start: startTicksOf(pgid) ?? null, mark } satisfies GroupRecord))
        ).pipe(Effect.catchAll((error) => Effect.logWarning(`could not record process group ${pgid}: ${String(error.error)}`))),
      forgetGroup: (pgid) => Effect.promise(() => NodeFs.rm(recordFile(pgid), { force: true }).catch(() => undefined))
    }
  })
