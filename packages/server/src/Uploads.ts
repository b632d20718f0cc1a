/**
 * Receiving the files of a request (DESIGN.md "Files are byte-exact"): each
 * `files` part of a `multipart/form-data` body streams into its own object
 * in the store while its size and SHA-256 are measured, with the limits
 * enforced as the bytes arrive. Nothing is read back, nothing is held whole,
 * and no two parts share a destination whatever their names. The caller
 * checks the stated checksums and keeps the objects, or discards them all.
 */
import { ChecksumMismatch, InvalidFileName, InvalidRequest, PayloadTooLarge } from "@agnt/domain/Errors"
import { normalizeFilePath } from "@agnt/domain/Files"
import type { FileId } from "@agnt/domain/Ids"
import type { FileChecksums } from "@agnt/domain/Job"
import { mediaTypeOf } from "@agnt/domain/MediaTypes"
import { describeIssues } from "@agnt/domain/Requests"
import { type HttpServerRequest, type Multipart } from "@effect/platform"
import { Effect, Either, Option, ParseResult, Ref, Schema, Stream } from "effect"
import { makeFileId } from "./Ids.js"
import type { ObjectStoreService } from "./ObjectStore.js"

/** A file part stored while it streamed. `size` in bytes, `sha256` lowercase hex of what was stored. */
export interface ReceivedFile {
  readonly file_id: FileId
  /** The part's filename, normalised (`Files.normalizeFilePath`). */
  readonly path: string
  /** The media type of its name (`MediaTypes.mediaTypeOf`), whatever type the part stated. */
  readonly mime: string
  readonly size: number
  readonly sha256: string
  readonly storage_key: string
}

/** A received multipart body: its text fields by name and its stored files in arrival order. */
export interface ReceivedForm {
  readonly fields: Readonly<Record<string, string>>
  readonly files: ReadonlyArray<ReceivedFile>
}

/** Limits on one request's files; sizes in bytes. */
export interface UploadLimits {
  /** Largest request body. */
  readonly maxBodyBytes: number
  /** Most file parts in one request. */
  readonly maxFiles: number
  /** Largest single file. */
  readonly maxFileBytes: number
  /** Largest sum of all files' sizes; `undefined` for no limit beyond the body's own. */
  readonly maxTotalBytes: number | undefined
  /** Largest text field (see `maxFieldBytesOf`). */
  readonly maxFieldBytes: number
}

/**
 * The largest multipart text field, in bytes: the parser's default 10 MiB,
 * or more when the prompt limit needs it (a UTF-16 code unit is at most 3
 * bytes of UTF-8), so that a prompt within its limit always fits.
 */
export const maxFieldBytesOf = (limits: { readonly maxPromptChars: number; readonly maxParamsBytes: number }): number =>
  Math.max(10 * 1024 * 1024, 3 * limits.maxPromptChars, limits.maxParamsBytes)

/**
 * A part's filename as the client meant it: percent-decoded (RFC 3986
 * §2.1), as agnt's clients encode every name, and as browsers escape `"`,
 * CR and LF (WHATWG HTML, multipart/form-data encoding). A name that is not
 * valid percent-encoding is taken as it is.
 */
export const decodeFileName = (name: string): string => {
  try {
    return decodeURIComponent(name)
  } catch {
    return name
  }
}

/** The form-field name of file parts. */
export const filesField = "files"

const tooLarge = (message: string, limit: number) => new PayloadTooLarge({ message, limit })

/**
 * The limit behind a multipart `InternalError`: a limit the parser reaches
 * while a file part is being written (a chunked body over `maxBodyBytes`)
 * fails that write with the parser's `ReachedLimit` error, not a limit reason.
 */
const reachedLimit = (cause: unknown): Multipart.MultipartError["reason"] | undefined => {
  if (typeof cause !== "object" || cause === null || !("_tag" in cause) || cause._tag !== "ReachedLimit" || !("limit" in cause)) {
    return undefined
  }
  switch (cause.limit) {
    case "MaxParts":
      return "TooManyParts"
    case "MaxPartSize":
      return "FileTooLarge"
    case "MaxFieldSize":
      return "FieldTooLarge"
    default:
      return "BodyTooLarge"
  }
}

/** What a failure of the multipart parser means for the client: a malformed body (400) or a limit (413), saying the limit. */
export const multipartFailure = (
  error: Multipart.MultipartError,
  limits: Omit<UploadLimits, "maxTotalBytes">
): InvalidRequest | PayloadTooLarge => {
  const reason = error.reason === "InternalError" ? reachedLimit(error.cause) ?? error.reason : error.reason
  switch (reason) {
    case "Parse":
    case "InternalError":
      return new InvalidRequest({ message: `malformed multipart body: ${reason}` })
    case "FileTooLarge":
      return tooLarge(`a file is over ${limits.maxFileBytes} bytes`, limits.maxFileBytes)
    case "TooManyParts":
      return tooLarge(`at most ${limits.maxFiles} files per job`, limits.maxFiles)
    case "FieldTooLarge":
      return tooLarge(`a form field is over ${limits.maxFieldBytes} bytes`, limits.maxFieldBytes)
    default:
      return tooLarge(`request body is over ${limits.maxBodyBytes} bytes`, limits.maxBodyBytes)
  }
}

