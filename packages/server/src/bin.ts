/**
 * `agnt-server`: `serve` runs the API (embedded PostgreSQL and local object
 * directory unless `DATABASE_URL` / `S3_BUCKET` say otherwise); `keys`
 * creates (in a given or a new account), lists and revokes API keys in the
 * configured database.
 */
// First: before `pg` loads (see Navigator.ts).
import "./Navigator.js"
import { SettleMemoryLive } from "@agnt/client/SettleMemory"
import { Role } from "@agnt/domain/Auth"
import { AccountNotFound } from "@agnt/domain/Errors"
import { AccountId, AgentId, ApiKeyId } from "@agnt/domain/Ids"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Layer, Logger, Option, Redacted, Schema } from "effect"
import { ApiKeyInfo, ApiKeys } from "./ApiKeys.js"
import { DatabaseLive } from "./Database.js"
import { ServerLive } from "./Server.js"
import { ServerConfig } from "./ServerConfig.js"

const json = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/**
 * What the `keys` commands run on: the configured database (the embedded
 * one shared with a running server, or started for the command), with log
 * lines on stderr so that stdout holds the command's JSON alone.
 */
const KeysLive = ApiKeys.Default.pipe(
  Layer.provide(DatabaseLive),
  Layer.provide(ServerConfig.layer),
  Layer.provide(Logger.replace(Logger.prettyLoggerDefault, Logger.prettyLogger({ stderr: true })))
)

/** The server, then (once it listens) the memory settling of `@agnt/client/SettleMemory`, until interrupted. */
const serve = Command.make(
  "serve",
  {},
  () => Layer.launch(SettleMemoryLive.pipe(Layer.provide(ServerLive), Layer.provide(ServerConfig.layer)))
).pipe(
  Command.withDescription("Run the API server")
)

/** A key's info as printed (the class's fields, as plain JSON). */
const ApiKeyInfoJson = Schema.Struct(ApiKeyInfo.fields)

const create = Command.make("create", {
  role: Options.choice("role", Role.literals),
  account: Options.text("account").pipe(
    Options.withSchema(AccountId),
    Options.optional,
    Options.withDescription("the account (acct_…) the key joins, e.g. to rotate a key; default: a new account")
  ),
  agent: Options.text("agent").pipe(
    Options.repeated,
    Options.withSchema(Schema.mutable(Schema.Array(AgentId))),
    Options.withDescription("agent an executor key serves (repeatable)")
  ),
  label: Options.text("label").pipe(Options.withDefault(""))
}, ({ account, agent, label, role }) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const created = yield* keys.create({ role, account_id: Option.getOrUndefined(account), agent_ids: agent, label })
    yield* json({ ...Schema.encodeSync(ApiKeyInfoJson)(created.info), key: Redacted.value(created.key) })
  }).pipe(Effect.provide(KeysLive))).pipe(
    Command.withDescription("Create an API key in an account (--account) or a new one; the key is printed once")
  )

const list = Command.make(
  "list",
  {},
  () => Effect.flatMap(ApiKeys, (keys) => keys.list()).pipe(Effect.flatMap(json), Effect.provide(KeysLive))
).pipe(
  Command.withDescription("List API keys with their accounts (never their secrets)")
)

const revoke = Command.make(
  "revoke",
  { keyId: Args.text({ name: "key-id" }).pipe(Args.withSchema(ApiKeyId)) },
  ({ keyId }) =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const revoked = yield* keys.revoke(keyId)
      yield* json({ key_id: keyId, revoked })
    }).pipe(Effect.provide(KeysLive))
).pipe(Command.withDescription("Revoke an API key at once"))

const keys = Command.make("keys").pipe(Command.withSubcommands([create, list, revoke]), Command.withDescription("Manage API keys"))

const cli = Command.run(Command.make("agnt-server").pipe(Command.withSubcommands([serve, keys])), {
  name: "agnt-server",
  version: "0.1.0"
})

/**
 * A failure on stderr, so that stdout only ever holds results: an unknown
 * account as its JSON body (`{"_tag": "AccountNotFound", …}`), anything
 * else as its cause. `@effect/cli` has printed its own usage errors already.
 */
const reportFailure = (cause: Cause.Cause<unknown>) => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  if (Cause.isInterruptedOnly(cause) || ValidationError.isValidationError(failure)) return Effect.void
  return Console.error(failure instanceof AccountNotFound ? JSON.stringify(failure) : Cause.pretty(cause))
}

cli(process.argv).pipe(
  Effect.tapErrorCause(reportFailure),
  Effect.provide(NodeContext.layer),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
