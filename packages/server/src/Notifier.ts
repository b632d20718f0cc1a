/**
 * Wake-ups of long-polls, in this server and across API instances through
 * PostgreSQL `LISTEN/NOTIFY` (DESIGN.md "API v1": long-polls work across
 * instances). Triggers of migration 0008 notify only what wakes someone:
 * `agnt_pending` with the agent id of a job that becomes pending (ordered,
 * or put back by the reaper for a retry); `agnt_events` with the job id of
 * a job that ends (completed, failed, rejected, canceled) or whose cancel is
 * requested; `agnt_keys` with the key id of a key that is revoked or given another
 * set of agents. One
 * listening connection per server hands each to the waiters of its key.
 *
 * Every other event (accepted, running, progress, log batches, a retry's
 * return to pending) sends no NOTIFY: a NOTIFY takes a lock on the
 * notification queue that serialises committing transactions, and one
 * per event made it the busiest wait under load. The server that appends
 * an event wakes its own followers of the job at once, in memory
 * (`wakesFollowers`, applied by `LifecycleRepo` to every change that
 * appends one); followers on other servers see those events at their next
 * re-check, within `pollFallbackSeconds` — only a job's end and a cancel
 * request reach them at once.
 *
 * Waiters are held by channel and key, each a latch: a notification for a
 * key opens only that key's latches, never the others' (no re-check of
 * every long-poll per notification). A notification is a hint: `longPoll`
 * re-checks the database every `pollFallbackSeconds` anyway.
 *
 * The listening connection is watched: an error or end of the connection,
 * or a keep-alive query it does not answer (a network cut), counts as lost.
 * The loss is logged as a warning, the connection is re-opened under
 * `relistenPolicy`, the recovery is logged with the length of the gap, and
 * every waiter is then woken once, so that what happened in the gap
 * (jobs made, events appended) is picked up at once; the handlers of
 * `onKeyChanged` are called with `everyKey`, as revocations in the gap
 * were missed.
 *
 * When the server shuts down gracefully, every long-poll is woken, re-checks
 * once and answers with what it finds — for a claim with nothing pending an
 * empty result (`{"claimed": null}`), which executors simply repeat against
 * the next server — instead of holding the shutdown for up to its wait.
 */
import { PgClient } from "@effect/sql-pg"
import { Data, Deferred, Duration, Effect, Option, Queue, Redacted, Schedule, type Scope } from "effect"
import Pg from "pg"
import { ServerConfig } from "./ServerConfig.js"

/** The channels long-polls wait on. */
export type Channel = "agnt_pending" | "agnt_events"

/** The channel of changed keys (revoked, or given other agents). */
const keysChannel = "agnt_keys"

/** Every channel agnt listens on. */
type Listened = Channel | typeof keysChannel

const channels: ReadonlyArray<Listened> = ["agnt_pending", "agnt_events", keysChannel]

/** What `onKeyChanged` handlers get instead of a key id when any key may have changed (ids are never `*`). */
export const everyKey = "*"

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
  readonly received: Readonly<Record<Listened, number>>
  /** Times the listening connection was re-established after a loss. */
  readonly reconnects: number
  /** Whether the connection listens now. */
  readonly listening: boolean
}

/** Notifications and in-process wake-ups to long-polls, and changed keys to their handlers. */
export class Notifier extends Effect.Service<Notifier>()("@agnt/server/Notifier", {
  scoped: Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const settings = yield* ServerConfig
    const waiters = makeWaiters()
    const revocations = yield* makeRevocations
    const stats = { received: { agnt_pending: 0, agnt_events: 0, agnt_keys: 0 }, reconnects: 0, listening: false }
    const onNotification = dispatch(stats.received, waiters, revocations)

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
        Effect.zipRight(Effect.sync(() => {
          waiters.wakeAll()
          revocations.offer(everyKey)
        }))
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
    yield* Effect.addFinalizer(() => Effect.sync(waiters.close))

    return {
      /** Hold `attempt` until it yields `Some`: see `makeLongPoll`. */
      longPoll: makeLongPoll(waiters, settings.pollFallbackSeconds),
      /** Wrap a change that appends job events so it wakes this server's followers of those jobs: see `makeWaiters`. */
      wakesFollowers: waiters.wakesFollowers,
      /**
       * `onKeyChanged(handle)`: call `handle` with the id of each key
       * changed on any server (`api_keys.revoked_at` set or `agent_ids`
       * changed; `agnt_keys`) for
       * the life of the scope, and with `everyKey` ("forget all") after the
       * listening connection was re-established.
       */
      onKeyChanged: revocations.register,
      /** `stats`: the connection's counters now. */
      stats: (): NotifierStats => ({ ...stats, received: { ...stats.received } })
    } as const
  })
}) {}

/**
 * The long-polls waiting now, by channel and key: each a latch, opened to
 * wake it. `wake` opens the latches of one key only; `wakeAll` every one;
 * `close` (the server shuts down) every one, and `closing()` is then true.
 */
