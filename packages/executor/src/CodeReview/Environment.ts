/**
 * Which globals each reviewed file runs with, decided from the workspace's
 * own files read as data (never run, never handed to ESLint as config):
 *
 * - **Runtime** from the nearest `package.json` at or above the file inside
 *   the workspace: a `browser` field or a `browser` condition in `exports`
 *   makes it a browser package — `node+browser` when the package also shows
 *   Node (`main`, `bin`, `engines.node`, a `node`/`require` condition);
 *   any other package is `node`. `.cjs`/`.cts` files are always `node`;
 *   `.jsx`/`.tsx` files, and files under a `public/`, `static/` or `www/`
 *   directory (what a Node server sends to browsers), also get `browser`. No `package.json` at all:
 *   `node+browser` (both sets of globals, as before this was known).
 * - **Test framework** for test files. A file is a test file by path
 *   (a `test/`, `tests/`, `__tests__/`, `__mocks__/`, `spec/` directory, or
 *   a `*.test.*` / `*.spec.*` name) or by importing a framework (`vitest`,
 *   `mocha`, `@jest/globals`, `jasmine`, or a runner whose API is only
 *   imported: `node:test`, `ava`, `tap`, `uvu`, `@playwright/test`; by
 *   `import` or `require`). Its framework is what it imports, else what its
 *   package uses (`dependencies`/`devDependencies`, a `jest`/`mocha` key, the
 *   `test` script), else Mocha, Jest, Vitest and Jasmine together.
 *
 * Globals come from the `globals` package (`globals.node`, `globals.browser`,
 * `globals.mocha`, `globals.jest`, `globals.vitest`, `globals.jasmine`).
 * Node's test runner (`node:test`), AVA, tap, uvu and Playwright Test have
 * no globals — their `test`, `describe`, `it` are imported — so they add none.
 */
import globals from "globals"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"

/** Where a file runs. */
export type Runtime = "node" | "browser" | "node+browser"

/** A test framework recognised from imports or the package. */
export type TestFramework = "mocha" | "jest" | "vitest" | "jasmine" | "imported"

const frameworkGlobals: Record<TestFramework, Record<string, boolean>> = {
  mocha: globals.mocha,
  jest: globals.jest,
  vitest: globals.vitest,
  jasmine: globals.jasmine,
  imported: {}
}

/** The environment one file is linted in. `key` names it, e.g. `node+mocha`. */
export interface Environment {
  readonly key: string
  readonly globals: Record<string, boolean>
}

/** What is read of a `package.json` (only these signals, as data). */
interface PackageSignals {
  readonly browser: boolean
  readonly node: boolean
  readonly frameworks: ReadonlyArray<TestFramework>
}

const maxPackageJsonBytes = 1024 * 1024

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** The condition names anywhere in an `exports` map (bounded depth). */
const conditionsOf = (exports: unknown, depth = 0): ReadonlyArray<string> => {
  if (depth > 6) return []
  if (Array.isArray(exports)) return exports.flatMap((entry) => conditionsOf(entry, depth + 1))
  if (!isRecord(exports)) return []
  return Object.entries(exports).flatMap(([key, value]) => [key, ...conditionsOf(value, depth + 1)])
}

const frameworkPackages: ReadonlyArray<readonly [TestFramework, ReadonlyArray<string>]> = [
  ["mocha", ["mocha", "@types/mocha"]],
  ["jest", ["jest", "@types/jest", "ts-jest", "@jest/globals"]],
  ["vitest", ["vitest"]],
  ["jasmine", ["jasmine", "jasmine-core", "@types/jasmine"]],
  ["imported", ["ava", "tap", "uvu", "@playwright/test"]]
]

const frameworksOfPackage = (json: Record<string, unknown>): ReadonlyArray<TestFramework> => {
  const dependencies = new Set([
    ...Object.keys(isRecord(json["dependencies"]) ? json["dependencies"] : {}),
    ...Object.keys(isRecord(json["devDependencies"]) ? json["devDependencies"] : {})
  ])
  const scripts = isRecord(json["scripts"]) ? json["scripts"] : {}
  const testScript = typeof scripts["test"] === "string" ? scripts["test"] : ""
  const found = frameworkPackages.flatMap(([framework, names]) =>
    names.some((name) => dependencies.has(name)) || json[framework] !== undefined ||
      new RegExp(`\\b${framework}\\b`).test(testScript)
      ? [framework]
      : []
  )
  return /\bnode\s+(?:[^|&;]*\s)?--test\b/.test(testScript) ? [...found, "imported"] : found
}

const signalsOf = (json: Record<string, unknown>): PackageSignals => {
  const conditions = conditionsOf(json["exports"])
  const engines = isRecord(json["engines"]) ? json["engines"] : {}
  return {
    browser: json["browser"] !== undefined || conditions.includes("browser"),
    node: json["main"] !== undefined || json["bin"] !== undefined || engines["node"] !== undefined ||
      conditions.includes("node") || conditions.includes("require"),
    frameworks: frameworksOfPackage(json)
  }
}

/** `child` lies below `parent` (both absolute, normalised). */
const isBelow = (parent: string, child: string) => {
  const relative = NodePath.relative(parent, child)
  return relative !== "" && !relative.startsWith("..") && !NodePath.isAbsolute(relative)
}

