/**
 * The bundles of `npm run build` are whole programs: built into a temporary
 * directory (with the repository's `node_modules` above them, where their
 * external packages are found), the bundled `agnt` prints its version, the
 * bundled `agnt-server` migrates a fresh database from the migrations
 * copied beside it, makes keys, answers `/readyz` and serves the web app
 * built beside it, and a job ordered
 * with the bundled `agnt` is served by the bundled `agnt-executor run
 * code-review` (ESLint and TypeScript loaded from `node_modules`) and
 * downloaded; the bundled command executor loads a shipped preset from
 * beside its bundle. `agnt-executor`'s bundle loads at start only what
 * parses its commands, and each command's own code when it runs.
 */
import { AgentId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { Metafile } from "esbuild"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { inject } from "vitest"
import { freshDatabase, temporaryDirectory } from "../packages/server/src/Testing.js"
import { buildAll, buildExecutor } from "../scripts/build.js"
import { agentPublished, buyerClient, startExecutor, startServerOn } from "./Executors.js"
import { run } from "./Processes.js"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")
const codeReviewAgentId = Schema.decodeSync(AgentId)("agent_01m7zs84jxe4bv682cvngbb1p6")
const presetAgentId = Schema.decodeSync(AgentId)("agent_01m7zs84jxe4bv682cvngbb1p7")

/** The three bundles, built into `<dir>/dist`, with the repository's `node_modules` linked at `<dir>/node_modules`. */
const builtBundles = (dir: string) =>
  Effect.promise(async () => {
    await NodeFs.symlink(NodePath.join(root, "node_modules"), NodePath.join(dir, "node_modules"))
    const built = await buildAll(NodePath.join(dir, "dist"))
    return { agnt: built.agnt.file, executor: built.executor.file, server: built.server.file }
  })

/**
 * The sources (paths relative to the repository) that loading the outputs
 * of `entryPoints` brings in: those outputs and every output they import
 * statically, transitively (a dynamic `import()` loads nothing until reached).
 */
const loadedSources = (metafile: Metafile, entryPoints: ReadonlyArray<string>): ReadonlyArray<string> => {
  const outputs = Object.entries(metafile.outputs)
  const pending = outputs.filter(([, output]) => entryPoints.includes(output.entryPoint ?? "")).map(([path]) => path)
  expect(pending).toHaveLength(entryPoints.length)
  const loaded = new Set<string>()
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (loaded.has(path)) continue
    loaded.add(path)
    const imports = metafile.outputs[path]?.imports ?? []
    pending.push(
      ...imports.filter((imported) => imported.kind === "import-statement" && !imported.external).map((imported) => imported.path)
    )
  }
  return [...loaded].flatMap((path) => Object.keys(metafile.outputs[path]?.inputs ?? {}))
}

const executorSource = (name: string) => `packages/executor/src/${name}`

/** A key of `role` made by the bundled `agnt-server keys create`. */
const createKey = (server: string, env: NodeJS.ProcessEnv, role: "buyer" | "executor") =>
  Effect.map(run(server, ["keys", "create", "--role", role], { cwd: root, env }), (created) => {
    expect(created.stderr).toBe("")
    const key: unknown = JSON.parse(created.stdout).key
    expect(key).toMatch(new RegExp(`^agnt_${role}_`))
    return String(key)
  })

