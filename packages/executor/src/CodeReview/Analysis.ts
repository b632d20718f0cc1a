/**
 * Static-analysis core of the built-in code-review executor: lint a buyer's
 * workspace with ESLint and render the result as `review.md` and SARIF.
 *
 * Rules come from `@eslint/js` "recommended" (all JS and TS files) plus
 * `typescript-eslint` "recommended" — the syntactic set, not the
 * type-checked one — for `.ts`/`.tsx`/`.mts`/`.cts`. Browser and Node
 * globals are declared, so `console` or `process` is not `no-undef`.
 *
 * The workspace is untrusted input, so it is only ever read as text:
 * ESLint never looks for a config file there (`overrideConfigFile: true`,
 * every setting comes from this module), no plugin is resolved from it,
 * no ignore file or suppressions file is applied, and inline
 * `/* eslint … *\/` comments (including `eslint-disable`) are ignored,
 * so a file cannot switch rules off or configure a rule with a
 * catastrophic regular expression.
 *
 * Pure library: no HTTP, no jobs.
 */
import js from "@eslint/js"
import { Array as Arr, Effect, Order, Schema } from "effect"
import { ESLint } from "eslint"
import { defineConfig } from "eslint/config"
import globals from "globals"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import type * as Sarif from "sarif"
import tseslint from "typescript-eslint"

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/** How serious a finding is; ESLint severity 2 is `"error"`, 1 is `"warning"`. */
export const Severity = Schema.Literal("error", "warning")
export type Severity = typeof Severity.Type

/**
 * One problem ESLint reported.
 *
 * - `file`: path relative to the workspace root, `/`-separated.
 * - `line`, `column`: 1-based start position (columns count UTF-16 code units).
 * - `end_line`, `end_column`: 1-based position just past the end, when the
 *   rule reported one.
 * - `rule_id`: the ESLint rule (`no-debugger`, `@typescript-eslint/no-explicit-any`),
 *   `parse-error` when the file could not be parsed (the only fatal finding),
 *   or `eslint` for a message ESLint raised without a rule.
 * - `help_uri`: the rule's documentation page (`meta.docs.url`), when known.
 */
export const Finding = Schema.Struct({
  file: Schema.String,
  line: Schema.Number,
  column: Schema.Number,
  end_line: Schema.optional(Schema.Number),
  end_column: Schema.optional(Schema.Number),
  rule_id: Schema.String,
  severity: Severity,
  message: Schema.String,
  help_uri: Schema.optional(Schema.String)
})
export type Finding = typeof Finding.Type

/**
 * What is known about a rule that has findings: its one-line description
 * (`meta.docs.description`) and documentation page (`meta.docs.url`).
 */
export const RuleInfo = Schema.Struct({
  id: Schema.String,
  description: Schema.optional(Schema.String),
  help_uri: Schema.optional(Schema.String)
})
export type RuleInfo = typeof RuleInfo.Type

/**
 * Result of `analyze`.
 *
 * - `files_reviewed`: files ESLint linted, sorted, relative and `/`-separated.
 * - `files_skipped`: files not linted — an extension ESLint is not set up for
 *   (`.md`, `.json`, …), or not a regular file inside the root (a directory,
 *   or a symlink pointing outside it).
 * - `findings`: sorted by file, then line, then column.
 * - `rules`: one entry per `rule_id` in `findings`, sorted by id.
 * - `tool`: the ESLint that produced the findings.
 */
export const ReviewReport = Schema.Struct({
  files_reviewed: Schema.Array(Schema.String),
  files_skipped: Schema.Array(Schema.String),
  findings: Schema.Array(Finding),
  rules: Schema.Array(RuleInfo),
  tool: Schema.Struct({ name: Schema.Literal("eslint"), version: Schema.String })
})
export type ReviewReport = typeof ReviewReport.Type

/**
 * The review could not run: the root is not an absolute directory, a file
 * path is absolute or escapes the root, a listed file does not exist, or
 * ESLint itself failed. A file that does not parse is NOT this error; it is
 * a `parse-error` finding.
 */
