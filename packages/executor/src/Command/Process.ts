/**
 * A child process as a scoped resource: `node:child_process` wrapped once.
 * The child leads its own process group (`detached: true`), so stopping it
 * signals the whole tree: SIGTERM to the group, then SIGKILL once the grace
 * period has passed with any member still alive. Closing the scope stops the
 * group and waits until it is gone — on success, failure, timeout or
 * interruption alike.
 *
 * Nothing the child starts outlives the executor: every child carries a
 * random mark in its environment (`AGNT_PROCESS_MARK`), inherited by what
 * it starts, and has a watchdog (`watchdogScript`) that SIGKILLs its group
 * and its marked processes when the executor dies, SIGKILL included. When
 * the runtime provides `ExecutorState`, the group is also recorded there
 * for a later executor to clean up should the watchdog die too. Stopping
 * the group also kills marked processes that left it (`setsid`).
 */
import { maxLogLineLength } from "@agnt/domain/Limits"
import { Data, Deferred, Duration, Effect, Exit, Mailbox, Option, Schedule, type Scope, type Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as NodeCrypto from "node:crypto"
import { allProcesses, isLive, killMarked, markVariable } from "../ProcessTable.js"
import { ExecutorState } from "../Runtime/ExecutorState.js"

/** How the child ended: its exit code, or the signal that ended it (exactly one is non-null). */
export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** One line the child wrote, without its line break, at most `maxLineLength` characters. */
export interface OutputLine {
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/** What to start. */
export interface SpawnOptions {
  /** Executable name (looked up on the child's `PATH`) or path. */
  readonly program: string
  readonly args: ReadonlyArray<string>
  /** The child's working directory. */
  readonly cwd: string
  /** The child's environment; `AGNT_PROCESS_MARK` is added (see the module comment). */
  readonly env: Readonly<Record<string, string>>
  /** Written to the child's stdin, which is then closed; `undefined` gives it `/dev/null`. */
  readonly stdin: string | undefined
  /** Time between SIGTERM and SIGKILL when the group is stopped. */
  readonly killGrace: Duration.DurationInput
}

/** A started child (see `spawn`). */
export interface RunningProcess {
  /** The child's pid, also its process group id. */
  readonly pid: number
  /**
   * Its stdout and stderr, split into lines, in arrival order; ends when both
   * pipes close. Consume it once: lines are buffered until read.
   */
  readonly lines: Stream.Stream<OutputLine>
  /** Waits for the child (the group leader) to exit. */
  readonly exited: Effect.Effect<ChildExit>
  /**
   * Stop the process group and wait until it is gone: SIGTERM, then SIGKILL
   * after the grace period; then SIGKILL what carries the child's mark
   * outside the group. Does nothing more when the child has exited and no
   * process of its group remains. Safe to repeat; the scope runs it on close.
   */
  readonly terminate: Effect.Effect<void>
}

/** The program could not be started; `code` is the errno code (`ENOENT`, `EACCES`, …) when there is one. */
export class SpawnError extends Data.TaggedError("SpawnError")<{
  readonly program: string
  readonly code: string | undefined
  readonly message: string
}> {}

/** Longest line kept, in characters (the API's `maxLogLineLength`); longer lines are cut and end with `…`. */
export const maxLineLength = maxLogLineLength

/**
 * Splits text into lines of at most `maxLength` characters (`\n` or `\r\n`
 * separated); a longer line is cut to `maxLength - 1` characters plus `…`
 * and the rest of it dropped, without buffering it.
 */
export const lineSplitter = (maxLength: number = maxLineLength) => {
  let buffer = ""
  let dropping = false
  const finish = (line: string) => {
    const text = line.endsWith("\r") ? line.slice(0, -1) : line
    return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text
  }
  return {
    /** Feed a chunk; returns the lines it completed. */
    push: (chunk: string): Array<string> => {
      const lines: Array<string> = []
      let start = 0
      for (let end = chunk.indexOf("\n"); end !== -1; end = chunk.indexOf("\n", start)) {
        if (dropping) dropping = false
        else lines.push(finish(buffer + chunk.slice(start, end)))
        buffer = ""
        start = end + 1
      }
      if (!dropping) {
        buffer += chunk.slice(start)
        if (buffer.length > maxLength) {
          lines.push(finish(buffer))
          buffer = ""
          dropping = true
        }
      }
      return lines
    },
    /** The unterminated last line, if any. */
    flush: (): Array<string> => {
      const rest = buffer
      buffer = ""
      return rest.length > 0 && !dropping ? [finish(rest)] : []
    }
  }
}

const errnoCode = (error: unknown): string | undefined =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined

/**
 * Whether a process of group `pgid` is running on Linux: one whose
 * `/proc/<pid>/stat` names the group and is not a zombie. Orphaned members
 * that have exited stay zombies until init reaps them, which some container
 * inits do late or never; they are gone for our purposes. Unreadable
 * `/proc` counts as running.
 */
const liveMemberOnLinux = (pgid: number): boolean => allProcesses()?.some((stat) => stat.pgrp === pgid && isLive(stat)) ?? true

/**
 * Whether any live process of group `pgid` remains. EPERM counts as alive
 * (it exists; we just may not signal it); zombies do not (see `liveMemberOnLinux`).
 */
const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    return errnoCode(error) !== "ESRCH"
  }
  return process.platform !== "linux" || liveMemberOnLinux(pgid)
}

