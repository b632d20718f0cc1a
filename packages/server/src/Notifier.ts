/**
 * Wake-ups across API instances through PostgreSQL `LISTEN/NOTIFY`
 * (DESIGN.md "API v1": long-polls work across instances). Triggers of
 * migration 0002 notify `agnt_pending` with the agent id of each new
 * pending job and `agnt_events` with the job id of each new event. One
 * listening connection per server fans them out to waiters in memory.
 * A notification is a hint: `longPoll` re-checks the database every
 * `pollFallbackSeconds` anyway.
 *
 * The listening connection is watched: an error or end of the connection,
 * or a keep-alive query it does not answer (a network cut), counts as lost.
 * The loss is logged as a warning, the connection is re-opened under
 * `relistenPolicy`, the recovery is logged with the length of the gap, and
 * every waiter is then woken once, so that what happened in the gap
 * (jobs made, events appended) is picked up at once.
 *
 * When the server shuts down gracefully, every long-poll is woken, re-checks
 * once and answers with what it finds — for a claim with nothing pending an
 * empty result (`{"claimed": null}`), which executors simply repeat against
 * the next server — instead of holding the shutdown for up to its wait.
 */
import { PgClient } from "@effect/sql-pg"
import { Data, Deferred, Duration, Effect, Option, PubSub, Queue, Redacted, Schedule, type Scope } from "effect"
import Pg from "pg"
import { ServerConfig } from "./ServerConfig.js"

/** The channels agnt listens on. */
export type Channel = "agnt_pending" | "agnt_events"

const channels: ReadonlyArray<Channel> = ["agnt_pending", "agnt_events"]

/** The payload that wakes every waiter of a channel (ids are never `*`). */
const everyone = "*"

/** The listening connection could not be opened, or failed. */
class ListenerError extends Data.TaggedError("ListenerError")<{ readonly message: string; readonly cause?: unknown }> {}

/**
 * How the listening connection is re-opened after a loss: jittered
 * exponential delays from 200 ms, at most 10 s apart, until it is back;
 * the delays start over once a connection has lasted a minute.
 */
const relistenPolicy = Schedule.exponential("200 millis").pipe(
  Schedule.union(Schedule.spaced("10 seconds")),
  Schedule.jittered,
  Schedule.resetAfter("1 minute")
)

/** How often the listening connection must answer a query, and how soon, or it counts as lost. */
const keepAliveEvery = "15 seconds"
const keepAliveWithin = "10 seconds"

/** Counters of the notification connection, for `/metrics`. */
export interface NotifierStats {
  /** Notifications received, by channel, since the server started. */
  readonly received: Readonly<Record<Channel, number>>
  /** Times the listening connection was re-established after a loss. */
  readonly reconnects: number
  /** Whether the connection listens now. */
  readonly listening: boolean
}

/** Fan-out of PostgreSQL notifications to long-polls. */
export class Notifier extends Effect.Service<Notifier>()("@agnt/server/Notifier", {
  scoped: Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const settings = yield* ServerConfig
    const hubs: Hubs = {
      agnt_pending: yield* PubSub.unbounded<string>(),
      agnt_events: yield* PubSub.unbounded<string>()
    }
    /** Wake every waiter of every channel once. */
    const wakeEveryone = Effect.forEach(channels, (channel) => PubSub.publish(hubs[channel], everyone), { discard: true })
    const stats = { received: { agnt_pending: 0, agnt_events: 0 }, reconnects: 0, listening: false }
    const onNotification = (message: Pg.Notification) => {
      const channel = channels.find((name) => name === message.channel)
      if (channel === undefined || message.payload === undefined) return
      stats.received[channel] += 1
      hubs[channel].unsafeOffer(message.payload)
    }

    /** One listening connection: open it, LISTEN, signal `ready`, and yield why it was lost. */
    const session = (ready: Effect.Effect<void>) =>
      Effect.scoped(Effect.gen(function*() {
        const client = yield* openListener(pg.config, onNotification)
        yield* ready
        return yield* Effect.raceFirst(lossOf(client), keepAlive(client))
      }))

    const first = yield* Deferred.make<void>()
    let lostAt: number | undefined
    const recovered = Effect.suspend(() => {
      stats.listening = true
      if (lostAt === undefined) return Effect.asVoid(Deferred.succeed(first, undefined))
      const gap = Duration.format(Duration.millis(Date.now() - lostAt))
      lostAt = undefined
      stats.reconnects += 1
      return Effect.logInfo(`notifications back after ${gap}: LISTEN re-established; waking every long-poll once`).pipe(
        Effect.zipRight(wakeEveryone)
      )
    })
    const lost = (error: ListenerError) =>
      Effect.suspend(() => {
        stats.listening = false
        if (lostAt !== undefined) return Effect.logDebug(`notifications still away: ${error.message}`, error.cause)
        lostAt = Date.now()
        return Effect.logWarning(
          `notifications lost: ${error.message}; reconnecting, long-polls re-check every ${settings.pollFallbackSeconds} s meanwhile`,
          error.cause
        )
      })

    yield* session(recovered).pipe(
      Effect.catchAll(lost),
      Effect.catchAllCause((cause) => Effect.logWarning("notification listener failed", cause)),
      Effect.repeat(relistenPolicy),
      Effect.forkScoped
    )
    yield* Deferred.await(first).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    let closing = false
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        return wakeEveryone
      })
    )

    const longPoll = makeLongPoll(hubs, settings.pollFallbackSeconds, () => closing)

    /** `stats`: the connection's counters now. */
    return { longPoll, stats: (): NotifierStats => ({ ...stats, received: { ...stats.received } }) } as const
  })
}) {}

