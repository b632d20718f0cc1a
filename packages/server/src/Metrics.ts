/**
 * Gauges for `/metrics` — jobs by agent and status, executor processes
 * seen in the last 60 s, published agents — read from PostgreSQL and
 * written in the Prometheus text exposition format
 * (prometheus.io/docs/instrumenting/exposition_formats).
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"

/** The figures `/metrics` reports. */
export interface Gauges {
  readonly jobs: ReadonlyArray<{ readonly agent_id: string; readonly status: string; readonly count: number }>
  readonly executorsOnline: number
  readonly agents: number
}

/** `gauges` as Prometheus text: one `# HELP`, `# TYPE` and samples per gauge, ending in a newline. */
export const prometheusText = (gauges: Gauges): string =>
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
    ""
  ].join("\n")

/** The server's gauges, read now. */
export class Metrics extends Effect.Service<Metrics>()("@agnt/server/Metrics", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** The current gauges. @fails SqlError when the database is unreachable. */
    const gauges = Effect.fn("Metrics.gauges")(function*(): Effect.fn.Return<Gauges, SqlError> {
      const jobs = yield* sql<{ agent_id: string; status: string; count: number }>`
        SELECT agent_id, status, count(*)::int AS count FROM jobs GROUP BY agent_id, status ORDER BY agent_id, status`
      const online = yield* sql<{ count: number }>`
        SELECT count(*)::int AS count FROM executors WHERE last_seen_at > now() - interval '60 seconds'`
      const published = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM agents`
      return { jobs, executorsOnline: online[0]?.count ?? 0, agents: published[0]?.count ?? 0 }
    })

    /** The current gauges as Prometheus text. @fails SqlError when the database is unreachable. */
    const text = (): Effect.Effect<string, SqlError> => Effect.map(gauges(), prometheusText)

    return { gauges, text } as const
  })
}) {}
