/**
 * The SQL of browser sessions and sign-in links (migration 0010). Tokens
 * are looked up by their SHA-256, the only form stored. Every statement is
 * one round trip; redeeming a link is one statement, so that of two racing
 * redemptions exactly one makes a session.
 */
import { Principal } from "@agnt/domain/Auth"
import { ApiKeyId } from "@agnt/domain/Ids"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, type Option, Schema } from "effect"

/** A live session as stored, with the principal of its (live) key. */
export const SessionRow = Schema.Struct({
  ...Principal.fields,
  csrf_token: Schema.String,
  expires_at: Schema.DateTimeUtc
})
export type SessionRow = typeof SessionRow.Type

/** A session to store: the SHA-256 of its token, its CSRF token, and its lifetime in seconds. */
const NewSession = Schema.Struct({
  token_sha256: Schema.Uint8ArrayFromSelf,
  csrf_token: Schema.String,
  seconds: Schema.Number
})

/** A session to store for a key. */
const KeySession = Schema.Struct({ ...NewSession.fields, key_id: ApiKeyId })

/** A session to store for the key of the link whose token hashes to `link_sha256`. */
const LinkSession = Schema.Struct({ ...NewSession.fields, link_sha256: Schema.Uint8ArrayFromSelf })

/** A sign-in link to store: the SHA-256 of its token, its key, and for how many seconds it may be redeemed. */
const NewLink = Schema.Struct({ token_sha256: Schema.Uint8ArrayFromSelf, key_id: ApiKeyId, seconds: Schema.Number })

/** What became of a link that could not be redeemed. */
export class LinkState extends Schema.Class<LinkState>("LinkState")({
  used: Schema.Boolean,
  expired: Schema.Boolean,
  key_revoked: Schema.Boolean
}) {}

/** The principal columns of a live key `k` and the session columns of `s`. */
const sessionColumns = "k.key_id, k.account_id, k.role, k.agent_ids, s.csrf_token, s.expires_at"

/** Rows older than this past their end are deleted by the sweeper (kept a while so a late link is told "expired"). */
const keepEndedSeconds = 24 * 60 * 60

/** Most rows of each table one sweep deletes. */
const sweepBatch = 1000

/** Store a session for a live key, in one statement. */
const insertForKeyStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: KeySession,
    Result: SessionRow,
    execute: (r) =>
      sql`
        WITH s AS (
          INSERT INTO sessions (token_sha256, key_id, csrf_token, expires_at)
          SELECT ${r.token_sha256}, key_id, ${r.csrf_token}, now() + make_interval(secs => ${r.seconds}::float8)
          FROM api_keys WHERE key_id = ${r.key_id} AND revoked_at IS NULL
          RETURNING key_id, csrf_token, expires_at
        )
        SELECT ${sql.literal(sessionColumns)} FROM s JOIN api_keys k ON k.key_id = s.key_id`
  })

/** Redeem a link and store a session for its key, in one statement. */
const redeemStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: LinkSession,
    Result: SessionRow,
    execute: (r) =>
      sql`
        WITH used AS (
          UPDATE sign_in_links l SET used_at = now()
          FROM api_keys k
          WHERE l.token_sha256 = ${r.link_sha256} AND l.used_at IS NULL AND l.expires_at > now()
            AND k.key_id = l.key_id AND k.revoked_at IS NULL
          RETURNING l.key_id
        ), s AS (
          INSERT INTO sessions (token_sha256, key_id, csrf_token, expires_at)
          SELECT ${r.token_sha256}, key_id, ${r.csrf_token}, now() + make_interval(secs => ${r.seconds}::float8) FROM used
          RETURNING key_id, csrf_token, expires_at
        )
        SELECT ${sql.literal(sessionColumns)} FROM s JOIN api_keys k ON k.key_id = s.key_id`
  })

/** What became of a link: used, expired, its key revoked. */
const linkStateStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Uint8ArrayFromSelf,
    Result: LinkState,
    execute: (sha256) =>
      sql`
        SELECT l.used_at IS NOT NULL AS used, l.expires_at <= now() AS expired, k.revoked_at IS NOT NULL AS key_revoked
        FROM sign_in_links l JOIN api_keys k ON k.key_id = l.key_id
        WHERE l.token_sha256 = ${sha256}`
  })

