import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { builtinRules } from "eslint/use-at-your-own-risk"
import { createHash } from "node:crypto"
import { access, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { analyze } from "../src/CodeReview/Analysis.js"
import { changedLines } from "../src/CodeReview/Changes.js"
import { importedFrameworks, isTestPath } from "../src/CodeReview/Environment.js"
import { detailedFindings, markdownLineBound, renderMarkdown } from "../src/CodeReview/Markdown.js"
import { type Finding, type ReviewReport, type Severity, withSeverityFloor } from "../src/CodeReview/Report.js"
import { renderSarif } from "../src/CodeReview/Sarif.js"
import { fixtureFiles, fixturesDir, sarifSchemaErrors } from "./CodeReviewFixtures.js"

/** A temp directory holding `files`, removed when the scope closes. */
const workspace = (files: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "agnt-code-review-"))),
    (root) => Effect.promise(() => rm(root, { recursive: true, force: true }))
  ).pipe(
    Effect.tap((root) =>
      Effect.forEach(Object.entries(files), ([path, text]) =>
        Effect.promise(async () => {
          await mkdir(dirname(join(root, path)), { recursive: true })
          await writeFile(join(root, path), text)
        }))
    )
  )

const exists = (path: string) => Effect.promise(() => access(path).then(() => true, () => false))

/** Planted problems at known positions. */
const planted = {
  // debugger at 3:1, explicit any at 5:21
  "src/file.ts": ["export const limit = 10;", "", "debugger;", "", "export const loose: any = limit;", ""].join("\n"),
  // unused variable at 1:7; console and process are globals, not no-undef
  "scripts/tool.js": ["const unused = 1;", "console.log(process.argv.length);", ""].join("\n"),
  // syntax error at 2:23
  "src/broken.ts": ["export const ok = 1;", "export const broken = ;", ""].join("\n"),
  // JSX parses; `missing` is undefined at 1:35
  "src/widget.jsx": "export const Widget = () => <div>{missing}</div>;\n",
  // CommonJS with Node globals: no findings
  "legacy.cjs": "module.exports = { sep: require(\"node:path\").sep };\n",
  "README.md": "# Planted\n\nconst x = ;\n",
  "data.json": "{ \"not\": \"linted\" }\n"
}
const plantedFiles = Object.keys(planted)

const brief = (finding: Finding) => [finding.file, finding.line, finding.column, finding.rule_id, finding.severity]

const analyzePlanted = workspace(planted).pipe(
  Effect.flatMap((root) => analyze({ root, files: plantedFiles }))
)

