/**
 * The `sessions` group: signing a browser in (setting the session cookie),
 * reading its session, signing out (clearing it), and making sign-in links.
 */
import { Api } from "@agnt/domain/Api"
import { CurrentPrincipal } from "@agnt/domain/Auth"
import { Forbidden } from "@agnt/domain/Errors"
import { CurrentSession, sessionCookie, sessionCookieName, type SignInRequest } from "@agnt/domain/Session"
import { HttpApiBuilder, HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Layer, Redacted } from "effect"
import * as NodeHttp from "node:http"
import * as NodeTls from "node:tls"
import { BearerAuthenticationLive, SessionAuthenticationLive } from "../Auth.js"
import { hasBearer, RateLimits } from "../RateLimits.js"
import { ServerConfig } from "../ServerConfig.js"
import { Sessions } from "../Sessions.js"

/** The first value of a header a proxy may have appended to (`X-Forwarded-Proto: https, http`). */
const firstValue = (header: string | undefined) => header?.split(",")[0]?.trim().toLowerCase()

/** Whether `request` came over HTTPS: over TLS, or through a proxy that says so (`X-Forwarded-Proto: https`). */
const overHttps = (request: HttpServerRequest.HttpServerRequest) =>
  firstValue(request.headers["x-forwarded-proto"]) === "https" ||
  (request.source instanceof NodeHttp.IncomingMessage && request.source.socket instanceof NodeTls.TLSSocket)

/**
 * The server's own origin as `request` reached it (RFC 6454): its scheme
 * and the host it asked for (`X-Forwarded-Host` through a proxy, else
 * `Host`).
 */
const ownOrigin = (request: HttpServerRequest.HttpServerRequest) =>
  `${overHttps(request) ? "https" : "http"}://${
    firstValue(request.headers["x-forwarded-host"]) ?? request.headers["host"]?.toLowerCase() ?? ""
  }`

/**
 * Refuses a sign-in sent from a page of another origin (login CSRF: a
 * foreign page signing the browser in as the attacker). A request without
 * `Origin` (a program, not a browser's cross-origin request) passes.
 *
 * @fails Forbidden when `Origin` is present and is not the server's own.
 */
const refuseForeignOrigin = (request: HttpServerRequest.HttpServerRequest) => {
  const origin = request.headers["origin"]
  return origin === undefined || origin.toLowerCase() === ownOrigin(request)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: `sign-in from another origin (${origin.slice(0, 200)}) is refused` }))
}

/** The session cookie's attributes: `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` over HTTPS. */
const cookieOptions = (request: HttpServerRequest.HttpServerRequest) =>
  ({ httpOnly: true, sameSite: "strict", path: "/", secure: overHttps(request) }) as const

/**
 * `POST /v1/sessions`: sign in and set the session cookie for the
 * session's lifetime. Every attempt spends from its address's keyless
 * rate: the edge counts one without a bearer key, and one with a bearer
 * key (which sign-in does not read) is counted here.
 *
 * @fails RateLimited over the address's rate; Forbidden from another
 * origin; Unauthorized as `Sessions.signIn`.
 */
const signIn = (sessions: Sessions, limits: RateLimits, sessionSeconds: number, payload: SignInRequest) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (hasBearer(request)) yield* limits.admitAddress(request)
    yield* refuseForeignOrigin(request)
    const { session, token } = yield* sessions.signIn(payload)
    yield* HttpApiBuilder.securitySetCookie(sessionCookie, token, {
      ...cookieOptions(request),
      maxAge: Duration.seconds(sessionSeconds)
    })
    return session
  })

/** `DELETE /v1/sessions/current`: end the session and clear its cookie (`Max-Age=0`). */
const signOut = (sessions: Sessions) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    yield* sessions.signOut(Redacted.make(request.cookies[sessionCookieName] ?? ""))
    yield* HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(HttpServerResponse.expireCookie(response, sessionCookieName, cookieOptions(request)))
    )
  })

/** Handlers of the `sessions` group, with the services they need. */
export const SessionsHttpLive = HttpApiBuilder.group(Api, "sessions", (handlers) =>
  Effect.gen(function*() {
    const sessions = yield* Sessions
    const limits = yield* RateLimits
    const { sessionSeconds } = yield* ServerConfig
    return handlers
      .handle("create", ({ payload }) => signIn(sessions, limits, sessionSeconds, payload))
      .handle("current", () => Effect.map(CurrentSession, (current) => current.session))
      .handle("delete", () => signOut(sessions))
      .handle("createLink", () => Effect.flatMap(CurrentPrincipal, sessions.createLink))
  })).pipe(
    Layer.provide([BearerAuthenticationLive, SessionAuthenticationLive, Sessions.Default, RateLimits.Default])
  )