/** The live session of a token's SHA-256, with its key's principal. */
const findLiveStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Uint8ArrayFromSelf,
    Result: SessionRow,
    execute: (sha256) =>
      sql`
        SELECT ${sql.literal(sessionColumns)}
        FROM sessions s JOIN api_keys k ON k.key_id = s.key_id
        WHERE s.token_sha256 = ${sha256} AND s.revoked_at IS NULL AND s.expires_at > now() AND k.revoked_at IS NULL`
  })

/** Store a sign-in link; yields when it expires. */
const insertLinkStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.single({
    Request: NewLink,
    Result: Schema.Struct({ expires_at: Schema.DateTimeUtc }),
    execute: (r) =>
      sql`
        INSERT INTO sign_in_links (token_sha256, key_id, expires_at)
        VALUES (${r.token_sha256}, ${r.key_id}, now() + make_interval(secs => ${r.seconds}::float8))
        RETURNING expires_at`
  })

/** Sessions and sign-in links in PostgreSQL. */
export class SessionsRepo extends Effect.Service<SessionsRepo>()("@agnt/server/SessionsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [insertForKey, redeem, linkState, findLive, insertLink] = [
      insertForKeyStatement(sql),
      redeemStatement(sql),
      linkStateStatement(sql),
      findLiveStatement(sql),
      insertLinkStatement(sql)
    ]

    return {
      /**
       * Store a session of `seconds` for the live key `key_id`; `None` when
       * the key was revoked meanwhile.
       */
      insertForKey: Effect.fn("SessionsRepo.insertForKey")(function*(input: typeof KeySession.Type) {
        return yield* insertForKey(input)
      }, Effect.orDie),
      /**
       * Redeem the link whose token hashes to `link_sha256` — unused,
       * unexpired, its key live — for a new session, in one statement;
       * `None` when there is no such link.
       */
      redeem: Effect.fn("SessionsRepo.redeem")(function*(input: typeof LinkSession.Type) {
        return yield* redeem(input)
      }, Effect.orDie),
      /** Why the link of `sha256` was not redeemed; `None` when no such link exists (or it was swept). */
      linkState: (sha256: Uint8Array): Effect.Effect<Option.Option<LinkState>> =>
        linkState(sha256).pipe(Effect.orDie, Effect.withSpan("SessionsRepo.linkState")),
      /** The live session of the token hashing to `sha256` (not expired, not signed out, its key not revoked). */
      findLive: (sha256: Uint8Array): Effect.Effect<Option.Option<SessionRow>> =>
        findLive(sha256).pipe(Effect.orDie, Effect.withSpan("SessionsRepo.findLive")),
      /** End the session of `sha256` now (sign-out); nothing when it already ended. */
      revoke: Effect.fn("SessionsRepo.revoke")(function*(sha256: Uint8Array) {
        yield* sql`UPDATE sessions SET revoked_at = now() WHERE token_sha256 = ${sha256} AND revoked_at IS NULL`
      }, Effect.orDie),
      /** Store a sign-in link for `key_id`, redeemable for `seconds`; yields when it expires. */
      insertLink: Effect.fn("SessionsRepo.insertLink")(function*(input: typeof NewLink.Type) {
        return (yield* insertLink(input)).expires_at
      }, Effect.orDie),
      /**
       * Delete sessions and links that ended more than a day ago, at most
       * `sweepBatch` of each per call.
       */
      sweep: Effect.fn("SessionsRepo.sweep")(function*() {
        const before = sql`now() - make_interval(secs => ${keepEndedSeconds})`
        yield* sql`
          DELETE FROM sessions WHERE token_sha256 IN (
            SELECT token_sha256 FROM sessions WHERE expires_at < ${before} OR revoked_at < ${before} LIMIT ${sweepBatch})`
        yield* sql`
          DELETE FROM sign_in_links WHERE token_sha256 IN (
            SELECT token_sha256 FROM sign_in_links WHERE expires_at < ${before} LIMIT ${sweepBatch})`
      }, Effect.orDie)
    } as const
  })
}) {}
