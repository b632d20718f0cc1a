/**
 * Reading and writing the client configuration file (its location and
 * fields: `@agnt/domain/ClientConfig`), which the embedded server fills so
 * that the CLI and executors work with no set-up (DESIGN.md "Auth"). The
 * server writes it with mode 0600.
 */
import { ClientConfigFile, clientConfigPath } from "@agnt/domain/ClientConfig"
import { Effect, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"

const readObject = (path: string) =>
  NodeFs.readFile(path, "utf8").then(
    (text): Record<string, unknown> => {
      const parsed: unknown = JSON.parse(text)
      return typeof parsed === "object" && parsed !== null ? { ...parsed } : {}
    },
    () => ({})
  )

/** The file's agnt fields; a missing or unreadable file reads as empty. */
export const readClientConfig = Effect.gen(function*() {
  const path = yield* clientConfigPath
  const raw = yield* Effect.promise(() => readObject(path).catch(() => ({})))
  return yield* Schema.decodeUnknown(ClientConfigFile)(raw).pipe(
    Effect.orElseSucceed((): ClientConfigFile => ({}))
  )
})

/** Merge `values` into the config file, creating it (mode 0600) if missing. Yields its path. */
export const updateClientConfig = (values: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const path = yield* clientConfigPath
    yield* Effect.tryPromise(async () => {
      const merged = { ...(await readObject(path).catch(() => ({}))), ...values }
      await NodeFs.mkdir(NodePath.dirname(path), { recursive: true, mode: 0o700 })
      await NodeFs.writeFile(path, JSON.stringify(merged, null, 2) + "\n", { mode: 0o600 })
    })
    return path
  })
