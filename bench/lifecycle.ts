/**
 * Full job lifecycle throughput beside pg-boss and Graphile Worker, on the
 * same PostgreSQL (each system in a database of its own) and the same
 * cores: N jobs, 4 producers and 4 workers, no files.
 *
 * - agnt: a real `agnt-server` process with its default settings; 4 buyers
 *   over real HTTP (`@agnt/client`: the client derived from the domain
 *   `Api` over the keep-alive `HttpClientLive`, with tracing off, as `agnt`
 *   and executors use it) order the jobs (`POST /v1/jobs`, JSON as the CLI sends an order
 *   without files), 4 executors claim and start them (`POST …/claim` with
 *   `start`, long-poll `wait` = 5 s, as the executor runtime does) and
 *   complete them (JSON, no files, as the runtime sends it);
 * - pg-boss: 4 producers `send`, 4 workers `fetch` one job and `complete`
 *   it, waiting pg-boss's shortest polling interval (0.5 s) after an empty
 *   fetch, as its `work` does;
 * - Graphile Worker: 4 producers `addJob`, one runner with concurrency 4
 *   runs the (empty) task.
 *
 * Each system first runs a warm-up (a tenth of N, at least 20 jobs) that is
 * not counted. Per job it reports jobs/s (first order to last completion),
 * CPU (the agnt server process, PostgreSQL — every backend and background
 * process — and this process, where the clients run) and SQL statements
 * (`pg_stat_statements`) and commits (`pg_stat_database.xact_commit`) in the
 * system's database, and write transactions (the advance of the next
 * transaction id: a transaction takes one only when it writes).
 *
 *   npx tsx bench/lifecycle.ts            # N=2000
 *   N=300 npx tsx bench/lifecycle.ts
 */
import { isTransient, makeApiClient } from "@agnt/client/ApiClient"
import { HttpClientLive } from "@agnt/client/HttpClientLive"
import { uploadBody } from "@agnt/client/Upload"
import type { AgentId } from "@agnt/domain/Ids"
import { Config, Console, Deferred, Effect, Fiber, Schedule, type Scope } from "effect"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase } from "../packages/server/src/Testing.js"
import { manifest } from "../packages/server/test/Fixtures.js"
import { makeKeys, startServerOn } from "../test/Executors.js"
import {
  type BenchContext,
  benchContext,
  type Better,
  type CpuReading,
  cpuSince,
  type Measure,
  readCpu,
  type Row,
  runIfMain,
  table
} from "./Bench.js"
import { graphileRunner, graphileUtils, pgBoss } from "./peers.js"
import { databaseCounters, statisticsSettle } from "./statements.js"

/** Producers and workers of every system. */
const producers = 4
const workers = 4

/**
 * What one system's measured run cost over `jobs` jobs: its wall seconds, CPU (ms), statements,
 * commits (read-only transactions included) and write transactions.
 */
export interface LifecycleFigures {
  readonly name: string
  readonly jobs: number
  readonly seconds: number
  readonly cpu: CpuReading
  readonly statements: number
  readonly commits: number
  readonly writes: number
}

/** A system under test: runs `jobs` jobs through their whole lifecycle, ending when the last one has completed. */
interface LifecycleSystem {
  /** The pid of a server process whose CPU counts (0: none). */
  readonly serverPid: number
  readonly run: (jobs: number) => Effect.Effect<void>
}

/** `count` items split over `parts` producers as evenly as they go. */
const shares = (count: number, parts: number) =>
  Array.from({ length: parts }, (_, i) => Math.floor(count / parts) + (i < count % parts ? 1 : 0))

/**
 * Start `system` on a fresh database, warm it up (a tenth of `jobs`, at least 20), measure one run of
 * `jobs` jobs, and stop it. Commits are read once the warm-up's statistics have been reported and
 * again after the system has closed its connections (exiting backends report theirs); statements
 * over the same span.
 */
