/** The `health` group: `/healthz`, `/readyz` and `/metrics`. */
import { Api } from "@agnt/domain/Api"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Layer } from "effect"
import { Health } from "../Health.js"

/** Handlers of the `health` group, with the services they need. */
export const HealthHttpLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function*() {
    const health = yield* Health
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () => health.ready())
      .handle("metrics", () => health.prometheus())
  })).pipe(
    Layer.provide(Health.Default)
  )
