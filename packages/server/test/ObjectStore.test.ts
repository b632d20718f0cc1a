import { makeApiClient } from "@agnt/client/ApiClient"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Data, Effect, Layer, Option, type Redacted, type Scope, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { makeLocal, type ObjectStoreService } from "../src/ObjectStore.js"
import { makeS3 } from "../src/S3ObjectStore.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"
import { s3rver } from "./S3rver.js"

const text = (store: ObjectStoreService, key: string) =>
  store.get(key).pipe(Stream.runCollect, Effect.map((chunks) => Buffer.concat(Chunk.toArray(chunks)).toString("utf8")))

/** `size` deterministic pseudo-random bytes in chunks of at most 64 KiB, as a request body arrives. */
const bytes = (size: number) => {
  const data = NodeCrypto.createHash("sha512").update(String(size)).digest()
  const whole = Buffer.alloc(size)
  for (let offset = 0; offset < size; offset += data.length) data.copy(whole, offset)
  const chunks: Array<Uint8Array> = []
  for (let offset = 0; offset < size; offset += 65_536) chunks.push(whole.subarray(offset, Math.min(size, offset + 65_536)))
  return { whole, stream: Stream.fromIterable(chunks) }
}

class TooBig extends Data.TaggedError("TooBig")<{ readonly at: string }> {}

const contract = (name: string, makeStore: Effect.Effect<ObjectStoreService, never, Scope.Scope>) => {
  it.scopedLive(`${name}: put measures size and sha256 while streaming, get streams it back, remove deletes it`, () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      // Over the S3 layer's 8 MiB part size, so the object goes up in several parts.
      for (const size of [0, 200_003, 17 * 1024 * 1024 + 5]) {
        const { stream, whole } = bytes(size)
        const key = `jobs/job_1/input/file_${size}`
        const stored = yield* store.put(key, stream, "application/octet-stream")
        expect(stored).toEqual({ size, sha256: NodeCrypto.createHash("sha256").update(whole).digest("hex") })
        const back = Buffer.concat(Chunk.toArray(yield* Stream.runCollect(store.get(key))))
        expect(back.equals(whole)).toBe(true)
        yield* store.remove(key)
        const gone = yield* text(store, key).pipe(Effect.flip)
        expect(gone._tag).toBe("ObjectStoreError")
      }
      const refused = yield* store.put("../escape", Stream.make(new Uint8Array([1])), "text/plain").pipe(Effect.flip)
      expect(refused).toMatchObject({ _tag: "ObjectStoreError", message: "malformed object key" })
    }))

  it.scopedLive(`${name}: content that fails mid-stream fails put with its own error and leaves no object`, () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const failing = Stream.concat(bytes(9 * 1024 * 1024).stream, Stream.fail(new TooBig({ at: "9 MiB" })))
      const error = yield* store.put("jobs/job_1/input/file_partial", failing, "text/plain").pipe(Effect.flip)
      expect(error).toBeInstanceOf(TooBig)
      const gone = yield* text(store, "jobs/job_1/input/file_partial").pipe(Effect.flip)
      expect(gone._tag).toBe("ObjectStoreError")
    }))
}

describe("object stores", () => {
  contract("local directory", Effect.map(temporaryDirectory("agnt-objects-"), makeLocal))
  contract("S3 (s3rver)", Effect.flatMap(s3rver, makeS3))

  it.scopedLive("with S3, result files come with presigned URLs that download without an API key", () =>
    Effect.gen(function*() {
      const settings = yield* s3rver
      yield* Effect.gen(function*() {
        const url = yield* serverUrl
        const keys = yield* ApiKeys
        const client = (key: Redacted.Redacted) => makeApiClient({ baseUrl: url, key })
        const executor = yield* client((yield* keys.create({ role: "executor" })).key)
        const buyer = yield* client((yield* keys.create({ role: "buyer" })).key)
        const agentId = makeAgentId()
        yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("S3 agent") })
        const job = yield* buyer.jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }, { "in.txt": "input" }) })
        const input = yield* executor.jobs.download({ path: { job_id: job.job_id, file_id: job.input_files[0]!.file_id } })
        expect(new TextDecoder().decode(input)).toBe("input")
        const { lease } = (yield* executor.executor.claim({ payload: { agent_id: agentId, executor_id: "s3", wait: 0 } })).claimed!
        yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
        const form = new FormData()
        form.append("lease_id", lease.lease_id)
        form.append("files", new Blob(["result body"], { type: "text/plain" }), "out/result.txt")
        yield* executor.executor.complete({ path: { job_id: job.job_id }, payload: form })
        const result = yield* buyer.jobs.result({ path: { job_id: job.job_id } })
        const downloadUrl = result.files[0]!.download_url
        expect(downloadUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/agnt\/jobs\//)
        const response = yield* Effect.promise(() => fetch(downloadUrl))
        expect(response.status).toBe(200)
        expect(yield* Effect.promise(() => response.text())).toBe("result body")
      }).pipe(
        Effect.provide(TestServerLive(inject("pgAdminUrl"), { s3: Option.some(settings) }).pipe(Layer.provideMerge(FetchHttpClient.layer)))
      )
    }))
})