const measureLifecycle = (
  context: BenchContext,
  name: string,
  system: (databaseUrl: string) => Effect.Effect<LifecycleSystem, never, Scope.Scope>,
  jobs: number
) =>
  Effect.scoped(Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(context.adminUrl)
    const counters = yield* databaseCounters(context.adminUrl, new URL(databaseUrl).pathname.slice(1))
    const { commitsBefore, cpu, seconds, writes } = yield* Effect.scoped(Effect.gen(function*() {
      const started = yield* system(databaseUrl)
      yield* started.run(Math.max(20, Math.round(jobs / 10)))
      yield* Effect.sleep(statisticsSettle)
      const commitsBefore = yield* counters.commits
      yield* counters.reset
      const firstId = yield* counters.nextTransactionId
      const before = readCpu(started.serverPid, context.postmasterPid)
      const from = performance.now()
      yield* started.run(jobs)
      const seconds = (performance.now() - from) / 1000
      const cpu = cpuSince(before, readCpu(started.serverPid, context.postmasterPid))
      return { commitsBefore, seconds, cpu, writes: (yield* counters.nextTransactionId) - firstId }
    }))
    yield* Effect.sleep("1 second")
    const commits = (yield* counters.commits) - commitsBefore
    const statements = yield* counters.statements
    return { name, jobs, seconds, cpu, statements, commits, writes } satisfies LifecycleFigures
  }))

const retried = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, { schedule: Schedule.spaced("50 millis"), while: isTransient })

/** agnt through a real server process on a fresh database; its buyers and executors run here. */
const agntSystem = (databaseUrl: string) =>
  Effect.gen(function*() {
    const { dataDir, server, url } = yield* startServerOn(databaseUrl, "agnt-bench-lifecycle-")
    const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const buyer = yield* makeApiClient({ baseUrl: url, key: buyerKey.key })
    const executor = yield* makeApiClient({ baseUrl: url, key: executorKey.key })
    const agentId: AgentId = makeAgentId()
    yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Bench lifecycle") })
    // The bodies the CLI and the executor runtime send (JSON without files), over their keep-alive client.
    const order = uploadBody({ agent_id: agentId, prompt: "review this", params: JSON.stringify({ level: 1 }) }, [])

    const run = (jobs: number) =>
      Effect.gen(function*() {
        let completed = 0
        const done = yield* Deferred.make<void>()
        const work = (i: number) =>
          Effect.gen(function*() {
            const claim = yield* retried(
              executor.executor.claim({ payload: { agent_id: agentId, executor_id: `bench-${i}`, wait: 5, start: true } })
            )
            if (claim.claimed === null) return
            const path = { job_id: claim.claimed.job.job_id }
            const lease_id = claim.claimed.lease.lease_id
            yield* retried(executor.uploads.completeJob(yield* uploadBody({ lease_id }, []), path))
            completed++
            if (completed === jobs) yield* Deferred.succeed(done, undefined)
          }).pipe(Effect.forever)
        const executors = yield* Effect.forEach(Array.from({ length: workers }, (_, i) => i), (i) => Effect.fork(work(i)))
        yield* Effect.forEach(
          shares(jobs, producers),
          (share) =>
            Effect.forEach(
              Array.from({ length: share }),
              () => Effect.flatMap(order, (body) => retried(buyer.uploads.createJob(body, {}))),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        )
        yield* Deferred.await(done)
        yield* Fiber.interruptAll(executors)
      }).pipe(Effect.orDie, Effect.withTracerEnabled(false))
    return { serverPid: server.child.pid ?? 0, run } satisfies LifecycleSystem
  }).pipe(Effect.provide(HttpClientLive), Effect.orDie)

/** pg-boss's shortest polling interval: what its `work` waits after an empty fetch, in milliseconds. */
const pgBossPollMs = 500

/** pg-boss on a fresh database, one queue: 4 producers `send`, 4 workers `fetch` one job and `complete` it. */
const pgBossSystem = (databaseUrl: string) =>
  Effect.map(pgBoss(databaseUrl), (boss) => {
    const runJobs = async (jobs: number) => {
      let completed = 0
      const work = async (): Promise<void> => {
        if (completed >= jobs) return
        const [job] = await boss.fetch<object>("bench")
        if (job === undefined) {
          await new Promise((resolve) => setTimeout(resolve, pgBossPollMs))
          return work()
        }
        await boss.complete("bench", job.id)
        completed++
        return work()
      }
      const produce = async (count: number) => {
        for (let i = 0; i < count; i++) await boss.send("bench", { i })
      }
      await Promise.all([...shares(jobs, producers).map(produce), ...Array.from({ length: workers }, work)])
    }
    return { serverPid: 0, run: (jobs: number) => Effect.promise(() => runJobs(jobs)) } satisfies LifecycleSystem
  })

/**
 * Graphile Worker on a fresh database: 4 producers `addJob`, one runner of
 * concurrency 4 runs the empty task; a run ends when the last job's
 * completion has been written back (`job:complete`).
 */
const graphileWorkerSystem = (databaseUrl: string) =>
  Effect.gen(function*() {
    const utils = yield* graphileUtils(databaseUrl)
    const runner = yield* graphileRunner(databaseUrl, workers, () => undefined)
    const runJobs = (jobs: number) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        let completed = 0
        const onComplete = () => {
          completed++
          if (completed === jobs) Deferred.unsafeDone(done, Effect.void)
        }
        runner.events.on("job:complete", onComplete)
        const produce = (count: number) =>
          Effect.promise(async () => {
            for (let i = 0; i < count; i++) await utils.addJob("bench", { i })
          })
        yield* Effect.forEach(shares(jobs, producers), produce, { concurrency: "unbounded", discard: true })
        yield* Deferred.await(done)
        runner.events.off("job:complete", onComplete)
      })
    return { serverPid: 0, run: runJobs } satisfies LifecycleSystem
  })

