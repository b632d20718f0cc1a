/**
 * Authentication and roles (DESIGN.md "Auth"): the layer that resolves
 * `Authorization: Bearer` keys to principals for every group of the API,
 * spending each verified request from its key's rate and each failed one
 * from its client address's (`RateLimits.ts`), and the role check each
 * service applies first.
 */
import { Authentication, type Principal } from "@agnt/domain/Auth"
import { Forbidden } from "@agnt/domain/Errors"
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer } from "effect"
import { ApiKeys } from "./ApiKeys.js"
import { clientAddress, hasBearer, RateLimits } from "./RateLimits.js"

/**
 * Resolves `Authorization: Bearer` keys to principals.
 *
 * @fails Unauthorized for a missing, malformed, unknown or revoked key;
 * RateLimited when the verified key is over its rate, or when a failed
 * attempt finds its address over the keyless rate (a request without a
 * bearer key was counted at the edge, `withRequestLimits`).
 */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const limits = yield* RateLimits
    return Authentication.of({
      bearer: (token) =>
        keys.authenticate(token).pipe(
          Effect.tapError(() =>
            Effect.flatMap(
              HttpServerRequest.HttpServerRequest,
              (request) => hasBearer(request) ? limits.admitAddress(clientAddress(request)) : Effect.void
            )
          ),
          Effect.tap((principal) => limits.admitKey(principal.key_id))
        )
    })
  })
).pipe(Layer.provide([ApiKeys.Default, RateLimits.Default]))

/** @fails Forbidden unless `principal` has one of `roles`. */
export const requireRole = (principal: Principal, ...roles: ReadonlyArray<Principal["role"]>) =>
  roles.includes(principal.role)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: `this endpoint is for ${roles.join(" or ")} keys; yours is ${principal.role}` }))
