/**
 * The agnt API client every Node.js client uses (`agnt`, executors, tests):
 * the client derived from the domain's `HttpApi` with a base URL and bearer
 * key, the rule for which failures are worth retrying, and the named retry
 * policies (all jittered, all for transient failures only — never a 4xx;
 * DESIGN.md "Executors").
 */
import { Api } from "@agnt/domain/Api"
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { isHttpClientError } from "@effect/platform/HttpClientError"
import { Cause, Effect, Predicate, Redacted, Schedule } from "effect"
import { makeDownload } from "./Download.js"
import { downloadClient } from "./HttpClientLive.js"
import { makeUploads } from "./Upload.js"

/**
 * The client derived from the domain API (`client.jobs.get(…)`,
 * `client.executor.claim(…)`, …), `client.downloadFile(file, destination)` and
 * `client.uploads` (`createJob`, `completeJob` with an `Upload.uploadBody`).
 */
export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeApiClient>>

/**
 * The client derived from `Api` for the API at `baseUrl` (e.g.
 * `http://127.0.0.1:8080`), sending `Authorization: Bearer <key>` on every
 * request when `key` is given (without one the server answers 401). Each
 * method fails with its endpoint's typed errors, `HttpClientError`
 * (unreachable server, unexpected status) or `ParseError` (undecodable
 * body). Beside them, `downloadFile(file, destination)` streams a job's
 * file to disk, verified (`Download.makeDownload`) — use it rather than
 * `jobs.download`, which holds the whole file in memory; and `uploads`
 * sends the streamed bodies of `Upload.uploadBody` to the two endpoints
 * that take files (`Upload.makeUploads`). Needs an
 * `HttpClient`; downloads go through `HttpClientLive.downloadClient` of it.
 */
export const makeApiClient = (options: {
  readonly baseUrl: string
  readonly key?: Redacted.Redacted<string> | undefined
}) =>
  Effect.gen(function*() {
    const plain = yield* HttpClient.HttpClient
    const withKey = (client: HttpClient.HttpClient) =>
      options.key === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(Redacted.value(options.key)))
    const api = withKey(plain)
    const client = yield* HttpApiClient.makeWith(Api, { baseUrl: options.baseUrl, httpClient: api })
    const downloads = yield* downloadClient(plain)
    return {
      ...client,
      downloadFile: makeDownload({ baseUrl: options.baseUrl, api: withKey(downloads), plain: downloads }),
      uploads: yield* makeUploads({ baseUrl: options.baseUrl, api })
    }
  })

/**
 * A failure worth retrying: the API was unreachable (`RequestError` of
 * reason `Transport`), answered 5xx or an undeclared 429 (`ResponseError`),
 * was not ready (503 `NotReady`), rate limited the key (429 `RateLimited`),
 * or a call outlived its client-side deadline (`TimeoutException`). Never
 * another 4xx, a bad URL or a request that could not be encoded.
 */
export const isTransient = (error: unknown): boolean => {
  if (isHttpClientError(error)) {
    return error._tag === "RequestError"
      ? error.reason === "Transport"
      : error.response.status >= 500 || error.response.status === 429
  }
  return Predicate.isTagged(error, "NotReady") || Predicate.isTagged(error, "RateLimited") ||
    Cause.isTimeoutException(error)
}

/** Exponential backoff from 200 ms, jittered (each delay × 0.8–1.2); unbounded, so bound it where it is used. */
const backoff = Schedule.exponential("200 millis").pipe(Schedule.jittered)

/** Exponential backoff from `base`, each delay capped near `cap`, jittered; unbounded. */
const cappedBackoff = (base: `${number} millis`, cap: `${number} seconds`) =>
  Schedule.exponential(base).pipe(Schedule.union(Schedule.spaced(cap)), Schedule.jittered)

/**
 * Retry policy for one quick call whose caller waits (`agnt` reads and
 * orders): jittered exponential backoff from 200 ms, at most 5 retries
 * (a few seconds), transient failures only. Use with `Effect.retry`.
 */
export const retryTransient = { schedule: backoff, times: 5, while: isTransient } as const

/**
 * Retry policy for following a job's events (`agnt watch`, `logs --follow`,
 * `order --wait`), which may run as long as the job: jittered exponential
 * backoff from 200 ms, each delay capped at 5 s, at most 20 retries in a
 * row (about 80 s without an answer), transient failures only. Each request
 * resumes at its cursor, so nothing is lost or repeated.
 */
export const reconnectTransient = { schedule: cappedBackoff("200 millis", "5 seconds"), times: 20, while: isTransient } as const

/** Schedule of an executor's quick call (a progress report): jittered exponential backoff from 200 ms, 6 retries (about 12 s). */
export const quickRetry = backoff.pipe(Schedule.intersect(Schedule.recurs(6)))

/**
 * Schedule of an executor's reports about a held job (`running`, `failed`,
 * `canceled`, `complete`, log batches): jittered exponential backoff from
 * 250 ms, at most 5 s apart, for up to 2 minutes — long enough to ride out
 * an API restart; past the lease the server has ended the job anyway.
 */
export const jobReportRetry = cappedBackoff("250 millis", "5 seconds").pipe(Schedule.upTo("2 minutes"))

/** Schedule of an executor's claim loop and publishing: jittered exponential backoff from 500 ms, capped near 30 s, forever. */
export const reconnectSchedule = cappedBackoff("500 millis", "30 seconds")
