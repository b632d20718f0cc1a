/**
 * The executor's view of the API: the client derived from the domain's
 * `HttpApi`, authenticated with an executor key; the rule for which
 * failures are worth retrying; and the named retry policies the runtime
 * uses (all jittered, all for transient failures only — never a 4xx).
 */
import { Api } from "@agnt/domain/Api"
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Predicate, Redacted, Ref, Schedule } from "effect"

/** The client derived from the domain API. */
export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeApiClient>>

/** A client for `baseUrl` sending `Authorization: Bearer <key>`. */
export const makeApiClient = (options: { readonly baseUrl: string; readonly key: Redacted.Redacted }) =>
  HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(options.key)))
  })

const responseStatus = (error: unknown): number | undefined =>
  Predicate.hasProperty(error, "response") && Predicate.hasProperty(error.response, "status") &&
    typeof error.response.status === "number"
    ? error.response.status
    : undefined

/**
 * Transient failures: the API unreachable (`RequestError`), a 5xx
 * (`ResponseError`), 503 `NotReady`, 429 `RateLimited`, or a call that
 * outlived its client-side deadline (`TimeoutException`). Typed 4xx errors
 * are final and never retried (DESIGN.md "Executors").
 */
export const isTransient = (error: unknown): boolean =>
  Predicate.isTagged(error, "RequestError") ||
  Predicate.isTagged(error, "NotReady") ||
  Predicate.isTagged(error, "RateLimited") ||
  Predicate.isTagged(error, "TimeoutException") ||
  (Predicate.isTagged(error, "ResponseError") && (responseStatus(error) ?? 0) >= 500)

/**
 * The job is no longer this executor's: its lease was superseded or expired
 * (`LeaseLost`), it already ended (`InvalidTransition`), or it is gone
 * (`JobNotFound`). The holder stops its work and reports nothing.
 */
export const isJobLost = (error: unknown): boolean =>
  Predicate.isTagged(error, "LeaseLost") || Predicate.isTagged(error, "InvalidTransition") ||
  Predicate.isTagged(error, "JobNotFound")

/** One line for a human about a failed API call: the error's tag and message, or the HTTP status. */
export const describeError = (error: unknown): string => {
  if (Predicate.isTagged(error, "RequestError")) {
    const cause = Predicate.hasProperty(error, "cause") && error.cause instanceof Error ? `: ${error.cause.message}` : ""
    return `API unreachable${cause}`
  }
  if (Predicate.isTagged(error, "ResponseError")) return `API answered HTTP ${responseStatus(error) ?? "?"}`
  if (Predicate.isTagged(error, "TimeoutException")) return "API call timed out"
  const tag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined
  const message = Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : undefined
  if (tag !== undefined && message !== undefined && message !== "") return `${tag}: ${message}`
  return tag ?? String(error)
}

/** Retry policy for one quick API call: jittered exponential backoff from 200 ms, 6 retries (about 12 s in all). */
export const quickRetry = Schedule.exponential("200 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(6)))

/** Retry `effect` under `quickRetry` while its failure is transient. */
export const retryTransient = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, { schedule: quickRetry, while: isTransient })

/**
 * Retry policy for reports about a held job (`running`, `failed`,
 * `canceled`, `complete`, log batches): jittered exponential backoff from
 * 250 ms, at most 5 s apart, for up to 2 minutes — long enough to ride out
 * an API restart; past the lease the server has ended the job anyway.
 */
export const jobReportRetry = Schedule.exponential("250 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered,
  Schedule.upTo("2 minutes")
)

/**
 * Reconnect policy of the claim loop and of publishing: jittered
 * exponential backoff from 500 ms, capped near 30 s, forever.
 */
export const reconnectSchedule = Schedule.exponential("500 millis").pipe(
  Schedule.union(Schedule.spaced("30 seconds")),
  Schedule.jittered
)

/**
 * Whether the API is reachable, shared by every fiber of one executor, so
 * an outage is logged once when it starts and once when it ends instead of
 * by every failing call.
 */
export interface Connectivity {
  /** Record a failed call; logs a warning if this starts an outage. */
  readonly failed: (error: unknown) => Effect.Effect<void>
  /** Record a successful call; logs if this ends an outage. */
  readonly succeeded: Effect.Effect<void>
}

/** A fresh `Connectivity`, starting online. */
export const makeConnectivity: Effect.Effect<Connectivity> = Effect.map(Ref.make(false), (offline) => ({
  failed: (error) =>
    Effect.flatMap(Ref.getAndSet(offline, true), (was) =>
      was ? Effect.void : Effect.logWarning(`${describeError(error)}; retrying with backoff until it is back`)),
  succeeded: Effect.flatMap(Ref.getAndSet(offline, false), (was) =>
    was ? Effect.logInfo("API reachable again") : Effect.void)
}))

/**
 * Retry `effect` while its failure is transient, under `schedule`, telling
 * `connectivity` about each transient failure and the final success.
 */
export const retryReporting = <A, E, R, Out, RS>(
  effect: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<Out, unknown, RS>,
  connectivity: Connectivity
): Effect.Effect<A, E, R | RS> =>
  effect.pipe(
    Effect.tapError((error) => isTransient(error) ? connectivity.failed(error) : Effect.void),
    Effect.retry({ schedule, while: isTransient }),
    Effect.tap(() => connectivity.succeeded)
  )
