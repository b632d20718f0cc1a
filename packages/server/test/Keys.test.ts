/**
 * API keys (DESIGN.md "Auth"): the `agnt_<role>_` prefix, at least 128
 * random bits, only a SHA-256 at rest, revocation that takes effect on the
 * next request, and listings without secrets.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import { Role } from "@agnt/domain/Auth"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { actor, clientWith, TestLive } from "./support.js"

const keyShape = /^agnt_(buyer|executor|admin)_([0-9a-z]{26})_([0-9a-f]+)$/

/** The parts of a key: role prefix, key id suffix, random part. */
const partsOf = (key: string) => {
  const match = keyShape.exec(key)
  expect(match, key).not.toBeNull()
  return { role: match?.[1] ?? "", idSuffix: match?.[2] ?? "", secret: match?.[3] ?? "" }
}

layer(TestLive, { timeout: 60_000 })("API keys", (it) => {
  it.effect("every role's key is agnt_<role>_<key id>_ and 64 hex digits, the id matching the key's key_id", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      for (const role of Role.literals) {
        const created = yield* keys.create({ role })
        const key = Redacted.value(created.key)
        expect(key.startsWith(`agnt_${role}_`)).toBe(true)
        const parts = partsOf(key)
        expect(parts.role).toBe(role)
        expect(`key_${parts.idSuffix}`).toBe(created.info.key_id)
        expect(parts.secret).toHaveLength(64)
      }
    }))

  it.effect("the random part carries at least 128 bits: 64 keys have distinct secrets and every bit position varies", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const secrets = yield* Effect.forEach(
        Array.from({ length: 64 }, (_, i) => i),
        () => Effect.map(keys.create({ role: "buyer" }), (created) => partsOf(Redacted.value(created.key)).secret)
      )
      expect(new Set(secrets).size).toBe(secrets.length)
      const bits = secrets.map((secret) => BigInt(`0x${secret}`))
      const ored = bits.reduce((a, b) => a | b, 0n)
      const anded = bits.reduce((a, b) => a & b, (1n << 256n) - 1n)
      // A bit that is the same in 64 independent keys happens with probability 2^-63 per bit.
      const varying = (ored & ~anded).toString(2).split("").filter((bit) => bit === "1").length
      expect(varying).toBe(256)
    }))

  it.effect("the api_keys row holds only the key's SHA-256, nowhere its plaintext or its random part", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const sql = yield* SqlClient.SqlClient
      const created = yield* keys.create({ role: "executor", agent_ids: [makeAgentId()], label: "ci runner" })
      const key = Redacted.value(created.key)
      const { secret } = partsOf(key)
      const rows = yield* sql<{ secret_sha256: Uint8Array; row: string }>`
        SELECT k.secret_sha256, row_to_json(k)::text AS row FROM api_keys k WHERE k.key_id = ${created.info.key_id}`
      expect(rows).toHaveLength(1)
      const [row] = rows
      expect(Buffer.from(row?.secret_sha256 ?? []).toString("hex")).toBe(NodeCrypto.createHash("sha256").update(key).digest("hex"))
      const text = row?.row ?? ""
      expect(text).not.toContain(secret)
      expect(text).not.toContain(secret.slice(0, 16))
      expect(text.toLowerCase()).not.toContain(Buffer.from(secret, "hex").toString("base64").toLowerCase())
      // No other table mentions the secret either.
      const dump = yield* sql<{ found: number }>`
        SELECT count(*)::int AS found FROM (
          SELECT row_to_json(t)::text AS text FROM api_keys t
          UNION ALL SELECT row_to_json(t)::text FROM agents t
          UNION ALL SELECT row_to_json(t)::text FROM jobs t
          UNION ALL SELECT row_to_json(t)::text FROM job_events t
        ) everything WHERE position(${secret} IN everything.text) > 0`
      expect(dump[0]?.found).toBe(0)
    }))

  it.effect("a created key's secret is Redacted: printing or serialising it shows no secret", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const created = yield* keys.create({ role: "buyer" })
      const { secret } = partsOf(Redacted.value(created.key))
      expect(String(created.key)).not.toContain(secret)
      expect(JSON.stringify(created)).not.toContain(secret)
      expect(JSON.stringify(created.info)).not.toContain(secret)
    }))

  it.effect("a revoked key is refused with 401 Unauthorized on the very next request, and revoking twice is a no-op", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const buyer = yield* actor("buyer")
      yield* buyer.client.jobs.list({ urlParams: { limit: 20 } })
      expect(yield* keys.revoke(buyer.info.key_id)).toBe(true)
      const refused = yield* buyer.client.jobs.list({ urlParams: { limit: 20 } }).pipe(Effect.flip)
      expect(refused._tag).toBe("Unauthorized")
      const search = yield* buyer.client.agents.search({ urlParams: { limit: 20 } }).pipe(Effect.flip)
      expect(search._tag).toBe("Unauthorized")
      expect(yield* keys.revoke(buyer.info.key_id)).toBe(false)
      const listed = (yield* keys.list()).find((info) => info.key_id === buyer.info.key_id)
      expect(listed?.revoked_at).not.toBeNull()
    }))

  it.effect("revoking an executor key stops it at once, even on the agent it published", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const executor = yield* actor("executor")
      const agentId = makeAgentId()
      yield* executor.client.agents.publish({
        path: { agent_id: agentId },
        payload: new AgentManifest({ name: "Doomed", description: "", tags: [], input_schema: {} })
      })
      yield* keys.revoke(executor.info.key_id)
      const claim = yield* executor.client.executor.claim({ payload: { agent_id: agentId, executor_id: "doomed", wait: 0 } }).pipe(
        Effect.flip
      )
      expect(claim._tag).toBe("Unauthorized")
    }))

  it.effect("listing keys returns their ids, accounts, roles, agents, labels and dates, never a secret or its hash", () =>
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const created = yield* keys.create({ role: "admin", label: "ops" })
      const key = Redacted.value(created.key)
      const { secret } = partsOf(key)
      const hash = NodeCrypto.createHash("sha256").update(key).digest()
      const listed = yield* keys.list()
      const info = listed.find((item) => item.key_id === created.info.key_id)
      expect(info).toBeDefined()
      expect(Object.keys(info ?? {}).sort()).toEqual(["account_id", "agent_ids", "created_at", "key_id", "label", "revoked_at", "role"])
      const text = JSON.stringify(listed)
      expect(text).not.toContain(secret)
      expect(text).not.toContain(hash.toString("hex"))
      expect(text).not.toContain(hash.toString("base64"))
    }))

  it.effect("a key with a real key id but another secret, or another role prefix, is 401 Unauthorized", () =>
    Effect.gen(function*() {
      const buyer = yield* actor("buyer")
      const { idSuffix, secret } = partsOf(buyer.key)
      const flipped = `${secret.slice(0, -1)}${secret.endsWith("0") ? "1" : "0"}`
      const forgedSecret = yield* clientWith(`agnt_buyer_${idSuffix}_${flipped}`)
      expect((yield* forgedSecret.jobs.list({ urlParams: { limit: 20 } }).pipe(Effect.flip))._tag).toBe("Unauthorized")
      const promoted = yield* clientWith(`agnt_admin_${idSuffix}_${secret}`)
      expect((yield* promoted.jobs.list({ urlParams: { limit: 20 } }).pipe(Effect.flip))._tag).toBe("Unauthorized")
      const truncated = yield* clientWith(`agnt_buyer_${idSuffix}_${secret.slice(0, 32)}`)
      expect((yield* truncated.jobs.list({ urlParams: { limit: 20 } }).pipe(Effect.flip))._tag).toBe("Unauthorized")
      // The genuine key still works.
      yield* buyer.client.jobs.list({ urlParams: { limit: 20 } })
    }))
})
