/**
 * `review.md`: the review as people read it. It opens with a verdict and a
 * summary (counts by severity, top rules, top files), then the findings
 * grouped by file, the most severe files and findings first. The first
 * `detailedFindings` findings carry a 3–5 line code excerpt, the next
 * `briefFindings` one line each; the rest are counted per file and left to
 * `review.sarif`, which has them all. Files without findings are counted,
 * never listed. However many findings and files, the document stays under
 * `markdownLineBound` lines.
 */
import { Array as Arr, Order } from "effect"
import { countBySeverity, type Finding, type ReviewReport, type Severity, severityOrder } from "./Report.js"

/** Findings shown with a code excerpt. */
export const detailedFindings = 100
/** Findings after those shown on one line each, without excerpt. */
export const briefFindings = 200
/** Rows of the top rules and top files tables, and of the table of findings not shown. */
const topRows = 10
const omittedRows = 20
const maxMessageLength = 500

/**
 * An upper bound on `review.md`'s line count: summary and tables, each
 * shown finding with its file heading, and the table of what is not shown.
 */
export const markdownLineBound = 120 + detailedFindings * 12 + briefFindings * 3 + omittedRows + 10

/** Backslash-escape Markdown/HTML punctuation and fold line breaks, for prose and table cells. */
const escapeText = (text: string) =>
  text.replace(/[\r\n\u2028\u2029]+/g, " ").replace(/[\\`*_{}[\]()<>#+!|~]/g, (character) => `\\${character}`)

/** A code span that survives any backticks in `text` (and `|` inside tables). */
const code = (text: string) => {
  const flat = text.replace(/[\r\n\u2028\u2029]+/g, " ").replace(/\|/g, "\\|")
  const longestRun = Math.max(0, ...Array.from(flat.matchAll(/`+/g), (match) => match[0].length))
  const fence = "`".repeat(longestRun + 1)
  const padding = flat.startsWith("`") || flat.endsWith("`") ? " " : ""
  return `${fence}${padding}${flat}${padding}${fence}`
}

const plural = (count: number, one: string, many: string = `${one}s`) => `${count.toLocaleString("en-US")} ${count === 1 ? one : many}`

const ruleLink = (id: string, helpUri: string | undefined) => helpUri === undefined ? code(id) : `[${code(id)}](${encodeURI(helpUri)})`

const clip = (text: string) => text.length > maxMessageLength ? `${text.slice(0, maxMessageLength)}…` : text

/** "2 errors, 1 warning" (only the severities present), or "no findings". */
const countsText = (counts: Record<Severity, number>) => {
  const parts = [
    counts.error > 0 ? plural(counts.error, "error") : "",
    counts.warning > 0 ? plural(counts.warning, "warning") : "",
    counts.note > 0 ? plural(counts.note, "note") : ""
  ].filter((part) => part !== "")
  return parts.length === 0 ? "no findings" : parts.join(", ")
}

const verdict = (counts: Record<Severity, number>) =>
  counts.error > 0
    ? `**Verdict: changes needed** — ${plural(counts.error, "error")} to fix` +
      (counts.warning + counts.note > 0 ? `, and ${countsText({ ...counts, error: 0 })} to consider.` : ".")
    : counts.warning + counts.note > 0
    ? `**Verdict: no errors** — ${countsText(counts)} to consider.`
    : "**Verdict: clean** — ESLint found nothing to report."

/** Files by their findings' severities: most errors first, then warnings, then notes, then path. */
const fileOrder: Order.Order<readonly [string, Record<Severity, number>]> = Order.combineAll([
  Order.mapInput(Order.reverse(Order.number), ([, counts]: readonly [string, Record<Severity, number>]) => counts.error),
  Order.mapInput(Order.reverse(Order.number), ([, counts]: readonly [string, Record<Severity, number>]) => counts.warning),
  Order.mapInput(Order.reverse(Order.number), ([, counts]: readonly [string, Record<Severity, number>]) => counts.note),
  Order.mapInput(Order.string, ([file]: readonly [string, Record<Severity, number>]) => file)
])

const withinFileOrder: Order.Order<Finding> = Order.combineAll([
  Order.mapInput(severityOrder, (finding: Finding) => finding.severity),
  Order.mapInput(Order.number, (finding: Finding) => finding.line),
  Order.mapInput(Order.number, (finding: Finding) => finding.column)
])

