/**
 * Authentication (DESIGN.md "Auth"): `Authorization: Bearer <key>`. The
 * middleware resolves the key to a `Principal` that handlers read from
 * `CurrentPrincipal`; a missing, unknown or revoked key is `Unauthorized`.
 */
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import { RateLimited, Unauthorized } from "./Errors.js"
import { AccountId, AgentId, ApiKeyId } from "./Ids.js"

/** Roles of an API key. */
export const Role = Schema.Literal("buyer", "executor", "admin")
export type Role = typeof Role.Type

/**
 * Who is calling: the key's id, the account it belongs to, and its role.
 * Authorization asks about the account (a buyer sees its account's jobs,
 * whichever of the account's keys ordered them); an executor key is bound
 * to `agent_ids`, the agents it may publish and serve; other roles have none.
 */
export class Principal extends Schema.Class<Principal>("Principal")({
  key_id: ApiKeyId,
  account_id: AccountId,
  role: Role,
  agent_ids: Schema.Array(AgentId)
}) {}

/** The authenticated caller of the current request. */
export class CurrentPrincipal extends Context.Tag("@agnt/domain/CurrentPrincipal")<CurrentPrincipal, Principal>() {}

/**
 * Bearer-key authentication for every endpoint but health checks: 401
 * `Unauthorized` for a missing or bad key, 429 `RateLimited` when the
 * verified key (or, for a failed attempt, the caller's address) is over
 * its request rate.
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@agnt/domain/Authentication", {
  failure: Schema.Union(Unauthorized, RateLimited),
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
