/**
 * `npm run demo`: the main job end to end on the embedded default.
 *
 * Starts `agnt-server` (embedded PostgreSQL and local object directory in
 * the data dir; dev keys on first start), starts the built-in code-review
 * executor, finds the agent with `agnt search`, orders a review of this
 * repository's own `packages/<pkg>/src` through the real `agnt` CLI, waits
 * for it, downloads the result files into `demo-results/`, checks that
 * every input file the job recorded has the SHA-256 of the file on disk,
 * prints `{ agent, job, out, files, inputs }` as JSON on stdout, stops everything and exits
 * 0. Logs of the server and executor go to stderr. A second run reuses the
 * data dir. `PORT` picks the API port (default: a free one).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import { once } from "node:events"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { freePortPromise } from "../packages/server/src/FreePort.js"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")
const bin = (pkg: string, name: string) => NodePath.join(root, "packages", pkg, "bin", name)

const started: Array<ChildProcess> = []

const sha256Of = (path: string) => NodeCrypto.createHash("sha256").update(NodeFs.readFileSync(path)).digest("hex")

/** A long-running child whose output goes to our stderr, prefixed. */
const daemon = (label: string, file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const child = spawn(process.execPath, [file, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] })
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8")
    stream.on("data", (text: string) => {
      for (const line of text.split("\n")) if (line.trim() !== "") process.stderr.write(`[${label}] ${line}\n`)
    })
  }
  started.push(child)
  return child
}

/** Run `agnt …` to completion; its stdout is JSON. */
const agnt = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<unknown> => {
  const child = spawn(process.execPath, [bin("cli", "agnt.js"), ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text))
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
  const [code] = await once(child, "exit")
  if (code !== 0) throw new Error(`agnt ${args.join(" ")} exited ${code}: ${stderr.trim()}`)
  return JSON.parse(stdout)
}

const waitReady = async (url: string, server: ChildProcess) => {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`agnt-server exited with ${server.exitCode}`)
    const ok = await fetch(`${url}/readyz`).then((response) => response.ok, () => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`agnt-server not ready at ${url} after 120 s`)
}

const stopAll = async () => {
  await Promise.all(
    started.filter((child) => child.exitCode === null && child.signalCode === null).map(async (child) => {
      const exited = once(child, "exit")
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(timer)
    })
  )
}

/** `agnt search` until the executor has published its agent (it does so on start). */
const findAgent = async (env: NodeJS.ProcessEnv) => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const page = await agnt(["search", "code review", "--tag", "eslint"], env) as { data: Array<{ agent_id: string; name: string }> }
    if (page.data[0] !== undefined) return page.data[0]
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error("no code-review agent found by search after 60 s")
}

const main = async () => {
  const t0 = Date.now()
  const port = process.env["PORT"] ?? String(await freePortPromise())
  const url = `http://127.0.0.1:${port}`
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: port, AGNT_API_URL: url }
  delete env["AGNT_API_KEY"]
  delete env["DATABASE_URL"]

  const server = daemon("server", bin("server", "agnt-server.js"), ["serve"], env)
  await waitReady(url, server)
  daemon("executor", bin("executor", "agnt-executor.js"), ["run", "code-review"], env)

  const agent = await findAgent(env)

  const out = NodePath.join(root, "demo-results")
  const files = ["domain", "client", "server", "cli", "executor"].flatMap((pkg) => ["--file", `packages/${pkg}/src`])
  const order = await agnt([
    "order",
    agent.agent_id,
    "--prompt",
    "Review the agnt sources",
    "--param",
    "min_severity=warning",
    ...files,
    "--wait",
    "--out",
    out
  ], env) as {
    job: { job_id: string; status: string; input_files: ReadonlyArray<{ path: string; sha256: string }> }
    out: string
    files: ReadonlyArray<unknown>
  }

  await stopAll()
  // Every input file the job recorded has the SHA-256 of the file on disk (files are byte-exact).
  const differing = order.job.input_files.filter((file) => sha256Of(NodePath.join(root, file.path)) !== file.sha256)
  if (differing.length > 0) throw new Error(`input files stored with other bytes: ${differing.map((file) => file.path).join(", ")}`)
  const inputs = { count: order.job.input_files.length, all_match_disk_sha256: true }
  // The web app where `npm start` serves it (this run's server, on its own port, has stopped), and how to sign in.
  const served = `http://127.0.0.1:${process.env["PORT"] ?? "8080"}`
  const web = { start: "npm start", sign_in: "npx agnt ui", ui_url: `${served}/`, job_page: `${served}/jobs/${order.job.job_id}` }
  process.stdout.write(JSON.stringify({ agent, ...order, inputs, web, wall_seconds: (Date.now() - t0) / 1000 }, null, 2) + "\n")
}

main().catch(async (error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`)
  await stopAll()
  process.exit(1)
})
