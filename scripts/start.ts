/**
 * `npm start`: the API server from the sources (through tsx), serving the
 * web app at `/`. The web app is built first (`buildWeb`, into
 * `packages/web/dist`, where the server run from its sources finds it) when
 * it has not been built, or when a file of `packages/web` or of the domain
 * it derives its client from is newer than the build; otherwise the server
 * starts at once. Arguments are the server's (`npm start -- --help`);
 * `serve` when none are given. For work on the web app itself, `npx vite`
 * in `packages/web` serves it with reloading (packages/web/README.md).
 */
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { buildWeb } from "./build.js"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")

/** The newest modification time (ms) of the files under `dir`, `node_modules` and `dist` left out; 0 when none. */
const newest = async (dir: string): Promise<number> => {
  const entries = await NodeFs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  const times = await Promise.all(
    entries
      .filter((entry) => entry.isFile() && !/(^|[/\\])(node_modules|dist)([/\\]|$)/.test(NodePath.relative(dir, entry.parentPath)))
      .map((entry) => NodeFs.stat(NodePath.join(entry.parentPath, entry.name)).then((stats) => stats.mtimeMs))
  )
  return Math.max(0, ...times)
}

const built = await NodeFs.stat(NodePath.join(root, "packages", "web", "dist", "index.html")).then((stats) => stats.mtimeMs, () => 0)
const sources = Math.max(
  await newest(NodePath.join(root, "packages", "web")),
  await newest(NodePath.join(root, "packages", "domain", "src"))
)
if (sources > built) {
  process.stderr.write(built === 0 ? "building the web app (once)…\n" : "the web app's sources changed: building it again…\n")
  await buildWeb()
}

const args = process.argv.slice(2)
const server = spawn(process.execPath, [
  NodePath.join(root, "packages", "server", "bin", "agnt-server.js"),
  ...(args.length === 0 ? ["serve"] : args)
], {
  stdio: "inherit"
})
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => server.kill(signal))
server.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
