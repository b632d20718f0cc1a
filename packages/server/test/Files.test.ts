import { makeApiClient } from "@agnt/client/ApiClient"
import { uploadBody } from "@agnt/client/Upload"
import type { AgentId, JobId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId, makeFileId } from "../src/Ids.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../src/Testing.js"
import { manifest } from "./Fixtures.js"

const sha256 = (text: string) => NodeCrypto.createHash("sha256").update(text).digest("hex")

/**
 * A multipart body: `fields`, then `sha256` when given, then `files` (path → text) as `files` parts;
 * with `statedLast`, `sha256` comes after the file parts instead (as `Upload.uploadBody` sends it).
 */
const form = (fields: Record<string, string>, files: Record<string, string>, stated?: Record<string, string>, statedLast = false) => {
  const body = new FormData()
  for (const [name, value] of Object.entries(fields)) body.append(name, value)
  if (stated !== undefined && !statedLast) body.append("sha256", JSON.stringify(stated))
  for (const [path, text] of Object.entries(files)) body.append("files", new Blob([text], { type: "text/plain" }), path)
  if (stated !== undefined && statedLast) body.append("sha256", JSON.stringify(stated))
  return body
}

/** Same base names in several folders, the case that once stored one file's bytes under every name. */
const sameNames = {
  "a/index.js": "export const a = 1\n",
  "b/index.js": "export const b = 2 // longer\n",
  "b/deep/index.js": "",
  "index.js": "top\n"
}
const statedOf = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([path, text]) => [path, sha256(text)]))

const makeClient = (url: string, key: Redacted.Redacted) => makeApiClient({ baseUrl: url, key })
type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

class World extends Context.Tag("test/FilesWorld")<World, {
  readonly agentId: AgentId
  readonly objects: string
  readonly buyer: Client
  readonly executor: Client
  readonly url: string
  readonly buyerKey: Redacted.Redacted
}>() {}

const WorldLive = Layer.unwrapScoped(
  Effect.map(temporaryDirectory("agnt-files-data-"), (dataDir) =>
    Layer.effect(
      World,
      Effect.gen(function*() {
        const url = yield* serverUrl
        const keys = yield* ApiKeys
        const client = (key: Redacted.Redacted) => makeClient(url, key)
        const executor = yield* client((yield* keys.create({ role: "executor" })).key)
        const buyerKey = (yield* keys.create({ role: "buyer" })).key
        const buyer = yield* client(buyerKey)
        const agentId = makeAgentId()
        yield* executor.agents.publish({ path: { agent_id: agentId }, payload: manifest("Files agent") })
        return { agentId, buyer, executor, objects: NodePath.join(dataDir, "objects"), url, buyerKey }
      })
    ).pipe(
      Layer.provideMerge(TestServerLive(inject("pgAdminUrl"), { dataDir })),
      Layer.provideMerge(FetchHttpClient.layer)
    ))
)

/** How many objects the local store holds. */
const objectCount = (objects: string) =>
  Effect.promise(async () => {
    const entries = await NodeFs.readdir(objects, { recursive: true, withFileTypes: true }).catch(() => [])
    return entries.filter((entry) => entry.isFile()).length
  })

/** Each file of the job's `kind` with its downloaded text, by path. */
const downloaded = (jobId: JobId, kind: "input" | "result") =>
  Effect.gen(function*() {
    const { buyer, executor } = yield* World
    const files = kind === "input"
      ? (yield* buyer.jobs.get({ path: { job_id: jobId } })).input_files
      : (yield* buyer.jobs.result({ path: { job_id: jobId } })).files
    return Object.fromEntries(
      yield* Effect.forEach(files, (file) =>
        Effect.map(executor.jobs.download({ path: { job_id: jobId, file_id: file.file_id } }), (bytes) => {
          const text = new TextDecoder().decode(bytes)
          expect(file.sha256).toBe(sha256(text))
          expect(file.size).toBe(Buffer.byteLength(text))
          return [file.path, text] as const
        }))
    )
  })

/** A job of the world's agent, claimed and running; yields its id and lease. */
const runningJob = Effect.gen(function*() {
  const { agentId, buyer, executor } = yield* World
  const job = yield* buyer.jobs.create({ headers: {}, payload: form({ agent_id: agentId, prompt: "p", params: "{\"level\":1}" }, {}) })
  const { lease } = yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
  yield* executor.executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
  return { jobId: job.job_id, leaseId: lease.lease_id }
})

