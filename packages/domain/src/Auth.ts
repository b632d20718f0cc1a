/**
 * Authentication (DESIGN.md "Auth"): `Authorization: Bearer <key>`, or a
 * browser's session cookie (`Session.ts`). The middleware resolves either
 * to a `Principal` that handlers read from `CurrentPrincipal`; a missing,
 * unknown or revoked key, and a missing, expired or ended session, is
 * `Unauthorized`.
 */
import { HttpApiMiddleware, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Schema } from "effect"
import { Forbidden, RateLimited, Unauthorized } from "./Errors.js"
import { AccountId, AgentId, ApiKeyId, JobId } from "./Ids.js"

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
  agent_ids: Schema.Array(AgentId),
  /**
   * For a child-order key (issued to the executor holding a job, DESIGN.md
   * "Repo jobs": handoff): the one job whose children it may order and see;
   * `null` for every other key.
   */
  scope_job_id: Schema.optionalWith(Schema.NullOr(JobId), { default: () => null })
}) {}

/** The authenticated caller of the current request. */
export class CurrentPrincipal extends Context.Tag("@agnt/domain/CurrentPrincipal")<CurrentPrincipal, Principal>() {}

/** Name of the browser's session cookie. Its value is 32 random bytes, base64url; the server keeps only their SHA-256. */
export const sessionCookieName = "agnt_session"

/**
 * Request header that carries the session's `csrf_token` on a request
 * authenticated by the session cookie whose method is not GET or HEAD.
 */
export const csrfHeaderName = "x-csrf-token"

/** The session cookie as an API security scheme (set by `POST /v1/sessions`). */
export const sessionCookie = HttpApiSecurity.apiKey({ in: "cookie", key: sessionCookieName }).pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "The browser's session cookie, set by POST /v1/sessions. A request authenticated by it whose method is not " +
      `GET or HEAD must carry the session's csrf_token in the ${csrfHeaderName} header, else 403 Forbidden.`
  )
)

/**
 * Authentication for every endpoint but health checks and sign-in: a
 * bearer key, else the session cookie (tried in that order; a request
 * with an `Authorization` header is judged by its key alone). 401
 * `Unauthorized` for a missing or bad key or session, 403 `Forbidden` for
 * a cookie-authenticated request that is not GET or HEAD without the
 * session's CSRF token, 429 `RateLimited` when the verified key (or, for a
 * failed attempt, the caller's address) is over its request rate.
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@agnt/domain/Authentication", {
  failure: Schema.Union(Unauthorized, Forbidden, RateLimited),
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer, cookie: sessionCookie }
}) {}

/**
 * A bearer key alone, for what a browser session may not do (making
 * sign-in links: a session could otherwise renew itself without end). 401
 * `Unauthorized` for a missing or bad key, 429 `RateLimited` as for
 * `Authentication`.
 */
export class BearerAuthentication extends HttpApiMiddleware.Tag<BearerAuthentication>()("@agnt/domain/BearerAuthentication", {
  failure: Schema.Union(Unauthorized, RateLimited),
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
