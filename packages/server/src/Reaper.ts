/**
 * The lease reaper (DESIGN.md "Lease"): every `reaperIntervalSeconds`,
 * fail each accepted or running job whose lease expired with reason
 * `lease_expired` (or cancel it, when the buyer had asked), so a crashed
 * executor never leaves a job stuck. One `UPDATE`, safe with several
 * servers reaping at once.
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
      Effect.tap((ids) => ids.length === 0 ? Effect.void : Effect.logInfo(`lease expired: ${ids.join(", ")}`)),
      Effect.catchAllCause((cause) => Effect.logWarning("reaper pass failed", cause)),
      Effect.repeat(Schedule.spaced(`${settings.reaperIntervalSeconds} seconds`)),
      Effect.forkScoped
    )
  })
).pipe(Layer.provide(LifecycleRepo.Default))
