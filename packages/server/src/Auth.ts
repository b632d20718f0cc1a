/**
 * Authentication and roles (DESIGN.md "Auth"): the layer that resolves
 * `Authorization: Bearer` keys to principals for every group of the API,
 * and the role check each service applies first.
 */
import { Authentication, type Principal } from "@agnt/domain/Auth"
import { Forbidden } from "@agnt/domain/Errors"
import { Effect, Layer } from "effect"
import { ApiKeys } from "./ApiKeys.js"

/** Resolves `Authorization: Bearer` keys to principals. */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(ApiKeys, (keys) => Authentication.of({ bearer: keys.authenticate }))
).pipe(Layer.provide(ApiKeys.Default))

/** @fails Forbidden unless `principal` has one of `roles`. */
export const requireRole = (principal: Principal, ...roles: ReadonlyArray<Principal["role"]>) =>
  roles.includes(principal.role)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: `this endpoint is for ${roles.join(" or ")} keys; yours is ${principal.role}` }))