export class CodeReviewError extends Schema.TaggedError<CodeReviewError>()("CodeReviewError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

// ---------------------------------------------------------------------------
// ESLint configuration
// ---------------------------------------------------------------------------

const scriptExtensions = [".js", ".mjs", ".cjs", ".jsx"]
const typeScriptExtensions = [".ts", ".tsx", ".mts", ".cts"]
const lintableExtensions: ReadonlySet<string> = new Set([...scriptExtensions, ...typeScriptExtensions])

const isTypeScript = (file: string) => typeScriptExtensions.includes(NodePath.extname(file))

const patternsFor = (extensions: ReadonlyArray<string>) => extensions.map((extension) => `**/*${extension}`)

/** The whole ESLint configuration; nothing is read from the workspace. */
const reviewConfig = defineConfig(
  {
    files: patternsFor([...scriptExtensions, ...typeScriptExtensions]),
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: "off" }
  },
  {
    files: ["**/*.jsx"],
    languageOptions: { parserOptions: { ecmaFeatures: { jsx: true } } }
  },
  {
    files: patternsFor(typeScriptExtensions),
    extends: [tseslint.configs.recommended],
    // typescript-eslint warns on stderr for TypeScript releases newer than it knows.
    languageOptions: { parserOptions: { warnOnUnsupportedTypeScriptVersion: false } }
  }
)

const parseErrorRule: RuleInfo = { id: "parse-error", description: "The file could not be parsed." }
const noRuleId = "eslint"

// ---------------------------------------------------------------------------
// analyze
// ---------------------------------------------------------------------------

/** Which files to review: `root` is absolute, `files` are relative to it. */
export interface AnalyzeOptions {
  readonly root: string
  readonly files: ReadonlyArray<string>
}

const attempt = <A>(message: string, evaluate: () => Promise<A>): Effect.Effect<A, CodeReviewError> =>
  Effect.tryPromise({ try: evaluate, catch: (cause) => new CodeReviewError({ message, cause }) })

const toPosix = (path: string) => path.split(NodePath.sep).join("/")

/** `child` is `parent` itself or lies below it (both absolute, normalised). */
const isInside = (parent: string, child: string) => {
  const relative = NodePath.relative(parent, child)
  return relative !== "" && relative !== ".." && !relative.startsWith(`..${NodePath.sep}`) &&
    !NodePath.isAbsolute(relative)
}

interface Located {
  readonly file: string
  readonly absolute: string
  readonly lintable: boolean
}

const locate = (root: string, realRoot: string, file: string): Effect.Effect<Located, CodeReviewError> =>
  Effect.gen(function*() {
    if (file === "" || NodePath.isAbsolute(file)) {
      return yield* new CodeReviewError({ message: `file path must be relative to the root: ${JSON.stringify(file)}` })
    }
    const absolute = NodePath.resolve(root, file)
    if (!isInside(root, absolute)) {
      return yield* new CodeReviewError({ message: `file path escapes the root: ${JSON.stringify(file)}` })
    }
    const relative = toPosix(NodePath.relative(root, absolute))
    const real = yield* attempt(`cannot read ${relative}`, () => NodeFs.realpath(absolute))
    const stats = yield* attempt(`cannot read ${relative}`, () => NodeFs.stat(real))
    const lintable = isInside(realRoot, real) && stats.isFile() &&
      lintableExtensions.has(NodePath.extname(absolute))
    return { file: relative, absolute, lintable }
  })

interface EslintOutcome {
  readonly results: ReadonlyArray<ESLint.LintResult>
  readonly rulesMeta: ESLint.LintResultData["rulesMeta"]
}

const runEslint = (root: string, absolutePaths: ReadonlyArray<string>): Effect.Effect<EslintOutcome, CodeReviewError> =>
  attempt("ESLint failed", async () => {
    const eslint = new ESLint({
      cwd: root,
      overrideConfigFile: true,
      overrideConfig: reviewConfig,
      plugins: null,
      ignore: false,
      globInputPaths: false,
      errorOnUnmatchedPattern: true,
      allowInlineConfig: false,
      cache: false,
      fix: false
    })
    const results = await eslint.lintFiles([...absolutePaths])
    return { results, rulesMeta: eslint.getRulesMetaForResults(results) }
  })

const findingOrder: Order.Order<Finding> = Order.combineAll([
  Order.mapInput(Order.string, (finding: Finding) => finding.file),
  Order.mapInput(Order.number, (finding: Finding) => finding.line),
  Order.mapInput(Order.number, (finding: Finding) => finding.column),
  Order.mapInput(Order.string, (finding: Finding) => finding.rule_id)
])

