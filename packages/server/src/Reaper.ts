/**
 * The lease reaper (DESIGN.md "Lease", "Delivery"): every
 * `reaperIntervalSeconds`, return each accepted or running job whose lease
 * expired to `pending` for another attempt when its agent allows more, else
 * fail it with reason `lease_expired` (or cancel it, when the buyer had
 * asked), so a crashed executor never leaves a job stuck. One statement,
 * safe with several servers reaping at once.
 *
 * Holders get a full lease to reconnect after an outage (DESIGN.md
 * "Delivery"): nobody could renew a lease while the API or its database was
 * away, so the reaper holds off for one lease (`reaperGraceSeconds`,
 * default `leaseSeconds`) after the server starts
 * and again after any pass that failed (the database unreachable) — counted
 * from the first pass that reaches the database again. A holder that calls
 * within that time renews its lease (renewal does not look at the expiry).
 */
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Layer, Ref, Schedule } from "effect"
import { LifecycleRepo } from "./Jobs/LifecycleRepo.js"
import { ServerConfig } from "./ServerConfig.js"

/**
 * When the reaper may act again: after `until` (epoch milliseconds), or,
 * after an outage, one lease from when the database is back.
 */
type Grace = { readonly _tag: "Until"; readonly until: number } | { readonly _tag: "Outage" }

/** The reaper fiber, for the life of the server. */
export const ReaperLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* ServerConfig
    const repo = yield* LifecycleRepo
    const sql = yield* SqlClient.SqlClient
    const graceSeconds = settings.reaperGraceSeconds ?? settings.leaseSeconds
    const graceMillis = graceSeconds * 1000
    const grace = yield* Ref.make<Grace>({ _tag: "Until", until: (yield* Clock.currentTimeMillis) + graceMillis })
    yield* Effect.logInfo(`lease reaper: holders get ${graceSeconds} s to renew their leases before it acts`)

    const reap = repo.reapExpired().pipe(
      Effect.tap((jobs) =>
        jobs.length === 0 ? Effect.void : Effect.logInfo(
          `lease expired: ${
            jobs.map((job) => job.status === "pending" ? `${job.job_id} (retry: attempt ${job.attempt})` : job.job_id).join(", ")
          }`
        )
      )
    )
    const pass = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* Ref.get(grace)
      if (current._tag === "Until") return now >= current.until ? yield* reap : undefined
      yield* sql`SELECT 1`.pipe(Effect.orDie)
      yield* Ref.set(grace, { _tag: "Until", until: now + graceMillis })
      yield* Effect.logInfo(`lease reaper: database back; holders get ${graceSeconds} s to renew their leases`)
    })
    yield* pass.pipe(
      Effect.catchAllCause((cause) =>
        Effect.zipRight(
          Ref.set(grace, { _tag: "Outage" }),
          Effect.logWarning("reaper pass failed; it waits a full lease once the database answers again", cause)
        )
      ),
      Effect.repeat(Schedule.spaced(`${settings.reaperIntervalSeconds} seconds`)),
      Effect.forkScoped
    )
  })
).pipe(Layer.provide(LifecycleRepo.Default))
