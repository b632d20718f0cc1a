/**
 * Accounts (DESIGN.md "Auth"): keys belong to an account, which owns jobs,
 * agents and idempotency keys, so rotating a key loses nothing; another
 * account's buyer gets 404 for all of it (OWASP API1). The embedded
 * default's dev keys share one account.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import { ClientConfigFileJson } from "@agnt/domain/ClientConfig"
import type { FileId, JobId, LeaseId } from "@agnt/domain/Ids"
import { HttpServer } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { ApiKeys } from "../src/ApiKeys.js"
import { DevKeysLive } from "../src/DevKeys.js"
import { makeAccountId, makeAgentId, makeFileId } from "../src/Ids.js"
import { ServerConfig } from "../src/ServerConfig.js"
import { temporaryDirectory, testSettings } from "../src/Testing.js"
import { order } from "./Fixtures.js"
import { actor, clientWith, openMarket, TestLive } from "./support.js"

type Caller = Effect.Effect.Success<ReturnType<typeof actor>>

const resultText = "# Result\n\nall good\n"

/** A completion form with one result file. */
const completion = (leaseId: string) => {
  const form = new FormData()
  form.append("lease_id", leaseId)
  form.append("files", new Blob([resultText], { type: "text/markdown" }), "result.md")
  return form
}

/**
 * A buyer's three jobs on one agent: `done` completed with a result file,
 * `waiting` pending, `busy` running under the executor's lease.
 */
const threeJobs = (buyer: Caller, executor: Caller, agentId: Parameters<typeof order>[0]) =>
  Effect.gen(function*() {
    const take = (jobId: JobId) => executor.client.executor.status({ path: { job_id: jobId }, payload: { status: "accepted" } })
    const run = (jobId: JobId, leaseId: LeaseId) =>
      executor.client.executor.status({ path: { job_id: jobId }, payload: { status: "running", lease_id: leaseId } })
    const done = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId, { files: { "in.txt": "input\n" } }) })
    const doneLease = (yield* take(done.job_id)).lease.lease_id
    yield* run(done.job_id, doneLease)
    yield* executor.client.executor.complete({ path: { job_id: done.job_id }, payload: completion(doneLease) })
    const waiting = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
    const busy = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
    yield* run(busy.job_id, (yield* take(busy.job_id)).lease.lease_id)
    return { done: done.job_id, waiting: waiting.job_id, busy: busy.job_id }
  })