describe("CodeReview/Analysis analyze", () => {
  it.scoped("reports planted problems with exact rule ids and positions, sorted by file, line, column", () =>
    Effect.gen(function*() {
      const report = yield* analyzePlanted
      expect(report.findings.map(brief)).toEqual([
        ["scripts/tool.js", 1, 7, "no-unused-vars", "error"],
        ["src/broken.ts", 2, 23, "parse-error", "error"],
        ["src/file.ts", 3, 1, "no-debugger", "error"],
        ["src/file.ts", 5, 21, "@typescript-eslint/no-explicit-any", "warning"],
        ["src/widget.jsx", 1, 35, "no-undef", "error"]
      ])
      expect(report.files_reviewed).toEqual(["legacy.cjs", "scripts/tool.js", "src/broken.ts", "src/file.ts", "src/widget.jsx"])
      expect(report.tool.name).toBe("eslint")
      expect(report.tool.version).toMatch(/^9\./)
    }), 30_000)

  it.scoped("carries end positions and the rule's documentation url on each finding", () =>
    Effect.gen(function*() {
      const report = yield* analyzePlanted
      const any = report.findings.find((finding) => finding.rule_id === "@typescript-eslint/no-explicit-any")
      expect(any).toMatchObject({
        file: "src/file.ts",
        end_line: 5,
        end_column: 24,
        help_uri: "https://typescript-eslint.io/rules/no-explicit-any"
      })
      expect(report.rules.find((rule) => rule.id === "no-debugger")).toEqual({
        id: "no-debugger",
        description: "Disallow the use of `debugger`",
        help_uri: "https://eslint.org/docs/latest/rules/no-debugger",
        kind: "problem",
        severity: "error"
      })
    }), 30_000)

  it.scoped("reports a file that fails to parse as one fatal parse-error finding and still reviews the rest", () =>
    Effect.gen(function*() {
      const report = yield* analyzePlanted
      const broken = report.findings.filter((finding) => finding.file === "src/broken.ts")
      expect(broken).toHaveLength(1)
      expect(broken[0]).toMatchObject({ rule_id: "parse-error", severity: "error", line: 2 })
      expect(broken[0]?.message).toMatch(/^Parsing error:/)
      expect(report.findings.some((finding) => finding.file === "src/file.ts")).toBe(true)
    }), 30_000)

  it.scoped("lists .md and .json files as skipped, not reviewed and not failed", () =>
    Effect.gen(function*() {
      const report = yield* analyzePlanted
      expect(report.files_skipped).toEqual(["README.md", "data.json"])
      expect(report.findings.filter((finding) => finding.file.endsWith(".md") || finding.file.endsWith(".json")))
        .toEqual([])
    }), 30_000)

  it.scoped("never loads eslint.config.js, .eslintrc or .eslintignore from the workspace", () =>
    Effect.gen(function*() {
      const hostile = [
        "import { writeFileSync } from \"node:fs\";",
        "writeFileSync(new URL(\"./CONFIG_WAS_LOADED\", import.meta.url), \"pwned\");",
        "throw new Error(\"hostile config was loaded\");",
        ""
      ].join("\n")
      const root = yield* workspace({
        "eslint.config.js": hostile,
        "eslint.config.mjs": hostile,
        ".eslintrc.json": "{ \"root\": true, \"rules\": { \"no-debugger\": \"off\" } }\n",
        ".eslintignore": "*\n",
        "package.json": JSON.stringify({ eslintConfig: { rules: { "no-debugger": "off" } }, browser: "src/file.ts" }),
        "src/file.ts": planted["src/file.ts"]
      })
      const report = yield* analyze({ root, files: ["src/file.ts"] })
      expect(yield* exists(join(root, "CONFIG_WAS_LOADED"))).toBe(false)
      expect(report.files_reviewed).toEqual(["src/file.ts"])
      expect(report.findings.map((finding) => [finding.line, finding.rule_id])).toEqual([
        [3, "no-debugger"],
        [5, "@typescript-eslint/no-explicit-any"]
      ])
    }), 30_000)

  it.scoped("ignores eslint-disable and rule-config comments in buyer files", () =>
    Effect.gen(function*() {
      const root = yield* workspace({
        "quiet.js": [
          "/* eslint-disable */",
          "/* eslint no-debugger: \"off\" */",
          "// eslint-disable-next-line no-debugger",
          "debugger;",
          ""
        ].join("\n")
      })
      const report = yield* analyze({ root, files: ["quiet.js"] })
      expect(report.findings.map(brief)).toEqual([["quiet.js", 4, 1, "no-debugger", "error"]])
    }), 30_000)

  it.scoped("does not lint the whole root when no listed file is lintable", () =>
    Effect.gen(function*() {
      const root = yield* workspace({ "bad.js": "debugger;\n", "README.md": "# hi\n" })
      const report = yield* analyze({ root, files: ["README.md"] })
      expect(report).toMatchObject({ files_reviewed: [], files_skipped: ["README.md"], findings: [] })
    }), 30_000)

  it.scoped("reviews a file named twice (or as ./path) once", () =>
    Effect.gen(function*() {
      const root = yield* workspace({ "a.js": "debugger;\n" })
      const report = yield* analyze({ root, files: ["a.js", "./a.js", "a.js"] })
      expect(report.files_reviewed).toEqual(["a.js"])
      expect(report.findings).toHaveLength(1)
    }), 30_000)

  it.scoped("fails with CodeReviewError for absolute, escaping or missing paths and a relative root", () =>
    Effect.gen(function*() {
      const root = yield* workspace({ "a.js": "debugger;\n" })
      for (const files of [["../outside.js"], ["/etc/passwd"], ["src/../../x.js"], ["missing.js"]]) {
        const error = yield* Effect.flip(analyze({ root, files }))
        expect(error._tag).toBe("CodeReviewError")
      }
      const relativeRoot = yield* Effect.flip(analyze({ root: "relative/dir", files: ["a.js"] }))
      expect(relativeRoot._tag).toBe("CodeReviewError")
    }), 30_000)

  it.scoped("skips a symlink that points outside the root instead of reading its target", () =>
    Effect.gen(function*() {
      const outside = yield* workspace({ "secret.js": "const secret = ;\n" })
      const root = yield* workspace({})
      yield* Effect.promise(() => symlink(join(outside, "secret.js"), join(root, "link.js")))
      const report = yield* analyze({ root, files: ["link.js"] })
      expect(report).toMatchObject({ files_reviewed: [], files_skipped: ["link.js"], findings: [] })
    }), 30_000)
})

