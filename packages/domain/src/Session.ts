/**
 * Browser sessions (DESIGN.md "Auth"): the browser signs in with an API key
 * or a one-time sign-in link and gets an `HttpOnly`, `SameSite=Strict`
 * session cookie, so page scripts never hold a key. A session stands for
 * the key it was made with (same account, role and agents) until it
 * expires, is signed out, or its key is revoked.
 *
 * A request authenticated by the cookie whose method changes something
 * (anything but GET and HEAD) carries the session's `csrf_token` in the
 * `x-csrf-token` header; the page learns it from `Session`, which only a
 * script of the server's own origin can read.
 *
 * The cookie's name, the CSRF header's and the cookie as a security scheme
 * live in `Auth.ts` beside the `Authentication` middleware that reads them,
 * and are re-exported here.
 */
import { HttpApiMiddleware } from "@effect/platform"
import { Context, Schema } from "effect"
import { type Principal, Role, sessionCookie } from "./Auth.js"
import { Forbidden, RateLimited, Unauthorized } from "./Errors.js"
import { AccountId, AgentId, ApiKeyId } from "./Ids.js"

export { csrfHeaderName, sessionCookie, sessionCookieName } from "./Auth.js"

/** Path of the web app's sign-in page; a sign-in link is this path with `#token=<link_token>`. */
export const signInPagePath = "/sign-in"

/** How long a session lasts by default, in seconds (12 h; the server's `AGNT_SESSION_TTL_SECONDS`). */
export const defaultSessionSeconds = 12 * 60 * 60

/** How long a sign-in link may be redeemed, in seconds (5 min), and only once. */
export const signInLinkSeconds = 5 * 60

/**
 * A signed-in browser: the key it stands for (its account, role and
 * agents, as `Principal`), the token to send as `x-csrf-token` on requests
 * that change something, and when the session ends (RFC 3339, UTC).
 */
export class Session extends Schema.Class<Session>("Session")({
  account_id: AccountId,
  key_id: ApiKeyId,
  role: Role,
  agent_ids: Schema.Array(AgentId),
  csrf_token: Schema.String,
  expires_at: Schema.DateTimeUtc
}) {}

/**
 * Body of `POST /v1/sessions`: exactly one of an API key (`api_key`) or a
 * sign-in link's token (`link_token`, from the `#token=` of the link `agnt
 * ui` prints). Unknown fields, both or neither are refused (400).
 */
export const SignInRequest = Schema.Struct({
  api_key: Schema.optional(Schema.String.annotations({ description: "an API key, agnt_<role>_…" })),
  link_token: Schema.optional(Schema.String.annotations({ description: "the token of a sign-in link" }))
}).pipe(
  Schema.filter((body) => (body.api_key === undefined) !== (body.link_token === undefined), {
    message: () => "the body must hold exactly one of `api_key` or `link_token`",
    description: "an object with exactly one of api_key or link_token"
  })
)
export type SignInRequest = typeof SignInRequest.Type

/**
 * A one-time sign-in link (`POST /v1/sessions/links`): redeemable once,
 * until `expires_at` (5 minutes), for a session as the key that made it.
 * `path` is `/sign-in#token=<link_token>`, to be appended to the server's
 * URL: the token is in the fragment, which browsers never send to servers
 * nor put in `Referer`.
 */
export class SignInLink extends Schema.Class<SignInLink>("SignInLink")({
  link_token: Schema.String,
  expires_at: Schema.DateTimeUtc,
  path: Schema.String
}) {}

/** The session of the current request, with the key it stands for. */
export class CurrentSession extends Context.Tag("@agnt/domain/CurrentSession")<CurrentSession, {
  readonly session: Session
  readonly principal: Principal
}>() {}

/**
 * Session-cookie authentication alone, for the endpoints about the session
 * itself (`GET` and `DELETE /v1/sessions/current`): 401 `Unauthorized`
 * without a live session, 403 `Forbidden` for a request that is not GET or
 * HEAD without the session's CSRF token, 429 `RateLimited` over the key's
 * rate.
 */
export class SessionAuthentication extends HttpApiMiddleware.Tag<SessionAuthentication>()(
  "@agnt/domain/SessionAuthentication",
  {
    failure: Schema.Union(Unauthorized, Forbidden, RateLimited),
    provides: CurrentSession,
    security: { cookie: sessionCookie }
  }
) {}
