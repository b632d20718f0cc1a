/**
 * Memory handed back once the server has started.
 *
 * Loading the program, migrating and building the layers allocate fast, so
 * V8 grows its young generation to its largest (16 MB semi-spaces, 32 MB
 * resident) and keeps it so: it shrinks the young generation only in its
 * memory reducer, which starts after a full collection — and an idle
 * server, whose start happened to need none, never has one. One full
 * collection a few seconds after the server is up starts it; about ten
 * seconds later an idle server holds about 25 MB less (126 → 101 MB RSS,
 * `bench/start.ts`'s settled figure). Under load the young generation grows
 * back as it needs.
 *
 * V8 offers the collection only through `gc`, exposed by `--expose-gc`;
 * setting that flag while running makes `gc` available to new contexts,
 * so one `vm` context fetches it (the `expose-gc` package's approach). If
 * this V8 refuses, nothing is collected and nothing fails.
 */
import { Duration, Effect, Layer } from "effect"
import * as NodeV8 from "node:v8"
import * as NodeVm from "node:vm"

/** How long after start the collection runs: after the first requests' burst of a supervisor's health checks. */
const settleAfter = Duration.seconds(3)

/** One full garbage collection, when V8 allows it. */
const collectOnce = Effect.sync(() => {
  NodeV8.setFlagsFromString("--expose-gc")
  const gc: unknown = NodeVm.runInNewContext("typeof gc === 'function' ? gc : undefined")
  NodeV8.setFlagsFromString("--no-expose-gc")
  if (typeof gc === "function") gc()
})

/** For the life of the server: one full collection `settleAfter` its start (see the module's description). */
export const SettleMemoryLive = Layer.scopedDiscard(
  Effect.sleep(settleAfter).pipe(
    Effect.zipRight(collectOnce),
    Effect.catchAllCause((cause) => Effect.logDebug("memory not settled", cause)),
    Effect.forkScoped
  )
)
