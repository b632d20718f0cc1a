import { makeApiClient } from "@agnt/client/ApiClient"
import { AccountId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgMigrator } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { migrationsDir, MigrationsLive, pgLayer, sqlFileLoader } from "../src/Database.js"
import { makeAgentId, makeApiKeyId, makeJobId } from "../src/Ids.js"
import { freshDatabase, serverUrl, temporaryDirectory, TestServerOn } from "../src/Testing.js"

/** Run the migrations numbered below `before` (all of them without it) on the database of `sql`. */
const migrate = (before = Number.POSITIVE_INFINITY) =>
  PgMigrator.run({ loader: Effect.map(sqlFileLoader(migrationsDir), (all) => all.filter(([id]) => id < before)) }).pipe(
    Effect.provide(NodeContext.layer)
  )

/** `count` fresh key ids, oldest first (TypeIDs sort by creation). */
const keyIds = (count: number) => Array.from({ length: count }, () => makeApiKeyId()).sort()

/** A working key for `keyId` of `role` and its stored SHA-256, as `ApiKeys` makes them. */
const secretOf = (role: string, keyId: string) => {
  const key = `agnt_${role}_${keyId.slice("key_".length)}_${NodeCrypto.randomBytes(32).toString("hex")}`
  return { key, sha256: NodeCrypto.createHash("sha256").update(key).digest() }
}

