/**
 * `GET /v1/jobs/{id}` under 50 concurrent keep-alive connections, for
 * GET_SECONDS (10 by default, 2 quick) after a 1-second warm-up: requests/s
 * answered 200 and their median latency, from a real `agnt-server` process
 * (its per-key request rate raised out of the way) and from two baselines
 * on the same database: a bare `node:http` + `pg` server process doing the
 * same work (`bench/bareGetServer.ts`: the key's row by id, its SHA-256
 * compared, the job selected), and the framework's floor, the same
 * endpoint as an `HttpApi` over `@effect/sql-pg` without authentication or
 * agnt's middleware (`bench/floorGetServer.ts`). One job, one buyer key;
 * the load generator is this process (`node:http` keep-alive agent), on the
 * same cores.
 *
 *   npx tsx bench/get.ts
 *   GET_SECONDS=5 npx tsx bench/get.ts
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase } from "../packages/server/src/Testing.js"
import { manifest, orderForm } from "../packages/server/test/Fixtures.js"
import { makeKeys, startServerOn } from "../test/Executors.js"
import { type BenchContext, benchContext, type Measure, percentile, type Row, runIfMain, table } from "./Bench.js"

/** Concurrent connections of the load generator. */
const connections = 50

/** What a load run saw: requests answered 200 per second, their latencies (ms, ascending), and the other answers. */
export interface Load {
  readonly perSecond: number
  readonly latencies: ReadonlyArray<number>
  readonly others: number
}

/** `connections` keep-alive clients each sending GET `url` (with `headers`) again as soon as the last answer came, for `seconds`. */
export const load = (url: string, headers: NodeHttp.OutgoingHttpHeaders, seconds: number) =>
  Effect.promise(async () => {
    const agent = new NodeHttp.Agent({ keepAlive: true, maxSockets: connections })
    const latencies: Array<number> = []
    let others = 0
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const request = NodeHttp.get(url, { agent, headers }, (response) => {
          response.resume()
          response.on("end", () => resolve(response.statusCode ?? 0))
        })
        request.on("error", reject)
      })
    const until = performance.now() + seconds * 1000
    const client = async (): Promise<void> => {
      if (performance.now() >= until) return
      const sent = performance.now()
      const status = await get()
      if (status === 200) latencies.push(performance.now() - sent)
      else others++
      return client()
    }
    await Promise.all(Array.from({ length: connections }, client))
    agent.destroy()
    return { perSecond: latencies.length / seconds, latencies: latencies.sort((a, b) => a - b), others } satisfies Load
  })

/** Start the baseline server `script` of `bench/` on `databaseUrl` for the life of the scope; yields its base URL. */
const baselineServer = (script: "bareGetServer.ts" | "floorGetServer.ts", databaseUrl: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly url: string; readonly stop: () => void }>((resolve, reject) => {
        const file = NodePath.join(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), script)
        const child = spawn(process.execPath, ["--import", "tsx", file], {
          env: { ...process.env, DATABASE_URL: databaseUrl },
          stdio: ["ignore", "pipe", "inherit"]
        })
        child.on("exit", (code) => reject(new Error(`${script} exited ${code}`)))
        child.stdout.setEncoding("utf8").on("data", (text: string) => {
          const port = /listening (\d+)/.exec(text)?.[1]
          if (port !== undefined) resolve({ url: `http://127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") })
        })
      })
    ),
    (bare) => Effect.sync(bare.stop)
  )

/**
 * A real `agnt-server` on a fresh database of `context` (its environment
 * plus `env`, e.g. rate limits raised out of the way) holding one job,
 * ordered by a buyer key from an agent an executor key published: what a
 * read benchmark asks for. Yields the database URL, the server's URL, the
 * buyer key and the job.
 */
export const serverWithJob = (context: BenchContext, prefix: string, env: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(context.adminUrl)
    const { dataDir, url } = yield* startServerOn(databaseUrl, prefix, env)
    const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const executor = yield* makeApiClient({ baseUrl: url, key: executorKey.key })
    const buyer = yield* makeApiClient({ baseUrl: url, key: buyerKey.key })
    const agentId = makeAgentId()
    yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest(`Bench ${prefix}`) })
    const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
    return { databaseUrl, url, buyerKey, job }
  })

/**
 * agnt's, the bare server's and the framework floor's loads over the same
 * job of a fresh database, one after the other.
 */
export const getFigures = (context: BenchContext, seconds: number) =>
  Effect.gen(function*() {
    const { buyerKey, databaseUrl, job, url } = yield* serverWithJob(context, "agnt-bench-get-", {
      AGNT_RATE_LIMIT_PER_SECOND: "1000000",
      AGNT_RATE_LIMIT_BURST: "1000000"
    })
    const bare = yield* baselineServer("bareGetServer.ts", databaseUrl)
    const floor = yield* baselineServer("floorGetServer.ts", databaseUrl)
    const headers = { authorization: `Bearer ${Redacted.value(buyerKey.key)}` }
    const measure = (base: string) =>
      Effect.zipRight(load(`${base}/v1/jobs/${job.job_id}`, headers, 1), load(`${base}/v1/jobs/${job.job_id}`, headers, seconds))
    return { agnt: yield* measure(url), bare: yield* measure(bare.url), floor: yield* measure(floor.url) }
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))

/**
 * The suite's rows: requests/s and p50 beside the bare server, and
 * requests/s beside the framework's floor (`floorGetServer.ts`).
 */
export const getRows = (figures: Effect.Effect.Success<ReturnType<typeof getFigures>>): ReadonlyArray<Row> => {
  const baselineName = "bare node:http + pg"
  return [
    {
      measure: `GET /v1/jobs/{id}, ${connections} connections`,
      unit: "req/s",
      better: "higher",
      agnt: figures.agnt.perSecond,
      baseline: figures.bare.perSecond,
      baselineName
    },
    {
      measure: `GET /v1/jobs/{id} p50, ${connections} connections`,
      unit: "ms",
      better: "lower",
      agnt: percentile(figures.agnt.latencies, 50),
      baseline: percentile(figures.bare.latencies, 50),
      baselineName
    },
    {
      measure: `GET /v1/jobs/{id}, ${connections} connections`,
      unit: "req/s",
      better: "higher",
      agnt: figures.agnt.perSecond,
      baseline: figures.floor.perSecond,
      baselineName: "HttpApi + sql-pg, no auth"
    }
  ]
}

const others = (figures: Effect.Effect.Success<ReturnType<typeof getFigures>>) =>
  figures.agnt.others + figures.bare.others + figures.floor.others === 0
    ? Effect.void
    : Console.log(
      `  GET answers other than 200: agnt ${figures.agnt.others}, bare ${figures.bare.others}, floor ${figures.floor.others}`
    )

/** The suite's measure: 10 s per server (2 quick). */
export const getMeasure: Measure = {
  name: "get",
  run: (context) =>
    Effect.gen(function*() {
      const figures = yield* getFigures(context, context.quick ? 2 : 10)
      yield* others(figures)
      return getRows(figures)
    })
}

runIfMain(
  import.meta.url,
  Effect.gen(function*() {
    const context = yield* benchContext
    const figures = yield* getFigures(context, yield* Config.integer("GET_SECONDS").pipe(Config.withDefault(context.quick ? 2 : 10)))
    yield* others(figures)
    yield* Console.log(table(getRows(figures)))
  }).pipe(Effect.scoped)
)
