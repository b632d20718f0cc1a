/**
 * The executor race: a real `agnt-server` process on a fresh database and
 * EXECUTORS real `agnt-executor` processes (a command executor whose
 * program exits 0 at once), all on ONE executor key, each running
 * CONCURRENCY jobs at once; a buyer orders JOBS jobs (16 orders in flight)
 * and the race ends when every job has ended or DEADLINE seconds passed.
 * Prints jobs/s (first order to last end), double claims (jobs accepted
 * more than once; must be 0), lost jobs (not completed; must be 0) and the
 * server's 429 refusals by limit (`agnt_rate_limited_total`).
 *
 * Rows:
 * - `agnt, default limits` — the server as configured by default;
 * - `agnt, previous limits` — the limits this server had before they were
 *   sized for fleets (50 requests/s and a burst of 200 per key, 20
 *   long-polls per key); PREVIOUS=0 skips it;
 * - `bare SKIP LOCKED` — the baseline: the same number of workers in this
 *   process claiming rows of a bare table on the same PostgreSQL with
 *   `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)` while
 *   16 inserters add them, no HTTP, no limits.
 *
 *   npx tsx bench/race.ts                         # 16 executors × 4 at once, 1000 jobs
 *   EXECUTORS=8 CONCURRENCY=2 JOBS=300 PREVIOUS=0 npx tsx bench/race.ts
 *   RACE=0 npx tsx bench/race.ts                  # only the request capacity of one key
 *
 * Then one key's request capacity: 64 clients in this process list an
 * agent's pending jobs through a real server for HAMMER_SECONDS (15),
 * under the default and the previous limits; requests/s answered 200 and 429.
 *
 * PostgreSQL is embedded (in a temporary directory) unless DATABASE_URL names an admin URL.
 */
import { isTransient } from "@agnt/client/ApiClient"
import type { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Option, Redacted, Schedule } from "effect"
import * as NodePath from "node:path"
import Pg from "pg"
import * as EmbeddedPostgres from "../packages/server/src/EmbeddedPostgres.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, temporaryDirectory } from "../packages/server/src/Testing.js"
import { buyerClient, eventually, makeKeys, order, startExecutor, startServerOn, writeCommandExecutor } from "../test/Executors.js"

interface Race {
  readonly executors: number
  readonly concurrency: number
  readonly jobs: number
  readonly deadlineSeconds: number
}

interface Figures {
  readonly name: string
  readonly seconds: number
  readonly completed: number
  readonly doubleClaims: number
  readonly lost: number
  readonly refusals: string
}

/** One query on a short-lived pool of `url`. */
const withPool = <A>(url: string, use: (pool: Pg.Pool) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Pg.Pool({ connectionString: url, max: 20 }).on("error", () => undefined)),
    (pool) => Effect.promise(() => use(pool)),
    (pool) => Effect.promise(() => pool.end())
  )

const count = async (pool: Pg.Pool, text: string, values: ReadonlyArray<unknown>) =>
  Number((await pool.query<{ n: string }>(text, [...values])).rows[0]?.n ?? 0)