const toFinding = (
  file: string,
  message: ESLint.LintResult["messages"][number],
  rulesMeta: EslintOutcome["rulesMeta"]
): Finding => {
  const rule_id = message.ruleId ?? (message.fatal === true ? parseErrorRule.id : noRuleId)
  const help_uri = message.ruleId === null ? undefined : rulesMeta[message.ruleId]?.docs?.url
  // ESLint passes a parser's error column through as is: espree's is 1-based,
  // typescript-eslint's (8.x) is 0-based, so shift the latter.
  const column = message.fatal === true && isTypeScript(file) ? message.column + 1 : message.column
  return {
    file,
    line: Math.max(1, message.line),
    column: Math.max(1, column),
    ...(message.endLine === undefined ? {} : { end_line: message.endLine }),
    ...(message.endColumn === undefined ? {} : { end_column: message.endColumn }),
    rule_id,
    severity: message.fatal === true || message.severity === 2 ? "error" : "warning",
    message: message.message,
    ...(help_uri === undefined ? {} : { help_uri })
  }
}

const ruleInfo = (id: string, rulesMeta: EslintOutcome["rulesMeta"]): RuleInfo => {
  if (id === parseErrorRule.id) return parseErrorRule
  const docs = rulesMeta[id]?.docs
  return {
    id,
    ...(docs?.description === undefined ? {} : { description: docs.description }),
    ...(docs?.url === undefined ? {} : { help_uri: docs.url })
  }
}

/**
 * Lint `files` (relative to the absolute directory `root`) with ESLint.
 *
 * Files with an extension ESLint is set up for (`.js .mjs .cjs .jsx .ts
 * .tsx .mts .cts`, case-sensitive, as ESLint's globs are) are reviewed; the
 * rest are listed in `files_skipped`.
 * Duplicate paths are reviewed once. A file that fails to parse yields one
 * fatal `parse-error` finding and the run goes on.
 *
 * Fails with `CodeReviewError` when `root` is not an absolute directory, a
 * path is absolute or escapes `root` (`../x`), a listed file does not exist,
 * or ESLint throws.
 */
export const analyze: (options: AnalyzeOptions) => Effect.Effect<ReviewReport, CodeReviewError> = Effect.fn(
  "CodeReview.analyze"
)(function*(options: AnalyzeOptions) {
  if (!NodePath.isAbsolute(options.root)) {
    return yield* new CodeReviewError({ message: `root must be an absolute path: ${JSON.stringify(options.root)}` })
  }
  const root = NodePath.resolve(options.root)
  const realRoot = yield* attempt(`cannot read root ${root}`, () => NodeFs.realpath(root))
  const rootStats = yield* attempt(`cannot read root ${root}`, () => NodeFs.stat(realRoot))
  if (!rootStats.isDirectory()) {
    return yield* new CodeReviewError({ message: `root is not a directory: ${root}` })
  }

  const located = Arr.dedupeWith(
    yield* Effect.forEach(options.files, (file) => locate(root, realRoot, file), { concurrency: 16 }),
    (a, b) => a.file === b.file
  )
  const [skipped, lintable] = Arr.partition(located, (entry) => entry.lintable)

  // Never call ESLint with no paths: it would then lint the whole root.
  const outcome: EslintOutcome = lintable.length === 0
    ? { results: [], rulesMeta: {} }
    : yield* runEslint(root, lintable.map((entry) => entry.absolute))

  const relativeOf = new Map(lintable.map((entry) => [entry.absolute, entry.file]))
  const findings = Arr.sort(
    outcome.results.flatMap((result) => {
      const file = relativeOf.get(result.filePath) ?? toPosix(NodePath.relative(root, result.filePath))
      return result.messages.map((message) => toFinding(file, message, outcome.rulesMeta))
    }),
    findingOrder
  )
  const ruleIds = Arr.sort(Arr.dedupe(findings.map((finding) => finding.rule_id)), Order.string)

  return {
    files_reviewed: Arr.sort(lintable.map((entry) => entry.file), Order.string),
    files_skipped: Arr.sort(skipped.map((entry) => entry.file), Order.string),
    findings,
    rules: ruleIds.map((id) => ruleInfo(id, outcome.rulesMeta)),
    tool: { name: "eslint", version: ESLint.version }
  }
})

// ---------------------------------------------------------------------------
// review.md
// ---------------------------------------------------------------------------

