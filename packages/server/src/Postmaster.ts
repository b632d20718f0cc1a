/**
 * Keeping the embedded PostgreSQL tied to the server's life. A server killed
 * with SIGKILL (or by the OOM killer) runs no finalizer, and the postmaster
 * it started would hold the cluster's `postmaster.pid` lock for good, so that
 * every later start fails. Two guards:
 *
 * - `clearStale`, before a start: a `postmaster.pid` whose process is a
 *   PostgreSQL on this cluster, left by a server that died (no watchdog of
 *   it runs: `runningForLiveServer` tells the two apart), is stopped (fast shutdown, `pg_ctl stop -m
 *   fast`'s SIGINT, then SIGQUIT); one whose process is gone, or is some
 *   other program that reused the PID, is removed.
 * - `watchdog`, after a start: a tiny `sh` process that blocks reading a pipe
 *   whose other end only the server holds. The kernel closes that end when
 *   the server dies, however it dies; the watchdog then asks the postmaster
 *   to shut down fast (SIGQUIT after 30 s). A graceful stop ends the
 *   watchdog first and stops PostgreSQL itself.
 */
import { Data, type Duration, Effect, Schedule, type Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"

/** A stale postmaster that would not stop, or a lock file that cannot be read or removed. */
export class PostmasterError extends Data.TaggedError("PostmasterError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** What `postmaster.pid` says (PostgreSQL's `pidfile.h`): the postmaster's PID (line 1), data directory (2) and port (4). */
interface LockFile {
  readonly pid: number
  readonly dataDir: string
  readonly port: number | undefined
}

const lockPath = (clusterDir: string) => NodePath.join(clusterDir, "postmaster.pid")

/** The lock file of `clusterDir`, if there is one with a PID in it. */
export const readLock = (clusterDir: string): Effect.Effect<LockFile | undefined> =>
  Effect.promise(() =>
    NodeFs.readFile(lockPath(clusterDir), "utf8").then((text) => {
      const [pidLine = "", dataDir = "", , portLine = ""] = text.split("\n")
      const pid = Number(pidLine.trim())
      const port = Number(portLine.trim())
      return Number.isInteger(pid) && pid > 0
        ? { pid, dataDir: dataDir.trim(), port: Number.isInteger(port) && port > 0 ? port : undefined }
        : undefined
    }, () => undefined)
  )

/**
 * Whether process `pid` runs: it exists (EPERM: as another user) and, where
 * `/proc` tells, is not a zombie — an orphaned postmaster that exited stays
 * one under an init that does not reap.
 */
const alive = (pid: number): Effect.Effect<boolean> =>
  Effect.promise(() => {
    try {
      process.kill(pid, 0)
    } catch (error) {
      if (!(typeof error === "object" && error !== null && "code" in error && error.code === "EPERM")) return Promise.resolve(false)
    }
    return NodeFs.readFile(`/proc/${pid}/stat`, "utf8").then((stat) => !/^\d+ \(.*\) Z /s.test(stat), () => true)
  })

/** The command line of a process: `/proc` on Linux, `ps` elsewhere; empty when unknown. */
const commandLine = (pid: number): Effect.Effect<string> =>
  Effect.promise(() =>
    NodeFs.readFile(`/proc/${pid}/cmdline`, "utf8").then(
      (text) => text.split("\0").join(" "),
      () =>
        new Promise<string>((resolve) =>
          execFile("ps", ["-o", "command=", "-p", String(pid)], (error, stdout) => resolve(error ? "" : stdout))
        )
    )
  )

/** How often and how long to wait for a signalled postmaster to exit. */
const exitPoll = (within: Duration.DurationInput) => Schedule.spaced("100 millis").pipe(Schedule.upTo(within))

/** Wait up to `within` for `pid` to exit; true when it did. */
const exited = (pid: number, within: Duration.DurationInput): Effect.Effect<boolean> =>
  Effect.map(alive(pid), (running) => !running).pipe(
    Effect.repeat({ schedule: exitPoll(within), until: (gone) => gone }),
    Effect.zipRight(Effect.map(alive(pid), (running) => !running))
  )

/** Send `signal` to `pid`, then wait up to `within` for it to exit; true when it did. */
const signalAndWait = (pid: number, signal: NodeJS.Signals, within: Duration.DurationInput) =>
  Effect.flatMap(alive(pid), (running) => running ? Effect.ignore(Effect.try(() => process.kill(pid, signal))) : Effect.void).pipe(
    Effect.zipRight(exited(pid, within))
  )

/** The watchdog's name in its command line (`sh -c <script> agnt-postgres-watchdog <pid>`). */
const watchdogName = "agnt-postgres-watchdog"

/** Every process's PID, parent PID and command line, from `ps` (on Linux and macOS alike). */
const processTable: Effect.Effect<ReadonlyArray<{ readonly pid: number; readonly ppid: number; readonly command: string }>> = Effect
  .promise(() =>
    new Promise((resolve) =>
      execFile("ps", ["-Ao", "pid=,ppid=,command="], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
        resolve(
          error ? [] : stdout.split("\n").flatMap((line) => {
            const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)
            return match === null ? [] : [{ pid: Number(match[1]), ppid: Number(match[2]), command: match[3] ?? "" }]
          })
        ))
    )
  )

/**
 * The postmaster running on `clusterDir` for an agnt process that is still
 * alive — its `watchdog` runs and is still the child of an agnt process (a
 * server that died leaves its watchdog to init, which stops the postmaster
 * and exits) — with its PID and port; `undefined` when there is none, or
 * none so owned. Another agnt process on the same data dir (`agnt-server
 * keys`, a second instance) connects to it rather than stopping it as stale.
 */
export const runningForLiveServer = (
  clusterDir: string
): Effect.Effect<{ readonly pid: number; readonly port: number } | undefined> =>
  Effect.gen(function*() {
    const lock = yield* readLock(clusterDir)
    if (lock === undefined || lock.port === undefined || !(yield* alive(lock.pid))) return undefined
    const table = yield* processTable
    const watchdogOf = `${watchdogName} ${lock.pid}`
    const owned = table.some((entry) =>
      entry.command.endsWith(watchdogOf) &&
      table.some((parent) => parent.pid === entry.ppid && parent.pid !== 1 && parent.command.includes("agnt"))
    )
    return owned ? { pid: lock.pid, port: lock.port } : undefined
  })

/**
 * Make `clusterDir` startable after a crash of the server that ran it: stop
 * a postmaster still running on it, remove a lock file left by a dead one.
 * Logs what it did. @fails PostmasterError when a stale postmaster outlives
 * SIGINT and SIGQUIT, or the lock file cannot be removed.
 */
export const clearStale = (clusterDir: string): Effect.Effect<void, PostmasterError> =>
  Effect.gen(function*() {
    const lock = yield* readLock(clusterDir)
    if (lock === undefined) return
    const ours = (yield* alive(lock.pid)) &&
      (yield* commandLine(lock.pid).pipe(Effect.map((command) => /postgres/.test(command) && command.includes(clusterDir))))
    if (ours) {
      yield* Effect.logWarning(`stopping a PostgreSQL left running on ${clusterDir} (PID ${lock.pid}) by a server that died`)
      const stopped = (yield* signalAndWait(lock.pid, "SIGINT", "30 seconds")) ||
        (yield* signalAndWait(lock.pid, "SIGQUIT", "10 seconds"))
      if (!stopped) {
        return yield* new PostmasterError({ message: `a PostgreSQL (PID ${lock.pid}) still runs on ${clusterDir} and would not stop` })
      }
      // A postmaster removes its lock file as it exits; what remains after SIGQUIT is stale.
    } else {
      yield* Effect.logWarning(`removing the stale ${lockPath(clusterDir)} of PID ${lock.pid}, which no longer runs PostgreSQL`)
    }
    yield* Effect.tryPromise({
      try: () => NodeFs.rm(lockPath(clusterDir), { force: true }),
      catch: (cause) => new PostmasterError({ message: `cannot remove ${lockPath(clusterDir)}`, cause })
    })
  })

/**
 * The watchdog's script: ignore the terminal's signals (a graceful stop ends
 * it with SIGKILL), block until the server's end of stdin closes, then stop
 * the postmaster `$1` fast, and at once if it has not exited within 30 s.
 */
const watchdogScript = [
  "trap '' INT TERM HUP",
  "read -r _",
  "kill -INT \"$1\" 2>/dev/null || exit 0",
  "i=0",
  "while kill -0 \"$1\" 2>/dev/null && [ \"$i\" -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
  "kill -QUIT \"$1\" 2>/dev/null",
  "exit 0"
].join("\n")

/**
 * Start the watchdog of postmaster `pid` for the life of the scope (see the
 * module's description); closing the scope ends the watchdog without
 * touching PostgreSQL.
 */
export const watchdog = (pid: number): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn("sh", ["-c", watchdogScript, watchdogName, String(pid)], {
        stdio: ["pipe", "ignore", "ignore"]
      })
      child.on("error", () => {})
      child.stdin.on("error", () => {})
      // Neither the process nor its pipe keeps the server's event loop alive.
      child.unref()
      const stdin: unknown = child.stdin
      if (typeof stdin === "object" && stdin !== null && "unref" in stdin && typeof stdin.unref === "function") stdin.unref()
      return child
    }),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  ).pipe(Effect.asVoid)