layer(WorldLive, { timeout: 60_000 })("byte-exact files", (it) => {
  describe("one destination per part", () => {
    it.effect("input files sharing a base name in different folders each keep their own bytes", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* World
        const job = yield* buyer.jobs.create({
          headers: {},
          payload: form({ agent_id: agentId, prompt: "p", params: "{\"level\":1}" }, sameNames, statedOf(sameNames))
        })
        expect(yield* downloaded(job.job_id, "input")).toEqual(sameNames)
      }))

    it.effect("result files sharing a base name in different folders each keep their own bytes", () =>
      Effect.gen(function*() {
        const { executor } = yield* World
        const { jobId, leaseId } = yield* runningJob
        yield* executor.executor.complete({ path: { job_id: jobId }, payload: form({ lease_id: leaseId }, sameNames, statedOf(sameNames)) })
        expect(yield* downloaded(jobId, "result")).toEqual(sameNames)
      }))

    it.effect("percent-encoded file names are decoded (any script); a raw name beyond Latin-1, which the parser cannot read, is 400 saying so", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* World
        const fields = { agent_id: agentId, prompt: "p", params: "{\"level\":1}" }
        const encoded = { [encodeURIComponent("日本/😀 a%b.txt")]: "emoji", "naïve.txt": "latin-1, raw" }
        const job = yield* buyer.jobs.create({ headers: {}, payload: form(fields, encoded, { "日本/😀 a%b.txt": sha256("emoji") }) })
        expect(yield* downloaded(job.job_id, "input")).toEqual({ "日本/😀 a%b.txt": "emoji", "naïve.txt": "latin-1, raw" })
        const raw = yield* buyer.jobs.create({ headers: {}, payload: form(fields, { "😀.txt": "x" }) }).pipe(Effect.flip)
        expect(raw).toMatchObject({ _tag: "InvalidRequest" })
        expect(raw.message).toContain("percent-encode")
      }))

    it.effect("without stated checksums (a client such as curl) files are stored, with the SHA-256 of their bytes", () =>
      Effect.gen(function*() {
        const { agentId, buyer } = yield* World
        const job = yield* buyer.jobs.create({
          headers: {},
          payload: form({ agent_id: agentId, prompt: "p", params: "{\"level\":1}" }, sameNames)
        })
        expect(yield* downloaded(job.job_id, "input")).toEqual(sameNames)
      }))
  })

  describe("streamed downloads", () => {
    it.scoped("downloadFile saves each input byte-exact at its path; a file the job lacks is FileNotFound, another account's job JobNotFound, neither leaving a file", () =>
      Effect.gen(function*() {
        const { agentId, buyer, url } = yield* World
        const job = yield* buyer.jobs.create({
          headers: {},
          payload: form({ agent_id: agentId, prompt: "p", params: "{\"level\":1}" }, sameNames, statedOf(sameNames))
        })
        const dir = yield* temporaryDirectory("agnt-files-download-")
        for (const file of job.input_files) {
          const saved = yield* buyer.downloadFile({ ...file, job_id: job.job_id }, NodePath.join(dir, "inputs", file.path))
          expect(saved).toEqual({ size: file.size, sha256: file.sha256 })
        }
        const read = (path: string) => Effect.promise(() => NodeFs.readFile(NodePath.join(dir, "inputs", path), "utf8"))
        expect(Object.fromEntries(yield* Effect.forEach(Object.keys(sameNames), (path) => Effect.map(read(path), (text) => [path, text]))))
          .toEqual(sameNames)

        const [first] = job.input_files
        if (first === undefined) return yield* Effect.die(new Error("no input files"))
        const lacking = yield* buyer.downloadFile({ ...first, job_id: job.job_id, file_id: makeFileId() }, NodePath.join(dir, "lacking"))
          .pipe(Effect.flip)
        expect(lacking).toMatchObject({ _tag: "FileNotFound" })
        const stranger = yield* makeClient(url, (yield* Effect.flatMap(ApiKeys, (keys) => keys.create({ role: "buyer" }))).key)
        const foreign = yield* stranger.downloadFile({ ...first, job_id: job.job_id }, NodePath.join(dir, "foreign")).pipe(Effect.flip)
        expect(foreign).toMatchObject({ _tag: "JobNotFound" })
        expect((yield* Effect.promise(() => NodeFs.readdir(dir))).sort()).toEqual(["inputs"])
      }))
  })

  describe("parts and bodies", () => {
    it.effect("a body neither multipart nor JSON, a files part without a filename and a file under another name are each 400, keeping nothing", () =>
      Effect.gen(function*() {
        const { agentId, buyer, buyerKey, objects, url } = yield* World
        const before = yield* objectCount(objects)
        const plain = yield* Effect.promise(() =>
          fetch(`${url}/v1/jobs`, {
            method: "POST",
            headers: { authorization: `Bearer ${Redacted.value(buyerKey)}`, "content-type": "text/plain" },
            body: "review this"
          }).then(async (response) => ({ status: response.status, body: (await response.json()) as { _tag: string; message: string } }))
        )
        expect(plain).toMatchObject({ status: 400, body: { _tag: "InvalidRequest" } })
        expect(plain.body.message).toContain("multipart/form-data")
        const fields = { agent_id: agentId, prompt: "p", params: "{\"level\":1}" }
        const textPart = form(fields, { "a.txt": "a" })
        textPart.append("files", "not a file")
        const nameless = yield* buyer.jobs.create({ headers: {}, payload: textPart }).pipe(Effect.flip)
        expect(nameless).toMatchObject({ _tag: "InvalidRequest" })
        expect(nameless.message).toContain("filename")
        const otherName = form(fields, { "a.txt": "a" })
        otherName.append("attachment", new Blob(["x"]), "b.txt")
        const misplaced = yield* buyer.jobs.create({ headers: {}, payload: otherName }).pipe(Effect.flip)
        expect(misplaced).toMatchObject({ _tag: "InvalidRequest" })
        expect(misplaced.message).toContain("attachment")
        expect(yield* objectCount(objects)).toBe(before)
      }))
  })

  describe("stated checksums", () => {
    it.effect("an input file whose bytes differ from its stated SHA-256 is 400 ChecksumMismatch naming it; no job, row or object is kept", () =>
      Effect.gen(function*() {
        const { agentId, buyer, objects } = yield* World
        const sql = yield* SqlClient.SqlClient
        const before = { objects: yield* objectCount(objects), jobs: yield* sql`SELECT job_id FROM jobs` }
        const stated = { ...statedOf(sameNames), "b/index.js": sha256("what the buyer meant to send") }
        const refused = yield* buyer.jobs.create({
          headers: {},
          payload: form({ agent_id: agentId, prompt: "p", params: "{\"level\":1}" }, sameNames, stated)
        }).pipe(Effect.flip)
        expect(refused).toMatchObject({
          _tag: "ChecksumMismatch",
          path: "b/index.js",
          expected: stated["b/index.js"],
          actual: sha256(sameNames["b/index.js"])
        })
        expect(refused.message).toContain("b/index.js")
        expect(yield* objectCount(objects)).toBe(before.objects)
        expect((yield* sql`SELECT job_id FROM jobs`).length).toBe(before.jobs.length)
      }))

    it.effect("a stated SHA-256 after the file parts is checked as one before them: a mismatch refuses the whole order, keeping no job, row or object", () =>
      Effect.gen(function*() {
        const { agentId, buyer, objects } = yield* World
        const sql = yield* SqlClient.SqlClient
        const before = { objects: yield* objectCount(objects), jobs: yield* sql`SELECT job_id FROM jobs` }
        const fields = { agent_id: agentId, prompt: "p", params: "{\"level\":1}" }
        const stated = { ...statedOf(sameNames), "index.js": sha256("what the buyer meant to send") }
        const refused = yield* buyer.jobs.create({ headers: {}, payload: form(fields, sameNames, stated, true) }).pipe(Effect.flip)
        expect(refused).toMatchObject({ _tag: "ChecksumMismatch", path: "index.js", actual: sha256(sameNames["index.js"]) })
        expect(yield* objectCount(objects)).toBe(before.objects)
        expect((yield* sql`SELECT job_id FROM jobs`).length).toBe(before.jobs.length)
        const job = yield* buyer.jobs.create({ headers: {}, payload: form(fields, sameNames, statedOf(sameNames), true) })
        expect(yield* downloaded(job.job_id, "input")).toEqual(sameNames)
      }))

    it.scoped("a file of several MiB sent by uploadBody, read once with its SHA-256 after it, is stored byte-exact and nothing else is left in the store", () =>
      Effect.gen(function*() {
        const { agentId, buyer, objects } = yield* World
        const work = yield* temporaryDirectory("agnt-files-upload-")
        // Over the client's 1 MiB reads and the stream buffers on both sides, and not a multiple of either.
        const bytes = NodeCrypto.randomBytes(5 * 1024 * 1024 + 3)
        const local = NodePath.join(work, "big.bin")
        yield* Effect.promise(() => NodeFs.writeFile(local, bytes))
        const before = yield* objectCount(objects)
        const body = yield* uploadBody({ agent_id: agentId, prompt: "p", params: "{\"level\":1}" }, [
          { name: "data/big.bin", path: local, type: "application/octet-stream" }
        ])
        const job = yield* buyer.uploads.createJob(body, {})
        const [file] = job.input_files
        expect(file).toMatchObject({
          path: "data/big.bin",
          size: bytes.length,
          sha256: NodeCrypto.createHash("sha256").update(bytes).digest("hex")
        })
        if (file === undefined) return
        const back = NodePath.join(work, "back.bin")
        yield* buyer.downloadFile({ ...file, job_id: job.job_id }, back)
        expect((yield* Effect.promise(() => NodeFs.readFile(back))).equals(bytes)).toBe(true)
        // One object more, under its final name: the temporary file it streamed into was renamed, not copied or left.
        const entries = yield* Effect.promise(() => NodeFs.readdir(objects, { recursive: true }))
        expect(entries.filter((entry) => entry.endsWith(".part"))).toEqual([])
        expect(yield* objectCount(objects)).toBe(before + 1)
      }))

    it.effect("a result file whose bytes differ from its stated SHA-256 is 400 ChecksumMismatch; the job stays running and can complete", () =>
      Effect.gen(function*() {
        const { buyer, executor, objects } = yield* World
        const { jobId, leaseId } = yield* runningJob
        const before = yield* objectCount(objects)
        const refused = yield* executor.executor.complete({
          path: { job_id: jobId },
          payload: form({ lease_id: leaseId }, { "out/r.txt": "damaged" }, { "out/r.txt": sha256("intact") })
        }).pipe(Effect.flip)
        expect(refused).toMatchObject({ _tag: "ChecksumMismatch", path: "out/r.txt" })
        expect(yield* objectCount(objects)).toBe(before)
        expect((yield* buyer.jobs.get({ path: { job_id: jobId } })).status).toBe("running")
        const done = yield* executor.executor.complete({
          path: { job_id: jobId },
          payload: form({ lease_id: leaseId }, { "out/r.txt": "intact" }, { "out/r.txt": sha256("intact") })
        })
        expect(done.status).toBe("completed")
        expect(yield* downloaded(jobId, "result")).toEqual({ "out/r.txt": "intact" })
      }))

    it.effect("a small complete with a result file, refused (another lease, then another key's job), keeps no object; the holder's stores it", () =>
      Effect.gen(function*() {
        const { buyer, executor, objects, url } = yield* World
        const { jobId, leaseId } = yield* runningJob
        const before = yield* objectCount(objects)
        const files = { "out/r.txt": "result" }
        const stated = { "out/r.txt": sha256("result") }
        const refused = yield* executor.executor.complete({
          path: { job_id: jobId },
          payload: form({ lease_id: "lease_not_the_holder" }, files, stated)
        }).pipe(Effect.flip)
        expect(refused._tag).toBe("LeaseLost")
        const keys = yield* ApiKeys
        const stranger = yield* makeClient(url, (yield* keys.create({ role: "executor" })).key)
        const hidden = yield* stranger.executor.complete({ path: { job_id: jobId }, payload: form({ lease_id: leaseId }, files, stated) })
          .pipe(
            Effect.flip
          )
        expect(hidden._tag).toBe("JobNotFound")
        expect(yield* objectCount(objects)).toBe(before)
        expect((yield* buyer.jobs.get({ path: { job_id: jobId } })).status).toBe("running")
        const done = yield* executor.executor.complete({
          path: { job_id: jobId },
          payload: form({ lease_id: leaseId }, files, stated)
        })
        expect(done.status).toBe("completed")
        expect(yield* objectCount(objects)).toBe(before + 1)
      }))

    it.effect("a malformed stated SHA-256, a stated path no part carries, a repeated path and an unknown field are each 400, keeping nothing", () =>
      Effect.gen(function*() {
        const { agentId, buyer, objects } = yield* World
        const before = yield* objectCount(objects)
        const fields = { agent_id: agentId, prompt: "p", params: "{\"level\":1}" }
        const malformed = yield* buyer.jobs.create({ headers: {}, payload: form(fields, { "a.txt": "a" }, { "a.txt": "ABC" }) }).pipe(
          Effect.flip
        )
        expect(malformed).toMatchObject({ _tag: "InvalidRequest" })
        expect(malformed.message).toContain("sha256")
        const missing = yield* buyer.jobs.create({
          headers: {},
          payload: form(fields, { "a.txt": "a" }, { "a.txt": sha256("a"), "b.txt": sha256("b") })
        })
          .pipe(Effect.flip)
        expect(missing).toMatchObject({ _tag: "InvalidRequest" })
        expect(missing.message).toContain("b.txt")
        const twice = form(fields, { "a.txt": "a" })
        twice.append("files", new Blob(["again"]), "./a.txt")
        const repeated = yield* buyer.jobs.create({ headers: {}, payload: twice }).pipe(Effect.flip)
        expect(repeated).toMatchObject({ _tag: "InvalidFileName" })
        const unknown = yield* buyer.jobs.create({ headers: {}, payload: form({ ...fields, colour: "red" }, { "a.txt": "a" }) }).pipe(
          Effect.flip
        )
        expect(unknown).toMatchObject({ _tag: "InvalidRequest" })
        expect(unknown.message).toContain("colour")
        expect(yield* objectCount(objects)).toBe(before)
      }))
  })
})
