// The code-review executor's type-aware lint, run in a worker thread by TypeCheck.ts so that the
// job's time and memory bounds can stop it (worker.terminate(), resourceLimits). Plain Node, no
// build step: it is copied beside the executor bundle as it is.
//
// workerData: { root, realRoot, rules, options, groups: [{ globals, files }] } — `rules` is
// @eslint/js's recommended rule levels, `options` TypeCheck.ts's lockedEslintOptions (no config
// file, plugin, ignore file or inline config from the workspace), `files` absolute paths of
// TypeScript files. Posts one message:
// { results: [{ filePath, messages }], rulesMeta: { [ruleId]: { type, docs: { description, url } } } }
// or { error }.
//
// TypeScript reads nothing outside the workspace but its own lib files: before the project service
// exists, ts.sys (which it copies) answers for any other path as if it did not exist. No
// TypeScript language-service plugin is loaded (loadTypeScriptPlugins: false).
import { ESLint } from "eslint"
import { defineConfig } from "eslint/config"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import { parentPort, workerData } from "node:worker_threads"
import tseslint from "typescript-eslint"

const require = createRequire(import.meta.url)
const ts = require("typescript")

const { groups, options, realRoot, root, rules } = workerData

const inside = (parent, path) => {
  const relative = NodePath.relative(parent, NodePath.resolve(path))
  return relative === "" || (!relative.startsWith("..") && !NodePath.isAbsolute(relative))
}
const libDirectory = NodePath.dirname(ts.getDefaultLibFilePath({}))
const readable = (path) => inside(root, path) || inside(realRoot, path) || inside(libDirectory, path)

/** Confine ts.sys to the workspace and TypeScript's lib files. */
const confine = (sys) => {
  const guard = (name, outside) => {
    const original = sys[name]
    if (typeof original !== "function") return
    sys[name] = (path, ...rest) => readable(path) ? original.call(sys, path, ...rest) : outside(path)
  }
  guard("readFile", () => undefined)
  guard("fileExists", () => false)
  guard("directoryExists", () => false)
  guard("getDirectories", () => [])
  guard("readDirectory", () => [])
  guard("realpath", (path) => path)
  guard("getFileSize", () => 0)
  guard("getModifiedTime", () => undefined)
}
confine(ts.sys)
confine(require("typescript/lib/tsserverlibrary").sys)

const typeScriptFiles = ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.cts"]

// @eslint/js's recommended levels first, so that typescript-eslint's sets turn off the core rules
// TypeScript makes redundant (no-undef, no-unused-vars, …), as Analysis.ts's untyped config does.
const configFor = (globals) =>
  defineConfig(
    { files: typeScriptFiles, rules },
    {
      files: typeScriptFiles,
      extends: [tseslint.configs.recommendedTypeChecked],
      languageOptions: {
        globals,
        parserOptions: {
          projectService: { loadTypeScriptPlugins: false },
          tsconfigRootDir: root,
          warnOnUnsupportedTypeScriptVersion: false
        }
      },
      linterOptions: { reportUnusedDisableDirectives: "off" }
    }
  )

const metaOf = (meta) => ({
  type: meta?.type,
  docs: { description: meta?.docs?.description, url: meta?.docs?.url }
})

try {
  const results = []
  const rulesMeta = {}
  for (const group of groups) {
    const eslint = new ESLint({ ...options, cwd: root, overrideConfig: configFor(group.globals) })
    const linted = await eslint.lintFiles(group.files)
    for (const [id, meta] of Object.entries(eslint.getRulesMetaForResults(linted))) rulesMeta[id] = metaOf(meta)
    for (const result of linted) {
      results.push({
        filePath: result.filePath,
        messages: result.messages.map(({ column, endColumn, endLine, fatal, line, message, ruleId, severity }) => ({
          column,
          endColumn,
          endLine,
          fatal,
          line,
          message,
          ruleId,
          severity
        }))
      })
    }
  }
  parentPort.postMessage({ results, rulesMeta })
} catch (error) {
  parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) })
}