const makeWaiters = () => {
  const byChannel: Record<Channel, Map<string, Set<Effect.Latch>>> = { agnt_pending: new Map(), agnt_events: new Map() }
  const wake = (channel: Channel, key: string) => byChannel[channel].get(key)?.forEach((latch) => latch.unsafeOpen())
  const wakeAll = () => {
    for (const keys of Object.values(byChannel)) keys.forEach((latches) => latches.forEach((latch) => latch.unsafeOpen()))
  }
  let closed = false
  return {
    wake,
    wakeAll,
    close: () => {
      closed = true
      wakeAll()
    },
    closing: () => closed,
    /**
     * `f`, waking this server's followers of each job `jobIdsOf` names once
     * it succeeds (`jobIdsOf` gets its result and arguments). For changes
     * that append job events and commit on their own (a follower woken
     * inside an open transaction would not see the event yet): followers on
     * other servers learn of them by NOTIFY (a job's end, a cancel request)
     * or their fallback re-check.
     */
    wakesFollowers: <Args extends ReadonlyArray<unknown>, A, E, R>(
      f: (...args: Args) => Effect.Effect<A, E, R>,
      jobIdsOf: (result: A, ...args: Args) => Iterable<string>
    ) =>
    (...args: Args): Effect.Effect<A, E, R> =>
      Effect.tap(f(...args), (result) =>
        Effect.sync(() => {
          for (const jobId of jobIdsOf(result, ...args)) wake("agnt_events", jobId)
        })),
    /** A closed latch waiting on `channel`/`key` for the life of the scope. */
    register: (channel: Channel, key: string): Effect.Effect<Effect.Latch, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const latch = Effect.unsafeMakeLatch(false)
          const latches = byChannel[channel].get(key) ?? new Set()
          byChannel[channel].set(key, latches.add(latch))
          return latch
        }),
        (latch) =>
          Effect.sync(() => {
            const latches = byChannel[channel].get(key)
            latches?.delete(latch)
            if (latches?.size === 0) byChannel[channel].delete(key)
          })
      )
  }
}
type Waiters = ReturnType<typeof makeWaiters>

/** Hands a notification to the waiters of its key, or a revoked key to `revocations`, counting it in `received`. */
const dispatch = (received: Record<Listened, number>, waiters: Waiters, revocations: Revocations) => (message: Pg.Notification) => {
  const channel = channels.find((name) => name === message.channel)
  if (channel === undefined || message.payload === undefined) return
  received[channel] += 1
  if (channel === keysChannel) revocations.offer(message.payload)
  else waiters.wake(channel, message.payload)
}

/**
 * `longPoll` over `waiters`: run `attempt` until it yields `Some` or
 * `waitSeconds` pass, re-running it when its latch on `channel`/`key` is
 * opened (a notification or an in-process wake for `key`, or everyone
 * woken) and at least every `pollFallbackSeconds`; once the waiters are
 * closing (the server shuts down), the result of the next attempt.
 * Registers before the first attempt and closes the latch before each, so
 * no wake-up between an attempt and the wait is lost.
 */
const makeLongPoll = (waiters: Waiters, pollFallbackSeconds: number) =>
<A, E, R>(
  channel: Channel,
  key: string,
  waitSeconds: number,
  attempt: Effect.Effect<Option.Option<A>, E, R>
): Effect.Effect<Option.Option<A>, E, R> =>
  Effect.scoped(
    Effect.gen(function*() {
      const latch = yield* waiters.register(channel, key)
      const deadline = Date.now() + waitSeconds * 1000
      const loop: Effect.Effect<Option.Option<A>, E, R> = Effect.flatMap(attempt, (result) => {
        const remaining = deadline - Date.now()
        if (Option.isSome(result) || remaining <= 0 || waiters.closing()) return Effect.succeed(result)
        const pause = Duration.millis(Math.min(remaining, pollFallbackSeconds * 1000))
        return latch.await.pipe(
          Effect.timeout(pause),
          Effect.ignore,
          Effect.zipRight(latch.close),
          Effect.zipRight(Effect.suspend(() => loop))
        )
      })
      return yield* loop
    })
  )

/**
 * Key revocations to the handlers registered with `register` for the life
 * of their scope, in order, one at a time, by a fiber of the enclosing
 * scope; a handler's failure is logged and does not stop the others.
 */
const makeRevocations = Effect.gen(function*() {
  const handlers = new Set<{ readonly handle: (keyId: string) => Effect.Effect<void> }>()
  const revoked = yield* Queue.unbounded<string>()
  const handleNext = Effect.flatMap(Queue.take(revoked), (keyId) =>
    Effect.forEach(
      [...handlers],
      ({ handle }) => Effect.catchAllCause(handle(keyId), (cause) => Effect.logWarning(`key revocation handler failed on ${keyId}`, cause)),
      { discard: true }
    ))
  yield* Effect.forkScoped(Effect.forever(handleNext))
  return {
    /** Hand `keyId` (or `everyKey`) to every handler. */
    offer: (keyId: string) => void revoked.unsafeOffer(keyId),
    /**
     * Call `handle` with the id of every key changed (in any instance) from
     * now to the end of the scope, and with `everyKey` after the listening
     * connection was re-established, as revocations in the gap were missed.
     */
    register: (handle: (keyId: string) => Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> => {
      const entry = { handle }
      return Effect.acquireRelease(Effect.sync(() => void handlers.add(entry)), () => Effect.sync(() => void handlers.delete(entry)))
    }
  }
})
type Revocations = Effect.Effect.Success<typeof makeRevocations>

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
