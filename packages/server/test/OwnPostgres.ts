/**
 * A PostgreSQL a test file owns, to stop and start it (the global setup's
 * one serves every file): a cluster in a temporary directory on a fixed
 * port, so its URL holds across restarts.
 */
import { Effect } from "effect"
import { temporaryDirectory } from "../src/Testing.js"
import { testCluster } from "./TestCluster.js"

/** A cluster of the test's own, started, with its admin URL and `stop`/`start`; stopped when the scope closes. */
export const ownPostgres = Effect.gen(function*() {
  const root = yield* temporaryDirectory("agnt-own-pg-")
  const { adminUrl, pg } = yield* Effect.promise(() => testCluster(root, { persistent: true }))
  const start = Effect.promise(() => pg.start())
  const stop = Effect.promise(() => pg.stop())
  yield* Effect.acquireRelease(start, () => stop)
  return { adminUrl, start, stop } as const
})
