/**
 * First start of the embedded default (DESIGN.md "Auth"): with no key in
 * the database, make a dev buyer key and a dev executor key and write them,
 * with the API's URL, into the client config file. Later starts only update
 * the URL there (the port may differ), when that file exists.
 */
import { HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option, Redacted } from "effect"
import { ApiKeys } from "./ApiKeys.js"
import { updateClientConfig } from "./ClientConfig.js"
import { ServerConfig } from "./ServerConfig.js"

const apiUrl = (address: HttpServer.Address) =>
  address._tag === "TcpAddress"
    ? `http://${address.hostname === "0.0.0.0" || address.hostname === "::" ? "127.0.0.1" : address.hostname}:${address.port}`
    : `http+unix://${address.path}`

/** Runs once the server listens; only in embedded mode (no `DATABASE_URL`). */
export const DevKeysLive = Layer.effectDiscard(
  Effect.gen(function*() {
    const settings = yield* ServerConfig
    if (Option.isSome(settings.databaseUrl)) return
    const sql = yield* SqlClient.SqlClient
    const keys = yield* ApiKeys
    const server = yield* HttpServer.HttpServer
    const url = apiUrl(server.address)
    const rows = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM api_keys`
    if ((rows[0]?.count ?? 0) > 0) {
      yield* updateClientConfig({ api_url: url }).pipe(Effect.ignore)
      return
    }
    const buyer = yield* keys.create({ role: "buyer", label: "dev buyer (embedded default)" })
    const executor = yield* keys.create({ role: "executor", label: "dev executor (embedded default)" })
    const path = yield* updateClientConfig({
      api_url: url,
      api_key: Redacted.value(buyer.key),
      executor_api_key: Redacted.value(executor.key)
    })
    yield* Effect.logInfo(`first start: dev buyer and executor keys written to ${path}`)
  }).pipe(Effect.orDie)
)
