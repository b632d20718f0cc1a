import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as EmbeddedPostgres from "../src/EmbeddedPostgres.js"
import { temporaryDirectory } from "../src/Testing.js"

describe("embedded PostgreSQL", () => {
  it.scoped(
    "a start that fails says why in one line: PostgreSQL's own last log lines (here: a cluster without its configuration file)",
    () =>
      Effect.gen(function*() {
        const dataDir = yield* temporaryDirectory("agnt-embedded-broken-")
        const clusterDir = NodePath.join(dataDir, "postgres")
        yield* Effect.promise(async () => {
          await NodeFs.mkdir(clusterDir, { mode: 0o700 })
          await NodeFs.writeFile(NodePath.join(clusterDir, "PG_VERSION"), "not a version\n")
          await NodeFs.writeFile(NodePath.join(dataDir, "postgres.password"), "secret")
        })
        const error = yield* Effect.flip(EmbeddedPostgres.start(dataDir))
        expect(error.message).toMatch(/^PostgreSQL did not start from \S+: .*postgresql\.conf/)
        expect(error.message).not.toContain("\n")
      }),
    60_000
  )

  it.scoped(
    "an initdb that fails says why in one line: initdb's own error (here: a data dir the postgres user cannot reach)",
    () =>
      Effect.gen(function*() {
        const parent = yield* temporaryDirectory("agnt-embedded-private-")
        // As root the cluster belongs to the postgres user, which cannot pass a 0700 directory of root's.
        yield* Effect.promise(() => NodeFs.chmod(parent, 0o700))
        const error = yield* Effect.flip(EmbeddedPostgres.start(NodePath.join(parent, "data")))
        expect(error.message).toMatch(/^initdb failed in \S+: .*Permission denied/)
        expect(error.message).not.toContain("\n")
      }),
    60_000
  )
})