/**
 * A request body as received: a JSON value (a request without files), or
 * the parts of a `multipart/form-data` body, streamed.
 */
export type RequestBody =
  | { readonly _tag: "Json"; readonly value: unknown }
  | { readonly _tag: "Multipart"; readonly parts: Stream.Stream<Multipart.Part, Multipart.MultipartError> }

/**
 * The body of `request` by its content type: `application/json` (the
 * default when none is given) or `multipart/form-data`.
 *
 * @fails InvalidRequest for malformed JSON or another content type.
 */
export const readBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<RequestBody, InvalidRequest> => {
  const contentType = (request.headers["content-type"] ?? "application/json").toLowerCase()
  if (contentType.includes("multipart/form-data")) return Effect.succeed({ _tag: "Multipart", parts: request.multipartStream })
  if (contentType.includes("application/json")) {
    // A body over the limit is a defect the HTTP edge answers with 413; only bad JSON is ours to name.
    return request.text.pipe(
      Effect.orDie,
      Effect.flatMap((text) =>
        Effect.try({
          try: (): RequestBody => ({ _tag: "Json", value: text === "" ? null : JSON.parse(text) }),
          catch: () => new InvalidRequest({ message: "the request body is not valid JSON" })
        })
      )
    )
  }
  return Effect.fail(new InvalidRequest({ message: "send the request as multipart/form-data (with files) or application/json" }))
}

/**
 * Store one `files` part under `keyOf(file_id)` as it streams, counting
 * its bytes against `limits` with the files already `stored`, and add it
 * to them.
 *
 * @fails InvalidFileName for a bad or repeated path; PayloadTooLarge past a
 *   limit, as soon as the bytes cross it; InvalidRequest or PayloadTooLarge
 *   when the parser fails in the part (`multipartFailure`). A failure of the
 *   store is a defect.
 */
const receiveFile = (
  store: ObjectStoreService,
  part: Multipart.File,
  keyOf: (fileId: FileId) => string,
  limits: UploadLimits,
  stored: Ref.Ref<ReadonlyArray<ReceivedFile>>
): Effect.Effect<void, InvalidRequest | InvalidFileName | PayloadTooLarge> =>
  Effect.gen(function*() {
    const files = yield* Ref.get(stored)
    const total = files.reduce((sum, file) => sum + file.size, 0)
    if (files.length >= limits.maxFiles) {
      return yield* tooLarge(`at most ${limits.maxFiles} files per job`, limits.maxFiles)
    }
    const path = yield* Either.match(normalizeFilePath(decodeFileName(part.name)), { onLeft: Effect.fail, onRight: Effect.succeed })
    if (files.some((file) => file.path === path)) {
      return yield* new InvalidFileName({ path: part.name, message: `${path} appears twice in one request` })
    }
    let size = 0
    const content = Stream.mapError(part.content, (error) => multipartFailure(error, limits))
    const counted = Stream.mapChunksEffect(content, (chunk) => {
      for (const bytes of chunk) size += bytes.length
      if (size > limits.maxFileBytes) {
        return Effect.fail(tooLarge(`${path} is over ${limits.maxFileBytes} bytes`, limits.maxFileBytes))
      }
      if (limits.maxTotalBytes !== undefined && total + size > limits.maxTotalBytes) {
        return Effect.fail(tooLarge(`a job's files total at most ${limits.maxTotalBytes} bytes`, limits.maxTotalBytes))
      }
      return Effect.succeed(chunk)
    })
    const fileId = makeFileId()
    const storageKey = keyOf(fileId)
    // From the name, whatever the part declared: one rule for every uploader, and no type a client chose.
    const mime = mediaTypeOf(path)
    const object = yield* store.put(storageKey, counted, mime).pipe(
      Effect.catchTag("ObjectStoreError", Effect.die)
    )
    yield* Ref.update(stored, (all) => [...all, { file_id: fileId, path, mime, ...object, storage_key: storageKey }])
  })

/**
 * Receive `parts` (the parser's failures become `multipartFailure`s): text fields are collected (each name at most once);
 * each `files` part is stored under `keyOf(file_id)` as it streams. On any
 * failure the objects stored so far are removed before the error returns.
 *
 * @fails InvalidRequest for a repeated field, a file part under another
 *   name or a `files` part without a filename; InvalidFileName for a bad or
 *   repeated path; PayloadTooLarge past a limit of `limits`, as soon as the
 *   bytes cross it. A failure of the store is a defect.
 */
