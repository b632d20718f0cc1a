/**
 * The S3 object-store layer (DESIGN.md "Storage"), with
 * `@aws-sdk/client-s3`: any S3-compatible endpoint (AWS, MinIO, R2,
 * s3rver), path-style addressing when asked, and presigned download URLs —
 * signed for `S3_PUBLIC_URL` when the store is reached under another
 * address from outside (as with MinIO behind a proxy).
 * Settings: `S3Settings` in `ServerConfig.ts`.
 */
import { DeleteObjectCommand, GetObjectCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { getSignedUrl } from "@aws-sdk/s3-request-presigner"
import * as EffectNodeStream from "@effect/platform-node/NodeStream"
import { Effect, Layer, Option, Redacted, Ref, Stream } from "effect"
import * as NodeStream from "node:stream"
import { checkedKey, measured, ObjectStore, ObjectStoreError, type ObjectStoreService } from "./ObjectStore.js"
import type { S3Settings } from "./ServerConfig.js"

const clientConfig = (settings: S3Settings, endpoint: Option.Option<string>): S3ClientConfig => ({
  region: settings.region,
  forcePathStyle: settings.forcePathStyle,
  // Plain uploads: S3-compatible stores without aws-chunked checksum trailers (s3rver, older MinIO) store them verbatim.
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
  ...(Option.isSome(endpoint) ? { endpoint: endpoint.value } : {}),
  ...(Option.isSome(settings.accessKeyId) && Option.isSome(settings.secretAccessKey)
    ? {
      credentials: {
        accessKeyId: Redacted.value(settings.accessKeyId.value),
        secretAccessKey: Redacted.value(settings.secretAccessKey.value)
      }
    }
    : {})
})

/** An S3 client reaching the store at `endpoint`, destroyed when the scope closes. */
const scopedClient = (settings: S3Settings, endpoint: Option.Option<string>) =>
  Effect.acquireRelease(Effect.sync(() => new S3Client(clientConfig(settings, endpoint))), (s3) => Effect.sync(() => s3.destroy()))

/**
 * Store `content` as `key` in `bucket`, streaming it in parts of 8 MiB, one
 * in flight (memory stays bounded whatever the object's size); yields its
 * size and SHA-256. A failed or interrupted upload is aborted; the
 * content's own failure (a size limit, say) is the failure.
 */
const putObject = (client: S3Client, bucket: string) => <E>(key: string, content: Stream.Stream<Uint8Array, E>, mime: string) =>
  Effect.gen(function*() {
    yield* checkedKey(key)
    // The content's own failure reaches the upload as a stream error; kept here to fail with it.
    const failure = yield* Ref.make(Option.none<E>())
    const body = measured(content)
    const readable = yield* EffectNodeStream.toReadable(
      Stream.tapError(body.content, (error) => Ref.set(failure, Option.some(error)))
    )
    const upload = new Upload({
      client,
      queueSize: 1,
      partSize: 8 * 1024 * 1024,
      params: { Bucket: bucket, Key: key, Body: readable, ContentType: mime || "application/octet-stream" }
    })
    yield* Effect.tryPromise({
      try: () => upload.done(),
      catch: (cause) => new ObjectStoreError({ key, message: "cannot store object", cause })
    }).pipe(
      Effect.onInterrupt(() => Effect.promise(() => upload.abort().catch(() => undefined))),
      Effect.catchAll((error) =>
        Effect.flatMap(
          Ref.get(failure),
          (own): Effect.Effect<never, ObjectStoreError | E> => Option.isSome(own) ? Effect.fail(own.value) : Effect.fail(error)
        )
      )
    )
    return body.digest()
  })

/** A store in `settings.bucket`; the clients are destroyed when the scope closes. */
export const makeS3 = (settings: S3Settings) =>
  Effect.gen(function*() {
    const client = yield* scopedClient(settings, settings.endpoint)
    const signer = Option.isSome(settings.publicUrl) ? yield* scopedClient(settings, settings.publicUrl) : client
    const attempt = <A>(key: string, message: string, f: () => Promise<A>) =>
      Effect.flatMap(checkedKey(key), () => Effect.tryPromise({ try: f, catch: (cause) => new ObjectStoreError({ key, message, cause }) }))

    const store: ObjectStoreService = {
      put: putObject(client, settings.bucket),
      get: (key) =>
        Stream.unwrap(attempt(key, "cannot read object", async () => {
          const response = await client.send(new GetObjectCommand({ Bucket: settings.bucket, Key: key }))
          const body = response.Body
          if (!(body instanceof NodeStream.Readable)) throw new Error("object body is not a stream")
          return Stream.fromAsyncIterable(body, (cause) => new ObjectStoreError({ key, message: "cannot read object", cause })).pipe(
            Stream.map((chunk: Uint8Array) => chunk)
          )
        })),
      presignedUrl: (key, options) =>
        attempt(key, "cannot presign", () =>
          getSignedUrl(
            signer,
            new GetObjectCommand({
              Bucket: settings.bucket,
              Key: key,
              ResponseContentDisposition: `attachment; filename="${encodeURIComponent(options.fileName)}"`
            }),
            { expiresIn: options.expiresInSeconds }
          )).pipe(Effect.map(Option.some)),
      remove: (key) =>
        attempt(key, "cannot remove object", () => client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: key }))).pipe(
          Effect.asVoid
        )
    }
    return store
  })

/** The S3 store for `settings`. */
export const S3ObjectStoreLive = (settings: S3Settings) => Layer.scoped(ObjectStore, makeS3(settings))