/** The race through a real server (with `serverEnv` on top of its defaults) and real executors. */
const agntRace = (name: string, adminUrl: string, race: Race, serverEnv: Record<string, string>) =>
  Effect.scoped(Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const { dataDir, url, work } = yield* startServerOn(databaseUrl, "agnt-race-", serverEnv)
    const config = NodePath.join(work, "config")
    const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const program = yield* writeCommandExecutor(work, "fast", "exit 0")
    const agentId: AgentId = makeAgentId()
    const env = { ...process.env, XDG_CONFIG_HOME: config, AGNT_API_URL: url, AGNT_API_KEY: Redacted.value(executorKey.key) }
    for (let i = 0; i < race.executors; i++) {
      yield* startExecutor(
        ["command", "--agent-id", agentId, "--config", program, "--concurrency", String(race.concurrency)],
        { cwd: work, env }
      )
    }
    yield* eventually(
      withPool(databaseUrl, (pool) => count(pool, "SELECT count(*) AS n FROM executors WHERE agent_id = $1", [agentId])),
      (n) => n >= race.executors,
      { within: "10 minutes", what: "every executor claiming" }
    )

    const buyer = yield* buyerClient(url, Redacted.value(buyerKey.key))
    const started = performance.now()
    yield* Effect.forEach(
      Array.from({ length: race.jobs }, (_, i) => i),
      (i) =>
        order(buyer, agentId, `job ${i}`).pipe(
          Effect.retry({ schedule: Schedule.spaced("100 millis"), while: isTransient })
        ),
      { concurrency: 16, discard: true }
    )
    const ended = yield* eventually(
      withPool(databaseUrl, (pool) =>
        count(
          pool,
          "SELECT count(*) AS n FROM jobs WHERE agent_id = $1 AND status IN ('completed', 'failed', 'rejected', 'canceled')",
          [agentId]
        )),
      (n) => n >= race.jobs,
      { within: `${race.deadlineSeconds} seconds`, what: "every job ended" }
    ).pipe(Effect.option)
    const seconds = (performance.now() - started) / 1000
    const [completed, doubleClaims] = yield* withPool(databaseUrl, (pool) =>
      Promise.all([
        count(pool, "SELECT count(*) AS n FROM jobs WHERE agent_id = $1 AND status = 'completed'", [agentId]),
        count(
          pool,
          `SELECT count(*) AS n FROM (
             SELECT e.job_id FROM job_events e JOIN jobs j USING (job_id)
             WHERE j.agent_id = $1 AND e.type = 'status' AND e.status = 'accepted'
             GROUP BY e.job_id HAVING count(*) > 1) twice`,
          [agentId]
        )
      ]))
    const metrics = yield* Effect.promise(() => fetch(`${url}/metrics`).then((response) => response.text()))
    const refusals = [...metrics.matchAll(/^agnt_rate_limited_total\{limit="(\w+)"\} (\d+)$/gm)]
      .map(([, limit, n]) => `${limit}=${n}`).join(" ")
    if (Option.isNone(ended)) yield* Console.log(`${name}: not every job ended within ${race.deadlineSeconds} s`)
    return { name, seconds, completed, doubleClaims, lost: race.jobs - completed, refusals } satisfies Figures
  }))

/**
 * One executor key's request capacity through a real server (with
 * `serverEnv`): 64 clients list its agent's pending jobs (`wait` = 0) as
 * fast as they can for `seconds`; the answers by status.
 */
const hammer = (adminUrl: string, seconds: number, serverEnv: Record<string, string>) =>
  Effect.scoped(Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const { dataDir, url } = yield* startServerOn(databaseUrl, "agnt-hammer-", serverEnv)
    const [, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const headers = { authorization: `Bearer ${Redacted.value(executorKey.key)}`, "content-type": "application/json" }
    const agentId = makeAgentId()
    yield* Effect.promise(() =>
      fetch(`${url}/v1/agents/${agentId}`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ name: "Hammered", description: "", tags: [], input_schema: {} })
      })
    )
    const statuses = new Map<number, number>()
    const until = performance.now() + seconds * 1000
    const client = async (): Promise<void> => {
      if (performance.now() >= until) return
      const response = await fetch(`${url}/v1/executor/jobs?agent_id=${agentId}&status=pending&wait=0`, { headers })
      await response.arrayBuffer()
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
      return client()
    }
    yield* Effect.promise(() => Promise.all(Array.from({ length: 64 }, client)))
    return statuses
  }))

const showHammer = (name: string, seconds: number, statuses: ReadonlyMap<number, number>) =>
  Console.log(
    `${name.padEnd(24)} ${((statuses.get(200) ?? 0) / seconds).toFixed(1).padStart(8)} requests/s answered 200, ` +
      `${((statuses.get(429) ?? 0) / seconds).toFixed(1)} /s answered 429 (${
        [...statuses].map(([status, n]) => `${status}: ${n}`).join(", ")
      })`
  )

