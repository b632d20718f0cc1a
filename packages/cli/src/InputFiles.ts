/**
 * Input files of `agnt order --file PATH`: which local files are sent and
 * under what name. A file inside the current directory is named by its path
 * relative to it (`src/app.ts`); one outside it by its basename, and a
 * directory outside it by its own name plus the path within it
 * (`--file ../lib` → `lib/a.ts`). A directory adds every regular file below
 * it, skipping `node_modules` and `.git`. Names are `/`-separated. Each
 * file is sent with the media type of its extension (`MediaTypes.mediaTypeOf`).
 */
import { mediaTypeOf } from "@agnt/domain/MediaTypes"
import { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import * as NodePath from "node:path"
import { UsageError } from "./Output.js"

/** Directory names never descended into. */
export const skippedDirectories: ReadonlySet<string> = new Set(["node_modules", ".git"])

/** A local file to upload. */
export interface InputFile {
  /** The file's name in the job's workspace (the multipart filename), `/`-separated and relative. */
  readonly name: string
  /** Absolute local path. */
  readonly path: string
  /** Content type of the upload part, from its extension (`MediaTypes.mediaTypeOf`). */
  readonly type: string
}

const toSlashes = (path: string) => path.split(NodePath.sep).join("/")

/** `true` when `path` (absolute) is `base` (absolute) or below it. */
const isInside = (base: string, path: string): boolean => {
  const relative = NodePath.relative(base, path)
  return relative === "" || (!relative.startsWith("..") && !NodePath.isAbsolute(relative))
}

/**
 * The upload name of `file`, found under the argument `given`, with `cwd` the
 * current directory (all three may be relative to `cwd`).
 *
 * @returns the path relative to `cwd` when `file` is inside it, else relative
 * to the parent of `given` (for a single file, its basename).
 */
export const uploadName = (cwd: string, given: string, file: string): string => {
  const base = NodePath.resolve(cwd)
  const absolute = NodePath.resolve(base, file)
  if (isInside(base, absolute) && absolute !== base) return toSlashes(NodePath.relative(base, absolute))
  const root = NodePath.dirname(NodePath.resolve(base, given))
  return toSlashes(NodePath.relative(root, absolute))
}

/**
 * Every regular file named by `paths` (files, or directories walked
 * recursively; symlinks are followed, each directory visited once), sorted by
 * name.
 *
 * @returns the files, or `UsageError` when a path does not exist, is neither
 * a file nor a directory, cannot be read, or two files get the same name.
 */
export const collectInputFiles = (
  cwd: string,
  paths: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<InputFile>, UsageError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const visited = new Set<string>()
    const files = new Map<string, InputFile>()
    const failed = (path: string, what: string) => (error: { readonly message: string }) =>
      new UsageError({ message: `--file ${path}: ${what}: ${error.message}` })

    const add = (given: string, path: string) =>
      Effect.gen(function*() {
        const name = uploadName(cwd, given, path)
        const file = { name, path: NodePath.resolve(cwd, path), type: mediaTypeOf(name) }
        const previous = files.get(file.name)
        if (previous !== undefined && previous.path !== file.path) {
          return yield* new UsageError({
            message: `--file ${given}: ${file.path} and ${previous.path} would both be sent as ${file.name}`
          })
        }
        files.set(file.name, file)
      })

    const walk = (given: string, directory: string): Effect.Effect<void, UsageError> =>
      Effect.gen(function*() {
        const real = yield* fs.realPath(directory).pipe(Effect.mapError(failed(given, "cannot resolve")))
        if (visited.has(real)) return
        visited.add(real)
        const entries = yield* fs.readDirectory(directory).pipe(Effect.mapError(failed(given, "cannot list")))
        for (const entry of [...entries].sort()) {
          const path = NodePath.join(directory, entry)
          const info = yield* fs.stat(path).pipe(Effect.option)
          if (info._tag === "None") continue // a dangling symlink
          if (info.value.type === "Directory" && !skippedDirectories.has(entry)) yield* walk(given, path)
          else if (info.value.type === "File") yield* add(given, path)
        }
      })

    for (const given of paths) {
      const path = NodePath.resolve(cwd, given)
      const info = yield* fs.stat(path).pipe(Effect.mapError(failed(given, "cannot read")))
      if (info.type === "Directory") yield* walk(given, path)
      else if (info.type === "File") yield* add(given, path)
      else return yield* new UsageError({ message: `--file ${given}: not a regular file or directory` })
    }
    return [...files.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  })
