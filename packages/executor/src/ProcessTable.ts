/**
 * What the executor reads of other processes, on Linux from `/proc`:
 * whether one exists, its process group and its start time — the start
 * time telling a process from a later one that reuses its pid. Elsewhere
 * only existence is known (`kill(pid, 0)`) and the rest is `undefined`.
 */
import * as NodeFs from "node:fs"

/** One process as `/proc/<pid>/stat` describes it. */
export interface ProcessStat {
  readonly pid: number
  /** The state letter: `R`, `S`, `D`, …; `Z` (zombie) and `X` (dead) have exited. */
  readonly state: string
  readonly ppid: number
  /** Its process group id. */
  readonly pgrp: number
  /** When it started, in clock ticks since boot, as a decimal string (field 22 of `stat`). */
  readonly startTicks: string
  /** The CPU it has used, user and system, in clock ticks (fields 14 and 15 of `stat`; `getconf CLK_TCK` a second). */
  readonly cpuTicks: number
  /** The CPU of its children that it has waited for, user and system, in clock ticks (fields 16 and 17). */
  readonly childCpuTicks: number
}

const errnoCode = (error: unknown): string | undefined =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined

/** Whether `/proc` describes processes here (Linux). */
export const hasProcTable = (): boolean => process.platform === "linux" && NodeFs.existsSync("/proc/self/stat")

/** The `stat` of `pid`, or `undefined` when it is gone or unreadable (or not on Linux). */
export const readStat = (pid: number): ProcessStat | undefined => {
  let stat: string
  try {
    stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  //  priority nice threads itrealvalue starttime …"; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const [state, ppid, pgrp] = fields
  const startTicks = fields[19]
  if (state === undefined || ppid === undefined || pgrp === undefined || startTicks === undefined) return undefined
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number)
  const cpuTicks = (utime ?? 0) + (stime ?? 0)
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp), startTicks, cpuTicks, childCpuTicks: (cutime ?? 0) + (cstime ?? 0) }
}

/** Every process `/proc` lists; `undefined` when it cannot be read. */
export const allProcesses = (): Array<ProcessStat> | undefined => {
  let entries: Array<string>
  try {
    entries = NodeFs.readdirSync("/proc")
  } catch {
    return undefined
  }
  const stats: Array<ProcessStat> = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat !== undefined) stats.push(stat)
  }
  return stats
}

/** Whether `stat` is of a process that has not exited (zombies have). */
export const isLive = (stat: ProcessStat): boolean => stat.state !== "Z" && stat.state !== "X"

/** Whether process `pid` exists (`kill(pid, 0)`; EPERM counts: it exists, we just may not signal it). */
export const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoCode(error) !== "ESRCH"
  }
}

/**
 * The start time of `pid` (see `ProcessStat.startTicks`), or `undefined`
 * when it is gone or not on Linux.
 */
export const startTicksOf = (pid: number): string | undefined => readStat(pid)?.startTicks

/** The environment variable naming the mark every process of one job's program carries (see `markedProcesses`). */
export const markVariable = "AGNT_PROCESS_MARK"

/**
 * The pids of live processes whose environment holds `AGNT_PROCESS_MARK=<mark>`:
 * what a program started, even after it left the program's process group
 * and session (`setsid`, a daemon's double fork), unless it cleared its
 * environment. Only the current user's processes can be read; empty where
 * there is no `/proc`.
 */
export const markedProcesses = (mark: string): Array<number> => {
  const needle = `\0${markVariable}=${mark}\0`
  return (allProcesses() ?? []).filter((stat) => {
    if (!isLive(stat) || stat.pid === process.pid) return false
    try {
      return `\0${NodeFs.readFileSync(`/proc/${stat.pid}/environ`, "latin1")}`.includes(needle)
    } catch {
      return false
    }
  }).map((stat) => stat.pid)
}

/** SIGKILL every process `markedProcesses(mark)` finds, a few rounds (they may fork meanwhile); yields how many. */
export const killMarked = (mark: string): number => {
  let killed = 0
  for (let round = 0; round < 3; round++) {
    const pids = markedProcesses(mark)
    if (pids.length === 0) break
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL")
        killed += 1
      } catch {
        // gone meanwhile
      }
    }
  }
  return killed
}
