/**
 * The body of an upload (`POST /v1/jobs`, `POST
 * /v1/executor/jobs/{job_id}/complete`): a JSON object when it carries no
 * file (both endpoints take one; it is what the server reads fastest), else
 * `multipart/form-data`, byte-exact (DESIGN.md "Files are
 * byte-exact"): each file is read from disk once, streamed into the request
 * while its SHA-256 is measured, and the `sha256` field that states every
 * file's digest goes last, after the file parts (the order the API's
 * multipart contract allows, see `CreateJobRequest`), so that the server
 * refuses the whole request if any file's bytes changed on the way (400
 * `ChecksumMismatch`). Nothing is held whole in memory.
 */
import { Api } from "@agnt/domain/Api"
import type { JobId } from "@agnt/domain/Ids"
import type { FileChecksums } from "@agnt/domain/Job"
import { HttpApiClient, HttpBody, HttpClient, HttpClientRequest } from "@effect/platform"
import { Chunk, Data, Effect, FiberRef, Option, type Scope, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeFsP from "node:fs/promises"

/** A local file to upload. */
export interface UploadFile {
  /** Its path in the job (the part's filename): relative, `/`-separated. */
  readonly name: string
  /** Where it is on this machine. */
  readonly path: string
  /** The part's content type, e.g. `text/markdown`. */
  readonly type: string
}

/** A local file could not be read, or changed while it was sent; `path` is the local path. */
export class UnreadableFile extends Data.TaggedError("UnreadableFile")<{
  readonly path: string
  readonly message: string
}> {}

/**
 * Bytes read from a file at a time: large enough that the per-chunk work
 * (hashing, stream steps, socket writes) stays small, small enough that the
 * chunks in flight and awaiting collection stay few megabytes. A 1 GiB
 * `agnt order --file` with the compiled `agnt` peaked at 142–152 MiB RSS
 * with 1 MiB reads and at 123–127 MiB with 256 KiB, at the same speed
 * (`bench/files.ts`).
 */
const readChunkBytes = 256 * 1024

const encoder = new TextEncoder()
const crlf = encoder.encode("\r\n")

const unreadable = (path: string) => (cause: unknown) =>
  new UnreadableFile({ path, message: cause instanceof Error ? cause.message : String(cause) })

/** A text field's value as multipart form encoding sends it: every line break as CRLF (WHATWG HTML, multipart/form-data encoding). */
const fieldValue = (value: string) => value.replace(/\r\n|\r|\n/g, "\r\n")

/** What the file was when measured: its size in bytes and modification time, to tell a change while it is read. */
interface Snapshot {
  readonly size: number
  readonly mtimeMs: number
}

const snapshotOf = (path: string): Effect.Effect<Snapshot, UnreadableFile> =>
  Effect.tryPromise({
    try: async () => {
      const stats = await NodeFsP.stat(path)
      if (!stats.isFile()) throw new Error("not a regular file")
      return { size: stats.size, mtimeMs: stats.mtimeMs }
    },
    catch: unreadable(path)
  })

/**
 * The `snapshot.size` bytes of the file at `path`, read once in large
 * chunks. Fails with UnreadableFile when the file cannot be read, or when
 * it ends early or has changed by the time it was read to the end (the
 * request is then cut off, so the server keeps nothing of it).
 */
const fileBytes = (path: string, snapshot: Snapshot): Stream.Stream<Uint8Array, UnreadableFile> =>
  // Opened only when its turn comes: one file open at a time, however many are sent.
  Stream.suspend(() => {
    let read = 0
    const bytes = snapshot.size === 0 ? Stream.empty : Stream.fromAsyncIterable(
      NodeFs.createReadStream(path, { end: snapshot.size - 1, highWaterMark: readChunkBytes }),
      unreadable(path)
    ).pipe(Stream.map((chunk: Buffer) => {
      read += chunk.length
      return chunk
    }))
    const unchanged = Effect.flatMap(
      snapshotOf(path),
      (now) =>
        read === snapshot.size && now.size === snapshot.size && now.mtimeMs === snapshot.mtimeMs
          ? Effect.void
          : Effect.fail(new UnreadableFile({ path, message: `${path} changed while it was sent` }))
    )
    return Stream.concat(bytes, Stream.execute(unchanged))
  })

/** A file of an `UploadSource`: its name in the job, its part's content type, and its size in bytes. */
export interface SourceFile {
  readonly name: string
  readonly type: string
  readonly size: number
}

/**
 * Files to upload from anywhere: their names and sizes, known beforehand,
 * and `open`, which makes (in a scope that lasts one send of the body) the
 * reader of their bytes: `read(index)` is file `index`'s bytes, exactly
 * `size` of them, asked for in order, once each. Each send (a retry) opens
 * it afresh.
 */
export interface UploadSource {
  readonly files: ReadonlyArray<SourceFile>
  readonly open: Effect.Effect<(index: number) => Stream.Stream<Uint8Array, UnreadableFile>, UnreadableFile, Scope.Scope>
}

/**
 * The body of `fields` and `files` (local files). Without files, the JSON
 * object of `fields` (`{"agent_id": …, "params": "<JSON text>"}`: the same
 * field values the multipart form carries); with files, the
 * `multipart/form-data` body of `uploadSourceBody`, each file read from
 * disk once while the request is sent. A file that changes while it is
 * sent fails the send (see `uploadSourceBody`).
 *
 * @fails UnreadableFile naming the first file that is missing or not a
 *   regular file.
 */
export const uploadBody = (
  fields: Readonly<Record<string, string>>,
  files: ReadonlyArray<UploadFile>
): Effect.Effect<HttpBody.HttpBody, UnreadableFile> =>
  Effect.gen(function*() {
    if (files.length === 0) return HttpBody.unsafeJson(fields)
    const snapshots = yield* Effect.forEach(files, (file) => snapshotOf(file.path), { concurrency: 4 })
    return yield* uploadSourceBody(fields, {
      files: files.map((file, index) => ({ name: file.name, type: file.type, size: snapshots[index]?.size ?? 0 })),
      open: Effect.succeed((index) => {
        const file = files[index]
        const snapshot = snapshots[index]
        return file === undefined || snapshot === undefined ? Stream.empty : fileBytes(file.path, snapshot)
      })
    })
  })

/**
 * The `multipart/form-data` body of `fields` and the files of `source`,
 * streamed: each of `fields` as a text part, each file as a `files` part
 * named by its `name` (percent-encoded, RFC 3986 §2.1) whose bytes are read
 * while the request is sent, its SHA-256 measured on the way, and last a
 * `sha256` part with every file's digest by its name (JSON text of
 * `FileChecksums`). The body's length is known beforehand
 * (`Content-Length`; a SHA-256 is always 64 hex digits). A file that cannot
 * be read, or whose bytes are not its stated size, fails the send (the
 * request is cut off before its closing boundary) with UnreadableFile
 * inside the HTTP client's `RequestError`.
 */
export const uploadSourceBody = (
  fields: Readonly<Record<string, string>>,
  source: UploadSource
): Effect.Effect<HttpBody.HttpBody> =>
  Effect.sync(() => {
    const { files } = source
    const boundary = `agnt-${NodeCrypto.randomBytes(16).toString("hex")}`
    const opening = (disposition: string, type?: string) =>
      encoder.encode(
        `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n${type === undefined ? "" : `Content-Type: ${type}\r\n`}\r\n`
      )
    const textPart = (name: string, value: string) => [opening(`name="${name}"`), encoder.encode(fieldValue(value)), crlf]
    const head = Object.entries(fields).flatMap(([name, value]) => textPart(name, value))
    // Percent-encoded: the server's multipart parser reads raw filenames as Latin-1 only (see the server's `decodeFileName`).
    const openings = files.map((file) =>
      opening(`name="files"; filename="${encodeURIComponent(file.name)}"`, file.type || "application/octet-stream")
    )
    const checksumsOf = (digests: ReadonlyArray<string>): FileChecksums =>
      Object.fromEntries(files.map((file, index) => [file.name, digests[index] ?? ""]))
    const tail = (digests: ReadonlyArray<string>) => [
      ...textPart("sha256", JSON.stringify(checksumsOf(digests))),
      encoder.encode(`--${boundary}--\r\n`)
    ]
    const placeholder = files.map(() => "0".repeat(64))
    const length = [...head, ...openings, ...tail(placeholder)].reduce((sum, bytes) => sum + bytes.length, 0) +
      files.reduce((sum, file) => sum + file.size + crlf.length, 0)
    const content = Stream.unwrapScoped(Effect.map(source.open, (read) => {
      const digests: Array<string> = []
      const parts = files.map((file, index) => {
        const hash = NodeCrypto.createHash("sha256")
        return Stream.concat(
          Stream.make(openings[index] ?? new Uint8Array()),
          Stream.concat(hashedHalves(read(index), file, hash), Stream.sync(() => (digests.push(hash.digest("hex")), crlf)))
        )
      })
      return Stream.fromIterable(head).pipe(
        Stream.concat(Stream.concatAll(Chunk.fromIterable(parts))),
        Stream.concat(Stream.suspend(() => Stream.fromIterable(tail(digests))))
      )
    }))
    return HttpBody.stream(content, `multipart/form-data; boundary=${boundary}`, length)
  })

/**
 * `bytes` hashed as they go by, each chunk as its two halves (no copy): the
 * HTTP client waits for the socket to drain between the writes of one chunk
 * only, so this holds at most about one read in memory beyond the socket's
 * buffer. Fails when they are not `file.size` bytes.
 */
const hashedHalves = (bytes: Stream.Stream<Uint8Array, UnreadableFile>, file: SourceFile, hash: NodeCrypto.Hash) =>
  Stream.suspend(() => {
    let read = 0
    const halves = Stream.mapConcatChunk(bytes, (chunk: Uint8Array) => {
      hash.update(chunk)
      read += chunk.length
      const half = chunk.length >> 1
      return Chunk.make<[Uint8Array, Uint8Array]>(chunk.subarray(0, half), chunk.subarray(half))
    })
    const sized = Effect.suspend(() =>
      read === file.size
        ? Effect.void
        : Effect.fail(new UnreadableFile({ path: file.name, message: `${file.name} was ${read} bytes, not ${file.size}` }))
    )
    return Stream.concat(halves, Stream.execute(sized))
  })

/** The body an upload sends in place of what the derived client encoded; set around one call only. */
const bodyToSend = FiberRef.unsafeMake<Option.Option<HttpBody.HttpBody>>(Option.none())

/**
 * The two endpoints that take files, sending an `uploadBody` (the derived
 * client only sends a `FormData`, whose files must be hashed before they
 * are sent): `createJob` is `jobs.create` and `completeJob` is
 * `executor.complete`, with the same headers, path and typed errors. The
 * endpoints are derived once (deriving one costs about a millisecond of
 * CPU); each call's body reaches the request through a fiber-local value.
 */
export const makeUploads = (options: { readonly baseUrl: string; readonly api: HttpClient.HttpClient }) =>
  Effect.gen(function*() {
    const httpClient = HttpClient.mapRequestEffect(options.api, (request) =>
      Effect.map(
        FiberRef.get(bodyToSend),
        Option.match({ onNone: () => request, onSome: (body) => HttpClientRequest.setBody(request, body) })
      ))
    const create = yield* HttpApiClient.endpoint(Api, { group: "jobs", endpoint: "create", baseUrl: options.baseUrl, httpClient })
    const complete = yield* HttpApiClient.endpoint(Api, {
      group: "executor",
      endpoint: "complete",
      baseUrl: options.baseUrl,
      httpClient
    })
    return {
      /** `POST /v1/jobs` with `body`; `headers` as for `jobs.create`. */
      createJob: (body: HttpBody.HttpBody, headers: { readonly "idempotency-key"?: string | undefined }) =>
        Effect.locally(create({ headers, payload: new FormData() }), bodyToSend, Option.some(body)),
      /** `POST /v1/executor/jobs/{job_id}/complete` with `body`. */
      completeJob: (body: HttpBody.HttpBody, path: { readonly job_id: JobId }) =>
        Effect.locally(complete({ path, payload: new FormData() }), bodyToSend, Option.some(body))
    }
  })
