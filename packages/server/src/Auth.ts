/**
 * Authentication and roles (DESIGN.md "Auth"): the layers that resolve
 * `Authorization: Bearer` keys and browser session cookies to principals
 * for every group of the API, spending each verified request from its
 * key's rate and each failed bearer attempt from its client address's
 * (`RateLimits.ts`; a request without a bearer key, a cookie one included,
 * is counted by its address at the edge too), the CSRF check of
 * cookie-authenticated requests, and the role check each service applies
 * first.
 */
import { Authentication, BearerAuthentication, csrfHeaderName, type Principal } from "@agnt/domain/Auth"
import { Forbidden, type RateLimited, Unauthorized } from "@agnt/domain/Errors"
import { SessionAuthentication } from "@agnt/domain/Session"
import { HttpServerRequest } from "@effect/platform"
import { Effect, FiberRef, Layer, Option, type Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import { ApiKeys } from "./ApiKeys.js"
import { hasBearer, RateLimits } from "./RateLimits.js"
import { Sessions } from "./Sessions.js"

/**
 * The refusal of the current request's bearer key. The platform tries a
 * middleware's securities in order and keeps only the last one's failure;
 * a request that carries a key is judged by it alone, so the cookie branch
 * answers with the key's refusal, kept here.
 */
const bearerRefusal = FiberRef.unsafeMake<Option.Option<Unauthorized | RateLimited>>(Option.none())

/**
 * Resolves a bearer key to its principal and spends the request from the
 * key's rate.
 *
 * @fails Unauthorized for a missing, malformed, unknown or revoked key;
 * RateLimited when the verified key is over its rate, or when a failed
 * attempt finds its address over the keyless rate (a request without a
 * bearer key was counted at the edge, `withRequestLimits`).
 */
const bearerKey = Effect.gen(function*() {
  const keys = yield* ApiKeys
  const limits = yield* RateLimits
  return (token: Redacted.Redacted): Effect.Effect<Principal, Unauthorized | RateLimited, HttpServerRequest.HttpServerRequest> =>
    keys.authenticate(token).pipe(
      Effect.tapError(() =>
        Effect.flatMap(
          HttpServerRequest.HttpServerRequest,
          (request) => hasBearer(request) ? limits.admitAddress(request) : Effect.void
        )
      ),
      Effect.tap((principal) => limits.admitKey(principal.key_id)),
      Effect.tapError((refusal) => FiberRef.set(bearerRefusal, Option.some(refusal)))
    )
})

/** Methods that change nothing, which a cookie-authenticated request may make without the CSRF token. */
const safeMethods = new Set(["GET", "HEAD"])

/** Whether `sent` is `expected`, compared in constant time. */
const sameToken = (sent: string, expected: string) => {
  const [a, b] = [Buffer.from(sent), Buffer.from(expected)]
  return a.length === b.length && NodeCrypto.timingSafeEqual(a, b)
}

/**
 * Resolves a session cookie to its session and the principal of its key,
 * checks the CSRF token of a request that is not GET or HEAD, and spends
 * the request from the key's rate.
 *
 * @fails Unauthorized without a live session; Forbidden for a missing or
 * wrong `x-csrf-token`; RateLimited when the key is over its rate.
 */
const sessionOfCookie = Effect.gen(function*() {
  const sessions = yield* Sessions
  const limits = yield* RateLimits
  return (token: Redacted.Redacted) =>
    Effect.gen(function*() {
      const signedIn = yield* sessions.authenticate(token)
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!safeMethods.has(request.method) && !sameToken(request.headers[csrfHeaderName] ?? "", signedIn.session.csrf_token)) {
        return yield* new Forbidden({ message: `missing or wrong CSRF token: send the session's csrf_token in ${csrfHeaderName}` })
      }
      yield* limits.admitKey(signedIn.principal.key_id)
      return signedIn
    })
})

/**
 * A bearer key, else the session cookie (`sessionOfCookie`); a request with
 * an `Authorization` header is judged by its key alone.
 *
 * @fails as `bearerKey` and `sessionOfCookie`.
 */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const bearer = yield* bearerKey
    const cookie = yield* sessionOfCookie
    return Authentication.of({
      bearer,
      cookie: (token) =>
        Effect.gen(function*() {
          if (hasBearer(yield* HttpServerRequest.HttpServerRequest)) {
            const refusal = yield* FiberRef.get(bearerRefusal)
            return yield* Option.getOrElse(refusal, () => new Unauthorized({ message: "unknown or revoked API key" }))
          }
          return (yield* cookie(token)).principal
        })
    })
  })
).pipe(Layer.provide([ApiKeys.Default, RateLimits.Default, Sessions.Default]))

/** A bearer key alone (`bearerKey`), for what a browser session may not do. */
export const BearerAuthenticationLive = Layer.effect(
  BearerAuthentication,
  Effect.map(bearerKey, (bearer) => BearerAuthentication.of({ bearer }))
).pipe(Layer.provide([ApiKeys.Default, RateLimits.Default]))

/** The session cookie alone (`sessionOfCookie`), for the endpoints about the session itself. */
export const SessionAuthenticationLive = Layer.effect(
  SessionAuthentication,
  Effect.map(sessionOfCookie, (cookie) => SessionAuthentication.of({ cookie }))
).pipe(Layer.provide([RateLimits.Default, Sessions.Default]))

/** @fails Forbidden unless `principal` has one of `roles`. */
export const requireRole = (principal: Principal, ...roles: ReadonlyArray<Principal["role"]>) =>
  roles.includes(principal.role)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: `this endpoint is for ${roles.join(" or ")} keys; yours is ${principal.role}` }))
