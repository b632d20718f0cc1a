import { defaultApiUrl, mergeSettings } from "@agnt/client/ClientConfig"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"

const noEnv = { api_url: Option.none(), api_key: Option.none() }
const file = (text: string) => Option.some({ path: "/cfg/agnt/config.json", text })
const keyOf = (settings: { readonly api_key: Option.Option<Redacted.Redacted<string>> }) => Option.map(settings.api_key, Redacted.value)
const both = file(JSON.stringify({ api_url: "http://file:1", api_key: "buyer-key", executor_api_key: "executor-key" }))

describe("client settings from the environment and the config file", () => {
  it.effect("agnt takes api_key, executors executor_api_key, from the same file", () =>
    Effect.gen(function*() {
      expect(keyOf(yield* mergeSettings(noEnv, both, "api_key"))).toEqual(Option.some("buyer-key"))
      expect(keyOf(yield* mergeSettings(noEnv, both, "executor_api_key"))).toEqual(Option.some("executor-key"))
      expect((yield* mergeSettings(noEnv, both, "executor_api_key")).api_url).toBe("http://file:1")
    }))

  it.effect("AGNT_API_KEY wins over either field; empty values count as unset", () =>
    Effect.gen(function*() {
      const env = { api_url: Option.some(" "), api_key: Option.some(Redacted.make("env-key")) }
      const settings = yield* mergeSettings(env, both, "executor_api_key")
      expect(keyOf(settings)).toEqual(Option.some("env-key"))
      expect(settings.api_url).toBe("http://file:1")
    }))

  it.effect("with no file: the default URL and no key", () =>
    Effect.gen(function*() {
      const settings = yield* mergeSettings(noEnv, Option.none(), "executor_api_key")
      expect(settings.api_url).toBe(defaultApiUrl)
      expect(keyOf(settings)).toEqual(Option.none())
    }))

  it.effect("a malformed file is a ClientConfigError naming the file and the field", () =>
    Effect.gen(function*() {
      const broken = yield* Effect.flip(mergeSettings(noEnv, file("{not json"), "api_key"))
      expect(broken._tag).toBe("ClientConfigError")
      expect(broken.message).toContain("/cfg/agnt/config.json")
      const wrongType = yield* Effect.flip(mergeSettings(noEnv, file(JSON.stringify({ executor_api_key: 5 })), "executor_api_key"))
      expect(wrongType.message).toContain("executor_api_key")
    }))
})
