import { isTransient } from "@agnt/client/ApiClient"
import { defaultApiUrl, type EnvSettings, mergeSettings as mergeWith } from "@agnt/client/ClientConfig"
import { JobNotFound, NotReady, RateLimited } from "@agnt/domain/Errors"
import { NodeContext } from "@effect/platform-node"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Settings } from "../src/Client.js"

/** `agnt`'s settings: the buyer key (`api_key`) of the environment and file. */
const mergeSettings = (env: EnvSettings, file: Parameters<typeof mergeWith>[1]) => mergeWith(env, file, "api_key")

/** `agnt`'s `Settings` with `XDG_CONFIG_HOME` a fresh directory whose `agnt/config.json` holds `text`. */
const settingsWithFile = (text: string) =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-cli-config-")))
    yield* Effect.addFinalizer(() => Effect.promise(() => NodeFs.rm(dir, { recursive: true, force: true })))
    yield* Effect.promise(() => NodeFs.mkdir(NodePath.join(dir, "agnt")))
    const path = NodePath.join(dir, "agnt", "config.json")
    yield* Effect.promise(() => NodeFs.writeFile(path, text))
    const settings = yield* Effect.either(Settings.pipe(
      Effect.provide(Settings.layer.pipe(Layer.provide(NodeContext.layer))),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XDG_CONFIG_HOME", dir]])))
    ))
    return { path, settings }
  })

const noEnv = { api_url: Option.none(), api_key: Option.none() }
const file = (text: string) => Option.some({ path: "/cfg/agnt/config.json", text })
const keyOf = (settings: { readonly api_key: Option.Option<Redacted.Redacted<string>> }) => Option.map(settings.api_key, Redacted.value)

describe("client settings", () => {
  it.effect("with nothing configured: the default URL and no key", () =>
    Effect.gen(function*() {
      const settings = yield* mergeSettings(noEnv, Option.none())
      expect(settings.api_url).toBe(defaultApiUrl)
      expect(keyOf(settings)).toEqual(Option.none())
    }))

  it.effect("the file fills in what the environment does not set, field by field", () =>
    Effect.gen(function*() {
      const fromFile = file(JSON.stringify({ api_url: "http://file:1", api_key: "file-key", executor_api_key: "x" }))
      const onlyFile = yield* mergeSettings(noEnv, fromFile)
      expect(onlyFile.api_url).toBe("http://file:1")
      expect(keyOf(onlyFile)).toEqual(Option.some("file-key"))

      const envKey = yield* mergeSettings({ api_url: Option.none(), api_key: Option.some(Redacted.make("env-key")) }, fromFile)
      expect(envKey.api_url).toBe("http://file:1")
      expect(keyOf(envKey)).toEqual(Option.some("env-key"))

      const envUrl = yield* mergeSettings({ api_url: Option.some("http://env:2"), api_key: Option.none() }, fromFile)
      expect(envUrl.api_url).toBe("http://env:2")
      expect(keyOf(envUrl)).toEqual(Option.some("file-key"))
    }))

  it.effect("empty values count as unset", () =>
    Effect.gen(function*() {
      const settings = yield* mergeSettings(
        { api_url: Option.some(""), api_key: Option.some(Redacted.make(" ")) },
        file(JSON.stringify({ api_url: "http://file:1", api_key: "file-key" }))
      )
      expect(settings.api_url).toBe("http://file:1")
      expect(keyOf(settings)).toEqual(Option.some("file-key"))
    }))

  it.scoped("a malformed config file is a UsageError naming the file", () =>
    Effect.gen(function*() {
      const { path, settings } = yield* settingsWithFile("{not json")
      const broken = yield* Effect.flip(settings)
      expect(broken._tag).toBe("UsageError")
      expect(broken.message).toContain(path)
      const wrongType = yield* Effect.flip((yield* settingsWithFile(JSON.stringify({ api_url: 5 }))).settings)
      expect(wrongType.message).toContain("api_url")
    }))
})

describe("which failures are retried", () => {
  const request = HttpClientRequest.get("http://127.0.0.1:8080/v1/jobs/job_x/events")
  const status = (code: number) =>
    new HttpClientError.ResponseError({
      request,
      response: HttpClientResponse.fromWeb(request, new Response("", { status: code })),
      reason: "StatusCode"
    })

  it.effect("an unreachable server, 5xx, not ready and rate limiting are retried", () =>
    Effect.sync(() => {
      expect(isTransient(new HttpClientError.RequestError({ request, reason: "Transport" }))).toBe(true)
      expect(isTransient(status(502))).toBe(true)
      expect(isTransient(status(429))).toBe(true)
      expect(isTransient(new NotReady({ message: "starting" }))).toBe(true)
      expect(isTransient(new RateLimited({ message: "slow down", retry_after_seconds: 1 }))).toBe(true)
    }))

  it.effect("other 4xx answers and typed errors are not", () =>
    Effect.sync(() => {
      expect(isTransient(status(400))).toBe(false)
      expect(isTransient(status(404))).toBe(false)
      expect(isTransient(JobNotFound.of("job_x"))).toBe(false)
      expect(isTransient(new HttpClientError.RequestError({ request, reason: "InvalidUrl" }))).toBe(false)
    }))
})
