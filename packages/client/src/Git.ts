/**
 * Running `git` for repo jobs (DESIGN.md "Repo jobs"), shared by the CLI
 * (reading the buyer's tree, applying a job's patch) and the executor's
 * runtime (the job's git workspace and its changes). Every call runs the
 * `git` on `PATH` with arguments as an array (no shell), a fixed locale
 * (`LC_ALL=C`, so messages can be read) and no terminal prompt; output is
 * collected whole, so callers ask for what is small (lists, ids, patches)
 * and stream blobs with `catFileBatch`.
 */
import { Data, Effect, type Scope, Stream } from "effect"
import * as NodeChildProcess from "node:child_process"
import type { Readable, Writable } from "node:stream"
import { UnreadableFile } from "./Upload.js"

/** A git command failed: it could not start or exited non-zero. `stderr` is its error output (trimmed). */
export class GitError extends Data.TaggedError("GitError")<{
  readonly args: ReadonlyArray<string>
  readonly exitCode: number | null
  readonly stderr: string
  readonly message: string
}> {}

/** How to run one git command. */
export interface GitOptions {
  /** Working directory. */
  readonly cwd: string
  /** Variables added to (or, with `undefined`, removed from) the environment. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Bytes written to its standard input. */
  readonly input?: string | Uint8Array | undefined
  /** Environment to start from instead of this process's (e.g. a hardened one without `HOME`). */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>
}

/** Largest output collected from one command: 1 GiB (a patch of a big change). */
const maxOutputBytes = 1024 * 1024 * 1024

const environment = (options: GitOptions): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...(options.baseEnv ?? process.env), LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

/**
 * Run `git args…` and collect its standard output.
 *
 * @fails GitError with its exit code and standard error when it exits non-zero or cannot start.
 */
export const git = (args: ReadonlyArray<string>, options: GitOptions): Effect.Effect<Buffer, GitError> =>
  Effect.async<Buffer, GitError>((resume, signal) => {
    const child = NodeChildProcess.execFile("git", [...args], {
      cwd: options.cwd,
      env: environment(options),
      encoding: "buffer",
      maxBuffer: maxOutputBytes,
      signal
    }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.succeed(stdout))
      const text = stderr.toString("utf8").trim()
      const exitCode = typeof error.code === "number" ? error.code : null
      resume(Effect.fail(
        new GitError({ args, exitCode, stderr: text, message: `git ${args[0] ?? ""} failed: ${text || error.message}` })
      ))
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
    else child.stdin?.end()
  })

/** `git args…`'s standard output as text without its final line break. @fails GitError. */
export const gitText = (args: ReadonlyArray<string>, options: GitOptions): Effect.Effect<string, GitError> =>
  Effect.map(git(args, options), (out) => out.toString("utf8").replace(/\n$/, ""))

/**
 * Reads blobs out of a repository through one `git cat-file --batch`
 * process: `read(oid, size)` streams the blob's bytes (exactly `size` of
 * them, as `ls-tree --long` gave); reads must be consumed one after the
 * other, in the order they are asked for.
 */
export interface BlobReader {
  readonly read: (oid: string, size: number) => Stream.Stream<Uint8Array, UnreadableFile>
}

/** A pull reader over a readable stream: take up to `n` bytes, or a line. */
const pullReader = (stream: Readable) => {
  const iterator: AsyncIterator<Buffer> = stream[Symbol.asyncIterator]()
  let pending: Buffer = Buffer.alloc(0)
  const fill = async () => {
    const next = await iterator.next()
    if (next.done === true) throw new Error("git cat-file ended early")
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value])
  }
  return {
    line: async (): Promise<string> => {
      let end = pending.indexOf(10)
      while (end < 0) {
        await fill()
        end = pending.indexOf(10)
      }
      const text = pending.subarray(0, end).toString("utf8")
      pending = pending.subarray(end + 1)
      return text
    },
    take: async (n: number): Promise<Buffer> => {
      if (pending.length === 0) await fill()
      const chunk = pending.subarray(0, n)
      pending = pending.subarray(chunk.length)
      return chunk
    }
  }
}

/** The blob `oid`'s `size` bytes from `reader`, after asking `stdin` for it; then its closing line break. */
async function* blobBytes(reader: ReturnType<typeof pullReader>, stdin: Writable, oid: string, size: number) {
  stdin.write(`${oid}\n`)
  const header = await reader.line()
  const [, type, length] = header.split(" ")
  if (type !== "blob" || Number(length) !== size) throw new Error(`git cat-file answered "${header}" for ${oid}`)
  let left = size
  while (left > 0) {
    const chunk = await reader.take(left)
    left -= chunk.length
    yield chunk
  }
  await reader.take(1)
}

/**
 * A `BlobReader` over the repository at `cwd`, its `git cat-file --batch`
 * process ended when the scope closes.
 */
export const catFileBatch = (cwd: string): Effect.Effect<BlobReader, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        NodeChildProcess.spawn("git", ["cat-file", "--batch"], {
          cwd,
          env: environment({ cwd }),
          stdio: ["pipe", "pipe", "ignore"]
        })
      ),
      (child) => Effect.sync(() => (child.stdin.end(), child.kill()))
    ),
    (child) => {
      child.on("error", () => undefined)
      const reader = pullReader(child.stdout)
      return {
        read: (oid, size) =>
          Stream.fromAsyncIterable(
            blobBytes(reader, child.stdin, oid, size),
            (cause) => new UnreadableFile({ path: oid, message: cause instanceof Error ? cause.message : String(cause) })
          )
      }
    }
  )
