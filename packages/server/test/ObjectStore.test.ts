import { Api } from "@agnt/domain/Api"
import { describe, expect, it } from "@effect/vitest"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Chunk, Effect, Layer, Option, Redacted, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import S3rver from "s3rver"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { makeLocal, type ObjectStoreService } from "../src/ObjectStore.js"
import { makeS3 } from "../src/S3ObjectStore.js"
import type { S3Settings } from "../src/ServerConfig.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"

/** A real S3 endpoint on loopback (s3rver) with bucket `agnt`, for the life of the scope. */
const s3rver = Effect.gen(function*() {
  const directory = yield* temporaryDirectory("agnt-s3rver-")
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: "agnt", configs: [] }] })
  const address = yield* Effect.acquireRelease(Effect.promise(() => server.run()), () => Effect.promise(() => server.close()))
  return {
    bucket: "agnt",
    region: "us-east-1",
    endpoint: Option.some(`http://127.0.0.1:${address.port}`),
    forcePathStyle: true,
    accessKeyId: Option.some(Redacted.make("S3RVER")),
    secretAccessKey: Option.some(Redacted.make("S3RVER")),
    publicUrl: Option.none()
  } satisfies S3Settings
})

const text = (store: ObjectStoreService, key: string) =>
  store.get(key).pipe(Stream.runCollect, Effect.map((chunks) => Buffer.concat(Chunk.toArray(chunks)).toString("utf8")))

const contract = (name: string, makeStore: Effect.Effect<ObjectStoreService, never, import("effect").Scope.Scope>) =>
  it.scopedLive(`${name}: put measures size and sha256, get streams it back, remove deletes it`, () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const dir = yield* temporaryDirectory("agnt-object-")
      const source = NodePath.join(dir, "source.txt")
      const content = "x".repeat(200_000) + "end\n"
      yield* Effect.promise(() => NodeFs.writeFile(source, content))
      const stored = yield* store.put("jobs/job_1/input/file_1", source, "text/plain")
      expect(stored).toEqual({ size: content.length, sha256: NodeCrypto.createHash("sha256").update(content).digest("hex") })
      expect(yield* text(store, "jobs/job_1/input/file_1")).toBe(content)
      yield* store.remove("jobs/job_1/input/file_1")
      const gone = yield* text(store, "jobs/job_1/input/file_1").pipe(Effect.flip)
      expect(gone._tag).toBe("ObjectStoreError")
      const refused = yield* store.put("../escape", source, "text/plain").pipe(Effect.flip)
      expect(refused.message).toBe("malformed object key")
    }))

describe("object stores", () => {
  contract("local directory", Effect.map(temporaryDirectory("agnt-objects-"), makeLocal))
  contract("S3 (s3rver)", Effect.flatMap(s3rver, makeS3))

  it.scopedLive("with S3, result files come with presigned URLs that download without an API key", () =>
    Effect.gen(function*() {
      const settings = yield* s3rver
      yield* Effect.gen(function*() {
        const url = yield* serverUrl
        const keys = yield* ApiKeys
        const client = (key: Redacted.Redacted) =>
          HttpApiClient.make(Api, { baseUrl: url, transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(key))) })
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
      }).pipe(Effect.provide(TestServerLive(inject("pgAdminUrl"), { s3: Option.some(settings) }).pipe(Layer.provideMerge(FetchHttpClient.layer))))
    }))
})
