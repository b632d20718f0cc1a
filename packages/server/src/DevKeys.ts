/**
 * Dev keys of the embedded default (DESIGN.md "Auth"): on start without
 * `DATABASE_URL`, make sure the client config file holds a working dev
 * buyer key and dev executor key — made on first start, or again if the
 * file lost them (a replacement executor key takes over the agents its
 * predecessor served) — and the API's current URL. Both keys belong to one
 * dev account, which a replacement key joins, so the jobs and agents of the
 * keys it replaces stay its own.
 */
import type { Role } from "@agnt/domain/Auth"
import { HttpServer } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import { ApiKeys } from "./ApiKeys.js"
import { readClientConfig, updateClientConfig } from "./ClientConfig.js"
import { ServerConfig } from "./ServerConfig.js"

const apiUrl = (address: HttpServer.Address) =>
  address._tag === "TcpAddress"
    ? `http://${address.hostname === "0.0.0.0" || address.hostname === "::" ? "127.0.0.1" : address.hostname}:${address.port}`
    : `http+unix://${address.path}`

/** Runs once the server listens; only in embedded mode. */
export const DevKeysLive = Layer.effectDiscard(
  Effect.gen(function*() {
    const settings = yield* ServerConfig
    if (Option.isSome(settings.databaseUrl)) return
    const keys = yield* ApiKeys
    const server = yield* HttpServer.HttpServer
    const stored = yield* readClientConfig

    const labelOf = (role: Role) => `dev ${role} (embedded default)`
    // The account of the dev keys made before (revoked ones included), else a new one, made when first needed.
    const account = yield* Effect.cached(Effect.flatMap(
      keys.accountByLabel([labelOf("buyer"), labelOf("executor")]),
      Option.match({ onNone: () => keys.createAccount(), onSome: Effect.succeed })
    ))

    const ensure = (role: Role, key: string | undefined) =>
      Effect.gen(function*() {
        const label = labelOf(role)
        const working = key === undefined
          ? false
          : yield* keys.authenticate(Redacted.make(key)).pipe(
            Effect.map((principal) => principal.role === role),
            Effect.orElseSucceed(() => false)
          )
        if (working && key !== undefined) return { key, created: false }
        const agentIds = yield* keys.retire(label)
        const created = yield* keys.create({ role, account_id: yield* account, agent_ids: agentIds, label })
        return { key: Redacted.value(created.key), created: true }
      })

    const buyer = yield* ensure("buyer", stored.api_key)
    const executor = yield* ensure("executor", stored.executor_api_key)
    const path = yield* updateClientConfig({ api_url: apiUrl(server.address), api_key: buyer.key, executor_api_key: executor.key })
    if (buyer.created || executor.created) yield* Effect.logInfo(`dev buyer and executor keys written to ${path}`)
  }).pipe(Effect.orDie)
)