describe("CodeReview/Analysis severities", () => {
  it.scoped("splits findings by each rule's meta.type: problem is an error, suggestion a warning", () =>
    Effect.gen(function*() {
      const root = join(fixturesDir, "node-mocha")
      const report = yield* analyze({ root, files: yield* fixtureFiles(root) })
      expect(report.findings.map(brief)).toEqual([
        ["index.js", 14, 14, "no-unused-vars", "error"],
        ["index.js", 14, 21, "no-empty", "warning"],
        ["lib/parse.js", 10, 26, "valid-typeof", "error"],
        ["lib/parse.js", 13, 38, "no-undef", "error"]
      ])
      const expected = { problem: "error", suggestion: "warning", layout: "note" } as const
      for (const finding of [...report.findings, ...(yield* analyzePlanted).findings]) {
        const type = builtinRules.get(finding.rule_id)?.meta?.type
        if (type !== undefined) expect([finding.rule_id, finding.severity]).toEqual([finding.rule_id, expected[type]])
      }
    }), 30_000)
})

describe("CodeReview/Analysis environments", () => {
  const noUndef = (report: ReviewReport) =>
    report.findings.filter((finding) => finding.rule_id === "no-undef").map((finding) => [finding.file, finding.message])

  it.scoped(
    "a Node package with Mocha tests: Node globals everywhere, Mocha's in test/, browser globals nowhere",
    () =>
      Effect.gen(function*() {
        const root = join(fixturesDir, "node-mocha")
        const report = yield* analyze({ root, files: yield* fixtureFiles(root) })
        expect(noUndef(report)).toEqual([["lib/parse.js", "'window' is not defined."]])
        expect(report.environments).toEqual({ node: 2, "node+mocha": 2 })
      }),
    30_000
  )

  it.scoped("a browser package: browser globals, Vitest's for tests by path and by import, no Node globals", () =>
    Effect.gen(function*() {
      const root = join(fixturesDir, "browser")
      const report = yield* analyze({ root, files: yield* fixtureFiles(root) })
      expect(noUndef(report)).toEqual([["src/copy-button.js", "'Buffer' is not defined."]])
      expect(report.environments).toEqual({ browser: 1, "browser+vitest": 2 })
    }), 30_000)

  it.scoped(
    "Jest and Jasmine tests get their globals from the package, node:test none; public/ files browser globals too",
    () =>
      Effect.gen(function*() {
        const root = yield* workspace({
          "jest/package.json": JSON.stringify({ name: "j", devDependencies: { jest: "^29.0.0" } }),
          "jest/__tests__/sum.js": "test(\"sums\", () => { expect(jest.fn()).toBeDefined(); });\n",
          "jasmine/package.json": JSON.stringify({ name: "k", scripts: { test: "jasmine" } }),
          "jasmine/spec/sum.spec.js": "describe(\"s\", () => { it(\"x\", () => { jasmine.createSpy(); }); });\n",
          "runner/package.json": JSON.stringify({ name: "r", type: "module", scripts: { test: "node --test" } }),
          "runner/test/a.js": "import { it } from \"node:test\";\nit(\"a\", () => { expect(1); });\n",
          "mocha-required.js": "const { describe } = require(\"mocha\");\ndescribe(\"x\", () => it(\"y\", () => {}));\n",
          "server/package.json": JSON.stringify({ name: "s", main: "index.js" }),
          "server/public/app.js": "document.title = String(window.innerWidth);\n"
        })
        const report = yield* analyze({
          root,
          files: ["jest/__tests__/sum.js", "jasmine/spec/sum.spec.js", "runner/test/a.js", "mocha-required.js", "server/public/app.js"]
        })
        expect(noUndef(report)).toEqual([["runner/test/a.js", "'expect' is not defined."]])
        expect(report.environments).toEqual({
          "node+jest": 1,
          "node+jasmine": 1,
          node: 1,
          "node+browser+mocha": 1,
          "node+browser": 1
        })
      }),
    30_000
  )

  it("recognises test files by path and test frameworks by import or require", () => {
    expect(["test/a.js", "src/__tests__/a.ts", "spec/x.js", "src/a.test.ts", "src/a.spec.mjs", "lib/tests/h.cjs"].map(isTestPath))
      .toEqual([true, true, true, true, true, true])
    expect(["src/test.js", "src/contest/a.js", "latest.js", "src/testing.ts"].map(isTestPath)).toEqual([false, false, false, false])
    expect(importedFrameworks("import { it, vi } from 'vitest'\nconst m = require( \"mocha\" )")).toEqual(["vitest", "mocha"])
    expect(importedFrameworks("import { jest } from \"@jest/globals\"; import test from \"node:test\"")).toEqual(["jest", "imported"])
    expect(importedFrameworks("import test from 'ava'")).toEqual(["imported"])
    expect(importedFrameworks("import x from \"vitest-preview\"; // from \"mocha\" in a comment is text too")).toEqual(["mocha"])
  })
})

