/**
 * `agnt result --out` over real HTTP with the real `agnt` process: result
 * files of several MiB stream to disk byte-exact, and a stored object
 * damaged after upload (a flipped byte, or cut short) is refused without
 * leaving anything at its destination — neither the damaged bytes nor a
 * partial or temporary file — while a file already there stays as it was.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { uploadBody } from "@agnt/client/Upload"
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { manifest } from "../packages/server/test/Fixtures.js"
import { binPath, run } from "./Processes.js"

/** Every file under `dir` with its bytes, by `/`-separated relative path. */
const filesUnder = (dir: string) =>
  Effect.promise(async () => {
    const entries = await NodeFs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
    const files = new Map<string, Buffer>()
    for (const entry of entries.filter((entry) => entry.isFile())) {
      const absolute = NodePath.join(entry.parentPath, entry.name)
      files.set(NodePath.relative(dir, absolute).split(NodePath.sep).join("/"), await NodeFs.readFile(absolute))
    }
    return files
  })

it.scopedLive(
  "agnt result --out saves multi-MiB results byte-exact; a damaged stored object is CorruptDownload (exit 7) and leaves nothing at its destination",
  () =>
    Effect.gen(function*() {
      const dataDir = yield* temporaryDirectory("agnt-download-data-")
      yield* Effect.gen(function*() {
        const url = yield* serverUrl
        const keys = yield* ApiKeys
        const sql = yield* SqlClient.SqlClient
        const buyerKey = (yield* keys.create({ role: "buyer" })).key
        const buyer = yield* makeApiClient({ baseUrl: url, key: buyerKey })
        const executor = yield* makeApiClient({ baseUrl: url, key: (yield* keys.create({ role: "executor" })).key })
        const agentId = makeAgentId()
        yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Download agent") })

        // A job completed by hand with two results: 6 MiB of random bytes, and a small file in a folder.
        const work = yield* temporaryDirectory("agnt-download-")
        const results = { "big.bin": NodeCrypto.randomBytes(6 * 1024 * 1024 + 5), "notes/small.txt": Buffer.from("small\n") }
        yield* Effect.promise(async () => {
          for (const [name, bytes] of Object.entries(results)) await NodeFs.writeFile(NodePath.join(work, NodePath.basename(name)), bytes)
        })
        const order = yield* uploadBody({ agent_id: agentId, prompt: "p", params: JSON.stringify({ level: 1 }) }, [])
        const job = yield* buyer.uploads.createJob(order, {})
        const { lease } = yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
        yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
        const form = yield* uploadBody(
          { lease_id: lease.lease_id },
          Object.keys(results).map((name) => ({
            name,
            path: NodePath.join(work, NodePath.basename(name)),
            type: "application/octet-stream"
          }))
        )
        yield* executor.uploads.completeJob(form, { job_id: job.job_id })

        const agntResult = (out: string) =>
          run(binPath("cli", "agnt.js"), ["result", job.job_id, "--out", out], {
            cwd: work,
            env: {
              ...process.env,
              XDG_CONFIG_HOME: NodePath.join(work, "config"),
              AGNT_API_URL: url,
              AGNT_API_KEY: Redacted.value(buyerKey)
            }
          })

        const whole = NodePath.join(work, "whole")
        const saved = yield* agntResult(whole)
        expect(saved.code).toBe(0)
        expect(yield* filesUnder(whole)).toEqual(new Map(Object.entries(results)))
        expect(JSON.parse(saved.stdout).files).toEqual(
          Object.entries(results).map(([path, bytes]) => ({
            path,
            size: bytes.length,
            sha256: NodeCrypto.createHash("sha256").update(bytes).digest("hex"),
            local_path: NodePath.join(whole, ...path.split("/"))
          }))
        )

        const [stored] = yield* sql<{ storage_key: string }>`
        SELECT storage_key FROM job_files WHERE job_id = ${job.job_id} AND path = 'big.bin'`
        if (stored === undefined) return yield* Effect.die(new Error("no stored big.bin"))
        const object = NodePath.join(dataDir, "objects", ...stored.storage_key.split("/"))
        const damages = {
          flipped: Buffer.from(results["big.bin"]).map((byte, index) => index === 3 * 1024 * 1024 ? byte ^ 1 : byte),
          short: results["big.bin"].subarray(0, 5 * 1024 * 1024)
        }
        for (const [damage, bytes] of Object.entries(damages)) {
          yield* Effect.promise(() => NodeFs.writeFile(object, bytes))
          const out = NodePath.join(work, damage)
          yield* Effect.promise(() => NodeFs.mkdir(out))
          yield* Effect.promise(() => NodeFs.writeFile(NodePath.join(out, "big.bin"), "here before\n"))
          const refused = yield* agntResult(out)
          expect(refused.code, damage).not.toBe(0)
          if (damage === "flipped") {
            expect(refused.code).toBe(7)
            expect(JSON.parse(refused.stderr)).toMatchObject({ _tag: "CorruptDownload", path: "big.bin", expected_size: bytes.length })
          }
          const left = yield* filesUnder(out)
          expect(left.get("big.bin")?.toString(), damage).toBe("here before\n")
          expect([...left.keys()].filter((path) => path !== "notes/small.txt"), damage).toEqual(["big.bin"])
        }
      }).pipe(
        Effect.scoped,
        Effect.provide(TestServerLive(inject("pgAdminUrl"), { dataDir }).pipe(Layer.provideMerge(FetchHttpClient.layer)))
      )
    }),
  120_000
)
