/** Spawning the real `agnt` and `agnt-executor` bins from end-to-end tests. */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")

/**
 * Absolute path of a package's bin script, or, for the CLI, the `agnt`
 * program named by `AGNT_CLI_BIN` when it is set (a compiled binary of
 * `npm run dist`, such as `dist/bin/agnt-linux-x64`): the end-to-end tests
 * then drive that program instead of the sources.
 */
export const binPath = (pkg: "cli" | "executor" | "server", name: string) => {
  const cli = process.env["AGNT_CLI_BIN"]
  return pkg === "cli" && cli !== undefined && cli !== "" ? NodePath.resolve(root, cli) : NodePath.join(root, "packages", pkg, "bin", name)
}

/**
 * How to start `file`: a JavaScript file (`.js`, `.mjs`, `.cjs`) through
 * this Node, anything else (a compiled binary) as a program of its own.
 */
export const command = (file: string, args: ReadonlyArray<string>): readonly [string, ReadonlyArray<string>] =>
  /\.[cm]?js$/.test(file) ? [process.execPath, [file, ...args]] : [file, args]

/** What a finished process left: exit code, stdout, stderr. */
export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run a bin to completion; its standard input is `input`, or empty. */
export const run = (file: string, args: ReadonlyArray<string>, options: {
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv
  readonly input?: string | undefined
}) =>
  Effect.promise(async (): Promise<Finished> => {
    const [program, argv] = command(file, args)
    const child = spawn(program, argv, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text))
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
    // A child that exits before reading all of its input is its own affair (the test sees its exit), not an EPIPE here.
    child.stdin.on("error", () => {}).end(options.input)
    // "close", not "exit": only then has all of stdout and stderr been read.
    const [code] = await once(child, "close")
    return { code: typeof code === "number" ? code : null, stdout, stderr }
  })

/** Start a long-running bin for the life of the scope; SIGTERM (then SIGKILL) at the end. */
export const daemon = (file: string, args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv }) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const [program, argv] = command(file, args)
      const child = spawn(program, argv, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
      const output: Array<string> = []
      child.stdout.setEncoding("utf8").on("data", (text: string) => output.push(text))
      child.stderr.setEncoding("utf8").on("data", (text: string) => output.push(text))
      return { child, output }
    }),
    ({ child }) => Effect.promise(() => stop(child))
  )

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, "exit")
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
  await exited
  clearTimeout(timer)
}
