/**
 * The built-in code-review executor: lints the job's input files with
 * ESLint (`Analysis.ts`) and returns `review.md` (`Markdown.ts`) and
 * `review.sarif` (SARIF 2.1.0, `Sarif.ts`), and as the job's structured
 * result the counts (`codeReviewOutputSchema`). Params: `codeReviewInputSchema`.
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
    errors: { type: "integer", minimum: 0, description: "Findings of severity error (rules of type problem, parse errors)" },
    warnings: {
      type: "integer",
      minimum: 0,
      description: "Findings of severity warning (rules of type suggestion); 0 with min_severity error"
    },
    notes: {
      type: "integer",
      minimum: 0,
      description: "Findings of severity note (rules of type layout); 0 with min_severity warning or error"
    }
  },
  required: ["files_reviewed", "files_skipped", "errors", "warnings", "notes"],
  additionalProperties: false
}

/**
 * The job's params (JSON Schema, checked by the server on order):
 * `min_severity` — the least severe findings reported (`note`, the default,
 * reports all; `warning` drops notes; `error` keeps errors only);
 * `type_check` — with a `tsconfig.json` among the input files, lint
 * TypeScript with typescript-eslint's type-checked rules (default `true`);
 * `base` — a directory of the inputs holding the base tree: review only what
 * changed since it.
 */
export const codeReviewInputSchema = {
  type: "object",
  properties: {
    min_severity: {
      enum: ["note", "warning", "error"],
      default: "note",
      description: "Report findings of this severity and above. A finding's severity comes from its ESLint rule's type: " +
        "problem → error, suggestion → warning, layout → note; a file that does not parse is an error.",
      examples: ["error"]
    },
    type_check: {
      type: "boolean",
      default: true,
      description: "Rule sets: @eslint/js recommended for every file, and for TypeScript typescript-eslint's recommended set, " +
        "or, when the input files hold a tsconfig.json and this is true, its type-checked recommended set " +
        "(floating and misused promises, unsafe any flows), within 120 seconds and 2 GB, else the untyped set with a note in review.md.",
      examples: [false]
    },
    base: {
      type: "string",
      minLength: 1,
      maxLength: 200,
      pattern: "^(?!/)(?!.*(^|/)\\.\\.(/|$)).+$",
      description: "Changed-only review: a directory among the input files that holds the base version of the tree " +
        "(e.g. the files at the branch point, sent under base/). The other files are reviewed: a file identical to its base " +
        "version is not linted, and only findings on lines added or edited since the base are reported; review.md says " +
        "how many were left out.",
      examples: ["base"]
    }
  },
  additionalProperties: false,
  examples: [{}, { min_severity: "warning" }, { min_severity: "error", type_check: false }, { base: "base" }]
}

/** Its manifest: what buyers see in search. Free. */
export const codeReviewManifest = new AgentManifest({
  name: "Code review (ESLint)",
  description: "Static analysis of JavaScript and TypeScript sources with ESLint and typescript-eslint's recommended rules " +
    "(type-checked when you send a tsconfig.json), with Node, browser and test-framework globals per file. " +
    "Send your source files and package.json; get review.md (a verdict, then the findings by file with their code) " +
    "and review.sarif (SARIF 2.1.0, ready for code scanning).",
  tags: ["code-review", "static-analysis", "eslint", "typescript", "javascript"],
  input_schema: codeReviewInputSchema,
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
      const [{ analyze }, { renderMarkdown }, { renderSarif }, { countBySeverity, withSeverityFloor }] = yield* Effect.promise(
        () => Promise.all([import("./Analysis.js"), import("./Markdown.js"), import("./Sarif.js"), import("./Report.js")])
      )
      const base = job.params["base"]
      const full = yield* analyze({
        root: ctx.workspace,
        files: ctx.inputs,
        type_check: job.params["type_check"] !== false,
        ...(typeof base === "string" ? { base } : {})
      }).pipe(
        Effect.mapError((error) => new JobFailure({ reason: `analysis failed: ${error.message}` }))
      )
      const floor = job.params["min_severity"]
      const report = floor === "error" || floor === "warning" ? withSeverityFloor(full, floor) : full
      yield* ctx.progress(90, `${report.findings.length} finding(s) in ${report.files_reviewed.length} file(s)`)
      yield* Effect.promise(() =>
        Promise.all([
          NodeFs.writeFile(NodePath.join(ctx.outDir, "review.md"), renderMarkdown(report)),
          NodeFs.writeFile(NodePath.join(ctx.outDir, "review.sarif"), JSON.stringify(renderSarif(report), null, 2))
        ])
      )
      yield* ctx.log(`reviewed ${report.files_reviewed.length} file(s): ${report.findings.length} finding(s)`)
      const counts = countBySeverity(report.findings)
      return {
        result: {
          files_reviewed: report.files_reviewed.length,
          files_skipped: report.files_skipped.length,
          errors: counts.error,
          warnings: counts.warning,
          notes: counts.note
        }
      }
    })
})
