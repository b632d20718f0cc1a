import { layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { inject } from "vitest"
import { s3rver } from "../packages/server/test/S3rver.js"
import { roundTrip, RoundTripWorldLive, treeArbitrary } from "./RoundTrip.js"

layer(RoundTripWorldLive(inject("pgAdminUrl"), Effect.map(s3rver, (settings) => ({ s3: Option.some(settings) }))), {
  timeout: 120_000,
  excludeTestServices: true
})("byte-exact files, S3 object store (s3rver)", (it) => {
  it.effect.prop(
    "a random tree sent with agnt order comes back from the executor's out/ with the same paths and bytes",
    [treeArbitrary],
    ([tree]) => roundTrip(tree),
    { timeout: 900_000, fastCheck: { numRuns: 50 } }
  )
})
