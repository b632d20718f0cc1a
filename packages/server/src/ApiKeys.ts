/**
 * API keys (DESIGN.md "Auth"): `agnt_<role>_<key id suffix>_<64 hex>` — a
 * type prefix, the key's public id, and 32 random bytes. Only the SHA-256
 * of the whole key is stored; the key is shown once, at creation. A key is
 * looked up by its id (primary key) and its hash compared in constant time.
 * Every key belongs to one account (`acct_…`), which owns the jobs and
 * agents its keys make: a key rotated within its account loses nothing.
 */
import { Principal, Role } from "@agnt/domain/Auth"
import { AccountNotFound, Unauthorized } from "@agnt/domain/Errors"
import { AccountId, AgentId, ApiKeyId, JobId } from "@agnt/domain/Ids"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Redacted, Schema } from "effect"
import * as NodeCrypto from "node:crypto"
import { makeAccountId, makeApiKeyId } from "./Ids.js"

const keyPattern = /^agnt_(buyer|executor|admin)_([0-7][0-9a-hjkmnp-tv-z]{25})_([0-9a-f]{64})$/

const sha256 = (text: string) => NodeCrypto.createHash("sha256").update(text).digest()

/** A key as listed (never its secret). */
export class ApiKeyInfo extends Schema.Class<ApiKeyInfo>("ApiKeyInfo")({
  key_id: ApiKeyId,
  account_id: AccountId,
  role: Role,
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

const infoColumns = "key_id, account_id, role, agent_ids, label, created_at, revoked_at"

/** A key row as it is inserted: its secret only as the SHA-256 of the whole key. */
const NewKey = Schema.Struct({
  key_id: ApiKeyId,
  account_id: AccountId,
  role: Role,
  secret_sha256: Schema.Uint8ArrayFromSelf,
  agent_ids: Schema.Array(AgentId),
  label: Schema.String,
  /** The job a child-order key orders children of; `null` for every other key. */
  scope_job_id: Schema.NullOr(JobId)
})

/** Insert a key into its account; no row when the account does not exist. */
const insertStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: NewKey,
    Result: ApiKeyInfo,
    execute: (r) =>
      sql`
      INSERT INTO api_keys (key_id, account_id, role, secret_sha256, agent_ids, label, scope_job_id)
      SELECT ${r.key_id}, account_id, ${r.role}, ${r.secret_sha256}, ${r.agent_ids}::text[], ${r.label}, ${r.scope_job_id}
      FROM accounts WHERE account_id = ${r.account_id}
      RETURNING ${sql.literal(infoColumns)}`
  })

const listStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.Void,
    Result: ApiKeyInfo,
    execute: () => sql`SELECT ${sql.literal(infoColumns)} FROM api_keys ORDER BY key_id DESC`
  })

const accountByLabelStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: Schema.Array(Schema.String),
    Result: Schema.Struct({ account_id: AccountId }),
    execute: (labels) => sql`SELECT account_id FROM api_keys WHERE label = ANY(${labels}::text[]) ORDER BY key_id DESC LIMIT 1`
  })

const revokeStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: ApiKeyId,
    Result: Schema.Struct({ key_id: ApiKeyId }),
    execute: (keyId) => sql`UPDATE api_keys SET revoked_at = now() WHERE key_id = ${keyId} AND revoked_at IS NULL RETURNING key_id`
  })

const retireStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.String,
    Result: Schema.Struct({ agent_id: AgentId }),
    execute: (label) =>
      sql`
      WITH retired AS (
        UPDATE api_keys SET revoked_at = now() WHERE label = ${label} AND revoked_at IS NULL RETURNING agent_ids
      )
      SELECT DISTINCT unnest(agent_ids) AS agent_id FROM retired`
  })

/** A live key's principal and the SHA-256 of its secret. */
const PrincipalRow = Schema.Struct({ ...Principal.fields, secret_sha256: Schema.Uint8ArrayFromSelf })

const principalStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: ApiKeyId,
    Result: PrincipalRow,
    execute: (keyId) =>
      sql`SELECT k.key_id, k.account_id, k.role, k.agent_ids, k.scope_job_id, k.secret_sha256 FROM api_keys k
      WHERE k.key_id = ${keyId} AND k.revoked_at IS NULL
        AND (k.scope_job_id IS NULL OR EXISTS (
          SELECT 1 FROM jobs j WHERE j.job_id = k.scope_job_id AND j.status IN ('pending', 'accepted', 'running')
        ))`
  })

/**
 * Make a key of `role` in `account_id`, or in a new account when none is
 * given; an executor key serves `agent_ids`; a key with `scope_job_id` (a
 * child-order key) orders and sees children of that job only, and is
 * refused once the job ended.
 *
 * @fails AccountNotFound when `account_id` names no account.
 */