/** The SARIF of `report`, failing the test unless it is valid against the official schema. */
const validSarif = (report: ReviewReport) =>
  Effect.gen(function*() {
    const sarif = renderSarif(report)
    expect(yield* sarifSchemaErrors(JSON.parse(JSON.stringify(sarif)))).toEqual([])
    return sarif
  })

/** A copy of a fixture package in a fresh temp directory, analysed. */
const analyzeCopy = (name: string, edit: (root: string) => Promise<void> = async () => {}) =>
  workspace({}).pipe(
    Effect.tap((root) => Effect.promise(() => cp(join(fixturesDir, name), root, { recursive: true }).then(() => edit(root)))),
    Effect.flatMap((root) => Effect.flatMap(fixtureFiles(root), (files) => analyze({ root, files })))
  )

const syntheticFinding = (file: string, line: number, severity: Severity): Finding => ({
  file,
  line,
  column: 1,
  end_line: line,
  end_column: 4,
  rule_id: severity === "error" ? "no-undef" : "no-empty",
  severity,
  message: "Planted.",
  excerpt: { start_line: Math.max(1, line - 1), lines: ["before", "bad", "after"] }
})

/** A report with `count` findings spread over files of 5 findings each. */
const hugeReport = (count: number): ReviewReport => {
  const findings = Array.from(
    { length: count },
    (_, index) => syntheticFinding(`src/f${Math.floor(index / 5)}.js`, (index % 5) * 10 + 2, index % 3 === 0 ? "error" : "warning")
  )
  const files = [...new Set(findings.map((finding) => finding.file)), "src/clean.js"].sort()
  return {
    files_reviewed: files,
    files_skipped: [],
    artifacts: files.map((file) => ({ file, length: 1, sha256: "0".repeat(64) })),
    environments: { node: files.length },
    findings,
    rules: [{ id: "no-undef", severity: "error", kind: "problem" }, { id: "no-empty", severity: "warning", kind: "suggestion" }],
    notes: [],
    type_checked: false,
    tool: { name: "eslint", version: "9.39.5" }
  }
}

const cleanReport: ReviewReport = {
  files_reviewed: ["clean.ts"],
  files_skipped: [],
  artifacts: [{ file: "clean.ts", length: 0, sha256: createHash("sha256").digest("hex") }],
  environments: { node: 1 },
  findings: [],
  rules: [],
  notes: [],
  type_checked: false,
  tool: { name: "eslint", version: "9.39.5" }
}

