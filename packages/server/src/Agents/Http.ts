/** The `agents` group: catalogue search, lookup and stats, and publishing. */
import { Api } from "@agnt/domain/Api"
import { CurrentPrincipal } from "@agnt/domain/Auth"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Layer } from "effect"
import { Agents } from "../Agents.js"
import { AuthenticationLive } from "../Auth.js"

/** Handlers of the `agents` group, with the services they need. */
export const AgentsHttpLive = HttpApiBuilder.group(Api, "agents", (handlers) =>
  Effect.gen(function*() {
    const agents = yield* Agents
    return handlers
      .handle("search", ({ urlParams }) => agents.search(urlParams))
      .handle("get", ({ path }) => agents.get(path.agent_id))
      .handle("stats", ({ path }) => agents.stats(path.agent_id))
      .handle("publish", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => agents.publish(principal, path.agent_id, payload)))
  })).pipe(
    Layer.provide([AuthenticationLive, Agents.Default])
  )