layer(TestLive, { timeout: 60_000, excludeTestServices: true })("accounts", (it) => {
  describe("rotating a key", () => {
    it.effect("a buyer whose key was rotated (new key in the same account, old one revoked) lists, gets, fetches results and events of, and cancels its older jobs", () =>
      Effect.gen(function*() {
        const keys = yield* ApiKeys
        const { agentId, buyer: old, executor } = yield* openMarket
        const jobs = yield* threeJobs(old, executor, agentId)
        const rotated = yield* actor("buyer", [], old.info.account_id)
        expect(yield* keys.revoke(old.info.key_id)).toBe(true)
        expect((yield* old.client.jobs.get({ path: { job_id: jobs.done } }).pipe(Effect.flip))._tag).toBe("Unauthorized")
        const client = rotated.client

        const listed = yield* client.jobs.list({ urlParams: { limit: 100 } })
        expect(listed.data.map((job) => job.job_id)).toEqual([jobs.busy, jobs.waiting, jobs.done])
        expect(listed.data.every((job) => job.account_id === old.info.account_id)).toBe(true)
        const done = yield* client.jobs.get({ path: { job_id: jobs.done } })
        expect(done.status).toBe("completed")

        const result = yield* client.jobs.result({ path: { job_id: jobs.done } })
        expect(result.files.map((file) => file.path)).toEqual(["result.md"])
        const download = (fileId: FileId | undefined) =>
          Effect.map(
            client.jobs.download({ path: { job_id: jobs.done, file_id: fileId ?? makeFileId() } }),
            (bytes) => new TextDecoder().decode(bytes)
          )
        expect(yield* download(result.files[0]?.file_id)).toBe(resultText)
        expect(yield* download(done.input_files[0]?.file_id)).toBe("input\n")
        const events = yield* client.jobs.events({ path: { job_id: jobs.done }, urlParams: { after: 0, limit: 100, wait: 0 } })
        expect(events.data.map((event) => event.status)).toEqual(["pending", "accepted", "running", "completed"])

        expect((yield* client.jobs.cancel({ path: { job_id: jobs.waiting } })).status).toBe("canceled")
        const busy = yield* client.jobs.cancel({ path: { job_id: jobs.busy } })
        expect([busy.status, busy.cancel_requested]).toEqual(["running", true])
      }))

    it.effect("another account's buyer gets 404 JobNotFound for every one of those jobs and lists none of them", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* openMarket
        const jobs = yield* threeJobs(buyer, executor, agentId)
        const stranger = (yield* actor("buyer")).client
        const done = yield* buyer.client.jobs.get({ path: { job_id: jobs.done } })
        const fileId = done.input_files[0]?.file_id ?? makeFileId()
        for (const jobId of [jobs.done, jobs.waiting, jobs.busy]) {
          const path = { job_id: jobId }
          const refusals = [
            yield* stranger.jobs.get({ path }).pipe(Effect.flip),
            yield* stranger.jobs.result({ path }).pipe(Effect.flip),
            yield* stranger.jobs.events({ path, urlParams: { after: 0, limit: 100, wait: 0 } }).pipe(Effect.flip),
            yield* stranger.jobs.cancel({ path }).pipe(Effect.flip)
          ]
          expect(refusals.map((error) => error._tag), jobId).toEqual(["JobNotFound", "JobNotFound", "JobNotFound", "JobNotFound"])
        }
        const download = yield* stranger.jobs.download({ path: { job_id: jobs.done, file_id: fileId } }).pipe(Effect.flip)
        expect(download._tag).toBe("JobNotFound")
        expect((yield* stranger.jobs.list({ urlParams: { limit: 100 } })).data).toEqual([])
        // The refused cancels changed nothing.
        expect((yield* buyer.client.jobs.get({ path: { job_id: jobs.waiting } })).status).toBe("pending")
        expect((yield* buyer.client.jobs.get({ path: { job_id: jobs.busy } })).cancel_requested).toBe(false)
      }))

    it.effect("an Idempotency-Key replays across the account's keys, even after the key that used it was revoked; another account's same key makes its own job", () =>
      Effect.gen(function*() {
        const keys = yield* ApiKeys
        const { agentId, buyer } = yield* openMarket
        const headers = { "idempotency-key": "rotation-retry" }
        const first = yield* buyer.client.jobs.create({ headers, payload: order(agentId, { prompt: "once" }) })
        const rotated = yield* actor("buyer", [], buyer.info.account_id)
        yield* keys.revoke(buyer.info.key_id)
        const retried = yield* rotated.client.jobs.create({ headers, payload: order(agentId, { prompt: "once" }) })
        expect(retried.job_id).toBe(first.job_id)
        const conflict = yield* rotated.client.jobs.create({ headers, payload: order(agentId, { prompt: "another" }) }).pipe(Effect.flip)
        expect(conflict._tag).toBe("IdempotencyConflict")
        const stranger = yield* actor("buyer")
        const theirs = yield* stranger.client.jobs.create({ headers, payload: order(agentId, { prompt: "once" }) })
        expect(theirs.job_id).not.toBe(first.job_id)
        expect(theirs.account_id).toBe(stranger.info.account_id)
      }))
  })

  describe("what belongs to an account", () => {
    it.effect("a job belongs to the ordering key's account, an agent to its publisher's; an admin's new agent to the admin's", () =>
      Effect.gen(function*() {
        const { agentId, buyer, executor } = yield* openMarket
        expect(buyer.info.account_id).not.toBe(executor.info.account_id)
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        expect(job.account_id).toBe(buyer.info.account_id)
        expect((yield* buyer.client.agents.get({ path: { agent_id: agentId } })).account_id).toBe(executor.info.account_id)
        // Republishing keeps the agent's account.
        const republished = yield* executor.client.agents.publish({
          path: { agent_id: agentId },
          payload: new AgentManifest({ name: "Anything v2", description: "", tags: [], input_schema: {} })
        })
        expect(republished.account_id).toBe(executor.info.account_id)
        const admin = yield* actor("admin")
        const house = yield* admin.client.agents.publish({
          path: { agent_id: makeAgentId() },
          payload: new AgentManifest({ name: "House", description: "", tags: [], input_schema: {} })
        })
        expect(house.account_id).toBe(admin.info.account_id)
      }))

    it.effect("an executor key in a buyer's account still serves only the agents it is bound to", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* openMarket
        const job = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
        const sameAccount = yield* actor("executor", [], buyer.info.account_id)
        const get = yield* sameAccount.client.jobs.get({ path: { job_id: job.job_id } }).pipe(Effect.flip)
        expect(get._tag).toBe("JobNotFound")
        const accept = yield* sameAccount.client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } }).pipe(
          Effect.flip
        )
        expect(accept._tag).toBe("JobNotFound")
        const claim = yield* sameAccount.client.executor.claim({ payload: { agent_id: agentId, executor_id: "x", wait: 0 } }).pipe(
          Effect.flip
        )
        expect(claim._tag).toBe("Forbidden")
      }))

    it.effect("a key made without an account gets a new one; one made with an unknown account is AccountNotFound", () =>
      Effect.gen(function*() {
        const keys = yield* ApiKeys
        const a = yield* keys.create({ role: "buyer" })
        const b = yield* keys.create({ role: "buyer" })
        expect(a.info.account_id).not.toBe(b.info.account_id)
        const joined = yield* keys.create({ role: "executor", account_id: a.info.account_id })
        expect(joined.info.account_id).toBe(a.info.account_id)
        const listed = (yield* keys.list()).find((info) => info.key_id === joined.info.key_id)
        expect(listed?.account_id).toBe(a.info.account_id)
        const unknown = makeAccountId()
        const refused = yield* keys.create({ role: "buyer", account_id: unknown }).pipe(Effect.flip)
        expect(refused).toMatchObject({ _tag: "AccountNotFound", account_id: unknown })
        expect((yield* keys.list()).some((info) => info.account_id === unknown)).toBe(false)
      }))
  })

  describe("the embedded default's dev keys", () => {
    it.scoped("share one account; a buyer key made again after the file lost it joins that account and sees the earlier jobs", () =>
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        const keys = yield* ApiKeys
        const { agentId } = yield* openMarket
        const home = yield* temporaryDirectory("agnt-devkeys-")
        const configFile = NodePath.join(home, "agnt", "config.json")
        // DevKeysLive in embedded mode (no DATABASE_URL) on the test server's keys, writing under `home`.
        const devKeys = Layer.build(DevKeysLive.pipe(
          Layer.provide(ServerConfig.make({ ...testSettings(home, ""), databaseUrl: Option.none() })),
          Layer.provide(Layer.succeed(HttpServer.HttpServer, server)),
          Layer.provide(Layer.succeed(ApiKeys, keys))
        )).pipe(Effect.withConfigProvider(ConfigProvider.fromJson({ XDG_CONFIG_HOME: home })))
        const readFile = Effect.flatMap(
          Effect.promise(() => NodeFs.readFile(configFile, "utf8")),
          Schema.decodeUnknown(ClientConfigFileJson)
        )
        const accountOf = (key: string | undefined) =>
          Effect.map(keys.authenticate(Redacted.make(key ?? "")), (principal) => principal.account_id)

        yield* devKeys
        const first = yield* readFile
        const account = yield* accountOf(first.api_key)
        expect(yield* accountOf(first.executor_api_key)).toBe(account)
        const buyer = yield* clientWith(first.api_key)
        const job = yield* buyer.jobs.create({ headers: {}, payload: order(agentId) })

        // The file loses the buyer key: a new one is made in the same account.
        yield* Effect.promise(() => NodeFs.writeFile(configFile, JSON.stringify({ executor_api_key: first.executor_api_key })))
        yield* devKeys
        const second = yield* readFile
        expect(second.api_key).not.toBe(first.api_key)
        expect(second.executor_api_key).toBe(first.executor_api_key)
        expect(yield* accountOf(second.api_key)).toBe(account)
        const replaced = yield* (yield* clientWith(first.api_key)).jobs.list({ urlParams: { limit: 10 } }).pipe(Effect.flip)
        expect(replaced._tag).toBe("Unauthorized")
        const listed = yield* (yield* clientWith(second.api_key)).jobs.list({ urlParams: { limit: 10 } })
        expect(listed.data.map((found) => found.job_id)).toEqual([job.job_id])
      }))
  })
})
