/**
 * Rotating a buyer's key with the real bins: `agnt-server keys create`
 * makes a key in a new account (printing its id) or, with `--account`, in
 * an existing one; after the old key is revoked, the real `agnt` with the
 * new key still sees, lists and cancels the jobs the old key ordered.
 * (Other accounts' 404s: `packages/server/test/Accounts.test.ts`.)
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAccountId, makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, serverUrl, temporaryDirectory, TestServerOn } from "../packages/server/src/Testing.js"
import { binPath, run } from "./Processes.js"

describe("end to end: rotating a key within its account", () => {
  it.scopedLive("agnt-server keys create --account adds a key to the account; with the old key revoked, agnt with the new one still has the old jobs", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      const served = yield* Layer.build(TestServerOn(databaseUrl).pipe(Layer.provideMerge(FetchHttpClient.layer)))
      const url = yield* Effect.provide(serverUrl, served)
      const keys = yield* Effect.provide(ApiKeys, served)
      const work = yield* temporaryDirectory("agnt-e2e-accounts-")
      const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url, DATABASE_URL: databaseUrl }
      const server = (...args: ReadonlyArray<string>) => run(binPath("server", "agnt-server.js"), ["keys", ...args], { cwd: work, env })
      const agnt = (key: string, ...args: ReadonlyArray<string>) =>
        run(binPath("cli", "agnt.js"), args, { cwd: work, env: { ...env, AGNT_API_KEY: key } })

      const clientOf = (key: string) =>
        makeApiClient({ baseUrl: url, key: Redacted.make(key) }).pipe(
          Effect.provide(served)
        )
      // An agent to order from.
      const executor = yield* clientOf(Redacted.value((yield* keys.create({ role: "executor" })).key))
      const agentId = makeAgentId()
      yield* executor.agents.publish({
        path: { agent_id: agentId },
        payload: new AgentManifest({ name: "Any", description: "", tags: [], input_schema: {} })
      })
      const orderForm = (prompt: string) => {
        const form = new FormData()
        form.append("agent_id", agentId)
        form.append("prompt", prompt)
        return form
      }

      const created = yield* server("create", "--role", "buyer", "--label", "laptop")
      expect(created.code, created.stderr).toBe(0)
      const old = JSON.parse(created.stdout)
      expect(old.account_id).toMatch(/^acct_[0-7][0-9a-hjkmnp-tv-z]{25}$/)
      const buyer = yield* clientOf(old.key)
      const first = yield* buyer.jobs.create({ headers: {}, payload: orderForm("first") })
      const second = yield* buyer.jobs.create({ headers: {}, payload: orderForm("second") })
      expect([first.account_id, second.account_id]).toEqual([old.account_id, old.account_id])

      const rotated = yield* server("create", "--role", "buyer", "--account", old.account_id, "--label", "laptop, rotated")
      expect(rotated.code, rotated.stderr).toBe(0)
      const next = JSON.parse(rotated.stdout)
      expect(next.account_id).toBe(old.account_id)
      expect(JSON.parse((yield* server("revoke", old.key_id)).stdout)).toEqual({ key_id: old.key_id, revoked: true })
      const listed = JSON.parse((yield* server("list")).stdout) as ReadonlyArray<
        { key_id: string; account_id: string; revoked_at: string | null }
      >
      expect(listed.filter((key) => key.account_id === old.account_id).map((key) => [key.key_id, key.revoked_at === null])).toEqual([
        [next.key_id, true],
        [old.key_id, false]
      ])

      const status = yield* agnt(next.key, "status", first.job_id)
      expect([status.code, JSON.parse(status.stdout).prompt]).toEqual([0, "first"])
      const jobs = yield* agnt(next.key, "jobs")
      expect(JSON.parse(jobs.stdout).data.map((job: { job_id: string }) => job.job_id)).toEqual([second.job_id, first.job_id])
      const canceled = yield* agnt(next.key, "cancel", second.job_id)
      expect([canceled.code, JSON.parse(canceled.stdout).status]).toEqual([0, "canceled"])

      const account = makeAccountId()
      const unknown = yield* server("create", "--role", "buyer", "--account", account)
      expect(unknown.code).toBe(1)
      expect(JSON.parse(unknown.stderr)).toMatchObject({ _tag: "AccountNotFound", account_id: account })
    }))
})
