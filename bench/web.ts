/**
 * The web app's budgets (issue: the first page's JavaScript at most 250 KB
 * gzipped; a log line on the job page within 1 s of the executor sending
 * it), measured on a fresh build and a real `agnt-server` process:
 *
 * - the gzipped JavaScript of each chunk (`scripts/build.ts` `buildWeb`),
 *   the first page's (its entry and preloads) beside the 250 KB budget;
 * - WEB_LINES (20 by default, 5 quick) log batches of one line each, sent
 *   by an executor client one at a time: from the executor's request to the
 *   line being in the open job page of Chromium (the page's SSE stream),
 *   beside the baseline, the same line reaching an API client that follows
 *   the job with the JSON long-poll (`GET /v1/jobs/{id}/events?wait=`).
 *
 *   npx tsx bench/web.ts
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Redacted } from "effect"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase } from "../packages/server/src/Testing.js"
import { manifest, orderForm } from "../packages/server/test/Fixtures.js"
import { buildWeb } from "../scripts/build.js"
import { makeKeys, startServerOn } from "../test/Executors.js"
import { launchBrowser, newPage } from "../test/web/Browser.js"
import { benchContext, percentile, type Row, runIfMain, table } from "./Bench.js"

/** The first page's JavaScript budget, gzipped, in KB. */
const firstPageBudgetKb = 250

const kb = (bytes: number) => bytes / 1024

runIfMain(
  import.meta.url,
  Effect.gen(function*() {
    const context = yield* benchContext
    const lines = yield* Config.integer("WEB_LINES").pipe(Config.withDefault(context.quick ? 5 : 20))
    const web = yield* Effect.promise(() => buildWeb())
    for (const file of web.files) yield* Console.log(`  ${file.path.padEnd(40)} ${kb(file.gzipped).toFixed(1).padStart(7)} KB gzipped`)
    const firstPage = kb(web.firstPage.reduce((sum, file) => sum + file.gzipped, 0))

    const databaseUrl = yield* freshDatabase(context.adminUrl)
    const { dataDir, url } = yield* startServerOn(databaseUrl, "agnt-bench-web-")
    const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const executor = yield* makeApiClient({ baseUrl: url, key: executorKey.key })
    const buyer = yield* makeApiClient({ baseUrl: url, key: buyerKey.key })
    const agentId = makeAgentId()
    yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Bench web") })
    const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) })
    const claimed = yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "bench-web", wait: 5, start: true } })
    const lease = claimed.claimed?.lease.lease_id
    if (lease === undefined) return yield* Effect.dieMessage("the job was not claimed")

    const page = yield* newPage(yield* launchBrowser)
    yield* Effect.promise(async () => {
      await page.goto(`${url}/sign-in`)
      await page.getByLabel("API key").fill(Redacted.value(buyerKey.key))
      await page.getByRole("button", { name: "Sign in" }).click()
      await page.getByRole("heading", { name: "Find an agent" }).waitFor()
      await page.goto(`${url}/jobs/${job.job_id}`)
      await page.getByRole("heading", { name: "Log (live)" }).waitFor()
    })
    const send = (line: string) => executor.executor.logs({ path: { job_id: job.job_id }, payload: { lease_id: lease, lines: [line] } })

    const inPage: Array<number> = []
    for (let index = 0; index < lines; index++) {
      const line = `page line ${index}`
      const started = performance.now()
      const shown = Effect.promise(() =>
        page.waitForFunction(
          `document.querySelector("[data-testid=log]")?.textContent?.includes(${JSON.stringify(line)}) === true`,
          undefined,
          {
            polling: "raf"
          }
        )
      )
      yield* Effect.all([send(line), shown], { concurrency: 2 })
      inPage.push(performance.now() - started)
    }

    const polled: Array<number> = []
    let cursor = (yield* buyer.jobs.events({ path: { job_id: job.job_id }, urlParams: { after: 0, limit: 500, wait: 0 } })).next_cursor
    for (let index = 0; index < lines; index++) {
      const line = `polled line ${index}`
      const follow = buyer.jobs.events({ path: { job_id: job.job_id }, urlParams: { after: cursor, limit: 500, wait: 15 } })
      const started = performance.now()
      const [, events] = yield* Effect.all([Effect.delay(send(line), "50 millis"), follow], { concurrency: 2 })
      polled.push(performance.now() - started - 50)
      cursor = events.next_cursor
    }

    const sorted = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)
    const baselineName = "the same line to a long-polling API client"
    const rows: ReadonlyArray<Row> = [
      {
        measure: "first page's JavaScript, gzipped",
        unit: "KB",
        better: "lower",
        agnt: firstPage,
        baseline: firstPageBudgetKb,
        baselineName: "the budget"
      },
      ...[50, 95, 100].map((p): Row => ({
        measure: `log line sent → shown on the job page, p${p}`,
        unit: "ms",
        better: "lower",
        agnt: percentile(sorted(inPage), p),
        baseline: percentile(sorted(polled), p),
        baselineName
      }))
    ]
    yield* Console.log(table(rows))
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
)
