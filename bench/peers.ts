/**
 * agnt's peers in the suite, driven from this process: pg-boss 10 and Graphile Worker
 * 0.16, started here on a fresh database with their own defaults (logging silenced). The
 * lifecycle (`bench/lifecycle.ts`) and pickup (`bench/pickup.ts`) measures
 * drive them.
 */
import { Effect } from "effect"
import { Logger, makeWorkerUtils, run } from "graphile-worker"
import PgBoss from "pg-boss"

const quiet = new Logger(() => () => {})

/** pg-boss started on the empty database of `databaseUrl` (its schema made by `start`) with the queue `bench`, for the life of the scope. */
export const pgBoss = (databaseUrl: string) =>
  Effect.gen(function*() {
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
    return boss
  })

/** Graphile Worker's schema made on the empty database of `databaseUrl`, and its `addJob`, for the life of the scope. */
export const graphileUtils = (databaseUrl: string) =>
  Effect.acquireRelease(
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
