/**
 * `agnt-server`: `serve` runs the API (embedded PostgreSQL and local object
 * directory unless `DATABASE_URL` / `S3_BUCKET` say otherwise); `keys`
 * creates, lists and revokes API keys in the configured database.
 */
import { Role } from "@agnt/domain/Auth"
import { AgentId, ApiKeyId } from "@agnt/domain/Ids"
import { Args, Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted, Schema } from "effect"
import { ApiKeys } from "./ApiKeys.js"
import { DatabaseLive } from "./Database.js"
import { ServerLive } from "./Server.js"
import { ServerConfig } from "./ServerConfig.js"

const json = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const KeysLive = ApiKeys.Default.pipe(Layer.provide(DatabaseLive), Layer.provide(ServerConfig.layer))

const serve = Command.make("serve", {}, () => Layer.launch(ServerLive.pipe(Layer.provide(ServerConfig.layer)))).pipe(
  Command.withDescription("Run the API server")
)

const create = Command.make("create", {
  role: Options.choice("role", Role.literals),
  agent: Options.text("agent").pipe(Options.repeated, Options.withSchema(Schema.mutable(Schema.Array(AgentId))), Options.withDescription("agent an executor key serves (repeatable)")),
  label: Options.text("label").pipe(Options.withDefault(""))
}, ({ agent, label, role }) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const created = yield* keys.create({ role, agent_ids: agent, label })
    yield* json({ ...Schema.encodeSync(ApiKeyInfoJson)(created.info), key: Redacted.value(created.key) })
  }).pipe(Effect.provide(KeysLive))).pipe(Command.withDescription("Create an API key; the key is printed once"))

const ApiKeyInfoJson = Schema.Struct({
  key_id: ApiKeyId,
  role: Role,
  agent_ids: Schema.Array(AgentId),
  label: Schema.String,
  created_at: Schema.String,
  revoked_at: Schema.NullOr(Schema.String)
})

const list = Command.make("list", {}, () =>
  Effect.flatMap(ApiKeys, (keys) => keys.list()).pipe(Effect.flatMap(json), Effect.provide(KeysLive))).pipe(
    Command.withDescription("List API keys (never their secrets)")
  )

const revoke = Command.make("revoke", { keyId: Args.text({ name: "key-id" }).pipe(Args.withSchema(ApiKeyId)) }, ({ keyId }) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const revoked = yield* keys.revoke(keyId)
    yield* json({ key_id: keyId, revoked })
  }).pipe(Effect.provide(KeysLive))).pipe(Command.withDescription("Revoke an API key at once"))

const keys = Command.make("keys").pipe(Command.withSubcommands([create, list, revoke]), Command.withDescription("Manage API keys"))

const cli = Command.run(Command.make("agnt-server").pipe(Command.withSubcommands([serve, keys])), {
  name: "agnt-server",
  version: "0.1.0"
})

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