/** The baseline: EXECUTORS × CONCURRENCY workers claiming rows of a bare table with SKIP LOCKED, 16 inserters. */
const bareRace = (adminUrl: string, race: Race) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    return yield* withPool(databaseUrl, async (pool) => {
      await pool.query(
        "CREATE TABLE race (id serial PRIMARY KEY, status text NOT NULL DEFAULT 'pending', claims int NOT NULL DEFAULT 0)"
      )
      const started = performance.now()
      let inserted = 0
      const insert = async (): Promise<void> => {
        if (inserted >= race.jobs) return
        inserted++
        await pool.query("INSERT INTO race DEFAULT VALUES")
        return insert()
      }
      let done = 0
      const work = async (): Promise<void> => {
        if (done >= race.jobs) return
        const claimed = await pool.query(
          `UPDATE race SET status = 'running', claims = claims + 1
           WHERE id = (SELECT id FROM race WHERE status = 'pending' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
           RETURNING id`
        )
        const id: unknown = claimed.rows[0]?.id
        if (id === undefined) {
          await new Promise((resolve) => setTimeout(resolve, 5))
          return work()
        }
        await pool.query("UPDATE race SET status = 'completed' WHERE id = $1", [id])
        done++
        return work()
      }
      await Promise.all([
        ...Array.from({ length: 16 }, insert),
        ...Array.from({ length: race.executors * race.concurrency }, work)
      ])
      const seconds = (performance.now() - started) / 1000
      const completed = await count(pool, "SELECT count(*) AS n FROM race WHERE status = 'completed'", [])
      const doubleClaims = await count(pool, "SELECT count(*) AS n FROM race WHERE claims > 1", [])
      return { name: "bare SKIP LOCKED", seconds, completed, doubleClaims, lost: race.jobs - completed, refusals: "-" }
    })
  })

/** The limits this server had before they were sized for fleets. */
const previousLimits = {
  AGNT_RATE_LIMIT_PER_SECOND: "50",
  AGNT_RATE_LIMIT_BURST: "200",
  AGNT_MAX_LONG_POLLS_PER_KEY: "20"
}

const show = (race: Race, figures: Figures) =>
  Console.log(
    `${figures.name.padEnd(24)} ${(race.jobs / figures.seconds).toFixed(1).padStart(8)} jobs/s  ` +
      `${figures.seconds.toFixed(1).padStart(6)} s  completed=${figures.completed}  double_claims=${figures.doubleClaims}  ` +
      `lost=${figures.lost}  429s: ${figures.refusals}`
  )

const program = Effect.gen(function*() {
  const race: Race = {
    executors: yield* Config.integer("EXECUTORS").pipe(Config.withDefault(16)),
    concurrency: yield* Config.integer("CONCURRENCY").pipe(Config.withDefault(4)),
    jobs: yield* Config.integer("JOBS").pipe(Config.withDefault(1000)),
    deadlineSeconds: yield* Config.integer("DEADLINE").pipe(Config.withDefault(600))
  }
  const previous = yield* Config.boolean("PREVIOUS").pipe(Config.withDefault(true))
  const given = yield* Config.option(Config.string("DATABASE_URL"))
  const adminUrl = Option.isSome(given)
    ? given.value
    : Redacted.value(yield* EmbeddedPostgres.start(yield* temporaryDirectory("agnt-race-pg-")))
  const races = yield* Config.boolean("RACE").pipe(Config.withDefault(true))
  if (races) {
    yield* Console.log(
      `race: ${race.executors} agnt-executor processes × ${race.concurrency} jobs at once on one key, ${race.jobs} jobs`
    )
    yield* show(race, yield* agntRace("agnt, default limits", adminUrl, race, {}))
    if (previous) yield* show(race, yield* agntRace("agnt, previous limits", adminUrl, race, previousLimits))
    yield* show(race, yield* bareRace(adminUrl, race))
  }
  const seconds = yield* Config.integer("HAMMER_SECONDS").pipe(Config.withDefault(15))
  yield* Console.log(`one executor key, 64 clients listing pending jobs for ${seconds} s:`)
  yield* showHammer("agnt, default limits", seconds, yield* hammer(adminUrl, seconds, {}))
  yield* showHammer("agnt, previous limits", seconds, yield* hammer(adminUrl, seconds, previousLimits))
}).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.catchAllCause(Effect.logError))

NodeRuntime.runMain(program)
