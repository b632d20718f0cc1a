/**
 * `review.sarif`: the review as a SARIF 2.1.0 log (OASIS), valid against
 * the official JSON Schema and shaped for GitHub code scanning's documented
 * requirements: `tool.driver.name` and `version`; every rule with
 * `shortDescription`, `fullDescription`, `helpUri`, `help`,
 * `defaultConfiguration.level` and `properties.tags` / `problem.severity`;
 * every result with `ruleId`, `ruleIndex`, `level`, `message.text`, one
 * location relative to `%SRCROOT%` with a 1-based region (and its snippet),
 * and `partialFingerprints`; artifacts with their length and SHA-256; at most
 * `maxSarifResults` results per run (GitHub's limit), the most severe kept.
 */
import { Array as Arr, Order } from "effect"
import * as NodeCrypto from "node:crypto"
import type * as Sarif from "sarif"
import { type Finding, type ReviewReport, type RuleInfo, type Severity, severityOrder } from "./Report.js"

/** A SARIF 2.1.0 log (`@types/sarif`). */
export type SarifLog = Sarif.Log

/** The official schema's address (OASIS, 2.1.0 with errata 01). */
const sarifSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
const srcRoot = "%SRCROOT%"

/** GitHub code scanning refuses a run with more results than this. */
export const maxSarifResults = 25_000

/**
 * The `partialFingerprints` key of each result: the first 32 hex digits of
 * SHA-256 over the rule id, the file path and the finding's line with all
 * whitespace removed, then `:` and the occurrence index of that triple in the
 * file (0 for the first). It names what was found and where in the text, not
 * the line number, so it survives edits elsewhere in the file and runs on
 * other machines; the index tells apart identical lines. GitHub's own
 * `primaryLocationLineHash` is computed by its upload action from the
 * checked-out file; this key does not claim to be that one.
 */
export const fingerprintKey = "agntLineHash/v1"

/** SARIF URIs are URI references: encode each path segment. */
const sarifUri = (file: string) => file.split("/").map(encodeURIComponent).join("/")

const problemSeverity: Record<Severity, string> = { error: "error", warning: "warning", note: "recommendation" }

const tagsOf = (rule: RuleInfo): Array<string> => [
  rule.kind === "problem" || rule.id === "parse-error"
    ? "correctness"
    : rule.kind === "layout"
    ? "style"
    : "maintainability",
  rule.id.startsWith("@typescript-eslint/") ? "typescript" : "javascript",
  ...(rule.kind === undefined ? [] : [rule.kind])
]

const descriptor = (rule: RuleInfo): Sarif.ReportingDescriptor => {
  const description = rule.description ?? `ESLint rule ${rule.id}`
  const level = rule.severity ?? "warning"
  return {
    id: rule.id,
    shortDescription: { text: description },
    fullDescription: { text: description },
    ...(rule.help_uri === undefined ? {} : {
      helpUri: rule.help_uri,
      help: { text: `${description}. See ${rule.help_uri}`, markdown: `${description}. [Documentation](${rule.help_uri})` }
    }),
    defaultConfiguration: { level },
    properties: { tags: tagsOf(rule), "problem.severity": problemSeverity[level] }
  }
}

/** The finding's own line from its excerpt, or "" when unknown. */
const lineText = (finding: Finding): string => finding.excerpt?.lines[finding.line - finding.excerpt.start_line] ?? ""

/** The fingerprint of each finding, in `findings` order (see `fingerprintKey`). */
export const fingerprints = (findings: ReadonlyArray<Finding>): Array<string> => {
  const seen = new Map<string, number>()
  return findings.map((finding) => {
    const identity = [finding.rule_id, finding.file, lineText(finding).replace(/\s+/g, "")].join("\u0000")
    const occurrence = seen.get(identity) ?? 0
    seen.set(identity, occurrence + 1)
    return `${NodeCrypto.createHash("sha256").update(identity).digest("hex").slice(0, 32)}:${occurrence}`
  })
}

/** The exact text of the finding's region, when its excerpt holds it uncut. */
const regionSnippet = (finding: Finding): string | undefined => {
  const excerpt = finding.excerpt
  if (excerpt === undefined || finding.end_line === undefined || finding.end_column === undefined) return undefined
  const first = finding.line - excerpt.start_line
  const last = finding.end_line - excerpt.start_line
  const lines = excerpt.lines.slice(first, last + 1)
  if (first < 0 || last >= excerpt.lines.length || lines.some((line) => line.endsWith("…"))) return undefined
  const text = lines.join("\n")
  const lastLineStart = text.length - (lines.at(-1)?.length ?? 0)
  return text.slice(finding.column - 1, lastLineStart + finding.end_column - 1)
}