/** Backslash-escape Markdown/HTML punctuation and fold line breaks, for prose and table cells. */
const escapeText = (text: string) => text.replace(/[\r\n]+/g, " ").replace(/[\\`*_{}[\]()<>#+!|~]/g, (character) => `\\${character}`)

/** A code span that survives any backticks in `text` (and `|` inside tables). */
const code = (text: string) => {
  const flat = text.replace(/[\r\n]+/g, " ").replace(/\|/g, "\\|")
  const longestRun = Math.max(0, ...Array.from(flat.matchAll(/`+/g), (match) => match[0].length))
  const fence = "`".repeat(longestRun + 1)
  const padding = flat.startsWith("`") || flat.endsWith("`") ? " " : ""
  return `${fence}${padding}${flat}${padding}${fence}`
}

const plural = (count: number, one: string, many: string = `${one}s`) => `${count} ${count === 1 ? one : many}`

const ruleLink = (id: string, helpUri: string | undefined) => helpUri === undefined ? code(id) : `[${code(id)}](${encodeURI(helpUri)})`

/** Rule table rows: by rule id, errors before warnings. */
const ruleRowOrder: Order.Order<Arr.NonEmptyReadonlyArray<Finding>> = Order.combine(
  Order.mapInput(Order.string, (group: Arr.NonEmptyReadonlyArray<Finding>) => group[0].rule_id),
  Order.mapInput(Order.string, (group: Arr.NonEmptyReadonlyArray<Finding>) => group[0].severity)
)

/** Each rule's documentation link: from the rule list, else from any finding of the rule. */
const helpUrisOf = (report: ReviewReport): Map<string, string> => {
  const helpUris = new Map(report.rules.flatMap((rule) => rule.help_uri === undefined ? [] : [[rule.id, rule.help_uri]]))
  for (const finding of report.findings) {
    if (finding.help_uri !== undefined && !helpUris.has(finding.rule_id)) helpUris.set(finding.rule_id, finding.help_uri)
  }
  return helpUris
}

/** `review.md`'s title, one-sentence summary and summary table. */
const summarySection = (report: ReviewReport, errors: number, warnings: number): Array<string> => [
  "# Code review",
  "",
  `Reviewed ${plural(report.files_reviewed.length, "file")} with ESLint ${escapeText(report.tool.version)}` +
  ` (${plural(report.files_skipped.length, "file")} skipped): ` +
  `${plural(report.findings.length, "finding")} — ${plural(errors, "error")}, ${plural(warnings, "warning")}.`,
  "",
  "## Summary",
  "",
  "| Files reviewed | Files skipped | Findings | Errors | Warnings |",
  "| ---: | ---: | ---: | ---: | ---: |",
  `| ${report.files_reviewed.length} | ${report.files_skipped.length} | ${report.findings.length} | ${errors} | ${warnings} |`,
  ""
]

/** `review.md`'s table of counts by rule and severity. */
const rulesSection = (report: ReviewReport, helpUris: Map<string, string>): Array<string> => {
  const lines = ["## Findings by rule", ""]
  if (report.findings.length === 0) return [...lines, "No findings.", ""]
  const groups = Object.values(
    Arr.groupBy(report.findings, (finding) => `${finding.rule_id}\u0000${finding.severity}`)
  )
  lines.push("| Rule | Severity | Count |", "| --- | --- | ---: |")
  for (const [first, ...rest] of Arr.sort(groups, ruleRowOrder)) {
    lines.push(`| ${ruleLink(first.rule_id, helpUris.get(first.rule_id))} | ${first.severity} | ${rest.length + 1} |`)
  }
  return [...lines, ""]
}

/** `review.md`'s files reviewed (with their finding counts) and skipped. */
const filesSection = (
  report: ReviewReport,
  findingsByFile: Record<string, Arr.NonEmptyArray<Finding>>
): Array<string> => {
  const lines = ["## Files", ""]
  if (report.files_reviewed.length === 0) lines.push("No files were reviewed.", "")
  else {
    lines.push("Reviewed:", "")
    for (const file of report.files_reviewed) {
      lines.push(`- ${code(file)} — ${plural(findingsByFile[file]?.length ?? 0, "finding")}`)
    }
    lines.push("")
  }
  if (report.files_skipped.length > 0) {
    lines.push("Skipped (not linted):", "")
    for (const file of report.files_skipped) lines.push(`- ${code(file)}`)
    lines.push("")
  }
  return lines
}

