/**
 * Object storage for job files (DESIGN.md "Storage"). Keys are made by the
 * server (`jobs/{job_id}/{input|result}/{file_id}`); a client's file name
 * is metadata only. Two layers: a local directory (the embedded default;
 * the API streams downloads itself) and S3.
 */
import * as NodeSink from "@effect/platform-node/NodeSink"
import { Context, Data, Effect, Layer, Option, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeFsP from "node:fs/promises"
import * as NodePath from "node:path"
import { ServerConfig } from "./ServerConfig.js"

/** An object-store operation failed; `key` names the object. */
export class ObjectStoreError extends Data.TaggedError("ObjectStoreError")<{
  readonly key: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** What `put` measured while storing: `size` in bytes, `sha256` lowercase hex. */
export interface StoredObject {
  readonly size: number
  readonly sha256: string
}

/** The operations every object-store layer provides. */
export interface ObjectStoreService {
  /**
   * Store `content` under `key`, measuring its size and SHA-256 while it
   * streams through — the bytes are never read back and never held whole.
   * When `content` fails (with `E`, e.g. a size limit) or the store does,
   * nothing is left under `key`.
   */
  readonly put: <E>(key: string, content: Stream.Stream<Uint8Array, E>, mime: string) => Effect.Effect<StoredObject, ObjectStoreError | E>
  /** The object's bytes as a stream. */
  readonly get: (key: string) => Stream.Stream<Uint8Array, ObjectStoreError>
  /**
   * A time-limited URL a client can fetch the object from without an API
   * key, or `None` when the store has no such URLs (local directory).
   * `expiresInSeconds` bounds its life.
   */
  readonly presignedUrl: (
    key: string,
    options: { readonly fileName: string; readonly expiresInSeconds: number }
  ) => Effect.Effect<Option.Option<string>, ObjectStoreError>
  /** Remove the object; removing a missing object succeeds. */
  readonly remove: (key: string) => Effect.Effect<void, ObjectStoreError>
}

/** The configured object store. */
export class ObjectStore extends Context.Tag("@agnt/server/ObjectStore")<ObjectStore, ObjectStoreService>() {}

/**
 * `content` with its size (bytes) and SHA-256 measured as it flows:
 * `digest` is valid once the stream has ended.
 */
export const measured = <E>(content: Stream.Stream<Uint8Array, E>) => {
  const hash = NodeCrypto.createHash("sha256")
  let size = 0
  return {
    content: Stream.mapChunks(content, (chunk) => {
      for (const bytes of chunk) {
        hash.update(bytes)
        size += bytes.length
      }
      return chunk
    }),
    digest: (): StoredObject => ({ size, sha256: hash.digest("hex") })
  }
}

/** Keys are server-made `[a-z0-9_/]` paths; anything else is a bug, refused before touching storage. */
export const checkedKey = (key: string) =>
  /^[a-z0-9_]+(\/[a-z0-9_]+)*$/.test(key)
    ? Effect.succeed(key)
    : Effect.fail(new ObjectStoreError({ key, message: "malformed object key" }))

/** Bytes an object being written may hold in memory before its upload waits for the disk. */
const writeBufferBytes = 1024 * 1024

/** Succeeds once `file` holds no more than its buffer size unwritten (at once when it does not), or has closed. */
const writtenOut = (file: NodeFs.WriteStream): Effect.Effect<void> =>
  !file.writableNeedDrain || file.destroyed ? Effect.void : Effect.async<void>((resume) => {
    const onDone = () => {
      file.removeListener("drain", onDone).removeListener("close", onDone)
      resume(Effect.void)
    }
    file.addListener("drain", onDone).addListener("close", onDone)
    return Effect.sync(() => file.removeListener("drain", onDone).removeListener("close", onDone))
  })

/**
 * A store in a local directory: each object a file at `<root>/<key>`,
 * written to a temporary name beside it and renamed into place (a move,
 * never a copy), so a reader never sees half an object; at most about
 * 1 MiB of an object waits for the disk in memory.
 */
export const makeLocal = (root: string): ObjectStoreService => {
  const pathOf = (key: string) => NodePath.join(root, ...key.split("/"))
  return {
    put: (key, content) =>
      Effect.gen(function*() {
        yield* checkedKey(key)
        const target = pathOf(key)
        const temporary = `${target}.${NodeCrypto.randomBytes(6).toString("hex")}.part`
        const failed = (message: string) => (cause: unknown) => new ObjectStoreError({ key, message, cause })
        yield* Effect.tryPromise({
          try: () => NodeFsP.mkdir(NodePath.dirname(target), { recursive: true, mode: 0o700 }),
          catch: failed("cannot store object")
        })
        const body = measured(content)
        const file = NodeFs.createWriteStream(temporary, { mode: 0o600, highWaterMark: writeBufferBytes })
        // The sink waits for the disk only between the items of one chunk, and a part's bytes come one read per chunk.
        const paced = Stream.mapChunksEffect(body.content, (chunk) => Effect.as(writtenOut(file), chunk))
        yield* Stream.run(paced, NodeSink.fromWritable(() => file, failed("cannot store object"))).pipe(
          Effect.zipRight(Effect.tryPromise({ try: () => NodeFsP.rename(temporary, target), catch: failed("cannot store object") })),
          Effect.onError(() => Effect.promise(() => NodeFsP.rm(temporary, { force: true })))
        )
        return body.digest()
      }),
    get: (key) =>
      Stream.unwrap(Effect.map(checkedKey(key), () =>
        Stream.fromAsyncIterable(
          NodeFs.createReadStream(pathOf(key)),
          (cause) => new ObjectStoreError({ key, message: "cannot read object", cause })
        ).pipe(Stream.map((chunk) => chunk as Uint8Array)))),
    presignedUrl: () => Effect.succeed(Option.none()),
    remove: (key) =>
      Effect.flatMap(checkedKey(key), () =>
        Effect.tryPromise({
          try: () => NodeFsP.rm(pathOf(key), { force: true }),
          catch: (cause) => new ObjectStoreError({ key, message: "cannot remove object", cause })
        }))
  }
}

/** The local store in `<dataDir>/objects`. */
export const LocalObjectStoreLive = Layer.effect(
  ObjectStore,
  Effect.map(ServerConfig, (settings) => makeLocal(NodePath.join(settings.dataDir, "objects")))
)
