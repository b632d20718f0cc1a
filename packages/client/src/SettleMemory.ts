/**
 * Memory handed back once a long-running program has started: the server
 * (`agnt-server serve`) and the executor (`agnt-executor run`).
 *
 * Loading the program and starting it (the server migrating and building
 * its layers, the executor publishing its agent) allocate fast, so V8 grows
 * its young generation to its largest (16 MB semi-spaces, 32 MB resident)
 * and keeps it so: it shrinks the young generation only in its memory
 * reducer, which starts after a full collection — and an idle program whose
 * start happened to need none never has one. One full collection a few
 * seconds after start starts it; about ten seconds later an idle server
 * holds about 25 MB less (126 → 101 MB RSS) and an idle code-review
 * executor about 15 MB less (82 → 67 MB), `bench/start.ts`'s settled
 * figures. Under load the young generation grows back as it needs.
 *
 * V8 offers the collection only through `gc`, exposed by `--expose-gc`;
 * setting that flag while running makes `gc` available to new contexts,
 * so one `vm` context fetches it (the `expose-gc` package's approach). If
 * this V8 refuses, nothing is collected and nothing fails.
 */
import { Duration, Effect, Layer } from "effect"
import * as NodeV8 from "node:v8"
import * as NodeVm from "node:vm"

/** How long after start the collection runs: after the server's first requests from a supervisor's health checks, after the executor published. */
const settleAfter = Duration.seconds(3)

/** One full garbage collection, when V8 allows it. */
const collectOnce = Effect.sync(() => {
  NodeV8.setFlagsFromString("--expose-gc")
  const gc: unknown = NodeVm.runInNewContext("typeof gc === 'function' ? gc : undefined")
  NodeV8.setFlagsFromString("--no-expose-gc")
  if (typeof gc === "function") gc()
})

/** For the life of the program: one full collection `settleAfter` the layer is built (see the module's description). */
export const SettleMemoryLive = Layer.scopedDiscard(
  Effect.sleep(settleAfter).pipe(
    Effect.zipRight(collectOnce),
    Effect.catchAllCause((cause) => Effect.logDebug("memory not settled", cause)),
    Effect.forkScoped
  )
)
