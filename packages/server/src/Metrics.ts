/**
 * Gauges for `/metrics` — jobs by agent and status, executor processes
 * seen in the last 60 s, published agents — read from PostgreSQL, this
 * instance's count of requests refused with 429 by limit, and the counters
 * of its notification connection (`Notifier.ts`), written in the Prometheus
 * text exposition format
 * (prometheus.io/docs/instrumenting/exposition_formats).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Metric, Schema } from "effect"
import { Notifier, type NotifierStats } from "./Notifier.js"
import { type LimitName, limitNames, rateLimitedTotal } from "./RateLimits.js"

/** The figures `/metrics` reports. */
export const Gauges = Schema.Struct({
  /** Jobs by agent and status. */
  jobs: Schema.Array(Schema.Struct({ agent_id: Schema.String, status: Schema.String, count: Schema.NonNegativeInt })),
  /** Executor processes seen in the last 60 s. */
  executorsOnline: Schema.NonNegativeInt,
  /** Published agents. */
  agents: Schema.NonNegativeInt
})
export type Gauges = typeof Gauges.Type

/** This instance's requests refused with 429 since it started, by limit. */
export interface Refusals {
  readonly rateLimited: ReadonlyArray<{ readonly limit: LimitName; readonly count: number }>
}

/** The gauges in one statement. */
const gaugesStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.single({
    Request: Schema.Void,
    Result: Gauges,
    execute: () =>
      sql`
      SELECT COALESCE((
               SELECT json_agg(json_build_object('agent_id', agent_id, 'status', status, 'count', count) ORDER BY agent_id, status)
               FROM (SELECT agent_id, status, count(*)::int AS count FROM jobs GROUP BY agent_id, status) counted
             ), '[]'::json) AS jobs,
             (SELECT count(*)::int FROM executors WHERE last_seen_at > now() - interval '60 seconds') AS "executorsOnline",
             (SELECT count(*)::int FROM agents) AS agents`
  })

/** `gauges` and `notifier` as Prometheus text: one `# HELP`, `# TYPE` and samples per metric, ending in a newline. */
export const prometheusText = (gauges: Gauges & Refusals, notifier: NotifierStats): string =>
  [
    "# HELP agnt_jobs Jobs by agent and status.",
    "# TYPE agnt_jobs gauge",
    ...gauges.jobs.map((row) => `agnt_jobs{agent_id="${row.agent_id}",status="${row.status}"} ${row.count}`),
    "# HELP agnt_executors_online Executor processes seen in the last 60 seconds.",
    "# TYPE agnt_executors_online gauge",
    `agnt_executors_online ${gauges.executorsOnline}`,
    "# HELP agnt_agents Published agents.",
    "# TYPE agnt_agents gauge",
    `agnt_agents ${gauges.agents}`,
    "# HELP agnt_rate_limited_total Requests this instance refused with 429, by limit.",
    "# TYPE agnt_rate_limited_total counter",
    ...gauges.rateLimited.map((row) => `agnt_rate_limited_total{limit="${row.limit}"} ${row.count}`),
    "# HELP agnt_notifications_received_total PostgreSQL notifications this server received, by channel.",
    "# TYPE agnt_notifications_received_total counter",
    ...Object.entries(notifier.received).map(([channel, count]) => `agnt_notifications_received_total{channel="${channel}"} ${count}`),
    "# HELP agnt_notification_reconnects_total Times this server re-established its LISTEN connection after losing it.",
    "# TYPE agnt_notification_reconnects_total counter",
    `agnt_notification_reconnects_total ${notifier.reconnects}`,
    "# HELP agnt_notification_listening Whether this server's LISTEN connection is up (1) or not (0).",
    "# TYPE agnt_notification_listening gauge",
    `agnt_notification_listening ${notifier.listening ? 1 : 0}`,
    ""
  ].join("\n")

/** The server's gauges, read now. */
export class Metrics extends Effect.Service<Metrics>()("@agnt/server/Metrics", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const notifier = yield* Notifier
    const read = gaugesStatement(sql)

    /** The current gauges. @fails SqlError when the database is unreachable. */
    const gauges = Effect.fn("Metrics.gauges")(function*(): Effect.fn.Return<Gauges & Refusals, SqlError> {
      const counted = yield* read().pipe(Effect.catchTags({ ParseError: Effect.die, NoSuchElementException: Effect.die }))
      const rateLimited = yield* Effect.forEach(
        limitNames,
        (limit) => Effect.map(Metric.value(rateLimitedTotal(limit)), (state) => ({ limit, count: state.count }))
      )
      return { ...counted, rateLimited }
    })

    /** The current gauges and notification counters as Prometheus text. @fails SqlError when the database is unreachable. */
    const text = (): Effect.Effect<string, SqlError> => Effect.map(gauges(), (read) => prometheusText(read, notifier.stats()))

    return { gauges, text } as const
  }),
  dependencies: [Notifier.Default]
}) {}
