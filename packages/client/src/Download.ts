/**
 * Downloading a job's file byte-exact (DESIGN.md "Files are byte-exact"):
 * the response body streams into a temporary file beside the destination
 * while its SHA-256 and size are measured, and only bytes that match what
 * the server recorded are renamed into place — never held whole in
 * memory (at most about 256 KiB waits for the disk), never a partial or
 * damaged file at the destination.
 */
import { Api } from "@agnt/domain/Api"
import type { FileId, JobId } from "@agnt/domain/Ids"
import { HttpApiClient, HttpClient, HttpClientResponse } from "@effect/platform"
import * as NodeSink from "@effect/platform-node/NodeSink"
import type { ResponseError } from "@effect/platform/HttpClientError"
import { Data, Effect, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeFsP from "node:fs/promises"
import * as NodePath from "node:path"
import type * as NodeStream from "node:stream"

/** What the server recorded of a file: `size` in bytes, `sha256` lowercase hex. */
export interface ExpectedFile {
  readonly size: number
  readonly sha256: string
}

/** A job's file to download: the API's ids, what was recorded, and — for a result file — its `download_url`. */
export interface DownloadableFile extends ExpectedFile {
  readonly job_id: JobId
  readonly file_id: FileId
  /** An absolute http(s) URL (a presigned object-store link) is fetched without the API key; an API path is ignored. */
  readonly download_url?: string | undefined
}

/**
 * The bytes that arrived are not the recorded file's (size or SHA-256
 * differ; reading stops as soon as more bytes than recorded arrive, so
 * `actual_size` is then a lower bound). Nothing was left at `destination`.
 */
export class DownloadMismatch extends Data.TaggedError("DownloadMismatch")<{
  readonly destination: string
  readonly expected_size: number
  readonly actual_size: number
  readonly expected_sha256: string
  readonly actual_sha256: string
}> {}

/** The destination (or its folder, or the temporary file beside it) could not be written. */
export class DestinationError extends Data.TaggedError("DestinationError")<{
  readonly path: string
  readonly message: string
}> {}

/**
 * Bytes a file being written may hold in memory before the download waits
 * for the disk. With 1 MiB, a 1 GiB `agnt result` with the compiled `agnt`
 * peaked at 128–137 MiB RSS; with 256 KiB at 120–122, at the same speed
 * (`bench/files.ts`).
 */
const writeBufferBytes = 256 * 1024

/**
 * Wait until `writable` has written out what it holds beyond its buffer
 * size. The sink of a stream (`NodeSink.fromWritable`) waits for it only
 * between the items of one chunk, so a stream of one buffer per chunk
 * (socket reads, file reads) would otherwise pile up in memory whenever
 * the writer is slower than the reader.
 */
const drained = (writable: NodeStream.Writable): Effect.Effect<void> =>
  writable.writableNeedDrain && !writable.destroyed
    ? Effect.async<void>((resume) => {
      const done = () => {
        writable.off("drain", done).off("close", done)
        resume(Effect.void)
      }
      writable.on("drain", done).on("close", done)
      return Effect.sync(() => writable.off("drain", done).off("close", done))
    })
    : Effect.void

/**
 * Write `body` to `destination` when, and only when, its bytes are
 * `expected`: they stream into a hidden temporary file in the same folder
 * (created as needed) while their SHA-256 and size are measured, the
 * reading stops once more than `expected.size` bytes came, and the file is
 * renamed into place after both match. On any failure, interruption
 * included, the temporary file is removed and `destination` is untouched.
 *
 * @returns the measured size and SHA-256 (equal to `expected`).
 * @fails DownloadMismatch, DestinationError, or the body's own `E`.
 */
export const saveVerified = <E>(
  body: Stream.Stream<Uint8Array, E>,
  destination: string,
  expected: ExpectedFile
): Effect.Effect<ExpectedFile, E | DownloadMismatch | DestinationError> =>
  Effect.gen(function*() {
    const folder = NodePath.dirname(destination)
    const temporary = NodePath.join(folder, `.${NodePath.basename(destination)}.${NodeCrypto.randomBytes(6).toString("hex")}.part`)
    const cannotWrite = (path: string) => (cause: unknown) =>
      new DestinationError({ path, message: cause instanceof Error ? cause.message : String(cause) })
    yield* Effect.tryPromise({ try: () => NodeFsP.mkdir(folder, { recursive: true }), catch: cannotWrite(folder) })
    const hash = NodeCrypto.createHash("sha256")
    let size = 0
    const mismatch = (sha256: string) =>
      new DownloadMismatch({
        destination,
        expected_size: expected.size,
        actual_size: size,
        expected_sha256: expected.sha256,
        actual_sha256: sha256
      })
    return yield* Effect.gen(function*() {
      // A Node write stream (not `FileSystem.sink`, several times slower), closed however the run ends.
      const file = yield* Effect.acquireRelease(
        Effect.sync(() => NodeFs.createWriteStream(temporary, { flags: "wx", highWaterMark: writeBufferBytes })),
        (stream) => Effect.sync(() => stream.destroy())
      )
      const measured = Stream.mapChunksEffect(body, (chunk) => {
        for (const bytes of chunk) {
          hash.update(bytes)
          size += bytes.length
        }
        return size > expected.size ? Effect.fail(mismatch(hash.digest("hex"))) : Effect.as(drained(file), chunk)
      })
      yield* Stream.run(measured, NodeSink.fromWritable(() => file, cannotWrite(temporary)))
      const sha256 = hash.digest("hex")
      if (size !== expected.size || sha256 !== expected.sha256.toLowerCase()) return yield* mismatch(sha256)
      yield* Effect.tryPromise({ try: () => NodeFsP.rename(temporary, destination), catch: cannotWrite(destination) })
      return { size, sha256 }
    }).pipe(Effect.scoped, Effect.onError(() => Effect.promise(() => NodeFsP.rm(temporary, { force: true }))))
  })

/** `true` when `url` is an absolute http(s) URL (a presigned object-store link) rather than an API path. */
export const isAbsoluteHttpUrl = (url: string): boolean => /^https?:\/\//i.test(url)

/**
 * A successful response whose body `save` has already consumed, answered
 * with no body: the derived client then decodes an empty file, and every
 * other status reaches its decoding of the endpoint's typed errors as sent.
 */
const consumedBy =
  <E, R>(save: (body: Stream.Stream<Uint8Array, ResponseError>) => Effect.Effect<unknown, E, R>) =>
  (response: HttpClientResponse.HttpClientResponse) =>
    response.status === 200
      ? Effect.as(save(response.stream), HttpClientResponse.fromWeb(response.request, new Response(null, { status: 200 })))
      : Effect.succeed(response)

/**
 * `download(file, destination)`: the file's bytes from the API's
 * `jobs.download` endpoint through `api` (an `HttpClient` with the API's
 * key), or from its absolute `download_url` through `plain` (no API key:
 * the object store is not our API), saved by `saveVerified`.
 *
 * @fails DownloadMismatch, DestinationError, the endpoint's typed errors
 *   (`JobNotFound`, `FileNotFound`, `Forbidden`, `Unauthorized`,
 *   `RateLimited`, …) as the derived client decodes them, `HttpClientError`
 *   (unreachable, an undeclared status, a body that broke off), or
 *   `ParseError`.
 */
export const makeDownload = (options: {
  readonly baseUrl: string
  readonly api: HttpClient.HttpClient
  readonly plain: HttpClient.HttpClient
}) =>
(file: DownloadableFile, destination: string) =>
  Effect.gen(function*() {
    if (file.download_url !== undefined && isAbsoluteHttpUrl(file.download_url)) {
      const response = yield* options.plain.pipe(HttpClient.filterStatusOk).get(file.download_url)
      return yield* saveVerified(response.stream, destination, file)
    }
    const save = (body: Stream.Stream<Uint8Array, ResponseError>) => saveVerified(body, destination, file)
    const download = yield* HttpApiClient.endpoint(Api, {
      group: "jobs",
      endpoint: "download",
      baseUrl: options.baseUrl,
      httpClient: HttpClient.transformResponse(options.api, Effect.flatMap(consumedBy(save)))
    })
    yield* download({ path: { job_id: file.job_id, file_id: file.file_id } })
    return { size: file.size, sha256: file.sha256.toLowerCase() }
  })