/** The in-memory fan-out of each channel: payloads (ids, or `everyone`) to the waiters subscribed. */
type Hubs = Readonly<Record<Channel, PubSub.PubSub<string>>>

/**
 * `longPoll` over `hubs`: run `attempt` until it yields `Some` or
 * `waitSeconds` pass, re-running it when `channel` carries `key` (or wakes
 * everyone) and at least every `pollFallbackSeconds`; once `closing()`
 * (the server shuts down), the result of the next attempt. Subscribes
 * before the first attempt, so no notification between an attempt and the
 * wait is lost.
 */
const makeLongPoll = (hubs: Hubs, pollFallbackSeconds: number, closing: () => boolean) =>
<A, E, R>(
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
        if (Option.isSome(result) || remaining <= 0 || closing()) return Effect.succeed(result)
        const pause = Duration.millis(Math.min(remaining, pollFallbackSeconds * 1000))
        return Queue.take(subscription).pipe(
          Effect.repeat({ until: (payload) => payload === key || payload === everyone }),
          Effect.timeout(pause),
          Effect.ignore,
          Effect.zipRight(Effect.suspend(() => loop))
        )
      })
      return yield* loop
    })
  )

/** A connection to the database of `config` listening on every channel, closed with the scope. */
const openListener = (config: PgClient.PgClientConfig, onNotification: (message: Pg.Notification) => void) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new Pg.Client({
          connectionString: config.url === undefined ? undefined : Redacted.value(config.url),
          host: config.host,
          port: config.port,
          database: config.database,
          user: config.username,
          password: config.password === undefined ? undefined : Redacted.value(config.password),
          ssl: config.ssl,
          application_name: "agnt-server listener",
          keepAlive: true
        })
        // Until `lossOf` watches it, an error must not crash the process; `connect` reports it.
        client.on("error", () => {})
        await client.connect()
        client.on("notification", onNotification)
        await client.query(channels.map((channel) => `LISTEN ${channel}`).join("; "))
        return client
      },
      catch: (cause) => new ListenerError({ message: "cannot open the LISTEN connection", cause })
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined)).pipe(Effect.timeoutOption("1 second"))
  )

/** Fails when `client`'s connection errs or ends. */
const lossOf = (client: Pg.Client) =>
  Effect.async<never, ListenerError>((resume) => {
    const onError = (cause: Error) => resume(Effect.fail(new ListenerError({ message: "the LISTEN connection failed", cause })))
    const onEnd = () => resume(Effect.fail(new ListenerError({ message: "the LISTEN connection was closed" })))
    client.on("error", onError)
    client.on("end", onEnd)
    return Effect.sync(() => {
      client.off("error", onError)
      client.off("end", onEnd)
    })
  })

/** Fails when `client` does not answer a query within `keepAliveWithin` (a cut network sends no error). */
const keepAlive = (client: Pg.Client) =>
  Effect.tryPromise({
    try: () => client.query("SELECT 1"),
    catch: (cause) => new ListenerError({ message: "the LISTEN connection failed a keep-alive query", cause })
  }).pipe(
    Effect.timeoutFail({
      duration: keepAliveWithin,
      onTimeout: () => new ListenerError({ message: `the LISTEN connection did not answer within ${keepAliveWithin}` })
    }),
    Effect.repeat(Schedule.spaced(keepAliveEvery)),
    Effect.zipRight(Effect.never)
  )
