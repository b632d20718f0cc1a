/**
 * Saving a job's result files locally (`agnt result --out DIR`, `agnt order
 * --wait --out DIR`). Each file goes to `DIR/<path>`; a path that would land
 * outside `DIR` is refused before anything is downloaded, and each file
 * streams to disk (`@agnt/client/Download`) and lands at its path only if
 * its size and sha256 match the manifest.
 */
import { normalizeFilePath } from "@agnt/domain/Files"
import type { JobResult } from "@agnt/domain/Job"
import { Effect, Either, Schema } from "effect"
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

/** Result files are fetched this many at a time. */
const downloadConcurrency = 4

/**
 * Download every file of `result` into `out` (created as needed), each
 * streamed to disk and renamed into place only if it matches its manifest
 * `size` and `sha256` (`client.downloadFile`).
 *
 * @returns the saved files in manifest order. Fails with `UnsafePath` (before
 * any download) for a path escaping `out`, `CorruptDownload` for a corrupt
 * download, `UsageError` when a file cannot be written, or the client's errors.
 */
export const downloadResults = (result: JobResult, out: string) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const targets = yield* Effect.forEach(result.files, (file) =>
      Either.map(safeOutputPath(out, file.path), (local_path) => ({ file, local_path })))
    return yield* Effect.forEach(
      targets,
      ({ file, local_path }) =>
        client.downloadFile({ ...file, job_id: result.job_id }, local_path).pipe(
          Effect.map(({ sha256, size }): SavedFile => ({ path: file.path, size, sha256, local_path })),
          Effect.catchTags({
            DownloadMismatch: (mismatch) =>
              new CorruptDownload({
                path: file.path,
                expected_sha256: mismatch.expected_sha256,
                actual_sha256: mismatch.actual_sha256,
                expected_size: mismatch.expected_size,
                actual_size: mismatch.actual_size,
                message: `downloaded ${file.path} does not match the manifest (size or sha256); not written`
              }),
            DestinationError: (error) =>
              new UsageError({ message: `cannot write ${error.path}: ${error.message}` })
          })
        ),
      { concurrency: downloadConcurrency }
    )
  })
