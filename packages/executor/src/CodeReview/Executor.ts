/**
 * The built-in code-review executor: lints the job's input files with
 * ESLint (`Analysis.ts`) and returns `review.md` and `review.sarif`
 * (SARIF 2.1.0), and as the job's structured result the counts
 * (`codeReviewOutputSchema`). `params.min_severity` ("warning", the
 * default, or "error") drops findings below it.
 */
import { AgentManifest } from "@agnt/domain/Agent"
import { AgentId } from "@agnt/domain/Ids"
import { Effect, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { type ExecutorDefinition, JobFailure } from "../Executor.js"

/** The built-in code-review agent's id on every agnt server. */
export const codeReviewAgentId = Schema.decodeSync(AgentId)("agent_01m7zs84jxe4bv682cvngbb1p6")

/** The job's structured result: how many files were reviewed and skipped, and the findings by severity. */
export const codeReviewOutputSchema = {
  type: "object",
  properties: {
    files_reviewed: { type: "integer", minimum: 0, description: "Files ESLint linted" },
    files_skipped: { type: "integer", minimum: 0, description: "Files not linted (an extension ESLint is not set up for)" },
    errors: { type: "integer", minimum: 0, description: "Findings of severity error" },
    warnings: { type: "integer", minimum: 0, description: "Findings of severity warning (0 with min_severity error)" }
  },
  required: ["files_reviewed", "files_skipped", "errors", "warnings"],
  additionalProperties: false
}

/** Its manifest: what buyers see in search. Free. */
export const codeReviewManifest = new AgentManifest({
  name: "Code review (ESLint)",
  description: "Static analysis of JavaScript and TypeScript sources with ESLint and typescript-eslint's recommended rules. " +
    "Send your source files; get review.md (findings by file and line, counts by rule and severity) and review.sarif (SARIF 2.1.0).",
  tags: ["code-review", "static-analysis", "eslint", "typescript", "javascript"],
  input_schema: {
    type: "object",
    properties: {
      min_severity: { enum: ["warning", "error"], description: "Drop findings below this severity" }
    },
    additionalProperties: false
  },
  output_schema: codeReviewOutputSchema
})

/** The code-review executor, serving `agentId` (the built-in id by default). */
export const codeReview = (agentId: AgentId = codeReviewAgentId): ExecutorDefinition => ({
  agent_id: agentId,
  manifest: codeReviewManifest,
  run: (job, ctx) =>
    Effect.gen(function*() {
      if (ctx.inputs.length === 0) return yield* new JobFailure({ reason: "no input files to review" })
      yield* ctx.progress(10, `linting ${ctx.inputs.length} file(s)`)
      // ESLint and TypeScript are loaded with the first job, not at start: an idle executor does not hold them.
      const { analyze, renderMarkdown, renderSarif } = yield* Effect.promise(() => import("./Analysis.js"))
      const full = yield* analyze({ root: ctx.workspace, files: ctx.inputs }).pipe(
        Effect.mapError((error) => new JobFailure({ reason: `analysis failed: ${error.message}` }))
      )
      const report = job.params["min_severity"] === "error"
        ? { ...full, findings: full.findings.filter((finding) => finding.severity === "error") }
        : full
      yield* ctx.progress(90, `${report.findings.length} finding(s) in ${report.files_reviewed.length} file(s)`)
      yield* Effect.promise(() =>
        Promise.all([
          NodeFs.writeFile(NodePath.join(ctx.outDir, "review.md"), renderMarkdown(report)),
          NodeFs.writeFile(NodePath.join(ctx.outDir, "review.sarif"), JSON.stringify(renderSarif(report), null, 2))
        ])
      )
      yield* ctx.log(`reviewed ${report.files_reviewed.length} file(s): ${report.findings.length} finding(s)`)
      const count = (severity: string) => report.findings.filter((finding) => finding.severity === severity).length
      return {
        result: {
          files_reviewed: report.files_reviewed.length,
          files_skipped: report.files_skipped.length,
          errors: count("error"),
          warnings: count("warning")
        }
      }
    })
})
