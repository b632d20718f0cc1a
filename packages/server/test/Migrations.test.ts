import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import * as NodeFs from "node:fs/promises"
import { MigrationsLive, migrationsDir, pgLayer } from "../src/Database.js"
import { freshDatabase } from "../src/Testing.js"

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
})
