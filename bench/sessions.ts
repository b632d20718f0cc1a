/**
 * What a browser session costs a read: `GET /v1/jobs/{id}` under 50
 * concurrent keep-alive connections for SESSIONS_SECONDS (10 by default, 2
 * quick) after a 1-second warm-up, authenticated by the session cookie
 * (its session and key read in one statement per request, and the
 * address's keyless rate spent at the edge) beside the baseline, the same
 * requests with the same key as a bearer key (its principal remembered for
 * 5 s). One real `agnt-server` process (both rates raised out of the way),
 * one job, one buyer key; the load generator is this process, on the same
 * cores (`load` of `bench/get.ts`).
 *
 *   npx tsx bench/sessions.ts
 */
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Redacted } from "effect"
import { benchContext, percentile, type Row, runIfMain, table } from "./Bench.js"
import { load, serverWithJob } from "./get.js"

/** A session of `key` on the server at `url`: the `Cookie` header that sends it. */
const sessionCookie = (url: string, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ api_key: key })
    })
    if (response.status !== 201) throw new Error(`sign-in answered ${response.status}`)
    return (response.headers.get("set-cookie") ?? "").split(";")[0] ?? ""
  })

runIfMain(
  import.meta.url,
  Effect.gen(function*() {
    const context = yield* benchContext
    const seconds = yield* Config.integer("SESSIONS_SECONDS").pipe(Config.withDefault(context.quick ? 2 : 10))
    const { buyerKey, job, url } = yield* serverWithJob(context, "agnt-bench-sessions-", {
      AGNT_RATE_LIMIT_PER_SECOND: "1000000",
      AGNT_RATE_LIMIT_BURST: "1000000",
      AGNT_ADDRESS_RATE_LIMIT_PER_SECOND: "1000000",
      AGNT_ADDRESS_RATE_LIMIT_BURST: "1000000"
    })
    const target = `${url}/v1/jobs/${job.job_id}`
    const measure = (headers: Record<string, string>) => Effect.zipRight(load(target, headers, 1), load(target, headers, seconds))
    const bearer = yield* measure({ authorization: `Bearer ${Redacted.value(buyerKey.key)}` })
    const cookie = yield* measure({ cookie: yield* sessionCookie(url, Redacted.value(buyerKey.key)) })
    if (bearer.others + cookie.others > 0) {
      yield* Console.log(`  answers other than 200: bearer ${bearer.others}, cookie ${cookie.others}`)
    }
    const baselineName = "the same key as a bearer key"
    const rows: ReadonlyArray<Row> = [
      {
        measure: "GET /v1/jobs/{id} with the session cookie, 50 connections",
        unit: "req/s",
        better: "higher",
        agnt: cookie.perSecond,
        baseline: bearer.perSecond,
        baselineName
      },
      {
        measure: "GET /v1/jobs/{id} with the session cookie p50",
        unit: "ms",
        better: "lower",
        agnt: percentile(cookie.latencies, 50),
        baseline: percentile(bearer.latencies, 50),
        baselineName
      }
    ]
    yield* Console.log(table(rows))
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
)
