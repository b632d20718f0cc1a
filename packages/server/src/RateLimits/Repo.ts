/**
 * The SQL of the shared abuse limits (migration 0006): a GCRA cell per
 * subject in `rate_limits`, and numbered, expiring places in `limit_slots`.
 * Every statement is one round trip; every API instance on the database
 * sees the same counts.
 */
import { SqlClient, SqlSchema, type Statement } from "@effect/sql"
import { Effect, Option, Schema } from "effect"

/** What one reservation did to its subject's rate: how many requests it granted, and how far its cell runs ahead of now. */
export class RateDecision extends Schema.Class<RateDecision>("RateDecision")({
  /** Requests granted (0 when refused, at most the number asked for). */
  granted: Schema.Number,
  /** Seconds the subject's theoretical arrival time is ahead of now (after this reservation). */
  ahead: Schema.Number
}) {}

/** A rate: `perSecond` sustained, `burst` requests at once from idle. */
export interface Rate {
  readonly perSecond: number
  readonly burst: number
}

const SpendRequest = Schema.Struct({ subject: Schema.String, interval: Schema.Number, span: Schema.Number, want: Schema.Number })
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
    // is at most burst × T ahead of now; a refused one leaves tat as it was. A reservation of `want`
    // requests is that many requests at once, granted as far as the burst has room (at least one, or none).
    const reserveSome = SqlSchema.single({
      Request: SpendRequest,
      Result: RateDecision,
      execute: ({ interval, span, subject, want }) => {
        const now = sql`extract(epoch FROM now())::float8`
        const granted = (tat: Statement.Fragment) =>
          sql`greatest(0, least(${want}::int, floor((${now} + ${span}::float8 - ${tat}) / ${interval}::float8 + 1e-9)))::int`
        const base = sql`greatest(r.tat, ${now})`
        return sql`
          INSERT INTO rate_limits AS r (subject, tat, allowed, granted)
          SELECT ${subject}, ${now} + ${interval}::float8 * g, g > 0, g FROM (SELECT ${granted(now)} AS g) fresh
          ON CONFLICT (subject) DO UPDATE SET
            granted = ${granted(base)},
            allowed = ${granted(base)} > 0,
            tat = ${base} + ${interval}::float8 * ${granted(base)}
          RETURNING granted, tat - ${now} AS ahead`
      }
    })

    /**
     * Reserve up to `want` requests of `subject` at `rate`: as many as its
     * burst has room for now.
     *
     * @returns the requests granted, and when none was, the seconds until the next one would be.
     */
    const reserve = Effect.fnUntraced(function*(subject: string, rate: Rate, want: number) {
      const interval = 1 / rate.perSecond
      const span = Math.max(1, rate.burst) * interval
      const decision = yield* reserveSome({ subject, interval, span, want })
      return { granted: decision.granted, wait: decision.granted > 0 ? 0 : Math.max(0.001, decision.ahead + interval - span) }
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
    const take = Effect.fnUntraced(function*(subject: string, holder: string, max: number, seconds: number) {
      const rows = yield* takeOne({ subject, holder, max, seconds })
      return Option.map(Option.fromNullable(rows[0]), (row) => row.slot)
    }, Effect.orDie)

    /** Keep `holder`'s slot for `seconds` from now. */
    const renew = Effect.fnUntraced(function*(subject: string, slot: number, holder: string, seconds: number) {
      yield* sql`
        UPDATE limit_slots SET expires_at = now() + make_interval(secs => ${seconds}::float8)
        WHERE subject = ${subject} AND slot = ${slot} AND holder = ${holder}`
    }, Effect.orDie)

    /** Free `holder`'s slot. */
    const free = Effect.fnUntraced(function*(subject: string, slot: number, holder: string) {
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

    return { reserve, take, renew, free, sweep } as const
  })
}) {}
