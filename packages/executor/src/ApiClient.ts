/**
 * The executor's view of the API: the client derived from the domain's
 * `HttpApi`, authenticated with an executor key, and the rule for which
 * failures are worth retrying.
 */
import { Api } from "@agnt/domain/Api"
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Predicate, Redacted, Schedule } from "effect"

/** The client derived from the domain API. */
export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeApiClient>>

/** A client for `baseUrl` sending `Authorization: Bearer <key>`. */
export const makeApiClient = (options: { readonly baseUrl: string; readonly key: Redacted.Redacted }) =>
  HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(options.key)))
  })

/**
 * Transient failures: the API unreachable (`RequestError`), a 5xx or an
 * undecodable response (`ResponseError`), or 503 `NotReady`. Typed 4xx
 * errors are final and never retried (DESIGN.md "Executors").
 */
export const isTransient = (error: unknown): boolean =>
  Predicate.isTagged(error, "RequestError") ||
  Predicate.isTagged(error, "NotReady") ||
  (Predicate.isTagged(error, "ResponseError") && Predicate.hasProperty(error, "response") &&
    Predicate.hasProperty(error.response, "status") && typeof error.response.status === "number" &&
    error.response.status >= 500)

/** Retry policy for one API call: jittered exponential backoff from 200 ms, 6 retries, transient failures only. */
export const retryTransient = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, {
    schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
    times: 6,
    while: isTransient
  })
