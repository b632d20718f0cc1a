/**
 * The executor's side of API failures: which mean the job is no longer
 * ours, a line for a human about one, and the shared record of whether the
 * API is reachable with the retry that reports to it. The client itself,
 * `isTransient` and the retry schedules are `@agnt/client/ApiClient`'s.
 */
import { isTransient } from "@agnt/client/ApiClient"
import { Effect, Predicate, Ref, type Schedule } from "effect"

const responseStatus = (error: unknown): number | undefined =>
  Predicate.hasProperty(error, "response") && Predicate.hasProperty(error.response, "status") &&
    typeof error.response.status === "number"
    ? error.response.status
    : undefined

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
    Effect.flatMap(
      Ref.getAndSet(offline, true),
      (was) => was ? Effect.void : Effect.logWarning(`${describeError(error)}; retrying with backoff until it is back`)
    ),
  succeeded: Effect.flatMap(Ref.getAndSet(offline, false), (was) => was ? Effect.logInfo("API reachable again") : Effect.void)
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