interface FileFindings {
  readonly file: string
  readonly counts: Record<Severity, number>
  readonly findings: ReadonlyArray<Finding>
}

const byFile = (findings: ReadonlyArray<Finding>): ReadonlyArray<FileFindings> => {
  const groups = Arr.groupBy(findings, (finding) => finding.file)
  const counted = Object.entries(groups).map(([file, group]) => [file, countBySeverity(group)] as const)
  return Arr.sort(counted, fileOrder).map(([file, counts]) => ({
    file,
    counts,
    findings: Arr.sort(groups[file] ?? [], withinFileOrder)
  }))
}

const helpUrisOf = (report: ReviewReport): Map<string, string> => {
  const helpUris = new Map(report.rules.flatMap((rule) => rule.help_uri === undefined ? [] : [[rule.id, rule.help_uri]]))
  for (const finding of report.findings) {
    if (finding.help_uri !== undefined && !helpUris.has(finding.rule_id)) helpUris.set(finding.rule_id, finding.help_uri)
  }
  return helpUris
}

const introSection = (report: ReviewReport, counts: Record<Severity, number>, files: ReadonlyArray<FileFindings>) => {
  const clean = report.files_reviewed.length - files.length
  const environments = Object.entries(report.environments).sort(([a], [b]) => a.localeCompare(b))
  return [
    "# Code review",
    "",
    verdict(counts),
    "",
    `Reviewed ${plural(report.files_reviewed.length, "file")} with ESLint ${escapeText(report.tool.version)}` +
    (report.type_checked ? " (TypeScript with type information)" : "") +
    `: ${plural(report.findings.length, "finding")} in ${plural(files.length, "file")}; ` +
    `${plural(clean, "file")} without findings` +
    (report.files_skipped.length > 0 ? `; ${plural(report.files_skipped.length, "file")} not linted (not JavaScript or TypeScript).` : "."),
    ...(environments.length === 0 ? [] : [
      "",
      `Globals per file: ${environments.map(([key, count]) => `${code(key)} ${count}`).join(", ")}.`
    ]),
    ...report.notes.flatMap((note) => ["", `> ${escapeText(note)}`]),
    ""
  ]
}

const summarySection = (
  report: ReviewReport,
  counts: Record<Severity, number>,
  files: ReadonlyArray<FileFindings>,
  helpUris: Map<string, string>
) => {
  const lines = [
    "## Summary",
    "",
    "| Severity | Findings | Rules of type |",
    "| --- | ---: | --- |",
    `| error | ${counts.error} | \`problem\`: code that is wrong or will fail (and files that do not parse) |`,
    `| warning | ${counts.warning} | \`suggestion\`: a safer or clearer way to write it |`,
    `| note | ${counts.note} | \`layout\`: formatting |`,
    ""
  ]
  if (report.findings.length === 0) return lines
  const rules = Object.values(Arr.groupBy(report.findings, (finding) => finding.rule_id)).map((group) => ({
    id: group[0].rule_id,
    severity: group[0].severity,
    count: group.length,
    files: new Set(group.map((finding) => finding.file)).size
  }))
  const topRules = Arr.sort(
    rules,
    Order.combine(
      Order.mapInput(severityOrder, (rule: (typeof rules)[number]) => rule.severity),
      Order.mapInput(Order.reverse(Order.number), (rule: (typeof rules)[number]) => rule.count)
    )
  ).slice(0, topRows)
  lines.push("### Top rules", "", "| Rule | Severity | Findings | Files |", "| --- | --- | ---: | ---: |")
  for (const rule of topRules) {
    lines.push(`| ${ruleLink(rule.id, helpUris.get(rule.id))} | ${rule.severity} | ${rule.count} | ${rule.files} |`)
  }
  if (rules.length > topRows) lines.push("", `…and ${plural(rules.length - topRows, "more rule")}.`)
  lines.push("", "### Top files", "", "| File | Errors | Warnings | Notes |", "| --- | ---: | ---: | ---: |")
  for (const entry of files.slice(0, topRows)) {
    lines.push(`| ${code(entry.file)} | ${entry.counts.error} | ${entry.counts.warning} | ${entry.counts.note} |`)
  }
  if (files.length > topRows) lines.push("", `…and ${plural(files.length - topRows, "more file")} with findings.`)
  return [...lines, ""]
}

