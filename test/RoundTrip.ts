/**
 * The byte-exact round trip (DESIGN.md "Files are byte-exact"), as a
 * property: a random file tree goes through the real `agnt order --file …
 * --wait --out` → the API → a real `agnt-executor` whose program copies its
 * workspace into `out/` → the result files downloaded by `agnt` — and comes
 * back with the same paths and the same bytes. Trees are shrinkable
 * descriptions (path, size, seed), so a failure prints the failing tree.
 */
import type { ServerSettings } from "@agnt/server/ServerConfig"
import { Context, Effect, FastCheck, Layer, Redacted, Schedule, type Scope } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { startExecutor, writeCommandExecutor } from "./Executors.js"
import { binPath, run } from "./Processes.js"

/** One file of a tree: its path, its size in bytes, and the seed of its bytes. */
export interface TreeFile {
  readonly path: string
  readonly size: number
  readonly seed: number
}

/** `size` bytes from `seed` (xorshift32): every byte value occurs, and the same file is the same bytes. */
export const contentOf = (file: TreeFile): Buffer => {
  const bytes = Buffer.alloc(file.size)
  let state = file.seed === 0 ? 0x9e3779b9 : file.seed
  for (let index = 0; index < bytes.length; index++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    bytes[index] = state & 0xff
  }
  return bytes
}

// Few names, so base names and folders repeat across the tree; spaces, non-ASCII and dot-files among them.
const baseNames = ["index.js", "README.md", "data.bin", "a b.txt", "naïve café.txt", "日本語.md", "😀.json", ".env", "Makefile"]
const folderNames = ["a", "b", "src", "lib", "sp ace", "ünï", "deep"]

const sizeArbitrary = FastCheck.oneof(
  { weight: 2, arbitrary: FastCheck.constant(0) },
  { weight: 6, arbitrary: FastCheck.integer({ min: 1, max: 4096 }) },
  { weight: 3, arbitrary: FastCheck.integer({ min: 4097, max: 256 * 1024 }) },
  { weight: 1, arbitrary: FastCheck.integer({ min: 256 * 1024 + 1, max: 3 * 1024 * 1024 }) }
)

const fileArbitrary: FastCheck.Arbitrary<TreeFile> = FastCheck.record({
  path: FastCheck.tuple(FastCheck.array(FastCheck.constantFrom(...folderNames), { maxLength: 3 }), FastCheck.constantFrom(...baseNames))
    .map(([folders, name]) => [...folders, name].join("/")),
  size: sizeArbitrary,
  seed: FastCheck.integer()
})

/** No file where another file needs a folder. */
const isTree = (files: ReadonlyArray<TreeFile>) => {
  const paths = new Set(files.map((file) => file.path))
  return files.every((file) => {
    const segments = file.path.split("/")
    return segments.slice(1).every((_, index) => !paths.has(segments.slice(0, index + 1).join("/")))
  })
}

/** Trees of 1–40 files. */
export const treeArbitrary: FastCheck.Arbitrary<ReadonlyArray<TreeFile>> = FastCheck.uniqueArray(fileArbitrary, {
  minLength: 1,
  maxLength: 40,
  selector: (file) => file.path
}).filter(isTree)

/** Every regular file under `dir`, by its `/`-separated relative path. */
const readTree = (dir: string) =>
  Effect.promise(async () => {
    const entries = await NodeFs.readdir(dir, { recursive: true, withFileTypes: true })
    const files = new Map<string, Buffer>()
    for (const entry of entries.filter((entry) => entry.isFile())) {
      const absolute = NodePath.join(entry.parentPath, entry.name)
      files.set(NodePath.relative(dir, absolute).split(NodePath.sep).join("/"), await NodeFs.readFile(absolute))
    }
    return files
  })

/** A server, an executor copying its workspace to `out/`, and a buyer key, for a whole property run. */
export class RoundTripWorld extends Context.Tag("test/RoundTripWorld")<RoundTripWorld, {
  readonly url: string
  readonly agentId: string
  readonly buyerKey: string
  readonly work: string
}>() {}

const agentId = "agent_01m8mrm0a6e5xb1d7gb9m5q8pz"

/** The world on a fresh server with `overrides` (the object store, for one). */
export const RoundTripWorldLive = (
  adminUrl: string,
  overrides: Effect.Effect<Partial<ServerSettings>, never, Scope.Scope>
) =>
  Layer.unwrapScoped(Effect.map(overrides, (settings) =>
    Layer.scoped(
      RoundTripWorld,
      Effect.gen(function*() {
        const url = yield* serverUrl
        const keys = yield* ApiKeys
        const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
        const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
        const work = yield* temporaryDirectory("agnt-roundtrip-")
        const config = yield* writeCommandExecutor(work, "copy", "cp -a . \"$AGNT_OUT_DIR/\"")
        const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url }
        yield* startExecutor(["command", "--config", config, "--agent-id", agentId], {
          cwd: work,
          env: { ...env, AGNT_API_KEY: executorKey }
        })
        yield* Effect.tryPromise(() =>
          fetch(`${url}/v1/agents/${agentId}`, { headers: { authorization: `Bearer ${buyerKey}` } }).then((response) =>
            response.ok ? response : Promise.reject(new Error(`HTTP ${response.status}`))
          )
        ).pipe(Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))), Effect.orDie)
        return { url, agentId, buyerKey, work }
      })
    ).pipe(Layer.provideMerge(TestServerLive(adminUrl, { maxFileBytes: 8 * 1024 * 1024, maxFiles: 200, ...settings })))))

/**
 * Write `tree` to a fresh folder, order it with `agnt order --file <each
 * top-level entry> --wait --out`, and compare what came back with it.
 * Fails with a message naming the first difference.
 */
export const roundTrip = (tree: ReadonlyArray<TreeFile>) =>
  Effect.gen(function*() {
    const world = yield* RoundTripWorld
    const dir = yield* temporaryDirectory("agnt-tree-")
    const input = NodePath.join(dir, "in")
    const out = NodePath.join(dir, "back")
    yield* Effect.promise(async () => {
      for (const file of tree) {
        const path = NodePath.join(input, ...file.path.split("/"))
        await NodeFs.mkdir(NodePath.dirname(path), { recursive: true })
        await NodeFs.writeFile(path, contentOf(file))
      }
    })
    const tops = [...new Set(tree.map((file) => file.path.split("/")[0] ?? ""))].sort()
    const order = yield* run(
      binPath("cli", "agnt.js"),
      ["order", world.agentId, "--prompt", "copy", ...tops.flatMap((top) => ["--file", top]), "--wait", "--out", out],
      {
        cwd: input,
        env: { ...process.env, XDG_CONFIG_HOME: NodePath.join(world.work, "config"), AGNT_API_URL: world.url, AGNT_API_KEY: world.buyerKey }
      }
    )
    if (order.code !== 0) return yield* Effect.fail(`agnt order exited ${order.code}: ${order.stderr}`)
    const back = yield* readTree(out)
    const sent = [...tree].map((file) => file.path).sort()
    const received = [...back.keys()].sort()
    if (JSON.stringify(sent) !== JSON.stringify(received)) {
      return yield* Effect.fail(`paths differ: sent ${JSON.stringify(sent)}, got ${JSON.stringify(received)}`)
    }
    for (const file of tree) {
      if (!contentOf(file).equals(back.get(file.path) ?? Buffer.alloc(0))) {
        return yield* Effect.fail(`${file.path} came back with other bytes`)
      }
    }
  }).pipe(Effect.scoped)
