import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { PgMigrator } from "@effect/sql-pg"
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { MigrationsLive, migrationsDir, pgLayer, sqlFileLoader } from "../src/Database.js"
import { freshDatabase, temporaryDirectory } from "../src/Testing.js"

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
      expect(tables.map((row) => row.table_name)).toEqual(
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
      const jobs = yield* sql<{ job_id: string; status_message: string | null; decision_reason: string | null; failure_reason: string | null }>`
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
})