const languageOf = (file: string) => {
  const extension = file.slice(file.lastIndexOf(".") + 1)
  return ["ts", "tsx", "jsx"].includes(extension) ? extension : extension.endsWith("ts") ? "ts" : "js"
}

/** A fenced block (longer than any backtick run in it) of the excerpt, the finding's lines marked `>`. */
const excerptBlock = (finding: Finding): Array<string> => {
  const excerpt = finding.excerpt
  if (excerpt === undefined) return []
  const last = excerpt.start_line + excerpt.lines.length - 1
  const width = String(last).length
  const endLine = finding.end_line ?? finding.line
  const body = excerpt.lines.map((text, index) => {
    const number = excerpt.start_line + index
    const marker = number >= finding.line && number <= endLine ? ">" : " "
    return `${marker} ${String(number).padStart(width)} | ${text}`
  })
  const longestRun = Math.max(0, ...body.flatMap((line) => Array.from(line.matchAll(/`+/g), (match) => match[0].length)))
  const fence = "`".repeat(Math.max(3, longestRun + 1))
  return [`${fence}${languageOf(finding.file)}`, ...body, fence, ""]
}

const findingLine = (finding: Finding, helpUris: Map<string, string>) =>
  `**${finding.severity}** ${ruleLink(finding.rule_id, helpUris.get(finding.rule_id))} at ` +
  `${code(`${finding.file}:${finding.line}:${finding.column}`)}: ${escapeText(clip(finding.message))}`

const findingsSection = (files: ReadonlyArray<FileFindings>, helpUris: Map<string, string>, total: number) => {
  const lines = ["## Findings", ""]
  if (files.length === 0) return [...lines, "No findings: ESLint reported no problems in the reviewed files.", ""]
  const shown = detailedFindings + briefFindings
  if (total > detailedFindings) {
    lines.push(
      total > shown
        ? `The ${shown} most severe of ${plural(total, "finding")} are shown (the first ${detailedFindings} with code); ` +
          "`review.sarif` has them all."
        : `The first ${detailedFindings} of ${plural(total, "finding")} are shown with code; \`review.sarif\` has them all.`,
      ""
    )
  }
  let index = 0
  const omitted: Array<FileFindings> = []
  for (const entry of files) {
    if (index >= shown) {
      omitted.push(entry)
      continue
    }
    lines.push(`### ${code(entry.file)} — ${countsText(entry.counts)}`, "")
    const visible = entry.findings.slice(0, shown - index)
    for (const finding of visible) {
      if (index < detailedFindings) lines.push(findingLine(finding, helpUris), "", ...excerptBlock(finding))
      else lines.push(`- ${findingLine(finding, helpUris)}`)
      index += 1
    }
    if (visible.length < entry.findings.length) {
      omitted.push({
        ...entry,
        counts: countBySeverity(entry.findings.slice(visible.length)),
        findings: entry.findings.slice(visible.length)
      })
    }
    if (index > detailedFindings) lines.push("")
  }
  return [...lines, ...omittedSection(omitted)]
}

const omittedSection = (omitted: ReadonlyArray<FileFindings>) => {
  if (omitted.length === 0) return []
  const total = omitted.reduce((sum, entry) => sum + entry.findings.length, 0)
  const lines = [
    "### Not shown",
    "",
    `${plural(total, "more finding")} (${countsText(countBySeverity(omitted.flatMap((entry) => entry.findings)))}) ` +
    `in ${plural(omitted.length, "file")}; see \`review.sarif\`.`,
    "",
    "| File | Errors | Warnings | Notes |",
    "| --- | ---: | ---: | ---: |"
  ]
  for (const entry of omitted.slice(0, omittedRows)) {
    lines.push(`| ${code(entry.file)} | ${entry.counts.error} | ${entry.counts.warning} | ${entry.counts.note} |`)
  }
  if (omitted.length > omittedRows) lines.push("", `…and ${plural(omitted.length - omittedRows, "more file")}.`)
  return [...lines, ""]
}

/**
 * Render `report` as `review.md` (see the module's description); at most
 * `markdownLineBound` lines.
 */
export const renderMarkdown = (report: ReviewReport): string => {
  const counts = countBySeverity(report.findings)
  const helpUris = helpUrisOf(report)
  const files = byFile(report.findings)
  return [
    ...introSection(report, counts, files),
    ...summarySection(report, counts, files, helpUris),
    ...findingsSection(files, helpUris, report.findings.length)
  ].join("\n")
}