const create = (sql: SqlClient.SqlClient, createAccount: Effect.Effect<AccountId>) => {
  const insert = insertStatement(sql)
  return Effect.fn("ApiKeys.create")(
    function*(input: {
      readonly role: Role
      readonly account_id?: AccountId | undefined
      readonly agent_ids?: ReadonlyArray<AgentId>
      readonly label?: string
      readonly scope_job_id?: JobId
      /** The new key's id, when the caller named it first (e.g. in a log line); a fresh one by default. */
      readonly key_id?: ApiKeyId
    }) {
      const accountId = input.account_id ?? (yield* createAccount)
      const keyId = input.key_id ?? makeApiKeyId()
      const key = `agnt_${input.role}_${keyId.slice("key_".length)}_${NodeCrypto.randomBytes(32).toString("hex")}`
      const info = yield* insert({
        key_id: keyId,
        account_id: accountId,
        role: input.role,
        secret_sha256: sha256(key),
        agent_ids: input.agent_ids ?? [],
        label: input.label ?? "",
        scope_job_id: input.scope_job_id ?? null
      })
      if (Option.isNone(info)) return yield* AccountNotFound.of(accountId)
      return { info: info.value, key: Redacted.make(key) } satisfies CreatedApiKey
    },
    sql.withTransaction,
    (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die })
  )
}

/**
 * How long a verified key's principal is reused without asking the
 * database, in seconds. A revocation made through this instance's
 * `ApiKeys` takes effect at once; one made elsewhere as soon as its
 * notification arrives (`forget`), and within this bound however late.
 */
export const principalCacheSeconds = 5

/** Most principals one instance remembers. */
const maxCachedPrincipals = 10_000

/** A remembered principal, the SHA-256 of its key and until when (ms since the epoch) it may be reused. */
interface CachedPrincipal {
  readonly principal: Principal
  readonly secretSha256: Uint8Array
  readonly until: number
}

/**
 * The principal a bearer key stands for, from `cache` while it is fresh
 * (a key with the wrong secret never matches a remembered one), else from
 * the database.
 *
 * @fails Unauthorized when the key is missing, malformed, unknown or revoked.
 */
const authenticate = (sql: SqlClient.SqlClient, cache: Map<ApiKeyId, CachedPrincipal>) => {
  const principalRow = principalStatement(sql)
  const remember = (keyId: ApiKeyId, entry: CachedPrincipal) => {
    if (cache.size >= maxCachedPrincipals) cache.clear()
    cache.set(keyId, entry)
  }
  return (token: Redacted.Redacted): Effect.Effect<Principal, Unauthorized> =>
    Effect.gen(function*() {
      const key = Redacted.value(token)
      if (key === "") return yield* unauthorized("missing API key: send Authorization: Bearer <key>")
      const match = keyPattern.exec(key)
      if (match === null) return yield* unauthorized("malformed API key")
      const keyId = ApiKeyId.make(`key_${match[2]}`)
      const digest = sha256(key)
      const cached = cache.get(keyId)
      if (cached !== undefined && cached.until > Date.now() && NodeCrypto.timingSafeEqual(cached.secretSha256, digest)) {
        return cached.principal
      }
      const row = yield* principalRow(keyId).pipe(Effect.orDie)
      if (Option.isNone(row) || !NodeCrypto.timingSafeEqual(row.value.secret_sha256, digest)) {
        return yield* unauthorized("unknown or revoked API key")
      }
      const { secret_sha256, ...fields } = row.value
      const principal = new Principal(fields)
      remember(keyId, { principal, secretSha256: secret_sha256, until: Date.now() + principalCacheSeconds * 1000 })
      return principal
    })
}

/** Creating, listing, revoking and checking API keys. */
export class ApiKeys extends Effect.Service<ApiKeys>()("@agnt/server/ApiKeys", {
  effect: Effect.map(SqlClient.SqlClient, (sql) => {
    const cache = new Map<ApiKeyId, CachedPrincipal>()
    const [list, accountByLabel, revoke, retire] = [
      listStatement(sql),
      accountByLabelStatement(sql),
      revokeStatement(sql),
      retireStatement(sql)
    ]
    /** A new, empty account. */
    const createAccount = Effect.fn("ApiKeys.createAccount")(function*() {
      const accountId = makeAccountId()
      yield* sql`INSERT INTO accounts (account_id) VALUES (${accountId})`
      return accountId
    }, Effect.orDie)
    return {
      createAccount,
      create: create(sql, createAccount()),
      /** All keys with their accounts, newest first. */
      list: Effect.fn("ApiKeys.list")(function*() {
        return yield* list()
      }, Effect.orDie),
      /** The account of the newest key labelled one of `labels` (revoked keys included), or `None`. */
      accountByLabel: Effect.fn("ApiKeys.accountByLabel")(function*(labels: ReadonlyArray<string>) {
        return Option.map(yield* accountByLabel(labels), (row) => row.account_id)
      }, Effect.orDie),
      /** Revoke a key at once; `false` when no such live key exists. */
      revoke: Effect.fn("ApiKeys.revoke")(function*(keyId: ApiKeyId) {
        cache.delete(keyId)
        return Option.isSome(yield* revoke(keyId))
      }, Effect.orDie),
      /**
       * Revoke every live key labelled `label` and yield the agents they
       * served, so that a replacement key can take them over.
       */
      retire: Effect.fn("ApiKeys.retire")(function*(label: string) {
        cache.clear()
        return (yield* retire(label)).map((row) => row.agent_id)
      }, Effect.orDie),
      /**
       * Stop reusing the remembered principal of `keyId` (revoked on another
       * instance), or of every key with `"*"` (when revocations may have
       * been missed).
       */
      forget: (keyId: ApiKeyId | "*"): Effect.Effect<void> => Effect.sync(() => keyId === "*" ? cache.clear() : cache.delete(keyId)),
      authenticate: authenticate(sql, cache)
    } as const
  })
}) {}
