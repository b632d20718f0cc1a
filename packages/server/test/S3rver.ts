/** A real S3 endpoint on loopback for tests: `s3rver` with bucket `agnt`, for the life of the scope. */
import { Effect, Option, Redacted } from "effect"
import S3rver from "s3rver"
import type { S3Settings } from "../src/ServerConfig.js"
import { temporaryDirectory } from "../src/Testing.js"

/** Start s3rver on a free loopback port; yields the server's S3 settings for it (path-style, bucket `agnt`). */
export const s3rver = Effect.gen(function*() {
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
