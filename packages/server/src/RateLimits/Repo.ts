/**
 * The SQL of the shared abuse limits (migration 0006): a GCRA cell per
 * subject in `rate_limits`, and numbered, expiring places in `limit_slots`.
 * Every statement is one round trip; every API instance on the database
 * sees the same counts.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"

/** What one request did to its subject's rate: allowed or not, and how far its cell runs ahead of now. */
export class RateDecision extends Schema.Class<RateDecision>("RateDecision")({
  allowed: Schema.Boolean,
  /** Seconds the subject's theoretical arrival time is ahead of now (after this request, when allowed). */
  ahead: Schema.Number
}) {}

/** A rate: `perSecond` sustained, `burst` requests at once from idle. */
export interface Rate {
  readonly perSecond: number
  readonly burst: number
}

const SpendRequest = Schema.Struct({ subject: Schema.String, interval: Schema.Number, span: Schema.Number })
const SlotRequest = Schema.Struct({
  subject: Schema.String,
  holder: Schema.String,
  max: Schema.Number,
  seconds: Schema.Number
})
const HeldSlot = Schema.Struct({ slot: Schema.Number })

/** Rate cells and slots in PostgreSQL. */
export class LimitsRepo extends Effect.Service<LimitsRepo>()("@agnt/server/LimitsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    // GCRA (the generic cell rate algorithm of ATM traffic policing, ITU-T I.371): with emission
    // interval T = 1 / rate, a request at `now` moves tat to max(tat, now) + T, and is allowed when that
    // is at most burst × T ahead of now; a refused one leaves tat as it was.
    const spendOne = SqlSchema.single({
      Request: SpendRequest,
      Result: RateDecision,
      execute: ({ interval, span, subject }) =>
        sql`
          INSERT INTO rate_limits AS r (subject, tat, allowed)
          VALUES (${subject}, extract(epoch FROM now())::float8 + ${interval}::float8, true)
          ON CONFLICT (subject) DO UPDATE SET
            allowed = greatest(r.tat, excluded.tat - ${interval}::float8) + ${interval}::float8
              <= extract(epoch FROM now())::float8 + ${span}::float8,
            tat = CASE
              WHEN greatest(r.tat, excluded.tat - ${interval}::float8) + ${interval}::float8
                <= extract(epoch FROM now())::float8 + ${span}::float8
              THEN greatest(r.tat, excluded.tat - ${interval}::float8) + ${interval}::float8
              ELSE r.tat END
          RETURNING allowed, tat - extract(epoch FROM now())::float8 AS ahead`
    })

    /**
     * Spend one request of `subject` at `rate`.
     *
     * @returns `0` when allowed, else the seconds until the next request would be.
     */
    const spend = Effect.fn("LimitsRepo.spend")(function*(subject: string, rate: Rate) {
      const interval = 1 / rate.perSecond
      const span = Math.max(1, rate.burst) * interval
      const decision = yield* spendOne({ subject, interval, span })
      return decision.allowed ? 0 : Math.max(0.001, decision.ahead + interval - span)
    }, Effect.orDie)

    const takeOne = SqlSchema.findAll({
      Request: SlotRequest,
      Result: HeldSlot,
      execute: ({ holder, max, seconds, subject }) =>
        sql`
          INSERT INTO limit_slots AS s (subject, slot, holder, expires_at)
          SELECT ${subject}, n, ${holder}, now() + make_interval(secs => ${seconds}::float8)
          FROM generate_series(0, ${max}::int - 1) AS n
          WHERE n NOT IN (SELECT slot FROM limit_slots WHERE subject = ${subject} AND expires_at > now())
          ORDER BY random() LIMIT 1
          ON CONFLICT (subject, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
          WHERE s.expires_at <= now()
          RETURNING slot`
    })

    /**
     * Take a free slot (of `0 … max − 1`) of `subject` for `holder` for
     * `seconds`: a random free one, so that instances taking slots at once
     * rarely pick the same; `None` when none was free or another holder
     * took the chosen one first.
     */
    const take = Effect.fn("LimitsRepo.take")(function*(subject: string, holder: string, max: number, seconds: number) {
      const rows = yield* takeOne({ subject, holder, max, seconds })
      return Option.map(Option.fromNullable(rows[0]), (row) => row.slot)
    }, Effect.orDie)

    /** Keep `holder`'s slot for `seconds` from now. */
    const renew = Effect.fn("LimitsRepo.renew")(function*(subject: string, slot: number, holder: string, seconds: number) {
      yield* sql`
        UPDATE limit_slots SET expires_at = now() + make_interval(secs => ${seconds}::float8)
        WHERE subject = ${subject} AND slot = ${slot} AND holder = ${holder}`
    }, Effect.orDie)

    /** Free `holder`'s slot. */
    const free = Effect.fn("LimitsRepo.free")(function*(subject: string, slot: number, holder: string) {
      yield* sql`DELETE FROM limit_slots WHERE subject = ${subject} AND slot = ${slot} AND holder = ${holder}`
    }, Effect.orDie)

    /**
     * Drop what no longer limits anyone: cells whose arrival time has
     * passed (a full bucket, as if never seen) and expired slots.
     */
    const sweep = Effect.fn("LimitsRepo.sweep")(function*() {
      yield* sql`DELETE FROM rate_limits WHERE tat < extract(epoch FROM now())::float8`
      yield* sql`DELETE FROM limit_slots WHERE expires_at < now()`
    }, Effect.orDie)

    return { spend, take, renew, free, sweep } as const
  })
}) {}