/** Signal group `pgid`; a group already gone is fine. */
const signalGroup = (pgid: number, signal: NodeJS.Signals) =>
  Effect.sync(() => {
    try {
      process.kill(-pgid, signal)
    } catch (error) {
      if (errnoCode(error) !== "ESRCH") throw error
    }
  })

/**
 * Poll `done` until it holds or `within` passes; true when it held. The
 * deadline is the schedule's, not an interruption, so this works inside the
 * uninterruptible release.
 */
const waitUntil = (done: () => boolean, within: Duration.DurationInput) =>
  Effect.sync(done).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo(within)), until: (ok) => ok }),
    Effect.zipRight(Effect.sync(done))
  )

/** After SIGKILL, how long to wait for stragglers of the group (processes in uninterruptible sleep). */
const afterKillWait = Duration.seconds(5)

/** A started child and how to release it. */
interface Started {
  readonly running: RunningProcess
  /** `terminate`, then free the pipes. */
  readonly release: Effect.Effect<void>
}

/**
 * Feed `child`'s stdout and stderr into `output`, split into lines, and end
 * `output` once both pipes have closed.
 */
const followOutput = (child: ChildProcess.ChildProcess, output: Mailbox.Mailbox<OutputLine>): void => {
  let open = 0
  const follow = (stream: "stdout" | "stderr", readable: NodeJS.ReadableStream | null) => {
    if (readable === null) return
    open += 1
    const splitter = lineSplitter()
    const emit = (texts: ReadonlyArray<string>) => {
      for (const text of texts) output.unsafeOffer({ stream, text })
    }
    readable.setEncoding("utf8")
    readable.on("data", (chunk: string) => emit(splitter.push(chunk)))
    readable.once("close", () => {
      emit(splitter.flush())
      open -= 1
      if (open === 0) output.unsafeDone(Exit.void)
    })
  }
  follow("stdout", child.stdout)
  follow("stderr", child.stderr)
  if (open === 0) output.unsafeDone(Exit.void)
}

/**
 * Spawn the child as the leader of a new process group, its output going
 * to `output` and its end to `exitSignal`; succeeds once it has started
 * (and been handed its stdin).
 */
const spawnChild = (
  options: SpawnOptions,
  output: Mailbox.Mailbox<OutputLine>,
  exitSignal: Deferred.Deferred<ChildExit>
): Effect.Effect<ChildProcess.ChildProcess, SpawnError> =>
  Effect.async<ChildProcess.ChildProcess, SpawnError>((resume) => {
    const failed = (error: unknown) =>
      new SpawnError({
        program: options.program,
        code: errnoCode(error),
        message: error instanceof Error ? error.message : String(error)
      })
    let started: ChildProcess.ChildProcess
    try {
      started = ChildProcess.spawn(options.program, [...options.args], {
        cwd: options.cwd,
        env: options.env,
        detached: true,
        stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"]
      })
    } catch (error) {
      return resume(Effect.fail(failed(error)))
    }
    let spawned = false
    started.on("error", (error) => {
      // Before "spawn" this is the start failing; later ones (a failed kill) change nothing.
      if (!spawned) resume(Effect.fail(failed(error)))
    })
    started.once("exit", (code, signal) => Deferred.unsafeDone(exitSignal, Exit.succeed({ code, signal })))
    followOutput(started, output)
    started.once("spawn", () => {
      spawned = true
      if (options.stdin !== undefined && started.stdin !== null) {
        // A program that exits without reading stdin makes the write fail with EPIPE: not our concern.
        started.stdin.on("error", () => {})
        started.stdin.end(options.stdin)
      }
      resume(Effect.succeed(started))
    })
  })

/**
 * Stop group `pid` led by `child` and wait until it is gone: SIGTERM, then
 * SIGKILL after `killGrace`. Uninterruptible.
 */
const terminateGroup = (
  child: ChildProcess.ChildProcess,
  pid: number,
  exitSignal: Deferred.Deferred<ChildExit>,
  killGrace: Duration.DurationInput
): Effect.Effect<void> => {
  const leaderExited = () => child.exitCode !== null || child.signalCode !== null
  const gone = () => leaderExited() && !groupAlive(pid)
  return Effect.gen(function*() {
    if (gone()) return
    yield* signalGroup(pid, "SIGTERM")
    if (yield* waitUntil(gone, killGrace)) return
    yield* signalGroup(pid, "SIGKILL")
    yield* Deferred.await(exitSignal)
    yield* waitUntil(gone, afterKillWait)
  }).pipe(Effect.uninterruptible)
}

