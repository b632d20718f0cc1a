/**
 * The server's settings as read from the environment (`settingsConfig`):
 * defaults, and refusals of values that cannot work, with the message a
 * person setting them acts on.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"
import { settingsConfig } from "../src/ServerConfig.js"

/** `settingsConfig` read from `env` alone. */
const settingsFrom = (env: Record<string, string>) =>
  Effect.withConfigProvider(Effect.either(settingsConfig), ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("server settings from the environment", () => {
  it.effect("AGNT_TRUSTED_PROXIES lists addresses and CIDR ranges, comma-separated; none by default", () =>
    Effect.gen(function*() {
      const unset = yield* settingsFrom({})
      expect(Either.map(unset, (settings) => settings.trustedProxies)).toEqual(Either.right([]))
      const set = yield* settingsFrom({ AGNT_TRUSTED_PROXIES: "10.0.0.0/8, ::1,192.168.1.7,fd00::/8" })
      expect(Either.map(set, (settings) => settings.trustedProxies)).toEqual(
        Either.right(["10.0.0.0/8", "::1", "192.168.1.7", "fd00::/8"])
      )
    }))

  it.effect("an AGNT_TRUSTED_PROXIES entry that is neither an address nor a CIDR range is refused, saying what is expected", () =>
    Effect.gen(function*() {
      for (const value of ["proxy.internal", "10.0.0.0/33", "::1/129", "10.0.0.1/8/8", "10.0.0.0/"]) {
        const read = yield* settingsFrom({ AGNT_TRUSTED_PROXIES: value })
        expect(Either.isLeft(read), value).toBe(true)
        if (Either.isLeft(read)) expect(String(read.left)).toContain("AGNT_TRUSTED_PROXIES must list IP addresses or CIDR ranges")
      }
    }))
})
