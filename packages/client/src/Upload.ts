/**
 * The multipart body of an upload (`POST /v1/jobs`, `POST
 * /v1/executor/jobs/{job_id}/complete`), byte-exact (DESIGN.md "Files are
 * byte-exact"): each file is read once to measure its SHA-256, then sent
 * streamed from disk (a file-backed `Blob`, never held whole in memory),
 * and the `sha256` field states every file's digest, so that the server
 * refuses the whole request if any file's bytes changed on the way
 * (400 `ChecksumMismatch`).
 */
import type { FileChecksums } from "@agnt/domain/Job"
import { Data, Effect } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"

/** A local file to upload. */
export interface UploadFile {
  /** Its path in the job (the part's filename): relative, `/`-separated. */
  readonly name: string
  /** Where it is on this machine. */
  readonly path: string
  /** The part's content type, e.g. `text/markdown`. */
  readonly type: string
}

/** A local file could not be read; `path` is the local path. */
export class UnreadableFile extends Data.TaggedError("UnreadableFile")<{
  readonly path: string
  readonly message: string
}> {}

/** The SHA-256 (lowercase hex) and size in bytes of the file at `path`, streamed. @fails UnreadableFile. */
export const fileDigest = (path: string): Effect.Effect<{ readonly sha256: string; readonly size: number }, UnreadableFile> =>
  Effect.tryPromise({
    try: async (signal) => {
      const hash = NodeCrypto.createHash("sha256")
      let size = 0
      for await (const chunk of NodeFs.createReadStream(path, { signal })) {
        const bytes = chunk as Buffer
        hash.update(bytes)
        size += bytes.length
      }
      return { sha256: hash.digest("hex"), size }
    },
    catch: (cause) => new UnreadableFile({ path, message: cause instanceof Error ? cause.message : String(cause) })
  })

/**
 * A `multipart/form-data` body: each of `fields` as a text part, a
 * `sha256` part with every file's digest by its name (JSON text of
 * `FileChecksums`), and each file as a `files` part named by its `name`
 * (percent-encoded, RFC 3986 §2.1), streamed from disk when the request is
 * sent. Files are hashed up to 4 at
 * a time. A file that changes after it was hashed fails the send (Node
 * refuses to read a file-backed `Blob` whose file changed) or, if the
 * change slips past that, the server refuses it.
 *
 * @fails UnreadableFile naming the first file that cannot be read.
 */
export const uploadForm = (
  fields: Readonly<Record<string, string>>,
  files: ReadonlyArray<UploadFile>
): Effect.Effect<FormData, UnreadableFile> =>
  Effect.gen(function*() {
    const parts = yield* Effect.forEach(files, (file) =>
      Effect.all({
        name: Effect.succeed(file.name),
        digest: fileDigest(file.path),
        blob: Effect.tryPromise({
          try: () => NodeFs.openAsBlob(file.path, { type: file.type }),
          catch: (cause) => new UnreadableFile({ path: file.path, message: cause instanceof Error ? cause.message : String(cause) })
        })
      }), { concurrency: 4 })
    const form = new FormData()
    for (const [name, value] of Object.entries(fields)) form.append(name, value)
    const checksums: FileChecksums = Object.fromEntries(parts.map((part) => [part.name, part.digest.sha256]))
    if (parts.length > 0) form.append("sha256", JSON.stringify(checksums))
    // Percent-encoded: the server's multipart parser reads raw filenames as Latin-1 only (see the server's `decodeFileName`).
    for (const part of parts) form.append("files", part.blob, encodeURIComponent(part.name))
    return form
  })
