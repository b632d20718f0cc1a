/**
 * API keys (DESIGN.md "Auth"): `agnt_<role>_<key id suffix>_<64 hex>` — a
 * type prefix, the key's public id, and 32 random bytes. Only the SHA-256
 * of the whole key is stored; the key is shown once, at creation. A key is
 * looked up by its id (primary key) and its hash compared in constant time.
 * Every key belongs to one account (`acct_…`), which owns the jobs and
 * agents its keys make: a key rotated within its account loses nothing.
 */
import { Principal, type Role } from "@agnt/domain/Auth"
import { AccountNotFound, Unauthorized } from "@agnt/domain/Errors"
import { AccountId, AgentId, ApiKeyId } from "@agnt/domain/Ids"
import { SqlClient } from "@effect/sql"
import { Effect, Option, Redacted, Schema } from "effect"
import * as NodeCrypto from "node:crypto"
import { makeAccountId, makeApiKeyId } from "./Ids.js"

const keyPattern = /^agnt_(buyer|executor|admin)_([0-7][0-9a-hjkmnp-tv-z]{25})_([0-9a-f]{64})$/

const sha256 = (text: string) => NodeCrypto.createHash("sha256").update(text).digest()

/** A key as listed (never its secret). */
export class ApiKeyInfo extends Schema.Class<ApiKeyInfo>("ApiKeyInfo")({
  key_id: ApiKeyId,
  account_id: AccountId,
  role: Schema.Literal("buyer", "executor", "admin"),
  agent_ids: Schema.Array(AgentId),
  label: Schema.String,
  created_at: Schema.String,
  revoked_at: Schema.NullOr(Schema.String)
}) {}

/** A newly created key: its info and the secret, to be shown once. */
export interface CreatedApiKey {
  readonly info: ApiKeyInfo
  readonly key: Redacted.Redacted
}

const unauthorized = (message: string) => new Unauthorized({ message })

/** Creating, listing, revoking and checking API keys. */
export class ApiKeys extends Effect.Service<ApiKeys>()("@agnt/server/ApiKeys", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const infoColumns = sql.literal("key_id, account_id, role, agent_ids, label, created_at, revoked_at")

    /** A new, empty account. */
    const createAccount = Effect.fn("ApiKeys.createAccount")(function*() {
      const accountId = makeAccountId()
      yield* sql`INSERT INTO accounts (account_id) VALUES (${accountId})`
      return accountId
    }, Effect.orDie)

    /**
     * Make a key of `role` in `account_id`, or in a new account when none is
     * given; an executor key serves `agent_ids`.
     *
     * @fails AccountNotFound when `account_id` names no account.
     */
    const create = Effect.fn("ApiKeys.create")(
      function*(input: {
        readonly role: Role
        readonly account_id?: AccountId | undefined
        readonly agent_ids?: ReadonlyArray<AgentId>
        readonly label?: string
      }) {
        const accountId = input.account_id ?? (yield* createAccount())
        const keyId = makeApiKeyId()
        const key = `agnt_${input.role}_${keyId.slice("key_".length)}_${NodeCrypto.randomBytes(32).toString("hex")}`
        const rows = yield* sql`
        INSERT INTO api_keys (key_id, account_id, role, secret_sha256, agent_ids, label)
        SELECT ${keyId}, account_id, ${input.role}, ${sha256(key)}, ${[...(input.agent_ids ?? [])]}::text[], ${input.label ?? ""}
        FROM accounts WHERE account_id = ${accountId}
        RETURNING ${infoColumns}`
        if (rows[0] === undefined) return yield* AccountNotFound.of(accountId)
        const info = yield* Schema.decodeUnknown(ApiKeyInfo)(rows[0])
        return { info, key: Redacted.make(key) } satisfies CreatedApiKey
      },
      sql.withTransaction,
      (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die })
    )

    /** All keys with their accounts, newest first. */
    const list = Effect.fn("ApiKeys.list")(function*() {
      const rows = yield* sql`SELECT ${infoColumns} FROM api_keys ORDER BY key_id DESC`
      return yield* Schema.decodeUnknown(Schema.Array(ApiKeyInfo))(rows)
    }, Effect.orDie)

    /** The account of the newest key labelled one of `labels` (revoked keys included), or `None`. */
    const accountByLabel = Effect.fn("ApiKeys.accountByLabel")(function*(labels: ReadonlyArray<string>) {
      const rows = yield* sql<{ account_id: string }>`
        SELECT account_id FROM api_keys WHERE label = ANY(${[...labels]}::text[]) ORDER BY key_id DESC LIMIT 1`
      const found = yield* Schema.decodeUnknown(Schema.Array(AccountId))(rows.map((row) => row.account_id))
      return Option.fromNullable(found[0])
    }, Effect.orDie)

    /** Revoke a key at once; `false` when no such live key exists. */
    const revoke = Effect.fn("ApiKeys.revoke")(function*(keyId: ApiKeyId) {
      const rows = yield* sql`
        UPDATE api_keys SET revoked_at = now() WHERE key_id = ${keyId} AND revoked_at IS NULL RETURNING key_id`
      return rows.length > 0
    }, Effect.orDie)

    /**
     * Revoke every live key labelled `label` and yield the agents they
     * served, so that a replacement key can take them over.
     */
    const retire = Effect.fn("ApiKeys.retire")(function*(label: string) {
      const rows = yield* sql<{ agent_id: string }>`
        WITH retired AS (
          UPDATE api_keys SET revoked_at = now() WHERE label = ${label} AND revoked_at IS NULL RETURNING agent_ids
        )
        SELECT DISTINCT unnest(agent_ids) AS agent_id FROM retired`
      return yield* Schema.decodeUnknown(Schema.Array(AgentId))(rows.map((row) => row.agent_id))
    }, Effect.orDie)

    /**
     * The principal a bearer key stands for.
     *
     * @fails Unauthorized when the key is missing, malformed, unknown or revoked.
     */
    const authenticate = (token: Redacted.Redacted): Effect.Effect<Principal, Unauthorized> =>
      Effect.gen(function*() {
        const key = Redacted.value(token)
        if (key === "") return yield* unauthorized("missing API key: send Authorization: Bearer <key>")
        const match = keyPattern.exec(key)
        if (match === null) return yield* unauthorized("malformed API key")
        const rows = yield* sql`
          SELECT key_id, account_id, role, agent_ids, secret_sha256 FROM api_keys
          WHERE key_id = ${`key_${match[2]}`} AND revoked_at IS NULL`.pipe(Effect.orDie)
        const row = Option.fromNullable(rows[0])
        const stored = Option.flatMap(row, (r) => Option.liftPredicate(r["secret_sha256"], Buffer.isBuffer))
        if (Option.isNone(row) || Option.isNone(stored) || !NodeCrypto.timingSafeEqual(stored.value, sha256(key))) {
          return yield* unauthorized("unknown or revoked API key")
        }
        return yield* Schema.decodeUnknown(Principal)(row.value).pipe(Effect.orDie)
      }).pipe(Effect.withSpan("ApiKeys.authenticate"))

    return { createAccount, create, list, accountByLabel, revoke, retire, authenticate } as const
  })
}) {}
