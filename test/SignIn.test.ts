/**
 * Signing a browser in with the real `agnt ui` against a real server: the
 * printed link (the server's URL, `/sign-in#token=…`) redeems once for a
 * session cookie that reads the key's jobs, and the platform opener is
 * handed the same link. (The sessions API itself:
 * `packages/server/test/Sessions.test.ts`.)
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, serverUrl, temporaryDirectory, TestServerOn } from "../packages/server/src/Testing.js"
import { binPath, run } from "./Processes.js"

/** `POST /v1/sessions` with a sign-in link's token: status, body and the cookie pair it set. */
const redeem = (url: string, token: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ link_token: token })
    })
    const body: unknown = await response.json()
    return { status: response.status, body, cookie: (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "" }
  })

describe("end to end: agnt ui", () => {
  it.scopedLive(
    "agnt ui --no-open prints a one-time link to the server's sign-in page that signs a browser in as the key",
    () =>
      Effect.gen(function*() {
        const served = yield* Layer.build(
          TestServerOn(yield* freshDatabase(inject("pgAdminUrl"))).pipe(Layer.provideMerge(FetchHttpClient.layer))
        )
        const url = yield* Effect.provide(serverUrl, served)
        const keys = yield* Effect.provide(ApiKeys, served)
        const work = yield* temporaryDirectory("agnt-e2e-ui-")
        const key = Redacted.value((yield* keys.create({ role: "buyer" })).key)
        const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: `${url}/`, AGNT_API_KEY: key }

        // A job of the key's account, for the signed-in browser to find.
        const executor = yield* makeApiClient({ baseUrl: url, key: (yield* keys.create({ role: "executor" })).key }).pipe(
          Effect.provide(served)
        )
        const agentId = makeAgentId()
        yield* executor.agents.publish({
          path: { agent_id: agentId },
          payload: new AgentManifest({ name: "Any", description: "", tags: [], input_schema: {} })
        })
        const buyer = yield* makeApiClient({ baseUrl: url, key: Redacted.make(key) }).pipe(Effect.provide(served))
        const form = new FormData()
        form.append("agent_id", agentId)
        form.append("prompt", "seen from the browser")
        const job = yield* buyer.jobs.create({ headers: {}, payload: form })

        const printed = yield* run(binPath("cli", "agnt.js"), ["ui", "--no-open"], { cwd: work, env })
        expect(printed.code, printed.stderr).toBe(0)
        const output = JSON.parse(printed.stdout)
        expect(output.opened).toBe(false)
        expect(output.url).toMatch(new RegExp(`^${url}/sign-in#token=[A-Za-z0-9_-]{43}$`))
        expect(Date.parse(output.expires_at) - Date.now()).toBeLessThanOrEqual(5 * 60 * 1000)
        const token = new URL(output.url).hash.slice("#token=".length)

        const signedIn = yield* redeem(url, token)
        expect(signedIn.status).toBe(201)
        expect(signedIn.body).toMatchObject({ role: "buyer" })
        const jobs = yield* Effect.promise(async () => {
          const response = await fetch(`${url}/v1/jobs`, { headers: { cookie: signedIn.cookie } })
          return JSON.parse(await response.text())
        })
        expect(jobs.data.map((listed: { job_id: string }) => listed.job_id)).toEqual([job.job_id])

        const again = yield* redeem(url, token)
        expect(again.status).toBe(401)
        expect(again.body).toMatchObject({ _tag: "Unauthorized", message: "this sign-in link was already used" })
      }),
    { timeout: 120_000 }
  )

  it.scopedLive("agnt ui hands the link to the platform opener (xdg-open) and says so", () =>
    Effect.gen(function*() {
      const served = yield* Layer.build(
        TestServerOn(yield* freshDatabase(inject("pgAdminUrl"))).pipe(Layer.provideMerge(FetchHttpClient.layer))
      )
      const url = yield* Effect.provide(serverUrl, served)
      const keys = yield* Effect.provide(ApiKeys, served)
      const work = yield* temporaryDirectory("agnt-e2e-ui-open-")
      // An opener that records what it was asked to open.
      const bin = NodePath.join(work, "bin")
      const opened = NodePath.join(work, "opened.txt")
      yield* Effect.promise(async () => {
        await NodeFs.mkdir(bin)
        await NodeFs.writeFile(
          NodePath.join(bin, "xdg-open"),
          `#!/bin/sh\nprintf '%s' "$1" > '${opened}.part' && mv '${opened}.part' '${opened}'\n`,
          {
            mode: 0o755
          }
        )
      })
      const env = {
        ...process.env,
        PATH: `${bin}${NodePath.delimiter}${process.env["PATH"] ?? ""}`,
        XDG_CONFIG_HOME: NodePath.join(work, "config"),
        AGNT_API_URL: url,
        AGNT_API_KEY: Redacted.value((yield* keys.create({ role: "buyer" })).key)
      }
      const printed = yield* run(binPath("cli", "agnt.js"), ["ui"], { cwd: work, env })
      expect(printed.code, printed.stderr).toBe(0)
      const output = JSON.parse(printed.stdout)
      expect(output.opened).toBe(true)
      // The opener runs detached: wait for what it wrote.
      const handed = yield* Effect.tryPromise(() => NodeFs.readFile(opened, "utf8")).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("20 seconds")))
      )
      expect(handed).toBe(output.url)
      expect((yield* redeem(url, new URL(handed).hash.slice("#token=".length))).status).toBe(201)
    }), { timeout: 120_000 })
})
