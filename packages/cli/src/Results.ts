/**
 * Saving a job's result files locally (`agnt result --out DIR`, `agnt order
 * --wait --out DIR`). Each file goes to `DIR/<path>`; a path that would land
 * outside `DIR` is refused before anything is downloaded, and each file's
 * size and sha256 are checked against the manifest before it is written.
 */
import { normalizeFilePath } from "@agnt/domain/Files"
import type { JobResult, ResultFile } from "@agnt/domain/Job"
import { FileSystem, HttpClient } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodePath from "node:path"
import { AgntClient } from "./Client.js"
import { CorruptDownload, UnsafePath, UsageError } from "./Output.js"

/** A result file written locally. `size` in bytes, `sha256` lowercase hex, `local_path` is `out` joined with `path`. */
export const SavedFile = Schema.Struct({
  path: Schema.String,
  size: Schema.NonNegativeInt,
  sha256: Schema.String,
  local_path: Schema.String
})
export type SavedFile = typeof SavedFile.Type

/**
 * Where the result file `path` goes under `out`.
 *
 * @returns `out` joined with the normalised `path`, or `UnsafePath` when `path`
 * is absolute, contains `..`, a control character, or otherwise resolves
 * outside `out` (or to `out` itself).
 */
export const safeOutputPath = (out: string, path: string): Either.Either<string, UnsafePath> => {
  const refuse = (reason: string) =>
    Either.left(new UnsafePath({ path, out, message: `result file ${JSON.stringify(path)} refused: ${reason}` }))
  const normalized = normalizeFilePath(path)
  if (Either.isLeft(normalized)) return refuse(normalized.left.message)
  const base = NodePath.resolve(out)
  const target = NodePath.resolve(base, normalized.right)
  const relative = NodePath.relative(base, target)
  if (relative === "" || relative.split(NodePath.sep)[0] === ".." || NodePath.isAbsolute(relative)) {
    return refuse(`it resolves outside ${out}`)
  }
  return Either.right(NodePath.join(out, normalized.right))
}

/** Lowercase hex SHA-256 of `bytes`. */
export const sha256Hex = (bytes: Uint8Array): string => NodeCrypto.createHash("sha256").update(bytes).digest("hex")

/** `true` when `url` is an absolute http(s) URL (a presigned object-store link) rather than an API path. */
export const isAbsoluteHttpUrl = (url: string): boolean => /^https?:\/\//i.test(url)

/**
 * The bytes of one result file: through the API's `jobs.download` endpoint,
 * or — for an absolute presigned URL — a plain GET without our API key
 * (the object store is not our API).
 */
const fetchBytes = (client: AgntClient, http: HttpClient.HttpClient, result: JobResult, file: ResultFile) =>
  isAbsoluteHttpUrl(file.download_url)
    ? http.get(file.download_url).pipe(
      Effect.flatMap((response) => response.arrayBuffer),
      Effect.map((buffer) => new Uint8Array(buffer))
    )
    : client.jobs.download({ path: { job_id: result.job_id, file_id: file.file_id } })

/** Result files are fetched this many at a time. */
const downloadConcurrency = 4

/**
 * Download every file of `result` into `out` (created as needed), verifying
 * each against its manifest `size` and `sha256` before writing it.
 *
 * @returns the saved files in manifest order. Fails with `UnsafePath` (before
 * any download) for a path escaping `out`, `CorruptDownload` for a corrupt
 * download, `UsageError` when a file cannot be written, or the client's errors.
 */
export const downloadResults = (result: JobResult, out: string) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const fs = yield* FileSystem.FileSystem
    const http = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const targets = yield* Effect.forEach(result.files, (file) =>
      Either.map(safeOutputPath(out, file.path), (local_path) => ({ file, local_path })))
    const writeFailed = (path: string) => (error: { readonly message: string }) =>
      new UsageError({ message: `cannot write ${path}: ${error.message}` })
    return yield* Effect.forEach(
      targets,
      ({ file, local_path }) =>
        Effect.gen(function*() {
          const bytes = yield* fetchBytes(client, http, result, file)
          const sha256 = sha256Hex(bytes)
          if (sha256 !== file.sha256.toLowerCase() || bytes.byteLength !== file.size) {
            return yield* new CorruptDownload({
              path: file.path,
              expected_sha256: file.sha256,
              actual_sha256: sha256,
              expected_size: file.size,
              actual_size: bytes.byteLength,
              message: `downloaded ${file.path} does not match the manifest (size or sha256); not written`
            })
          }
          yield* fs.makeDirectory(NodePath.dirname(local_path), { recursive: true }).pipe(
            Effect.mapError(writeFailed(NodePath.dirname(local_path)))
          )
          yield* fs.writeFile(local_path, bytes).pipe(Effect.mapError(writeFailed(local_path)))
          const saved: SavedFile = { path: file.path, size: bytes.byteLength, sha256, local_path }
          return saved
        }),
      { concurrency: downloadConcurrency }
    )
  })
