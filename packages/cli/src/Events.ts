/**
 * Following a job's events (`GET /v1/jobs/{job_id}/events`, JSON pages after
 * a cursor, oldest first) for `agnt watch`, `agnt logs` and `agnt order
 * --wait`: the pages as a stream — long-polled with `wait` while following,
 * reconnecting on transient failures at the same cursor — and the log lines
 * carried by `log` events.
 */
import { reconnectTransient, retryTransient } from "@agnt/client/ApiClient"
import type { JobId } from "@agnt/domain/Ids"
import { type JobEvent, type JobEventPage } from "@agnt/domain/Job"
import { isTerminal } from "@agnt/domain/Lifecycle"
import { Effect, Option, Schema, Stream } from "effect"
import { type AgntClient } from "./Client.js"

/** Seconds each long-poll asks the server to hold the request while following (the API allows 0–30). */
export const followWaitSeconds = 25

/** Events asked for per page. */
export const eventPageLimit = 100

/**
 * The cursor for the next request after `page`, or `None` when done.
 * Following, the job is done once it is terminal and a page came back empty
 * (the API's promise that no event will follow); without following, once a
 * page came back empty (everything that existed has been read).
 */
export const nextCursor = (page: JobEventPage, follow: boolean): Option.Option<number> =>
  page.data.length === 0 && (!follow || isTerminal(page.status)) ? Option.none() : Option.some(page.next_cursor)

/**
 * The job's event pages after the cursor `after`, in order. With `follow`
 * each request is a long-poll (`wait` = 25 s) and the stream ends once the
 * job is terminal and drained; without, it ends at the first empty page.
 * Transient failures (unreachable server, 5xx, 429) are retried at the same
 * cursor, so no event is lost or repeated: the first request with
 * `retryTransient` (a server that never answered fails fast, in seconds),
 * later ones with `reconnectTransient` (a server restarting mid-follow is
 * waited for, about 80 s).
 */
export const eventPages = (
  client: AgntClient,
  jobId: JobId,
  options: { readonly after: number; readonly follow: boolean }
) =>
  Stream.paginateEffect({ after: options.after, first: true }, ({ after, first }) =>
    client.jobs.events({
      path: { job_id: jobId },
      urlParams: { after, limit: eventPageLimit, wait: options.follow ? followWaitSeconds : 0 }
    }).pipe(
      Effect.retry(first ? retryTransient : reconnectTransient),
      Effect.map((page) => [page, Option.map(nextCursor(page, options.follow), (cursor) => ({ after: cursor, first: false }))] as const)
    ))

/** The job's events after `after`, one by one (see `eventPages`). */
export const events = (
  client: AgntClient,
  jobId: JobId,
  options: { readonly after: number; readonly follow: boolean }
) => eventPages(client, jobId, options).pipe(Stream.mapConcat((page) => page.data))

/** One line of a job's log as `agnt logs` prints it: the `log` event it came in, when, and the text. */
export const LogLine = Schema.Struct({
  event_id: Schema.Int,
  created_at: Schema.DateTimeUtc,
  line: Schema.String
})
export type LogLine = typeof LogLine.Type

/** The log lines an event carries: its `data.lines` when it is a log event (`Logged`), in order; nothing for other events. */
export const logLinesOf = (event: JobEvent): ReadonlyArray<LogLine> =>
  event._tag === "Logged"
    ? event.data.lines.map((line) => ({ event_id: event.event_id, created_at: event.created_at, line }))
    : []
