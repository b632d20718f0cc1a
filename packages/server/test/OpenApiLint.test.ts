/**
 * The API document the server serves (`/openapi.json`) passes Redocly's
 * linter (`@redocly/cli lint`, its built-in `recommended` rules) with no
 * error: the real CLI process, over real HTTP, against the running server.
 */
import { layer } from "@effect/vitest"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeChildProcess from "node:child_process"
import { createRequire } from "node:module"
import { serverUrl } from "../src/Testing.js"
import { TestLive } from "./support.js"

const redocly = createRequire(import.meta.url).resolve("@redocly/cli/bin/cli.js")

/** What `redocly lint --format=json` prints. */
interface LintReport {
  readonly totals: { readonly errors: number; readonly warnings: number }
  readonly problems: ReadonlyArray<{ readonly ruleId: string; readonly severity: string; readonly message: string }>
}

/** Run `redocly lint --format=json <url>` and parse its report (it exits 1 when it finds errors). */
const lint = (url: string) =>
  Effect.async<LintReport, Error>((resume) => {
    const child = NodeChildProcess.execFile(
      process.execPath,
      [redocly, "lint", "--format=json", url],
      // No telemetry or update check: the linter talks to nothing but the server under test.
      { env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" }, maxBuffer: 16 << 20 },
      (_error, stdout, stderr) => {
        try {
          resume(Effect.succeed(JSON.parse(stdout) as LintReport))
        } catch {
          resume(Effect.fail(new Error(`redocly printed no JSON report:\n${stdout}\n${stderr}`)))
        }
      }
    )
    return Effect.sync(() => child.kill())
  })

layer(TestLive, { timeout: 120_000 })("the OpenAPI document", (it) => {
  it.effect("/openapi.json lints with no error under Redocly's recommended rules", () =>
    Effect.gen(function*() {
      const report = yield* lint(`${yield* serverUrl}/openapi.json`)
      expect(report.problems.filter((problem) => problem.severity === "error")).toEqual([])
      expect(report.totals.errors).toBe(0)
    }))
})
