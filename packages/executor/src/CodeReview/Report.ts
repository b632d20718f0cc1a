/**
 * What a code review produces, before it is rendered: findings, the rules
 * behind them, the files reviewed. `Analysis.ts` makes a `ReviewReport`;
 * `Markdown.ts` and `Sarif.ts` render it. Pure schemas, no I/O.
 */
import { Order, Schema } from "effect"

/**
 * How serious a finding is, taken from its rule's own metadata (`meta.type`):
 * `problem` → `"error"` (code that is wrong or will fail), `suggestion` →
 * `"warning"` (a better way to write it), `layout` → `"note"` (whitespace,
 * formatting). A file that does not parse is an `"error"`; a rule without a
 * `meta.type` and a message ESLint raised without a rule are `"warning"`.
 * The names are SARIF's `level` values.
 */
export const Severity = Schema.Literal("error", "warning", "note")
export type Severity = typeof Severity.Type

/** Every severity, most severe first. */
export const severities: ReadonlyArray<Severity> = ["error", "warning", "note"]

/** Most severe first: error, warning, note. */
export const severityOrder: Order.Order<Severity> = Order.mapInput(Order.number, (severity: Severity) => severities.indexOf(severity))

/** `severity` is at least as severe as `floor`. */
export const atLeast = (floor: Severity) => (severity: Severity): boolean => severities.indexOf(severity) <= severities.indexOf(floor)

/** An ESLint rule's `meta.type`. */
export const RuleKind = Schema.Literal("problem", "suggestion", "layout")
export type RuleKind = typeof RuleKind.Type

/** The severity a rule's findings get from its `meta.type` (see `Severity`). */
export const severityOfKind = (kind: RuleKind | undefined): Severity =>
  kind === "problem" ? "error" : kind === "layout" ? "note" : "warning"

/**
 * Source lines around a finding, for people (review.md) and SARIF snippets:
 * `lines[0]` is line `start_line` (1-based). At most one line before and
 * one after the finding's own lines, 3 to 5 lines in all; a line longer than
 * 200 characters is cut and ends with `…`.
 */
export const Excerpt = Schema.Struct({
  start_line: Schema.Number,
  lines: Schema.Array(Schema.String)
})
export type Excerpt = typeof Excerpt.Type

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
 * - `severity`: from the rule's `meta.type` (see `Severity`).
 * - `help_uri`: the rule's documentation page (`meta.docs.url`), when known.
 * - `excerpt`: the source lines around it, when the file could be read as text.
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
  help_uri: Schema.optional(Schema.String),
  excerpt: Schema.optional(Excerpt)
})
export type Finding = typeof Finding.Type

/**
 * What is known about a rule that has findings: its one-line description
 * (`meta.docs.description`), documentation page (`meta.docs.url`), kind
 * (`meta.type`) and the severity that kind gives.
 */
export const RuleInfo = Schema.Struct({
  id: Schema.String,
  description: Schema.optional(Schema.String),
  help_uri: Schema.optional(Schema.String),
  kind: Schema.optional(RuleKind),
  severity: Schema.optional(Severity)
})
export type RuleInfo = typeof RuleInfo.Type

/** A file reviewed: its relative path, size in bytes and SHA-256 (lowercase hex). */
export const Artifact = Schema.Struct({
  file: Schema.String,
  length: Schema.Number,
  sha256: Schema.String
})
export type Artifact = typeof Artifact.Type

/**
 * Result of `analyze`.
 *
 * - `files_reviewed`: files ESLint linted, sorted, relative and `/`-separated.
 * - `files_skipped`: files not linted — an extension ESLint is not set up for
 *   (`.md`, `.json`, …), or not a regular file inside the root (a directory,
 *   or a symlink pointing outside it).
 * - `artifacts`: size and SHA-256 of each file reviewed, in the same order.
 * - `environments`: how many reviewed files were linted with each set of
 *   globals (`node`, `browser`, `node+browser`, plus `+mocha`, `+jest`, …
 *   for test files), e.g. `{ "node": 12, "node+mocha": 30 }`.
 * - `findings`: sorted by file, then line, then column.
 * - `rules`: one entry per `rule_id` in `findings`, sorted by id.
 * - `notes`: what the reader should know about how the review ran (type
 *   information unavailable, findings left out), one sentence each.
 * - `type_checked`: TypeScript files were linted with type information.
 * - `tool`: the ESLint that produced the findings.
 */
export const ReviewReport = Schema.Struct({
  files_reviewed: Schema.Array(Schema.String),
  files_skipped: Schema.Array(Schema.String),
  artifacts: Schema.Array(Artifact),
  environments: Schema.Record({ key: Schema.String, value: Schema.Number }),
  findings: Schema.Array(Finding),
  rules: Schema.Array(RuleInfo),
  notes: Schema.Array(Schema.String),
  type_checked: Schema.Boolean,
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

/** Count findings per severity: `{ error, warning, note }`. */
export const countBySeverity = (findings: ReadonlyArray<Finding>): Record<Severity, number> => {
  const counts: Record<Severity, number> = { error: 0, warning: 0, note: 0 }
  for (const finding of findings) counts[finding.severity] += 1
  return counts
}

/**
 * Keep the findings at or above `floor` (and the rules that still have
 * findings); a note says how many were left out, when any were.
 */
export const withSeverityFloor = (report: ReviewReport, floor: Severity): ReviewReport => {
  const findings = report.findings.filter((finding) => atLeast(floor)(finding.severity))
  const ruleIds = new Set(findings.map((finding) => finding.rule_id))
  const leftOut = report.findings.length - findings.length
  return {
    ...report,
    findings,
    rules: report.rules.filter((rule) => ruleIds.has(rule.id)),
    notes: leftOut === 0 ? report.notes : [...report.notes, `${leftOut} finding(s) below ${floor} were left out (min_severity).`]
  }
}
