/**
 * Abuse limits kept in memory per server (OWASP API4, unrestricted
 * resource consumption): a token bucket of requests per key — or, for
 * requests without a key, per remote address — and a count of long-polls
 * each key holds open. Several servers each apply their own limits.
 */
import { RateLimited } from "@agnt/domain/Errors"
import { Effect } from "effect"
import { ServerConfig } from "./ServerConfig.js"

/** The most buckets kept; the stalest half is dropped past it (keys made up by an attacker cost nothing). */
const maxBuckets = 100_000

/** Request-rate and long-poll limits. */
export class RateLimits extends Effect.Service<RateLimits>()("@agnt/server/RateLimits", {
  effect: Effect.gen(function*() {
    const settings = yield* ServerConfig
    const buckets = new Map<string, { tokens: number; at: number }>()
    const polls = new Map<string, number>()

    /**
     * Take one token from `client`'s bucket (refilled at
     * `rateLimitPerSecond`, holding at most `rateLimitBurst`).
     *
     * @returns `0` when allowed, else the seconds to wait before a token is free.
     */
    const take = (client: string): number => {
      const now = Date.now()
      const bucket = buckets.get(client) ?? { tokens: settings.rateLimitBurst, at: now }
      const tokens = Math.min(settings.rateLimitBurst, bucket.tokens + ((now - bucket.at) / 1000) * settings.rateLimitPerSecond)
      if (buckets.size >= maxBuckets && !buckets.has(client)) {
        for (const [key] of [...buckets.entries()].sort((a, b) => a[1].at - b[1].at).slice(0, maxBuckets / 2)) buckets.delete(key)
      }
      if (tokens < 1) {
        buckets.set(client, { tokens, at: now })
        return Math.max(1, Math.ceil((1 - tokens) / settings.rateLimitPerSecond))
      }
      buckets.set(client, { tokens: tokens - 1, at: now })
      return 0
    }

    /**
     * Run `effect` as one of `keyId`'s open long-polls.
     *
     * @fails RateLimited when the key already holds `maxLongPollsPerKey`.
     */
    const longPoll = <A, E, R>(keyId: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimited, R> =>
      Effect.acquireUseRelease(
        Effect.suspend(() => {
          const open = polls.get(keyId) ?? 0
          if (open >= settings.maxLongPollsPerKey) {
            return Effect.fail(
              new RateLimited({
                message: `at most ${settings.maxLongPollsPerKey} long-polls open per key`,
                retry_after_seconds: 1
              })
            )
          }
          polls.set(keyId, open + 1)
          return Effect.void
        }),
        () => effect,
        () =>
          Effect.sync(() => {
            const open = (polls.get(keyId) ?? 1) - 1
            if (open <= 0) polls.delete(keyId)
            else polls.set(keyId, open)
          })
      )

    return { take, longPoll } as const
  })
}) {}
