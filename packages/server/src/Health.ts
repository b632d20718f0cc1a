/**
 * Liveness, readiness and metrics (DESIGN.md "API v1", Ops): the server is ready
 * when its database answers; metrics need the database too.
 */
import { NotReady } from "@agnt/domain/Errors"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { Metrics } from "./Metrics.js"

const unreachable = () => Effect.fail(new NotReady({ message: "database unreachable" }))

/** What `/readyz` and `/metrics` answer. */
export class Health extends Effect.Service<Health>()("@agnt/server/Health", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const metrics = yield* Metrics

    /** `ok` when the database answers a query. @fails NotReady. */
    const ready = (): Effect.Effect<{ readonly status: "ok" }, NotReady> =>
      sql`SELECT 1`.pipe(Effect.as({ status: "ok" as const }), Effect.catchAll(unreachable))

    /** The gauges as Prometheus text. @fails NotReady when the database is unreachable. */
    const prometheus = (): Effect.Effect<string, NotReady> => metrics.text().pipe(Effect.catchAll(unreachable))

    return { ready, prometheus } as const
  }),
  dependencies: [Metrics.Default]
}) {}
