/**
 * Abuse limits (OWASP API4, unrestricted resource consumption; DESIGN.md
 * "Auth"), kept in PostgreSQL so that every API instance on the database
 * applies the same ones (`RateLimits/Repo.ts`, migration 0006):
 *
 * - a request rate per verified key, spent after authentication — a request
 *   with a key id but the wrong secret spends nothing of that key's;
 * - a request rate per client address for requests without a key and for
 *   failed authentications, before any key is trusted;
 * - how many long-polls, and how many request bodies being uploaded, one
 *   key may have open at once, as expiring slots renewed while held (an
 *   instance that dies holding some frees them within `slotSeconds`); a
 *   call answered at once, and a body of at most `smallBodyBytes`, takes
 *   no shared slot.
 *
 * A rate is spent in reservations: one statement reserves a share of a
 * subject's burst, which this instance spends in memory for a second. A
 * subject found over its rate is remembered by this instance until its
 * next request would be allowed, so a flood is refused without a database
 * round trip each.
 */
import { RateLimited } from "@agnt/domain/Errors"
import type { ApiKeyId } from "@agnt/domain/Ids"
import type { HttpServerRequest } from "@effect/platform"
import { Deferred, Effect, FiberId, Layer, Metric, Option, Schedule } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeNet from "node:net"
import { LimitsRepo, type Rate } from "./RateLimits/Repo.js"
import { ServerConfig } from "./ServerConfig.js"

/** How long a held slot lasts without renewal, in seconds; holders renew it every third of that. */
export const slotSeconds = 30

/**
 * Largest request body, in bytes of its `Content-Length`, counted as an
 * upload by the instance receiving it alone: read in moments, it needs no
 * slot shared across instances.
 */
export const smallBodyBytes = 1024 * 1024

/** Whether `request` states a `Content-Length` of at most `smallBodyBytes`. */
export const isSmallBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = Number(request.headers["content-length"] ?? Number.NaN)
  return Number.isSafeInteger(length) && length <= smallBodyBytes
}

/** Attempts at taking a slot when others take the same one at the same moment. */
const slotAttempts = 3

/** Most subjects remembered as refused by one instance. */
const maxRemembered = 10_000

/**
 * Whether a request carries a bearer key to verify (RFC 6750 §2.1); one
 * that does not is counted against its client address at the edge.
 */
export const hasBearer = (request: HttpServerRequest.HttpServerRequest): boolean =>
  /^bearer\s+\S/i.test(request.headers["authorization"] ?? "")

/** `address` with an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports one) as plain IPv4. */
const unmapped = (address: string): string => address.startsWith("::ffff:") && NodeNet.isIPv4(address.slice(7)) ? address.slice(7) : address

/**
 * The client address a request's keyless rate counts against: the peer of
 * its connection, unless the peer is one of `trustedProxies` (IP addresses
 * and CIDR ranges, `ServerSettings.trustedProxies`). Then it is the
 * nearest address in `X-Forwarded-For` — read from the right, where each
 * proxy appends the address it got the request from — that is not a
 * trusted proxy itself, so a client cannot choose its address by sending
 * the header: what it wrote stays to the left of what its first trusted
 * proxy appended. A chain of trusted proxies only counts against its
 * leftmost address. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count
 * as the IPv4 address they carry. Yields the function from a request to
 * its address (the text of an IP address, or `unknown` without a peer).
 */
export const clientAddressOf = (trustedProxies: ReadonlyArray<string>) => {
  const trusted = new NodeNet.BlockList()
  for (const entry of trustedProxies) {
    const [listed = "", prefix] = entry.split("/")
    const address = prefix === undefined ? unmapped(listed) : listed
    const family = NodeNet.isIPv4(address) ? "ipv4" : "ipv6"
    if (prefix === undefined) trusted.addAddress(address, family)
    else trusted.addSubnet(address, Number(prefix), family)
  }
  const isTrusted = (address: string) => {
    const plain = unmapped(address)
    const family = NodeNet.isIPv4(plain) ? "ipv4" : NodeNet.isIPv6(plain) ? "ipv6" : undefined
    return family !== undefined && trusted.check(plain, family)
  }
  return (request: HttpServerRequest.HttpServerRequest): string => {
    const peer = Option.getOrElse(request.remoteAddress, () => "unknown")
    if (trustedProxies.length === 0 || !isTrusted(peer)) return peer
    const hops = (request.headers["x-forwarded-for"] ?? "").split(",").map((hop) => unmapped(hop.trim())).filter((hop) => hop !== "")
    return hops.findLast((hop) => !isTrusted(hop)) ?? hops[0] ?? peer
  }
}

/** The limits a request can be refused by, as `/metrics` labels them. */
export const limitNames = ["key", "address", "long_poll", "upload"] as const
export type LimitName = typeof limitNames[number]