const contextRegion = (finding: Finding): Sarif.Region | undefined => {
  const excerpt = finding.excerpt
  if (excerpt === undefined || excerpt.lines.some((line) => line.endsWith("…"))) return undefined
  return {
    startLine: excerpt.start_line,
    endLine: excerpt.start_line + excerpt.lines.length - 1,
    snippet: { text: excerpt.lines.join("\n") }
  }
}

const toResult = (
  finding: Finding,
  fingerprint: string,
  ruleIndex: Map<string, number>,
  artifactIndex: Map<string, number>
): Sarif.Result => {
  const snippet = regionSnippet(finding)
  const context = contextRegion(finding)
  const index = artifactIndex.get(finding.file)
  const rule = ruleIndex.get(finding.rule_id)
  return {
    ruleId: finding.rule_id,
    ...(rule === undefined ? {} : { ruleIndex: rule }),
    level: finding.severity,
    message: { text: finding.message },
    locations: [{
      physicalLocation: {
        artifactLocation: { uri: sarifUri(finding.file), uriBaseId: srcRoot, ...(index === undefined ? {} : { index }) },
        region: {
          startLine: finding.line,
          startColumn: finding.column,
          ...(finding.end_line === undefined ? {} : { endLine: finding.end_line }),
          ...(finding.end_column === undefined ? {} : { endColumn: finding.end_column }),
          ...(snippet === undefined ? {} : { snippet: { text: snippet } })
        },
        ...(context === undefined ? {} : { contextRegion: context })
      }
    }],
    partialFingerprints: { [fingerprintKey]: fingerprint }
  }
}

const rulesOf = (report: ReviewReport): Array<RuleInfo> => {
  const known = new Map(report.rules.map((rule) => [rule.id, rule]))
  const ids = Arr.sort(Arr.dedupe([...known.keys(), ...report.findings.map((finding) => finding.rule_id)]), Order.string)
  return ids.map((id) => {
    const info = known.get(id)
    const finding = report.findings.find((candidate) => candidate.rule_id === id)
    const helpUri = info?.help_uri ?? finding?.help_uri
    return { ...info, id, ...(helpUri === undefined ? {} : { help_uri: helpUri }), severity: info?.severity ?? finding?.severity }
  })
}

/**
 * Render `report` as a SARIF 2.1.0 log with one run (see the module's
 * description). Results keep the report's order; past `maxSarifResults`
 * the most severe are kept and a tool notification says how many were left out.
 */
export const renderSarif = (report: ReviewReport): SarifLog => {
  const rules = rulesOf(report)
  const ruleIndex = new Map(rules.map((rule, index) => [rule.id, index]))
  const artifactIndex = new Map(report.artifacts.map((artifact, index) => [artifact.file, index]))
  const prints = fingerprints(report.findings)
  const all = report.findings.map((finding, index) => ({ finding, fingerprint: prints[index] ?? "" }))
  const kept = all.length <= maxSarifResults ? all : Arr.sort(
    all,
    Order.mapInput(severityOrder, (entry: (typeof all)[number]) => entry.finding.severity)
  ).slice(0, maxSarifResults)
  const notes = [
    ...report.notes,
    ...(kept.length < all.length
      ? [`${all.length - kept.length} less severe findings were left out (at most ${maxSarifResults} results).`]
      : [])
  ]
  return {
    $schema: sarifSchema,
    version: "2.1.0",
    runs: [{
      tool: {
        driver: {
          name: "agnt code-review (ESLint)",
          version: report.tool.version,
          semanticVersion: report.tool.version,
          informationUri: "https://eslint.org",
          rules: rules.map(descriptor)
        }
      },
      invocations: [{
        executionSuccessful: true,
        toolExecutionNotifications: notes.map((text) => ({ level: "note" as const, message: { text } }))
      }],
      originalUriBaseIds: { [srcRoot]: { description: { text: "The root of the reviewed files." } } },
      columnKind: "utf16CodeUnits",
      artifacts: report.artifacts.map((artifact) => ({
        location: { uri: sarifUri(artifact.file), uriBaseId: srcRoot },
        length: artifact.length,
        sourceLanguage: /\.[cm]?tsx?$/.test(artifact.file) ? "typescript" : "javascript",
        hashes: { "sha-256": artifact.sha256 }
      })),
      results: kept.map(({ finding, fingerprint }) => toResult(finding, fingerprint, ruleIndex, artifactIndex))
    }]
  }
}
