/**
 * Sending a repository: the real `agnt order --repo` of `REPO` (default:
 * this project's own clone) — its tracked files at HEAD, listed by `git
 * ls-tree` and streamed out of `git cat-file --batch` — to a real
 * `agnt-server` on a fresh embedded PostgreSQL database, beside the same
 * same files sent from a directory (`agnt order --file .` of the tree
 * `git archive HEAD` unpacked), the tree as one tar sent with curl to the
 * same endpoint, and `agnt --help` alone (the CLI's start). Prints the
 * files, MiB and seconds of each.
 *
 *   npx tsx bench/repo.ts
 *   REPO=/path/to/repo npx tsx bench/repo.ts
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import { AgentManifest } from "@agnt/domain/Agent"
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Redacted } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import * as EmbeddedPostgres from "../packages/server/src/EmbeddedPostgres.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, temporaryDirectory } from "../packages/server/src/Testing.js"
import { makeKeys, startServerOn } from "../test/Executors.js"
import { binPath } from "../test/Processes.js"
import { runIfMain } from "./Bench.js"

/** Wall seconds of `command args` run to its end; dies when it fails. */
const seconds = (command: string, args: ReadonlyArray<string>, options: { readonly env: NodeJS.ProcessEnv; readonly cwd: string }) =>
  Effect.async<number>((resume) => {
    const started = performance.now()
    let stderr = ""
    const child = spawn(command, [...args], { ...options, stdio: ["ignore", "ignore", "pipe"] })
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
    child.on("close", (code) =>
      resume(
        code === 0
          ? Effect.succeed((performance.now() - started) / 1000)
          : Effect.die(new Error(`${command} exited ${code}: ${stderr}`))
      ))
  })

/** The figures of one run against the repository at `repo`. */
const repoFigures = (adminUrl: string, repo: string) =>
  Effect.gen(function*() {
    const databaseUrl = yield* freshDatabase(adminUrl)
    const { dataDir, url, work } = yield* startServerOn(databaseUrl, "agnt-bench-repo-")
    const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const agentId = makeAgentId()
    const executor = yield* makeApiClient({ baseUrl: url, key: executorKey.key })
    yield* executor.agents.publish({
      path: { agent_id: agentId },
      payload: new AgentManifest({ name: "Repo sink", description: "", tags: [], input_schema: {} })
    })
    const files = execFileSync("git", ["ls-files", "--stage"], { cwd: repo, encoding: "utf8" }).split("\n").filter((line) =>
      /^1[02]/.test(line)
    )
    const bytes = Number(
      execFileSync("sh", ["-c", "git ls-tree -r -l HEAD | awk '$4 != \"-\" {s += $4} END {print s}'"], { cwd: repo }).toString()
    )
    const env = {
      ...process.env,
      XDG_CONFIG_HOME: NodePath.join(work, "config"),
      AGNT_API_URL: url,
      AGNT_API_KEY: Redacted.value(buyerKey.key)
    }
    const agnt = binPath("cli", "agnt.js")
    const startup = yield* seconds(process.execPath, [agnt, "--help"], { env, cwd: work })
    const order = yield* seconds(process.execPath, [agnt, "order", agentId, "--repo", repo, "--prompt", "bench"], { env, cwd: work })
    const archive = NodePath.join(work, "tree.tar")
    execFileSync("git", ["archive", "--format=tar", "-o", archive, "HEAD"], { cwd: repo })
    const tree = NodePath.join(work, "tree")
    execFileSync("sh", ["-c", `mkdir -p ${tree} && tar -xf ${archive} -C ${tree}`])
    const loose = yield* seconds(process.execPath, [agnt, "order", agentId, "--file", ".", "--prompt", "bench"], { env, cwd: tree })
    const curl = yield* seconds("curl", [
      "-sS",
      "--fail-with-body",
      "-o",
      "/dev/null",
      "-H",
      `Authorization: Bearer ${Redacted.value(buyerKey.key)}`,
      "-F",
      `agent_id=${agentId}`,
      "-F",
      "prompt=bench",
      "-F",
      `files=@${archive};filename=tree.tar`,
      `${url}/v1/jobs`
    ], { env, cwd: work })
    return { repo, files: files.length, mib: bytes / 1024 / 1024, startup, order, loose, curl }
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))

runIfMain(
  import.meta.url,
  Effect.gen(function*() {
    const here = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")
    const repo = yield* Config.string("REPO").pipe(Config.withDefault(here))
    const adminUrl = yield* EmbeddedPostgres.start(NodePath.join(yield* temporaryDirectory("agnt-bench-pg-"), "pg"))
    const figures = yield* repoFigures(Redacted.value(adminUrl), repo)
    yield* Console.log([
      `${figures.repo}: ${figures.files} tracked files, ${figures.mib.toFixed(1)} MiB at HEAD`,
      `agnt order --repo (whole process)      ${figures.order.toFixed(2)} s`,
      `  less agnt --help (start alone, ${figures.startup.toFixed(2)} s)  ${(figures.order - figures.startup).toFixed(2)} s`,
      `agnt order --file . of the same files  ${figures.loose.toFixed(2)} s`,
      `curl -F of git archive HEAD (one tar)  ${figures.curl.toFixed(2)} s`
    ].join("\n"))
  }).pipe(Effect.scoped)
)