/**
 * The watchdog of one process group: `/bin/sh`, in a session of its own
 * and deaf to SIGHUP, SIGINT, SIGQUIT and SIGTERM, reading one line from a
 * pipe whose other end only this executor holds. `release` ends it quietly;
 * end of file — the executor died, however it died, SIGKILL included, and
 * the kernel closed the pipe — makes it SIGKILL the whole group ($1), then
 * (where `/proc` is) every process still carrying the group's mark ($2) in
 * its environment: those that left the group with `setsid`.
 */
const watchdogScript = [
  "trap '' HUP INT QUIT TERM",
  "IFS= read -r word",
  "[ \"$word\" = release ] && exit 0",
  "kill -s KILL -- \"-$1\" 2>/dev/null",
  "for round in 1 2 3; do",
  `  for f in $(grep -lsxzF "${markVariable}=$2" /proc/[0-9]*/environ); do p=\${f#/proc/}; kill -s KILL "\${p%/environ}" 2>/dev/null; done`,
  "done",
  "exit 0"
].join("\n")

/**
 * Start the watchdog of group `pgid` marked `mark`; yields its release. When it cannot
 * start, a warning is logged and the group runs unwatched.
 */
const watchGroup = (pgid: number, mark: string): Effect.Effect<Effect.Effect<void>> =>
  Effect.async<ChildProcess.ChildProcess, Error>((resume) => {
    try {
      const watchdog = ChildProcess.spawn("/bin/sh", ["-c", watchdogScript, "agnt-watchdog", String(pgid), mark], {
        detached: true,
        stdio: ["pipe", "ignore", "ignore"],
        env: { PATH: "/usr/bin:/bin" }
      })
      let spawned = false
      // Before "spawn" this is the start failing; later ones change nothing.
      watchdog.on("error", (error) => {
        if (!spawned) resume(Effect.fail(error))
      })
      watchdog.once("spawn", () => {
        spawned = true
        resume(Effect.succeed(watchdog))
      })
    } catch (error) {
      resume(Effect.fail(error instanceof Error ? error : new Error(String(error))))
    }
  }).pipe(
    Effect.map((watchdog) => {
      // A watchdog that has already ended makes the release fail with EPIPE: nothing left to release.
      watchdog.stdin?.on("error", () => {})
      return Effect.sync(() => {
        watchdog.stdin?.end("release\n")
      })
    }),
    Effect.catchAll((error) => Effect.as(Effect.logWarning(`process group ${pgid} runs without a watchdog: ${error.message}`), Effect.void))
  )

const start = (options: SpawnOptions): Effect.Effect<Started, SpawnError> =>
  Effect.gen(function*() {
    const output = yield* Mailbox.make<OutputLine>()
    const exitSignal = yield* Deferred.make<ChildExit>()
    const mark = NodeCrypto.randomBytes(12).toString("hex")
    const child = yield* spawnChild({ ...options, env: { ...options.env, [markVariable]: mark } }, output, exitSignal)
    const pid = child.pid
    if (pid === undefined) return yield* Effect.dieMessage("spawned child has no pid")
    const releaseWatchdog = yield* watchGroup(pid, mark)
    const state = yield* Effect.serviceOption(ExecutorState)
    if (Option.isSome(state)) yield* state.value.recordGroup(pid, mark)
    const terminate = terminateGroup(child, pid, exitSignal, options.killGrace).pipe(
      // What left the group (`setsid`) still carries the mark; nothing a job started outlives it.
      Effect.zipRight(Effect.sync(() => killMarked(mark))),
      Effect.asVoid
    )
    const release = terminate.pipe(
      Effect.ensuring(Effect.all([
        releaseWatchdog,
        Option.isSome(state) ? state.value.forgetGroup(pid) : Effect.void,
        Effect.sync(() => {
          child.stdout?.destroy()
          child.stderr?.destroy()
          child.stdin?.destroy()
        })
      ]))
    )
    const running: RunningProcess = { pid, lines: Mailbox.toStream(output), exited: Deferred.await(exitSignal), terminate }
    return { running, release }
  })

/**
 * Start `options.program` in its own process group, watched (see the module
 * comment), with cwd, env (plus its mark) and stdin as given. Fails with `SpawnError` when it cannot be started (not found,
 * not executable). Closing the scope runs `terminate` and waits for it.
 */
export const spawn = (options: SpawnOptions): Effect.Effect<RunningProcess, SpawnError, Scope.Scope> =>
  Effect.acquireRelease(start(options), (started) => started.release).pipe(Effect.map((started) => started.running))