/** Requests this instance refused with 429, by limit (`agnt_rate_limited_total{limit}` in `/metrics`). */
export const rateLimitedTotal = (limit: LimitName): Metric.Metric.Counter<number> =>
  Metric.counter("agnt_rate_limited_total", { description: "Requests refused with 429, by limit.", incremental: true }).pipe(
    Metric.tagged("limit", limit)
  )

const refused = (limit: LimitName, seconds: number, message = "too many requests") =>
  Effect.zipRight(
    Metric.increment(rateLimitedTotal(limit)),
    Effect.fail(new RateLimited({ message, retry_after_seconds: Math.max(1, Math.ceil(seconds)) }))
  )

/** How long requests reserved from a shared rate may be spent by the instance that reserved them, in ms; unspent ones lapse. */
const reservationMillis = 1000

/**
 * Requests one reservation asks for: a twentieth of the burst (one under a
 * burst of 40), so that what a few instances hold unspent stays a small
 * part of a subject's burst, while a busy key costs one round trip per
 * reservation instead of one per request.
 */
export const reservationSize = (rate: Rate): number => Math.max(1, Math.floor(rate.burst / 20))

/** A map of at most `maxRemembered` subjects: when full, entries past `until` go first, then all. */
const boundedSet = <V extends { readonly until: number }>(map: Map<string, V>, subject: string, value: V) => {
  if (map.size >= maxRemembered) {
    const now = Date.now()
    for (const [other, entry] of map) if (entry.until <= now) map.delete(other)
    if (map.size >= maxRemembered) map.clear()
  }
  map.set(subject, value)
}

/**
 * Spending from shared rates in reservations (`reservationSize` requests
 * reserved in one statement, spent here within `reservationMillis`), with
 * this instance's memory of the subjects found over theirs (when, in ms
 * since the epoch, each may ask again), so that a flood is refused without
 * a round trip each.
 *
 * At most one reservation per subject is in flight on an instance: requests
 * that find the last one spent wait for it and then spend from it, instead
 * of each reserving a share of their own — concurrent requests of one key
 * would otherwise take a share each and throw away all but the last,
 * spending its burst many times faster than it makes requests.
 *
 * @fails RateLimited when `subject` is over `rate` (shared), or known to be (here).
 */
const makeSpend = (repo: LimitsRepo) => {
  const blocked = new Map<string, { readonly until: number }>()
  const reserved = new Map<string, { left: number; readonly until: number }>()
  const inFlight = new Map<string, Deferred.Deferred<void>>()
  // Registered and released with interruption masked, so that no interruption can leave a reservation in flight forever.
  const reserve = (limit: LimitName, subject: string, rate: Rate): Effect.Effect<void, RateLimited> =>
    Effect.uninterruptibleMask((restore) => {
      const done = Deferred.unsafeMake<void>(FiberId.none)
      inFlight.set(subject, done)
      return restore(Effect.flatMap(repo.reserve(subject, rate, reservationSize(rate)), ({ granted, wait }) => {
        if (granted === 0) {
          boundedSet(blocked, subject, { until: Date.now() + wait * 1000 })
          return refused(limit, wait)
        }
        if (granted > 1) boundedSet(reserved, subject, { left: granted - 1, until: Date.now() + reservationMillis })
        return Effect.void
      })).pipe(Effect.ensuring(Effect.suspend(() => {
        inFlight.delete(subject)
        return Deferred.succeed(done, undefined)
      })))
    })
  const spend = (limit: LimitName, subject: string, rate: Rate): Effect.Effect<void, RateLimited> =>
    Effect.suspend(() => {
      const now = Date.now()
      const until = blocked.get(subject)?.until
      if (until !== undefined && until > now) return refused(limit, (until - now) / 1000)
      if (until !== undefined) blocked.delete(subject)
      const held = reserved.get(subject)
      if (held !== undefined && held.until > now && held.left > 0) {
        held.left -= 1
        return Effect.void
      }
      const pending = inFlight.get(subject)
      return pending === undefined
        ? reserve(limit, subject, rate)
        : Effect.zipRight(Deferred.await(pending), spend(limit, subject, rate))
    })
  return spend
}

/**
 * Run `effect` holding one of `max` slots of `subject`, renewed every
 * third of `slotSeconds` while it runs and freed when it ends however it
 * ends.
 *
 * @fails RateLimited (with `message`) when all `max` are held.
 */
