/**
 * The lease reaper (DESIGN.md "Lease", "Delivery"): every
 * `reaperIntervalSeconds`, return each accepted or running job whose lease
 * expired to `pending` for another attempt when its agent allows more, else
 * fail it with reason `lease_expired` (or cancel it, when the buyer had
 * asked), so a crashed executor never leaves a job stuck. One statement,
 * safe with several servers reaping at once.
 */
import { Effect, Layer, Schedule } from "effect"
import { LifecycleRepo } from "./Jobs/LifecycleRepo.js"
import { ServerConfig } from "./ServerConfig.js"

/** The reaper fiber, for the life of the server. */
export const ReaperLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* ServerConfig
    const repo = yield* LifecycleRepo
    yield* repo.reapExpired().pipe(
      Effect.tap((jobs) =>
        jobs.length === 0 ? Effect.void : Effect.logInfo(
          `lease expired: ${
            jobs.map((job) => job.status === "pending" ? `${job.job_id} (retry: attempt ${job.attempt})` : job.job_id).join(", ")
          }`
        )
      ),
      Effect.catchAllCause((cause) => Effect.logWarning("reaper pass failed", cause)),
      Effect.repeat(Schedule.spaced(`${settings.reaperIntervalSeconds} seconds`)),
      Effect.forkScoped
    )
  })
).pipe(Layer.provide(LifecycleRepo.Default))