/** agnt, pg-boss and Graphile Worker through `jobs` jobs each, in that order, on the context's PostgreSQL. */
export const lifecycleFigures = (context: BenchContext, jobs: number) =>
  Effect.gen(function*() {
    const agnt = yield* measureLifecycle(context, "agnt", agntSystem, jobs)
    const pgBoss = yield* measureLifecycle(context, "pg-boss", pgBossSystem, jobs)
    const graphile = yield* measureLifecycle(context, "Graphile Worker", graphileWorkerSystem, jobs)
    return { agnt, pgBoss, graphile }
  })

const perJob = (figures: LifecycleFigures, value: number) => value / figures.jobs
const cpuPerJob = (figures: LifecycleFigures) => perJob(figures, figures.cpu.server + figures.cpu.postgres + figures.cpu.client)

/** The suite's rows: jobs/s beside both peers; CPU, statements, commits and write transactions per job beside each. */
export const lifecycleRows = (figures: Effect.Effect.Success<ReturnType<typeof lifecycleFigures>>): ReadonlyArray<Row> => {
  const { agnt } = figures
  return [figures.pgBoss, figures.graphile].flatMap((peer): ReadonlyArray<Row> => {
    const row = (measure: string, unit: string, better: Better, of: (figures: LifecycleFigures) => number): Row => ({
      measure,
      unit,
      better,
      agnt: of(agnt),
      baseline: of(peer),
      baselineName: peer.name
    })
    return [
      row("lifecycle throughput", "jobs/s", "higher", (figures) => figures.jobs / figures.seconds),
      row("CPU per job, all processes", "ms", "lower", cpuPerJob),
      row("SQL statements per job", "statements", "lower", (figures) => perJob(figures, figures.statements)),
      row("commits per job", "commits", "lower", (figures) => perJob(figures, figures.commits)),
      row("write transactions per job", "transactions", "lower", (figures) => perJob(figures, figures.writes))
    ]
  })
}

/** How one system's CPU per job splits: server, PostgreSQL, clients (ms). */
export const cpuBreakdown = (figures: LifecycleFigures) =>
  `${figures.name}: CPU per job ${cpuPerJob(figures).toFixed(2)} ms = server ${perJob(figures, figures.cpu.server).toFixed(2)} + ` +
  `PostgreSQL ${perJob(figures, figures.cpu.postgres).toFixed(2)} + clients ${perJob(figures, figures.cpu.client).toFixed(2)}`

/** The suite's measure: 2,000 jobs (250 quick). */
export const lifecycleMeasure: Measure = {
  name: "lifecycle",
  run: (context) =>
    Effect.gen(function*() {
      const figures = yield* lifecycleFigures(context, context.quick ? 250 : 2000)
      for (const system of [figures.agnt, figures.pgBoss, figures.graphile]) yield* Console.log(`  ${cpuBreakdown(system)}`)
      return lifecycleRows(figures)
    })
}

runIfMain(
  import.meta.url,
  Effect.gen(function*() {
    const context = yield* benchContext
    const jobs = yield* Config.integer("N").pipe(Config.withDefault(context.quick ? 250 : 2000))
    const figures = yield* lifecycleFigures(context, jobs)
    for (const system of [figures.agnt, figures.pgBoss, figures.graphile]) yield* Console.log(cpuBreakdown(system))
    yield* Console.log(table(lifecycleRows(figures)))
  }).pipe(Effect.scoped)
)