/** `review.md`'s every finding, grouped by file. */
const findingsSection = (
  findingsByFile: Record<string, Arr.NonEmptyArray<Finding>>,
  helpUris: Map<string, string>
): Array<string> => {
  const lines = ["## Findings", ""]
  const files = Object.entries(findingsByFile)
  if (files.length === 0) return [...lines, "No findings: ESLint reported no problems in the reviewed files.", ""]
  for (const [file, findings] of files) {
    lines.push(`### ${code(file)}`, "")
    for (const finding of findings) {
      lines.push(
        `- ${code(`${finding.file}:${finding.line}:${finding.column}`)} **${finding.severity}** ` +
          `${ruleLink(finding.rule_id, helpUris.get(finding.rule_id))}: ${escapeText(finding.message)}`
      )
    }
    lines.push("")
  }
  return lines
}

/**
 * Render `report` as `review.md`: title, summary (files reviewed and
 * skipped, findings by severity), a table of counts by rule and severity,
 * the files reviewed and skipped, then every finding as
 * `` `file:line:column` `` with severity, rule and message, grouped by file.
 */
export const renderMarkdown = (report: ReviewReport): string => {
  const errors = report.findings.filter((finding) => finding.severity === "error").length
  const helpUris = helpUrisOf(report)
  const findingsByFile = Arr.groupBy(report.findings, (finding) => finding.file)
  return [
    ...summarySection(report, errors, report.findings.length - errors),
    ...rulesSection(report, helpUris),
    ...filesSection(report, findingsByFile),
    ...findingsSection(findingsByFile, helpUris)
  ].join("\n")
}

// ---------------------------------------------------------------------------
// SARIF
// ---------------------------------------------------------------------------

/** A SARIF 2.1.0 log (`@types/sarif`). */
export type SarifLog = Sarif.Log

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"
const srcRoot = "%SRCROOT%"

/** SARIF URIs are URI references: encode each path segment. */
const sarifUri = (file: string) => file.split("/").map(encodeURIComponent).join("/")

/**
 * Render `report` as a SARIF 2.1.0 log with one run: `tool.driver` lists
 * every rule that has findings (id, `shortDescription` from the rule's
 * `meta.docs.description` where known, `helpUri` from `meta.docs.url`);
 * each result carries `ruleId`, `ruleIndex`, `level` (`error`|`warning`),
 * `message.text` and one location — the file's relative URI (base id
 * `%SRCROOT%`) and a 1-based region; `artifacts` lists every file reviewed.
 */
export const renderSarif = (report: ReviewReport): SarifLog => {
  const known = new Map(report.rules.map((rule) => [rule.id, rule]))
  const ruleIds = Arr.sort(
    Arr.dedupe([...report.rules.map((rule) => rule.id), ...report.findings.map((finding) => finding.rule_id)]),
    Order.string
  )
  const rules: Array<Sarif.ReportingDescriptor> = ruleIds.map((id) => {
    const info = known.get(id)
    const helpUri = info?.help_uri ?? report.findings.find((finding) => finding.rule_id === id)?.help_uri
    return {
      id,
      ...(info?.description === undefined ? {} : { shortDescription: { text: info.description } }),
      ...(helpUri === undefined ? {} : { helpUri })
    }
  })
  const ruleIndex = new Map(ruleIds.map((id, index) => [id, index]))
  const artifactIndex = new Map(report.files_reviewed.map((file, index) => [file, index]))

  const results: Array<Sarif.Result> = report.findings.map((finding) => {
    const index = artifactIndex.get(finding.file)
    const rule = ruleIndex.get(finding.rule_id)
    const region: Sarif.Region = {
      startLine: finding.line,
      startColumn: finding.column,
      ...(finding.end_line === undefined ? {} : { endLine: finding.end_line }),
      ...(finding.end_column === undefined ? {} : { endColumn: finding.end_column })
    }
    return {
      ruleId: finding.rule_id,
      ...(rule === undefined ? {} : { ruleIndex: rule }),
      level: finding.severity,
      message: { text: finding.message },
      locations: [{
        physicalLocation: {
          artifactLocation: {
            uri: sarifUri(finding.file),
            uriBaseId: srcRoot,
            ...(index === undefined ? {} : { index })
          },
          region
        }
      }]
    }
  })

  return {
    $schema: sarifSchema,
    version: "2.1.0",
    runs: [{
      tool: {
        driver: {
          name: "agnt code-review (ESLint)",
          version: report.tool.version,
          informationUri: "https://eslint.org",
          rules
        }
      },
      artifacts: report.files_reviewed.map((file) => ({ location: { uri: sarifUri(file), uriBaseId: srcRoot } })),
      results
    }]
  }
}