export const receiveForm = (
  store: ObjectStoreService,
  parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>,
  keyOf: (fileId: FileId) => string,
  limits: UploadLimits
): Effect.Effect<ReceivedForm, InvalidRequest | InvalidFileName | PayloadTooLarge> =>
  Effect.gen(function*() {
    const fields: Record<string, string> = {}
    const stored = yield* Ref.make<ReadonlyArray<ReceivedFile>>([])

    const receivePart = (part: Multipart.Part): Effect.Effect<void, InvalidRequest | InvalidFileName | PayloadTooLarge> => {
      if (part.key === "") {
        // The parser reads header parameters as Latin-1 text only: a raw UTF-8 filename beyond it leaves the part nameless.
        return Effect.fail(
          new InvalidRequest({
            message: "a part's Content-Disposition could not be read: percent-encode file names that hold characters beyond Latin-1"
          })
        )
      }
      switch (part._tag) {
        case "File":
          return part.key === filesField
            ? receiveFile(store, part, keyOf, limits, stored)
            : Effect.fail(new InvalidRequest({ message: `unexpected file part \`${part.key}\`: files go in \`${filesField}\` parts` }))
        case "Field":
          if (part.key === filesField) {
            return Effect.fail(new InvalidRequest({ message: `a \`${filesField}\` part needs a filename (the file's path)` }))
          }
          if (Object.hasOwn(fields, part.key)) {
            return Effect.fail(new InvalidRequest({ message: `field \`${part.key}\` appears twice` }))
          }
          fields[part.key] = part.value
          return Effect.void
      }
    }

    yield* Stream.runForEach(Stream.mapError(parts, (error) => multipartFailure(error, limits)), receivePart).pipe(
      Effect.onError(() => Effect.flatMap(Ref.get(stored), (files) => discardFiles(store, files)))
    )
    return { fields, files: yield* Ref.get(stored) }
  })

/** One line naming each field that failed to decode, with what was wrong (the clauses of `Requests.ts`). */
const describeParseError = (error: ParseResult.ParseError) => describeIssues(ParseResult.ArrayFormatter.formatErrorSync(error))

/**
 * Receive a request's fields and files: decode the fields with `schema`
 * (unknown fields refused), store the files as `receiveForm` does, and
 * check them against the fields' `sha256` once the body has ended — so
 * `sha256` may come before or after the file parts (agnt's clients send it
 * last, hashing each file as they send it). On any failure nothing is kept.
 *
 * @fails InvalidRequest (fields that do not decode, a malformed body),
 *   InvalidFileName, PayloadTooLarge, ChecksumMismatch.
 */
export const receive = <A extends { readonly sha256?: FileChecksums | undefined }, I>(
  store: ObjectStoreService,
  body: RequestBody,
  schema: Schema.Schema<A, I>,
  keyOf: (fileId: FileId) => string,
  limits: UploadLimits
): Effect.Effect<
  { readonly fields: A; readonly files: ReadonlyArray<ReceivedFile> },
  InvalidRequest | InvalidFileName | PayloadTooLarge | ChecksumMismatch
> =>
  Effect.gen(function*() {
    const decode = (value: unknown) =>
      Schema.decodeUnknown(schema, { onExcessProperty: "error", errors: "all" })(value).pipe(
        Effect.mapError((error) => new InvalidRequest({ message: `invalid request: ${describeParseError(error)}` }))
      )
    if (body._tag === "Json") return { fields: yield* decode(body.value), files: [] }
    const form = yield* receiveForm(store, body.parts, keyOf, limits)
    return yield* Effect.gen(function*() {
      const fields = yield* decode(form.fields)
      yield* verifyChecksums(form.files, Option.fromNullable(fields.sha256))
      return { fields, files: form.files }
    }).pipe(Effect.onError(() => discardFiles(store, form.files)))
  })

/** Remove the objects of `files`; a removal that fails is logged, never raised. */
export const discardFiles = (store: ObjectStoreService, files: ReadonlyArray<{ readonly storage_key: string }>) =>
  Effect.forEach(files, (file) =>
    store.remove(file.storage_key).pipe(
      Effect.catchAll((error) => Effect.logWarning(`cannot remove object ${file.storage_key}`, error))
    ), { discard: true, concurrency: 4 })

/**
 * Check the stated checksums against the files received: each stated path
 * must name a received file, and that file's SHA-256 must equal the stated
 * one. Files with no stated checksum pass (clients such as curl state none).
 *
 * @fails ChecksumMismatch naming the first file whose bytes differ;
 *   InvalidRequest for a stated path no file part carries.
 */
export const verifyChecksums = (
  files: ReadonlyArray<ReceivedFile>,
  stated: Option.Option<FileChecksums>
): Effect.Effect<void, ChecksumMismatch | InvalidRequest> =>
  Effect.gen(function*() {
    if (Option.isNone(stated)) return
    const byPath = new Map(files.map((file) => [file.path, file]))
    for (const [name, expected] of Object.entries(stated.value)) {
      const path = Either.getOrElse(normalizeFilePath(name), () => name)
      const file = byPath.get(path)
      if (file === undefined) {
        return yield* new InvalidRequest({ message: `\`sha256\` names ${name}, but no file part has that path` })
      }
      if (file.sha256 !== expected) {
        return yield* new ChecksumMismatch({
          path,
          expected,
          actual: file.sha256,
          message:
            `${path} arrived with SHA-256 ${file.sha256}, not the stated ${expected}: it was damaged or changed on the way; nothing of the request was kept`
        })
      }
    }
  })