describe("CodeReview/Sarif renderSarif", () => {
  it.scoped("every SARIF file produced is valid against the official SARIF 2.1.0 schema", () =>
    Effect.gen(function*() {
      yield* validSarif(yield* analyzePlanted)
      for (const name of ["node-mocha", "browser", "typescript"]) {
        const root = join(fixturesDir, name)
        yield* validSarif(yield* analyze({ root, files: yield* fixtureFiles(root) }))
      }
      yield* validSarif(cleanReport)
      yield* validSarif(hugeReport(1_000))
      expect(yield* sarifSchemaErrors({ version: "2.1.0", runs: [{ results: [] }] })).not.toEqual([])
    }), 60_000)

  it.scoped("one run whose results point at the planted rule ids, levels, lines and exact snippets", () =>
    Effect.gen(function*() {
      const report = yield* analyzePlanted
      const sarif = yield* validSarif(report)
      expect(sarif.$schema).toBe("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
      const run = sarif.runs[0]
      expect([sarif.version, sarif.runs.length, run?.tool.driver.name, run?.tool.driver.version, run?.columnKind])
        .toEqual(["2.1.0", 1, "agnt code-review (ESLint)", report.tool.version, "utf16CodeUnits"])
      const rules = run?.tool.driver.rules ?? []
      const results = run?.results ?? []
      expect(results.map((result) => [
        result.ruleId,
        result.level,
        result.locations?.[0]?.physicalLocation?.artifactLocation?.uri,
        result.locations?.[0]?.physicalLocation?.artifactLocation?.uriBaseId,
        result.locations?.[0]?.physicalLocation?.region?.startLine
      ])).toEqual([
        ["no-unused-vars", "error", "scripts/tool.js", "%SRCROOT%", 1],
        ["parse-error", "error", "src/broken.ts", "%SRCROOT%", 2],
        ["no-debugger", "error", "src/file.ts", "%SRCROOT%", 3],
        ["@typescript-eslint/no-explicit-any", "warning", "src/file.ts", "%SRCROOT%", 5],
        ["no-undef", "error", "src/widget.jsx", "%SRCROOT%", 1]
      ])
      for (const result of results) {
        expect(rules[result.ruleIndex ?? -1]?.id).toBe(result.ruleId)
        expect(result.message.text).not.toBe("")
      }
      expect(results[3]?.locations?.[0]?.physicalLocation).toMatchObject({
        region: { startLine: 5, startColumn: 21, endLine: 5, endColumn: 24, snippet: { text: "any" } },
        contextRegion: { startLine: 4, endLine: 6, snippet: { text: "\nexport const loose: any = limit;\n" } }
      })
      expect(results[2]?.locations?.[0]?.physicalLocation?.region?.snippet).toEqual({ text: "debugger;" })
    }), 30_000)

  it.scoped("rules carry help, tags and their default level; artifacts their length and SHA-256", () =>
    Effect.gen(function*() {
      const root = join(fixturesDir, "node-mocha")
      const sarif = yield* validSarif(yield* analyze({ root, files: yield* fixtureFiles(root) }))
      const run = sarif.runs[0]
      expect(run?.tool.driver.rules?.find((rule) => rule.id === "no-empty")).toEqual({
        id: "no-empty",
        shortDescription: { text: "Disallow empty block statements" },
        fullDescription: { text: "Disallow empty block statements" },
        helpUri: "https://eslint.org/docs/latest/rules/no-empty",
        help: {
          text: "Disallow empty block statements. See https://eslint.org/docs/latest/rules/no-empty",
          markdown: "Disallow empty block statements. [Documentation](https://eslint.org/docs/latest/rules/no-empty)"
        },
        defaultConfiguration: { level: "warning" },
        properties: { tags: ["maintainability", "javascript", "suggestion"], "problem.severity": "warning" }
      })
      const bytes = yield* Effect.promise(() => readFile(join(root, "lib/parse.js")))
      expect(run?.artifacts?.find((artifact) => artifact.location?.uri === "lib/parse.js")).toEqual({
        location: { uri: "lib/parse.js", uriBaseId: "%SRCROOT%" },
        length: bytes.length,
        sourceLanguage: "javascript",
        hashes: { "sha-256": createHash("sha256").update(bytes).digest("hex") }
      })
    }), 30_000)

  it.scoped(
    "fingerprints are the same across two runs, in other directories, and after lines are added above",
    () =>
      Effect.gen(function*() {
        const prints = (report: ReviewReport) =>
          (renderSarif(report).runs[0]?.results ?? []).map((result) => [result.ruleId, result.partialFingerprints?.["agntLineHash/v1"]])
        const first = prints(yield* analyzeCopy("node-mocha"))
        const second = prints(yield* analyzeCopy("node-mocha"))
        const shifted = yield* analyzeCopy("node-mocha", async (root) => {
          const path = join(root, "lib/parse.js")
          await writeFile(path, `// A comment\n\n${await readFile(path, "utf8")}`)
        })
        expect(first).toHaveLength(4)
        expect(new Set(first.map(([, print]) => print)).size).toBe(4)
        expect(second).toEqual(first)
        expect(prints(shifted)).toEqual(first)
        expect(shifted.findings.find((finding) => finding.rule_id === "valid-typeof")?.line).toBe(12)
      }),
    30_000
  )

  it("keeps at most 25,000 results, the most severe, and says how many were left out", () => {
    const run = renderSarif(hugeReport(25_003)).runs[0]
    expect(run?.results).toHaveLength(25_000)
    expect(run?.results?.filter((result) => result.level === "error")).toHaveLength(8_335)
    expect(run?.invocations?.[0]?.toolExecutionNotifications?.map((notification) => notification.message.text))
      .toEqual(["3 less severe findings were left out (at most 25000 results)."])
  })
})

describe("CodeReview/Markdown renderMarkdown", () => {
  it.scoped(
    "opens with a verdict and a summary, then findings by file, most severe first, each with its code",
    () =>
      Effect.gen(function*() {
        const root = join(fixturesDir, "node-mocha")
        const markdown = renderMarkdown(yield* analyze({ root, files: yield* fixtureFiles(root) }))
        const lines = markdown.split("\n")
        expect(lines.slice(0, 3)).toEqual([
          "# Code review",
          "",
          "**Verdict: changes needed** — 3 errors to fix, and 1 warning to consider."
        ])
        expect(markdown).toContain("4 findings in 2 files; 2 files without findings; 2 files not linted")
        expect(markdown).toContain("| error | 3 |")
        expect(markdown).toContain("| warning | 1 |")
        expect(markdown).toContain("| `lib/parse.js` | 2 | 0 | 0 |")
        expect(markdown).not.toContain("test/parse.js")
        const parse = markdown.indexOf("### `lib/parse.js` — 2 errors")
        const index = markdown.indexOf("### `index.js` — 1 error, 1 warning")
        expect(parse).toBeGreaterThan(markdown.indexOf("## Findings"))
        expect(index).toBeGreaterThan(parse)
        expect(markdown.indexOf("**error** [`no-unused-vars`]")).toBeLessThan(markdown.indexOf("**warning** [`no-empty`]"))
        expect(markdown).toContain([
          "**error** [`valid-typeof`](https://eslint.org/docs/latest/rules/valid-typeof) at `lib/parse.js:10:26`: Invalid typeof comparison value.",
          "",
          "```js",
          "   9 |     const [key, value] = trimmed.split(\"=\");",
          "> 10 |     if (typeof value === \"undefiend\") continue;",
          "  11 |     result[key.trim()] = value.trim();",
          "```"
        ].join("\n"))
      }),
    30_000
  )

  it("fences an excerpt with more backticks than any run in the code", () => {
    const finding = { ...syntheticFinding("a.md.js", 2, "error"), excerpt: { start_line: 1, lines: ["const s = `", "```js", "`"] } }
    const markdown = renderMarkdown({ ...hugeReport(0), files_reviewed: ["a.md.js"], findings: [finding] })
    expect(markdown).toContain(["````js", "  1 | const s = `", "> 2 | ```js", "  3 | `", "````"].join("\n"))
  })

  it("stays under its line bound and points to review.sarif past a few hundred findings", () => {
    for (const count of [0, 50, 300, 5_000]) {
      const markdown = renderMarkdown(hugeReport(count))
      expect(markdown.split("\n").length).toBeLessThanOrEqual(markdownLineBound)
      expect(markdown.includes("`review.sarif` has them all")).toBe(count > detailedFindings)
    }
    const markdown = renderMarkdown(hugeReport(5_000))
    expect(markdownLineBound).toBeLessThanOrEqual(2_000)
    expect(markdown).toContain("4,700 more findings")
    expect(markdown).not.toContain("src/clean.js")
    expect(markdown.match(/^```js$/gm)).toHaveLength(detailedFindings)
  })

  it("min_severity keeps findings at or above the floor and says how many it left out", () => {
    const floored = withSeverityFloor(hugeReport(9), "error")
    expect(floored.findings.map((finding) => finding.severity)).toEqual(["error", "error", "error"])
    expect(floored.rules.map((rule) => rule.id)).toEqual(["no-undef"])
    expect(renderMarkdown(floored)).toContain("> 6 finding\\(s\\) below error were left out \\(min\\_severity\\).")
    expect(withSeverityFloor(hugeReport(9), "note").notes).toEqual([])
  })

  it("says so when the report is clean, counting files rather than listing them", () => {
    const markdown = renderMarkdown(cleanReport)
    expect(markdown).toContain("**Verdict: clean**")
    expect(markdown).toContain("0 findings in 0 files; 1 file without findings.")
    expect(markdown).not.toContain("`clean.ts`")
  })

  it("escapes Markdown in messages", () => {
    const finding = { ...syntheticFinding("a.ts", 1, "warning"), message: "Unexpected <script> | `x`" }
    const markdown = renderMarkdown({ ...hugeReport(0), files_reviewed: ["a.ts"], findings: [finding] })
    expect(markdown).toContain("Unexpected \\<script\\> \\| \\`x\\`")
    expect(markdown).not.toContain("<script>")
  })
})

describe("CodeReview/TypeCheck type-aware rules", () => {
  const floating = (report: ReviewReport) =>
    report.findings.filter((finding) => finding.rule_id === "@typescript-eslint/no-floating-promises").map((finding) => [
      finding.file,
      finding.line,
      finding.severity
    ])

  it.scoped("finds the floating promise only with types, when the input holds a tsconfig.json", () =>
    Effect.gen(function*() {
      const root = join(fixturesDir, "typescript")
      const files = yield* fixtureFiles(root)
      const typed = yield* analyze({ root, files })
      expect(floating(typed)).toEqual([["src/index.ts", 6, "error"]])
      expect(typed.type_checked).toBe(true)
      expect(typed.notes).toEqual([
        "4 finding(s) of the no-unsafe-* rules about types that could not be resolved (imports of packages that are not among the input files) were left out."
      ])
      expect(renderMarkdown(typed)).toContain("(TypeScript with type information)")
      const withoutTsconfig = yield* analyze({ root, files: files.filter((file) => file !== "tsconfig.json") })
      expect([floating(withoutTsconfig), withoutTsconfig.type_checked]).toEqual([[], false])
      const turnedOff = yield* analyze({ root, files, type_check: false })
      expect(floating(turnedOff)).toEqual([])
    }), 60_000)

  it.scopedLive("over its time or memory bound falls back to the untyped rules and says so", () =>
    Effect.gen(function*() {
      const root = join(fixturesDir, "typescript")
      const files = yield* fixtureFiles(root)
      const slow = yield* analyze({ root, files, type_check_limits: { seconds: 0.05, memory_mb: 2048 } })
      expect([floating(slow), slow.type_checked, slow.notes]).toEqual([[], false, [
        "Type information was not used: it took longer than 0.05 seconds. TypeScript files were linted with the rules that need no types."
      ]])
      const small = yield* analyze({ root, files, type_check_limits: { seconds: 120, memory_mb: 4 } })
      expect([floating(small), small.type_checked]).toEqual([[], false])
      expect(small.notes).toEqual([
        "Type information was not used: it needed more than 4 MB of memory. TypeScript files were linted with the rules that need no types."
      ])
      expect(renderMarkdown(small)).toContain("> Type information was not used")
    }), 60_000)

  it.scoped("reads nothing outside the workspace through a tsconfig and loads no TypeScript plugin", () =>
    Effect.gen(function*() {
      const outside = yield* workspace({
        "tsconfig.base.json": JSON.stringify({ compilerOptions: { strict: true }, files: ["./leak.d.ts"] }),
        "leak.d.ts": "declare function leaked(): Promise<void>;\n"
      })
      const root = yield* workspace({
        "tsconfig.json": JSON.stringify({
          extends: join(outside, "tsconfig.base.json"),
          compilerOptions: { strict: true, types: [], plugins: [{ name: "evil-plugin" }] },
          include: ["src", join(outside, "leak.d.ts")]
        }),
        "node_modules/evil-plugin/package.json": JSON.stringify({ name: "evil-plugin", main: "index.js" }),
        "node_modules/evil-plugin/index.js":
          "require(\"node:fs\").writeFileSync(require(\"node:path\").join(__dirname, \"../../PLUGIN_LOADED\"), \"x\");\nmodule.exports = () => ({ create: (info) => info.languageService });\n",
        "src/local.d.ts": "declare function local(): Promise<void>;\n",
        "src/main.ts": "export function run(): void {\n  local();\n  leaked();\n}\n"
      })
      const report = yield* analyze({ root, files: ["tsconfig.json", "src/local.d.ts", "src/main.ts"] })
      expect(report.type_checked).toBe(true)
      expect(floating(report)).toEqual([["src/main.ts", 2, "error"]])
      expect(yield* exists(join(root, "PLUGIN_LOADED"))).toBe(false)
    }), 60_000)

  it.scoped(
    "lints a TypeScript file in no tsconfig's project without types, says so, and reports each unused variable once",
    () =>
      Effect.gen(function*() {
        const root = yield* workspace({
          "tsconfig.json": JSON.stringify({ compilerOptions: { strict: true, types: [] }, include: ["src"] }),
          "src/a.ts": "const later = async (): Promise<void> => {}\nexport function run(): void {\n  const unused = 1\n  later()\n}\n",
          "scripts/tool.ts": "const later = async (): Promise<void> => {}\ndebugger\nlater()\n"
        })
        const report = yield* analyze({ root, files: ["tsconfig.json", "src/a.ts", "scripts/tool.ts"] })
        expect(report.findings.map(brief)).toEqual([
          ["scripts/tool.ts", 2, 1, "no-debugger", "error"],
          ["src/a.ts", 3, 9, "@typescript-eslint/no-unused-vars", "error"],
          ["src/a.ts", 4, 3, "@typescript-eslint/no-floating-promises", "error"]
        ])
        expect([report.type_checked, report.notes]).toEqual([true, [
          "1 TypeScript file(s) are in no tsconfig.json's project and were linted without type information."
        ]])
      }),
    60_000
  )
})

/** Length of a longest common subsequence, the plain quadratic way: what a line diff must keep. */
const commonLength = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
  let row = new Array<number>(b.length + 1).fill(0)
  for (const line of a) {
    const next = [0]
    for (let j = 0; j < b.length; j++) next.push(line === b[j] ? (row[j] ?? 0) + 1 : Math.max(row[j + 1] ?? 0, next[j] ?? 0))
    row = next
  }
  return row[b.length] ?? 0
}

describe("CodeReview/Changes changedLines", () => {
  it("marks the added and edited lines of the new text, 1-based", () => {
    expect([...changedLines(["a", "b", "c"], ["a", "b", "c"])]).toEqual([])
    expect([...changedLines(["a", "b", "c"], ["a", "x", "c"])]).toEqual([2])
    expect([...changedLines(["a", "b", "c"], ["a", "b", "new", "c", "tail"])]).toEqual([3, 5])
    expect([...changedLines([], ["a", "b"])]).toEqual([1, 2])
    expect([...changedLines(["a", "b"], [])]).toEqual([])
  })

  it.prop(
    "keeps a longest common subsequence of lines unchanged",
    [
      FastCheck.array(FastCheck.constantFrom("a", "b", "c"), { maxLength: 14 }),
      FastCheck.array(FastCheck.constantFrom("a", "b", "c"), { maxLength: 14 })
    ],
    ([before, after]) => {
      const changed = changedLines(before, after)
      expect(after.length - changed.size).toBe(commonLength(before, after))
      expect([...changed].every((line) => line >= 1 && line <= after.length)).toBe(true)
    },
    { fastCheck: { numRuns: 500 } }
  )
})

describe("CodeReview/Analysis base", () => {
  it.scoped("with a base tree, reports only findings on changed lines and says how many were left out", () =>
    Effect.gen(function*() {
      const before = "const old = 1;\ndebugger;\nexport const kept = 2;\n"
      const root = yield* workspace({
        "base/src/edited.js": before,
        "base/src/same.js": "debugger;\n",
        "src/edited.js": "const old = 1;\ndebugger;\nexport const kept = 2;\nconst fresh = 3;\n",
        "src/same.js": "debugger;\n",
        "src/new.js": "debugger;\n"
      })
      const report = yield* analyze({
        root,
        files: ["base/src/edited.js", "base/src/same.js", "src/edited.js", "src/same.js", "src/new.js"],
        base: "base/"
      })
      expect(report.findings.map(brief)).toEqual([
        ["src/edited.js", 4, 7, "no-unused-vars", "error"],
        ["src/new.js", 1, 1, "no-debugger", "error"]
      ])
      expect(report.files_reviewed).toEqual(["src/edited.js", "src/new.js"])
      expect(report.notes).toEqual([
        "Only what changed since the base tree was reviewed: 2 base file(s) set apart, 1 unchanged file(s) not linted, 2 finding(s) on unchanged lines left out."
      ])
      for (const base of ["../x", "/abs", "missing", "."]) {
        const error = yield* Effect.flip(analyze({ root, files: ["src/new.js"], base }))
        expect(error._tag).toBe("CodeReviewError")
      }
    }), 30_000)
})
