import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { access, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { analyze, type Finding, renderMarkdown, renderSarif, type ReviewReport } from "../src/CodeReview/Analysis.js"

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
        ["src/file.ts", 5, 21, "@typescript-eslint/no-explicit-any", "error"],
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
        help_uri: "https://eslint.org/docs/latest/rules/no-debugger"
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

describe("CodeReview/Analysis renderSarif", () => {
  it.scoped("emits one SARIF 2.1.0 run whose results point at the planted rule ids and lines", () =>
    Effect.gen(function*() {
      const report = yield* analyzePlanted
      const sarif = renderSarif(report)
      expect(sarif.version).toBe("2.1.0")
      expect(sarif.$schema).toBe("https://json.schemastore.org/sarif-2.1.0.json")
      expect(sarif.runs).toHaveLength(1)
      const run = sarif.runs[0]
      expect(run?.tool.driver.name).toBe("agnt code-review (ESLint)")
      expect(run?.tool.driver.version).toBe(report.tool.version)
      const rules = run?.tool.driver.rules ?? []
      const results = run?.results ?? []
      expect(results.map((result) => [
        result.ruleId,
        result.level,
        result.locations?.[0]?.physicalLocation?.artifactLocation?.uri,
        result.locations?.[0]?.physicalLocation?.region?.startLine
      ])).toEqual([
        ["no-unused-vars", "error", "scripts/tool.js", 1],
        ["parse-error", "error", "src/broken.ts", 2],
        ["no-debugger", "error", "src/file.ts", 3],
        ["@typescript-eslint/no-explicit-any", "error", "src/file.ts", 5],
        ["no-undef", "error", "src/widget.jsx", 1]
      ])
      for (const result of results) {
        expect(rules[result.ruleIndex ?? -1]?.id).toBe(result.ruleId)
      }
      expect(results[3]?.locations?.[0]?.physicalLocation?.region).toEqual({
        startLine: 5,
        startColumn: 21,
        endLine: 5,
        endColumn: 24
      })
      expect(rules.find((rule) => rule.id === "no-debugger")).toEqual({
        id: "no-debugger",
        shortDescription: { text: "Disallow the use of `debugger`" },
        helpUri: "https://eslint.org/docs/latest/rules/no-debugger"
      })
      expect(run?.artifacts?.map((artifact) => artifact.location?.uri)).toEqual(report.files_reviewed)
      expect(JSON.parse(JSON.stringify(sarif))).toEqual(sarif)
    }), 30_000)
})

describe("CodeReview/Analysis renderMarkdown", () => {
  it.scoped(
    "review.md summarises counts and lists every planted finding as file:line:column grouped by file",
    () =>
      Effect.gen(function*() {
        const markdown = renderMarkdown(yield* analyzePlanted)
        expect(markdown).toMatch(/^# Code review\n/)
        expect(markdown).toContain("| 5 | 2 | 5 | 5 | 0 |")
        expect(markdown).toContain("`src/file.ts:3:1` **error** [`no-debugger`](https://eslint.org/docs/latest/rules/no-debugger)")
        expect(markdown).toContain("`src/file.ts:5:21` **error**")
        expect(markdown).toContain("`src/broken.ts:2:23` **error** `parse-error`")
        expect(markdown).toContain("- `README.md`")
        const fileSection = markdown.indexOf("### `src/file.ts`")
        expect(fileSection).toBeGreaterThan(markdown.indexOf("### `src/broken.ts`"))
        expect(markdown.indexOf("src/file.ts:3:1")).toBeGreaterThan(fileSection)
      }),
    30_000
  )

  it("review.md says there are no findings when the report is clean", () => {
    const report: ReviewReport = {
      files_reviewed: ["clean.ts"],
      files_skipped: [],
      findings: [],
      rules: [],
      tool: { name: "eslint", version: "9.39.5" }
    }
    const markdown = renderMarkdown(report)
    expect(markdown).toContain("No findings")
    expect(markdown).toContain("- `clean.ts` — 0 findings")
  })

  it("review.md escapes Markdown in messages and counts by rule and severity", () => {
    const finding = (line: number, severity: "error" | "warning"): Finding => ({
      file: "a.ts",
      line,
      column: 1,
      rule_id: "demo-rule",
      severity,
      message: "Unexpected <script> | `x`"
    })
    const markdown = renderMarkdown({
      files_reviewed: ["a.ts"],
      files_skipped: [],
      findings: [finding(1, "error"), finding(2, "warning"), finding(3, "warning")],
      rules: [{ id: "demo-rule" }],
      tool: { name: "eslint", version: "9.39.5" }
    })
    expect(markdown).toContain("| `demo-rule` | error | 1 |")
    expect(markdown).toContain("| `demo-rule` | warning | 2 |")
    expect(markdown).toContain("Unexpected \\<script\\> \\| \\`x\\`")
    expect(markdown).not.toContain("<script>")
  })
})
