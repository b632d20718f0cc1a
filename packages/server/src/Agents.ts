/**
 * The agent catalogue: search, lookup and job statistics for buyers, and
 * publishing of manifests by executors (their own agents) and admins (any).
 */
import type { Agent, AgentManifest, AgentStats } from "@agnt/domain/Agent"
import type { Principal } from "@agnt/domain/Auth"
import { AgentNotFound, type Forbidden, type InvalidManifest, type InvalidRequest } from "@agnt/domain/Errors"
import type { AgentId } from "@agnt/domain/Ids"
import type { Page } from "@agnt/domain/Pagination"
import { Effect, Option } from "effect"
import { AgentsRepo } from "./Agents/Repo.js"
import { ApiKeys } from "./ApiKeys.js"
import { requireRole } from "./Auth.js"
import { JsonSchemas } from "./JsonSchemas.js"

/** Agents as buyers find them and executors publish them. */
export class Agents extends Effect.Service<Agents>()("@agnt/server/Agents", {
  effect: Effect.gen(function*() {
    const repo = yield* AgentsRepo
    const schemas = yield* JsonSchemas
    const keys = yield* ApiKeys

    /**
     * Agents matching `q` and carrying every tag of `tags`, best match first.
     *
     * @fails InvalidRequest for a cursor this server did not make.
     */
    const search = (params: {
      readonly q?: string | undefined
      readonly tags?: ReadonlyArray<string> | undefined
      readonly limit: number
      readonly cursor?: string | undefined
    }): Effect.Effect<Page<Agent>, InvalidRequest> => repo.search(params)

    /** @fails AgentNotFound. */
    const get = (agentId: AgentId): Effect.Effect<Agent, AgentNotFound> =>
      repo.findById(agentId).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(AgentNotFound.of(agentId)), onSome: Effect.succeed }))
      )

    /** Outcome counts of an existing agent's jobs. @fails AgentNotFound. */
    const stats = (agentId: AgentId): Effect.Effect<AgentStats, AgentNotFound> => Effect.zipRight(get(agentId), repo.stats(agentId))

    /**
     * Publish `manifest` as `agentId`: an admin creates or replaces any
     * agent (a new one in the admin's account); an executor key publishes
     * only a new agent (which it then serves) or one it already serves. Both
     * JSON Schemas of the manifest must compile. The key's remembered
     * principal is forgotten, so that its next request serves a new agent.
     *
     * @fails Forbidden (a buyer key, or another key's agent), InvalidManifest.
     */
    const publish = Effect.fn("Agents.publish")(
      function*(principal: Principal, agentId: AgentId, manifest: AgentManifest): Effect.fn.Return<
        Agent,
        Forbidden | InvalidManifest
      > {
        yield* requireRole(principal, "executor", "admin")
        yield* schemas.checkSchema(manifest.input_schema, "input_schema")
        yield* schemas.checkSchema(manifest.output_schema, "output_schema")
        return yield* principal.role === "admin"
          ? repo.upsert(agentId, manifest, principal.account_id)
          : repo.publishAs(principal, agentId, manifest).pipe(Effect.ensuring(keys.forget(principal.key_id)))
      }
    )

    return { search, get, stats, publish } as const
  }),
  dependencies: [AgentsRepo.Default, ApiKeys.Default, JsonSchemas.Default]
}) {}
