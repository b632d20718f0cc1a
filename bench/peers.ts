/**
 * agnt's peers in the suite, each on a fresh database of the bench
 * PostgreSQL and driven from this process: pg-boss 10 and Graphile Worker
 * 0.16, started here with their own defaults (logging silenced). The
 * lifecycle (`bench/lifecycle.ts`) and pickup (`bench/pickup.ts`) measures
 * drive them.
 */
import { Effect } from "effect"
import { Logger, makeWorkerUtils, run } from "graphile-worker"
import PgBoss from "pg-boss"
import { freshDatabase } from "../packages/server/src/Testing.js"

const quiet = new Logger(() => () => {})

/** pg-boss started on a fresh database (its schema made by `start`) with the queue `bench`, for the life of the scope. */
export const pgBoss = (adminUrl: string) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const boss = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const boss = new PgBoss({ connectionString: databaseUrl })
        boss.on("error", () => undefined)
        await boss.start()
        await boss.createQueue("bench")
        return boss
      }),
      (boss) => Effect.promise(() => boss.stop({ graceful: false, wait: true }))
    )
    return { databaseUrl, boss }
  })

/** Graphile Worker's schema on a fresh database and its `addJob`, for the life of the scope. */
export const graphileUtils = (adminUrl: string) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const utils = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: quiet })
        await utils.migrate()
        return utils
      }),
      (utils) =>
        Effect.promise(async () => {
          await utils.release()
        })
    )
    return { databaseUrl, utils }
  })

/** A Graphile Worker runner of `concurrency` on `databaseUrl` running `task` as `bench`, for the life of the scope. */
export const graphileRunner = (databaseUrl: string, concurrency: number, task: () => void) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      run({
        connectionString: databaseUrl,
        concurrency,
        noHandleSignals: true,
        logger: quiet,
        taskList: {
          bench: async () => {
            task()
          }
        }
      })
    ),
    (runner) => Effect.promise(() => runner.stop())
  )