const holdSlot = <A, E, R>(
  repo: LimitsRepo,
  limit: LimitName,
  slots: { readonly subject: string; readonly max: number; readonly message: string },
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | RateLimited, R> => {
  const { max, message, subject } = slots
  const holder = NodeCrypto.randomUUID()
  const taken = repo.take(subject, holder, max, slotSeconds).pipe(
    Effect.repeat({ until: Option.isSome, times: slotAttempts - 1 }),
    Effect.flatMap(Option.match({ onNone: () => refused(limit, 1, message), onSome: Effect.succeed }))
  )
  const renewing = (slot: number) =>
    repo.renew(subject, slot, holder, slotSeconds).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("renewing a limit slot failed", cause)),
      Effect.repeat(Schedule.spaced(`${slotSeconds / 3} seconds`)),
      Effect.delay(`${slotSeconds / 3} seconds`)
    )
  return Effect.acquireUseRelease(
    taken,
    (slot) => Effect.scoped(Effect.zipRight(Effect.forkScoped(renewing(slot)), effect)),
    (slot) => repo.free(subject, slot, holder)
  )
}

/** Request rates and held slots, shared by every instance on the database. */
export class RateLimits extends Effect.Service<RateLimits>()("@agnt/server/RateLimits", {
  effect: Effect.gen(function*() {
    const settings = yield* ServerConfig
    const repo = yield* LimitsRepo
    const spend = makeSpend(repo)
    const keyRate: Rate = { perSecond: settings.rateLimitPerSecond, burst: settings.rateLimitBurst }
    const addressRate: Rate = { perSecond: settings.addressRateLimitPerSecond, burst: settings.addressRateLimitBurst }

    /**
     * Spend one request of a verified key.
     *
     * @fails RateLimited past `rateLimitPerSecond` (bursts of `rateLimitBurst`) across all instances.
     */
    const admitKey = (keyId: ApiKeyId) => spend("key", `key:${keyId}`, keyRate)

    const clientAddress = clientAddressOf(settings.trustedProxies)
    /**
     * Spend one keyless or failed request from the client address of
     * `request` (`clientAddressOf`).
     *
     * @fails RateLimited past `addressRateLimitPerSecond` (bursts of `addressRateLimitBurst`).
     */
    const admitAddress = (request: HttpServerRequest.HttpServerRequest) =>
      spend("address", `address:${clientAddress(request)}`, addressRate)

    /**
     * Run `effect` as one of `keyId`'s open long-polls.
     *
     * @fails RateLimited when the key already holds `maxLongPollsPerKey` on any instance.
     */
    const longPoll = <A, E, R>(keyId: ApiKeyId, effect: Effect.Effect<A, E, R>) =>
      holdSlot(repo, "long_poll", {
        subject: `long-poll:${keyId}`,
        max: settings.maxLongPollsPerKey,
        message: `at most ${settings.maxLongPollsPerKey} long-polls open per key`
      }, effect)

    const uploadMessage = `at most ${settings.maxUploadsPerKey} uploads in flight per key`
    const smallUploads = new Map<ApiKeyId, number>()
    /** Run `effect` as one of `keyId`'s small bodies in flight on this instance. */
    const smallUpload = <A, E, R>(keyId: ApiKeyId, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimited, R> =>
      Effect.suspend((): Effect.Effect<A, E | RateLimited, R> => {
        const held = smallUploads.get(keyId) ?? 0
        if (held >= settings.maxUploadsPerKey) return refused("upload", 1, uploadMessage)
        smallUploads.set(keyId, held + 1)
        return Effect.ensuring(
          effect,
          Effect.sync(() => {
            const left = (smallUploads.get(keyId) ?? 1) - 1
            if (left > 0) smallUploads.set(keyId, left)
            else smallUploads.delete(keyId)
          })
        )
      })

    /**
     * Run `effect`, which reads `request`'s body, as one of `keyId`'s
     * uploads in flight: a body over `smallBodyBytes`, or of unknown length,
     * holds one of the key's slots shared by every instance; a smaller one
     * is counted by this instance alone, costing no round trip.
     *
     * @fails RateLimited when the key already has `maxUploadsPerKey` bodies in flight (on any instance, for large ones).
     */
    const upload = <A, E, R>(keyId: ApiKeyId, request: HttpServerRequest.HttpServerRequest, effect: Effect.Effect<A, E, R>) =>
      isSmallBody(request)
        ? smallUpload(keyId, effect)
        : holdSlot(repo, "upload", { subject: `upload:${keyId}`, max: settings.maxUploadsPerKey, message: uploadMessage }, effect)

    return { admitKey, admitAddress, longPoll, upload } as const
  }),
  dependencies: [LimitsRepo.Default]
}) {}

/** Every minute (jittered), drop the cells and slots that no longer limit anyone, for the life of the server. */
export const RateLimitsSweeperLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const repo = yield* LimitsRepo
    yield* repo.sweep().pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("sweeping rate limits failed", cause)),
      Effect.repeat(Schedule.spaced("1 minute").pipe(Schedule.jittered)),
      Effect.forkScoped
    )
  })
).pipe(Layer.provide(LimitsRepo.Default))