describe("the bundles of npm run build", () => {
  it.scopedLive(
    "run as whole programs: agnt --version, the server on a fresh database, a code review ordered with agnt end to end",
    () =>
      Effect.gen(function*() {
        const dir = yield* temporaryDirectory("agnt-bundles-")
        const bundles = yield* builtBundles(dir)

        const version = yield* run(bundles.agnt, ["--version"], { cwd: dir, env: process.env })
        expect([version.code, version.stdout.trim()]).toEqual([0, "0.1.0"])
        // The sandbox's egress bridge sits beside the executor's bundle, where `egressBridgePath` looks from it.
        const bridge = yield* run(NodePath.join(NodePath.dirname(bundles.executor), "egress-bridge.mjs"), [], {
          cwd: dir,
          env: process.env
        })
        expect([bridge.code, bridge.stderr]).toEqual([64, "usage: node egress-bridge.mjs <socket> <port> [-- <program> [args…]]\n"])

        const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
        const server = yield* startServerOn(databaseUrl, "agnt-bundled-server-", {}, bundles.server)
        const ready = yield* Effect.promise(() => fetch(`${server.url}/readyz`))
        expect(ready.status).toBe(200)
        // The web app built beside the bundle, at / and at its own routes.
        const page = yield* Effect.promise(() =>
          fetch(`${server.url}/jobs`).then(async (response) => [response.status, await response.text()])
        )
        expect(page[0]).toBe(200)
        expect(page[1]).toContain("<div id=\"root\"></div>")
        const buyerKey = yield* createKey(bundles.server, server.env, "buyer")
        const executorKey = yield* createKey(bundles.server, server.env, "executor")

        const project = NodePath.join(dir, "project")
        yield* Effect.promise(async () => {
          await NodeFs.mkdir(NodePath.join(project, "src"), { recursive: true })
          await NodeFs.writeFile(
            NodePath.join(project, "src", "planted.ts"),
            "const later = async (): Promise<void> => {}\nexport const f = () => {\n  debugger\n  later()\n}\n"
          )
          await NodeFs.writeFile(
            NodePath.join(project, "src", "tsconfig.json"),
            "{ \"compilerOptions\": { \"strict\": true, \"types\": [] } }\n"
          )
        })
        const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(dir, "config"), AGNT_API_URL: server.url }
        const client = yield* buyerClient(server.url, buyerKey)
        yield* startExecutor(["code-review"], { cwd: dir, env: { ...env, AGNT_API_KEY: executorKey }, program: bundles.executor })
        yield* agentPublished(client, codeReviewAgentId)

        const out = NodePath.join(dir, "out")
        const order = yield* run(
          bundles.agnt,
          ["order", codeReviewAgentId, "--prompt", "review", "--file", "src", "--wait", "--out", out],
          {
            cwd: project,
            env: { ...env, AGNT_API_KEY: buyerKey }
          }
        )
        expect(order.stderr).toBe("")
        expect(order.code).toBe(0)
        const ordered = JSON.parse(order.stdout)
        expect(ordered.job.status).toBe("completed")
        expect(ordered.job.result).toMatchObject({ files_reviewed: 1, files_skipped: 1 })
        const sarif = JSON.parse(yield* Effect.promise(() => NodeFs.readFile(NodePath.join(out, "review.sarif"), "utf8")))
        expect(JSON.stringify(sarif)).toContain("no-debugger")
        // The type-check worker runs from beside the bundle: the floating promise needs types to be found.
        expect(JSON.stringify(sarif)).toContain("@typescript-eslint/no-floating-promises")

        // The preset is read from beside the executor's bundle; its agent is published under the preset's name.
        // A stand-in `codex` on PATH: the executor checks the preset's program before publishing.
        const bin = NodePath.join(dir, "bin")
        yield* Effect.promise(async () => {
          await NodeFs.mkdir(bin, { recursive: true })
          await NodeFs.writeFile(NodePath.join(bin, "codex"), "#!/bin/sh\n", { mode: 0o755 })
        })
        yield* startExecutor(["command", "--preset", "codex", "--agent-id", presetAgentId], {
          cwd: dir,
          env: {
            ...env,
            PATH: `${bin}${NodePath.delimiter}${process.env.PATH ?? ""}`,
            AGNT_API_KEY: executorKey,
            AGNT_EXECUTOR_STATE_DIR: NodePath.join(dir, "preset-state")
          },
          program: bundles.executor
        })
        yield* agentPublished(client, presetAgentId)
        const agent = yield* client.agents.get({ path: { agent_id: presetAgentId } })
        expect(agent.name).toBe("Codex")
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    { timeout: 300_000 }
  )

  it.scopedLive("agnt-executor loads at start only its commands, and each command's own code when it runs", () =>
    Effect.gen(function*() {
      const dir = yield* temporaryDirectory("agnt-executor-bundle-")
      const { metafile } = yield* Effect.promise(() => buildExecutor(dir))
      const atStart = loadedSources(metafile, [executorSource("bin.ts")])
      expect(atStart).toContain(executorSource("Commands.ts"))
      for (const notYet of ["Runtime.ts", "Serve.ts", "Init.ts", "CodeReview/Executor.ts", "Command/Executor.ts"]) {
        expect(atStart).not.toContain(executorSource(notYet))
      }
      // `run code-review`: the runtime and the code-review executor, nothing of the command executor nor ESLint's set-up.
      const codeReview = loadedSources(metafile, [executorSource("bin.ts"), executorSource("Serve.ts"), executorSource("Builtins.ts")])
      expect(codeReview).toEqual(expect.arrayContaining([executorSource("Runtime.ts"), executorSource("CodeReview/Executor.ts")]))
      for (const other of ["Command/Executor.ts", "Command/Sandbox.ts", "Command/EgressProxy.ts", "Init.ts", "CodeReview/Analysis.ts"]) {
        expect(codeReview).not.toContain(executorSource(other))
      }
      // `run command`: the runtime and the command executor, nothing of the code-review executor.
      const command = loadedSources(metafile, [executorSource("bin.ts"), executorSource("Serve.ts"), executorSource("Command/Start.ts")])
      expect(command).toEqual(expect.arrayContaining([executorSource("Runtime.ts"), executorSource("Command/Executor.ts")]))
      expect(command).not.toContain(executorSource("CodeReview/Executor.ts"))
    }), { timeout: 60_000 })
})