/**
 * Reads `package.json` files of a workspace, each directory once: only a
 * regular file whose real path is inside the real root, at most 1 MiB, that
 * parses as a JSON object; anything else counts as no `package.json`.
 */
const packageReader = (root: string, realRoot: string) => {
  const cache = new Map<string, Promise<PackageSignals | undefined>>()
  const read = async (directory: string): Promise<PackageSignals | undefined> => {
    try {
      const path = NodePath.join(directory, "package.json")
      const real = await NodeFs.realpath(path)
      const stats = await NodeFs.stat(real)
      if (!isBelow(realRoot, real) || !stats.isFile() || stats.size > maxPackageJsonBytes) return undefined
      const json: unknown = JSON.parse(await NodeFs.readFile(real, "utf8"))
      return isRecord(json) ? signalsOf(json) : undefined
    } catch {
      return undefined
    }
  }
  /** The nearest package.json's signals at or above `directory`, up to the root. */
  const nearest = async (directory: string): Promise<PackageSignals | undefined> => {
    let cached = cache.get(directory)
    if (cached === undefined) {
      cached = read(directory)
      cache.set(directory, cached)
    }
    const found = await cached
    if (found !== undefined || directory === root || !isBelow(root, directory)) return found
    return nearest(NodePath.dirname(directory))
  }
  return nearest
}

const testDirectories = new Set(["test", "tests", "__tests__", "__mocks__", "spec", "specs"])

/** A test file by its path: a test directory on the way, or a `*.test.*` / `*.spec.*` name. */
export const isTestPath = (file: string): boolean => {
  const segments = file.split("/")
  const name = segments.at(-1) ?? ""
  return segments.slice(0, -1).some((segment) => testDirectories.has(segment)) || /\.(?:test|spec)\.[cm]?[jt]sx?$/.test(name)
}

const importedModules: ReadonlyArray<readonly [TestFramework, string]> = [
  ["vitest", "vitest"],
  ["mocha", "mocha"],
  ["jest", "@jest/globals"],
  ["jasmine", "jasmine"],
  ["imported", "node:test"],
  ["imported", "ava"],
  ["imported", "tap"],
  ["imported", "uvu"],
  ["imported", "@playwright/test"]
]

/**
 * The test frameworks `text` imports or requires (`from "vitest"`,
 * `require("mocha")`; `"imported"` for `node:test`, `ava`, `tap`, `uvu`, `@playwright/test`).
 */
export const importedFrameworks = (text: string): ReadonlyArray<TestFramework> => {
  const specifiers = new Set(
    Array.from(
      text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(["'])([^"'\n]{1,100})\1/g),
      (match) => match[2]
    )
  )
  return [...new Set(importedModules.flatMap(([framework, module]) => specifiers.has(module) ? [framework] : []))]
}

const servedDirectories = new Set(["public", "static", "www"])

const runtimeOf = (file: string, signals: PackageSignals | undefined): Runtime => {
  const extension = NodePath.extname(file)
  if (extension === ".cjs" || extension === ".cts") return "node"
  const base: Runtime = signals === undefined ? "node+browser" : !signals.browser ? "node" : signals.node ? "node+browser" : "browser"
  const alsoBrowser = extension === ".jsx" || extension === ".tsx" ||
    file.split("/").slice(0, -1).some((segment) => servedDirectories.has(segment))
  return alsoBrowser && base === "node" ? "node+browser" : base
}

const runtimeGlobals: Record<Runtime, Record<string, boolean>> = {
  node: globals.node,
  browser: globals.browser,
  "node+browser": { ...globals.browser, ...globals.node }
}

const allFrameworks: ReadonlyArray<TestFramework> = ["mocha", "jest", "vitest", "jasmine"]

const environmentOf = (runtime: Runtime, frameworks: ReadonlyArray<TestFramework>): Environment => {
  const named = [...frameworks.filter((framework) => framework !== "imported")].sort()
  return {
    key: [runtime, ...named].join("+"),
    globals: Object.assign({}, runtimeGlobals[runtime], ...named.map((framework) => frameworkGlobals[framework]))
  }
}

/** A reviewed file: relative path, absolute path and its text. */
export interface SourceFile {
  readonly file: string
  readonly absolute: string
  readonly text: string
}

/**
 * The environment of each file (keyed by relative path), from the nearest
 * `package.json` inside `root` (`realRoot` its real path) and the file's
 * path and imports. Never fails: an unreadable or malformed `package.json`
 * counts as none.
 */
export const environmentsOf = async (
  root: string,
  realRoot: string,
  files: ReadonlyArray<SourceFile>
): Promise<Map<string, Environment>> => {
  const nearest = packageReader(root, realRoot)
  const entries = await Promise.all(files.map(async (source) => {
    const signals = await nearest(NodePath.dirname(source.absolute))
    const imported = importedFrameworks(source.text)
    const isTest = imported.length > 0 || isTestPath(source.file)
    const fromPackage = signals?.frameworks ?? []
    const frameworks = !isTest ? [] : imported.length > 0 ? imported : fromPackage.length > 0 ? fromPackage : allFrameworks
    return [source.file, environmentOf(runtimeOf(source.file, signals), frameworks)] as const
  }))
  return new Map(entries)
}
