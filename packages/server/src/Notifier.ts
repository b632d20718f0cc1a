/**
 * Wake-ups across API instances through PostgreSQL `LISTEN/NOTIFY`
 * (DESIGN.md "API v1": long-polls work across instances). Triggers of
 * migration 0002 notify `agnt_pending` with the agent id of each new
 * pending job and `agnt_events` with the job id of each new event. One
 * listening connection per server fans them out to waiters in memory.
 * A notification is a hint: `longPoll` re-checks the database every
 * `pollFallbackSeconds` anyway.
 */
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Option, PubSub, Queue, Schedule, type Scope, Stream } from "effect"
import { ServerConfig } from "./ServerConfig.js"

/** The channels agnt listens on. */
export type Channel = "agnt_pending" | "agnt_events"

/** Fan-out of PostgreSQL notifications to long-polls. */
export class Notifier extends Effect.Service<Notifier>()("@agnt/server/Notifier", {
  scoped: Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const settings = yield* ServerConfig
    const hubs = {
      agnt_pending: yield* PubSub.unbounded<string>(),
      agnt_events: yield* PubSub.unbounded<string>()
    }
    for (const channel of ["agnt_pending", "agnt_events"] as const) {
      yield* pg.listen(channel).pipe(
        Stream.runForEach((payload) => PubSub.publish(hubs[channel], payload)),
        Effect.catchAllCause((cause) => Effect.logWarning(`LISTEN ${channel} lost; reconnecting`, cause)),
        Effect.repeat(Schedule.spaced("1 second")),
        Effect.forkScoped
      )
    }

    /**
     * Run `attempt` until it yields `Some` or `waitSeconds` pass, re-running
     * it when `channel` carries `key` and at least every
     * `pollFallbackSeconds`. Subscribes before the first attempt, so no
     * notification between an attempt and the wait is lost.
     */
    const longPoll = <A, E, R>(
      channel: Channel,
      key: string,
      waitSeconds: number,
      attempt: Effect.Effect<Option.Option<A>, E, R>
    ): Effect.Effect<Option.Option<A>, E, R> =>
      Effect.scoped(
        Effect.gen(function*() {
          const subscription = yield* PubSub.subscribe(hubs[channel])
          const deadline = Date.now() + waitSeconds * 1000
          const loop: Effect.Effect<Option.Option<A>, E, R | Scope.Scope> = Effect.flatMap(attempt, (result) => {
            const remaining = deadline - Date.now()
            if (Option.isSome(result) || remaining <= 0) return Effect.succeed(result)
            const pause = Duration.millis(Math.min(remaining, settings.pollFallbackSeconds * 1000))
            return Queue.take(subscription).pipe(
              Effect.repeat({ until: (payload) => payload === key }),
              Effect.timeout(pause),
              Effect.ignore,
              Effect.zipRight(Effect.suspend(() => loop))
            )
          })
          return yield* loop
        })
      )

    return { longPoll } as const
  })
}) {}
