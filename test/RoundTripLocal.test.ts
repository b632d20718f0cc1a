import { layer } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { roundTrip, RoundTripWorldLive, treeArbitrary } from "./RoundTrip.js"

layer(RoundTripWorldLive(inject("pgAdminUrl"), Effect.succeed({})), { timeout: 120_000, excludeTestServices: true })(
  "byte-exact files, local object store",
  (it) => {
    it.effect.prop(
      "a random tree sent with agnt order comes back from the executor's out/ with the same paths and bytes",
      [treeArbitrary],
      ([tree]) => roundTrip(tree),
      { timeout: 900_000, fastCheck: { numRuns: 50 } }
    )
  }
)
