/** Shared helpers of the server's tests: keys, derived clients, an agent, a job order. */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import type { Role } from "@agnt/domain/Auth"
import type { AccountId, AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { serverUrl, TestServerLive } from "../src/Testing.js"
import { manifest } from "./Fixtures.js"

/** The server on a fresh database plus an HTTP client. */
export const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** A derived API client sending `key` (or none). */
export const clientWith = (key: string | undefined) =>
  Effect.flatMap(serverUrl, (baseUrl) => makeApiClient({ baseUrl, key: key === undefined ? undefined : Redacted.make(key) }))

/** A new key of `role` (in `accountId`, else in a new account) and a client using it. */
export const actor = (role: Role, agentIds: ReadonlyArray<AgentId> = [], accountId?: AccountId) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const created = yield* keys.create({ role, account_id: accountId, agent_ids: agentIds })
    const key = Redacted.value(created.key)
    return { key, info: created.info, client: yield* clientWith(key) }
  })

/** An executor key that has published a fresh agent, and a buyer. */
export const marketplace = Effect.gen(function*() {
  const executor = yield* actor("executor")
  const agentId = makeAgentId()
  const agent = yield* executor.client.agents.publish({ path: { agent_id: agentId }, payload: manifest("Lint bot") })
  const buyer = yield* actor("buyer")
  return { executor, buyer, agent, agentId }
})

/** An executor key that published an agent accepting any params, and a buyer. */
export const openMarket = Effect.gen(function*() {
  const executor = yield* actor("executor")
  const agentId = makeAgentId()
  yield* executor.client.agents.publish({
    path: { agent_id: agentId },
    payload: new AgentManifest({ name: "Anything", description: "accepts any params", tags: [], input_schema: {} })
  })
  return { executor, agentId, buyer: yield* actor("buyer") }
})