describe("migrations", () => {
  it.scoped("running the migrations twice on one database is a no-op the second time", () =>
    Effect.gen(function*() {
      const url = Redacted.make(yield* freshDatabase(inject("pgAdminUrl")))
      const migrated = MigrationsLive.pipe(Layer.provideMerge(pgLayer(url)))
      yield* Layer.build(migrated)
      const context = yield* Layer.build(migrated)
      const sql = SqlClient.SqlClient.pipe(Effect.provide(context))
      const tables = yield* Effect.flatMap(sql, (db) =>
        db<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`)
      expect(tables.map((row) =>
        row.table_name
      )).toEqual(
        expect.arrayContaining(["agents", "api_keys", "effect_sql_migrations", "job_events", "job_files", "jobs"])
      )
      const runs = yield* Effect.flatMap(sql, (db) => db<{ count: number }>`SELECT count(*)::int AS count FROM effect_sql_migrations`)
      const files = yield* Effect.promise(() => NodeFs.readdir(migrationsDir))
      expect(runs[0]?.count).toBe(files.filter((name) => name.endsWith(".sql")).length)
    }))

  it.scoped("0003 moves rejected jobs' reasons to decision_reason, words ended jobs' outcomes and prices agents free", () =>
    Effect.gen(function*() {
      const url = Redacted.make(yield* freshDatabase(inject("pgAdminUrl")))
      const before = yield* temporaryDirectory("agnt-migrations-")
      for (const name of ["0001_init.sql", "0002_leases_idempotency.sql"]) {
        yield* Effect.promise(() => NodeFs.copyFile(NodePath.join(migrationsDir, name), NodePath.join(before, name)))
      }
      const pg = pgLayer(url)
      const context = yield* Layer.build(pg)
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* PgMigrator.run({ loader: sqlFileLoader(before) }).pipe(Effect.provide(context), Effect.provide(NodeContext.layer))
      yield* sql`INSERT INTO api_keys (key_id, role, secret_sha256) VALUES ('key_b', 'buyer', '\\x00')`
      yield* sql`INSERT INTO agents (agent_id, name, description) VALUES ('agent_a', 'Old', 'before pricing')`
      const job = (id: string, status: string, message: string | null, reason: string | null) =>
        sql`INSERT INTO jobs (job_id, agent_id, buyer_key_id, status, prompt, status_message, failure_reason)
            VALUES (${id}, 'agent_a', 'key_b', ${status}, 'p', ${message}, ${reason})`
      yield* job("job_done", "completed", "running eslint", null)
      yield* job("job_failed", "failed", "running eslint", "exit code 3\nlast lines")
      yield* job("job_rejected", "rejected", null, "busy")
      yield* job("job_canceled", "canceled", "halfway", "canceled by the buyer")
      yield* job("job_running", "running", "halfway", null)
      for (const path of ["a.md", "b.sarif"]) {
        yield* sql`INSERT INTO job_files (file_id, job_id, kind, path, size, mime, sha256, storage_key)
                   VALUES (${`file_${path}`}, 'job_done', 'result', ${path}, 1, 'text/plain', 'x', ${path})`
      }

      yield* Layer.build(MigrationsLive.pipe(Layer.provide(pg)))
      const jobs = yield* sql<
        { job_id: string; status_message: string | null; decision_reason: string | null; failure_reason: string | null }
      >`
        SELECT job_id, status_message, decision_reason, failure_reason FROM jobs ORDER BY job_id`
      expect(jobs.map((row) => [row.job_id, row.status_message, row.decision_reason, row.failure_reason])).toEqual([
        ["job_canceled", "canceled by the buyer", null, "canceled by the buyer"],
        ["job_done", "completed with 2 result files", null, null],
        ["job_failed", "failed: exit code 3", null, "exit code 3\nlast lines"],
        ["job_rejected", "rejected: busy", "busy", null],
        ["job_running", "halfway", null, null]
      ])
      const agents = yield* sql<{ pricing: unknown; output_schema: unknown }>`SELECT pricing, output_schema FROM agents`
      expect(agents).toEqual([{ pricing: { model: "free" }, output_schema: {} }])
    }))

  it.scoped("0004 gives every key an account (the dev keys one together), and jobs, agents and idempotency keys their owner's, losing nothing", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase(inject("pgAdminUrl"))
      const context = yield* Layer.build(pgLayer(Redacted.make(url)))
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* migrate(4).pipe(Effect.provide(context))

      // Keys in the shape before accounts, oldest first.
      const [devBuyerOld, devBuyer, devExecutor, buyerX, buyerY, executorFirst, executorSecond, admin] = keyIds(8)
      const agentA = makeAgentId()
      const agentD = makeAgentId()
      const agentH = makeAgentId()
      const devBuyerSecret = secretOf("buyer", devBuyer ?? "")
      const keys = [
        { key_id: devBuyerOld, role: "buyer", agent_ids: [], label: "dev buyer (embedded default)", revoked: true },
        { key_id: devBuyer, role: "buyer", agent_ids: [], label: "dev buyer (embedded default)", revoked: false },
        { key_id: devExecutor, role: "executor", agent_ids: [agentD], label: "dev executor (embedded default)", revoked: false },
        { key_id: buyerX, role: "buyer", agent_ids: [], label: "", revoked: false },
        { key_id: buyerY, role: "buyer", agent_ids: [], label: "dev buyer", revoked: false },
        { key_id: executorFirst, role: "executor", agent_ids: [agentA], label: "", revoked: true },
        { key_id: executorSecond, role: "executor", agent_ids: [agentA], label: "", revoked: false },
        { key_id: admin, role: "admin", agent_ids: [], label: "ops", revoked: false }
      ]
      for (const key of keys) {
        const sha256 = key.key_id === devBuyer ? devBuyerSecret.sha256 : NodeCrypto.randomBytes(32)
        yield* sql`
          INSERT INTO api_keys (key_id, role, secret_sha256, agent_ids, label, revoked_at)
          VALUES (${key.key_id ?? ""}, ${key.role}, ${sha256}, ${key.agent_ids}::text[], ${key.label},
                  ${key.revoked ? new Date() : null})`
      }
      for (const agentId of [agentA, agentD, agentH]) {
        yield* sql`INSERT INTO agents (agent_id, name, description) VALUES (${agentId}, ${agentId}, 'old')`
      }
      const jobs = [
        { job_id: makeJobId(), agent_id: agentA, buyer_key_id: buyerX },
        { job_id: makeJobId(), agent_id: agentA, buyer_key_id: buyerY },
        { job_id: makeJobId(), agent_id: agentD, buyer_key_id: devBuyerOld },
        { job_id: makeJobId(), agent_id: agentD, buyer_key_id: devBuyer },
        { job_id: makeJobId(), agent_id: agentH, buyer_key_id: admin }
      ]
      for (const job of jobs) {
        yield* sql`
          INSERT INTO jobs (job_id, agent_id, buyer_key_id, prompt)
          VALUES (${job.job_id}, ${job.agent_id}, ${job.buyer_key_id ?? ""}, ${`prompt of ${job.job_id}`})`
      }
      const [jobX, jobY, jobDevOld, jobDev] = jobs.map((job) => job.job_id)
      const idempotency = [
        { key_id: buyerX, idempotency_key: "k1", job_id: jobX, at: "2026-01-01T00:00:00Z" },
        { key_id: buyerY, idempotency_key: "k1", job_id: jobY, at: "2026-01-01T00:00:00Z" },
        { key_id: devBuyerOld, idempotency_key: "same", job_id: jobDevOld, at: "2026-01-01T00:00:00Z" },
        { key_id: devBuyer, idempotency_key: "same", job_id: jobDev, at: "2026-01-02T00:00:00Z" }
      ]
      for (const row of idempotency) {
        yield* sql`
          INSERT INTO idempotency_keys (key_id, idempotency_key, request_sha256, job_id, created_at)
          VALUES (${row.key_id ?? ""}, ${row.idempotency_key}, 'h', ${row.job_id ?? ""}, ${row.at}::timestamptz)`
      }
      yield* sql`INSERT INTO executors (executor_id, agent_id, key_id) VALUES ('laptop', ${agentA}, ${executorSecond ?? ""})`

      yield* migrate().pipe(Effect.provide(context))

      const accountOf = yield* Effect.map(
        sql<{ key_id: string; account_id: string }>`SELECT key_id, account_id FROM api_keys`,
        (rows) => new Map(rows.map((row) => [row.key_id, row.account_id]))
      )
      const account = (keyId: string | undefined) => accountOf.get(keyId ?? "")
      const named = (keyId: string | undefined) => `acct_${(keyId ?? "").slice("key_".length)}`
      expect(accountOf.size).toBe(keys.length)
      // The dev keys share the account named after the oldest of them; every other key has its own.
      expect([account(devBuyerOld), account(devBuyer), account(devExecutor)]).toEqual(Array(3).fill(named(devBuyerOld)))
      for (const keyId of [buyerX, buyerY, executorFirst, executorSecond, admin]) expect(account(keyId)).toBe(named(keyId))
      const accounts = yield* sql<{ account_id: string }>`SELECT account_id FROM accounts ORDER BY account_id`
      expect(accounts.map((row) => row.account_id)).toEqual([...new Set(accountOf.values())].sort())
      for (const row of accounts) expect(Schema.is(AccountId)(row.account_id), row.account_id).toBe(true)

      const movedJobs = yield* sql<{ job_id: string; account_id: string; buyer_key_id: string; prompt: string }>`
        SELECT job_id, account_id, buyer_key_id, prompt FROM jobs ORDER BY job_id`
      expect(movedJobs).toEqual(
        jobs.map((job) => ({ ...job, account_id: account(job.buyer_key_id), prompt: `prompt of ${job.job_id}` }))
          .map(({ account_id, buyer_key_id, job_id, prompt }) => ({ job_id, account_id, buyer_key_id, prompt }))
          .sort((a, b) => a.job_id.localeCompare(b.job_id))
      )
      const movedAgents = yield* sql<{ agent_id: string; account_id: string | null }>`SELECT agent_id, account_id FROM agents`
      expect(Object.fromEntries(movedAgents.map((row) => [row.agent_id, row.account_id]))).toEqual({
        // Its first publisher's account; the dev executor's; none for the admin's agent.
        [agentA]: account(executorFirst),
        [agentD]: named(devBuyerOld),
        [agentH]: null
      })
      const movedIdempotency = yield* sql<{ account_id: string; idempotency_key: string; job_id: string }>`
        SELECT account_id, idempotency_key, job_id FROM idempotency_keys ORDER BY job_id`
      expect(movedIdempotency).toEqual([
        { account_id: account(buyerX), idempotency_key: "k1", job_id: jobX },
        { account_id: account(buyerY), idempotency_key: "k1", job_id: jobY },
        { account_id: named(devBuyerOld), idempotency_key: "same", job_id: jobDev }
      ].sort((a, b) => (a.job_id ?? "").localeCompare(b.job_id ?? "")))
      expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM executors`)[0]?.n).toBe(1)

      // Served: the live dev buyer key sees the job its replaced predecessor ordered.
      const served = yield* Layer.build(TestServerOn(url).pipe(Layer.provideMerge(FetchHttpClient.layer)))
      const client = yield* Effect.flatMap(serverUrl, (baseUrl) => makeApiClient({ baseUrl, key: Redacted.make(devBuyerSecret.key) })).pipe(
        Effect.provide(served)
      )
      const listed = yield* client.jobs.list({ urlParams: { limit: 100 } })
      expect(listed.data.map((job) => job.job_id).sort()).toEqual([jobDevOld, jobDev].sort())
    }))
})
