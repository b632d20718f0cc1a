import { makeApiClient } from "@agnt/client/ApiClient"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { binPath, daemon, run } from "./Processes.js"

const codeReviewAgentId = "agent_01m7zs84jxe4bv682cvngbb1p6"

const planted = [
  "export function add(a: number, b: number) {",
  "  return a + b",
  "}",
  "",
  "export function inspect(value: unknown) {",
  "  debugger",
  "  return value",
  "}",
  ""
].join("\n")

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

describe("end to end: agnt CLI → API → code-review executor → downloaded report", () => {
  it.scopedLive("a buyer orders a review of real files and downloads a SARIF report with the planted finding", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const work = yield* temporaryDirectory("agnt-e2e-")
      yield* Effect.promise(async () => {
        await NodeFs.mkdir(NodePath.join(work, "project", "src"), { recursive: true })
        await NodeFs.writeFile(NodePath.join(work, "project", "src", "planted.ts"), planted)
        await NodeFs.writeFile(NodePath.join(work, "project", "src", "clean.js"), "export const one = 1\n")
      })
      const baseEnv = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url }

      const executor = yield* daemon(binPath("executor", "agnt-executor.js"), ["run", "code-review"], {
        cwd: work,
        env: { ...baseEnv, AGNT_API_KEY: executorKey }
      })
      const client = yield* makeApiClient({ baseUrl: url, key: Redacted.make(buyerKey) })
      yield* client.agents.search({ urlParams: { q: "code review", limit: 20 } }).pipe(
        Effect.filterOrFail((page) => page.data.some((agent) => agent.agent_id === codeReviewAgentId)),
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))),
        Effect.tapError(() => Effect.sync(() => console.error(executor.output.join(""))))
      )

      const buyerEnv = { ...baseEnv, AGNT_API_KEY: buyerKey }
      const out = NodePath.join(work, "out")
      const order = yield* run(binPath("cli", "agnt.js"), [
        "order",
        codeReviewAgentId,
        "--prompt",
        "review",
        "--file",
        "src",
        "--wait",
        "--out",
        out
      ], { cwd: NodePath.join(work, "project"), env: buyerEnv })
      expect(order.stderr).toBe("")
      expect(order.code).toBe(0)
      const ordered = JSON.parse(order.stdout)
      expect(ordered.job.status).toBe("completed")
      expect(ordered.job.input_files.map((file: { path: string }) => file.path).sort()).toEqual(["src/clean.js", "src/planted.ts"])
      expect(ordered.job.status_message).toBe("completed with 2 result files")
      expect(ordered.job.result).toMatchObject({ files_reviewed: 2, files_skipped: 0 })
      expect(ordered.job.result.errors).toBeGreaterThanOrEqual(1)

      const info = yield* run(binPath("cli", "agnt.js"), ["info", codeReviewAgentId], { cwd: work, env: buyerEnv })
      const agent = JSON.parse(info.stdout)
      expect([info.code, agent.pricing, agent.output_schema.required]).toEqual([
        0,
        { model: "free" },
        ["files_reviewed", "files_skipped", "errors", "warnings", "notes"]
      ])
      const search = yield* run(binPath("cli", "agnt.js"), ["search", "code review"], { cwd: work, env: buyerEnv })
      const listed = JSON.parse(search.stdout).data.find((found: { agent_id: string }) => found.agent_id === codeReviewAgentId)
      expect(listed.pricing).toEqual({ model: "free" })
      const result = yield* run(binPath("cli", "agnt.js"), ["result", ordered.job.job_id], { cwd: work, env: buyerEnv })
      const manifest = JSON.parse(result.stdout)
      expect(manifest.result).toEqual(ordered.job.result)
      expect(manifest.files.map((file: { path: string; mime: string }) => [file.path, file.mime])).toEqual([
        ["review.md", "text/markdown"],
        ["review.sarif", "application/sarif+json"]
      ])

      const sarif = JSON.parse(yield* Effect.promise(() => NodeFs.readFile(NodePath.join(out, "review.sarif"), "utf8")))
      expect(sarif.version).toBe("2.1.0")
      const findings = sarif.runs[0].results.map((result: {
        ruleId: string
        locations: ReadonlyArray<{ physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }>
      }) => [
        result.ruleId,
        result.locations[0]?.physicalLocation.artifactLocation.uri,
        result.locations[0]?.physicalLocation.region.startLine
      ])
      expect(findings).toContainEqual(["no-debugger", "src/planted.ts", 6])
      const markdown = yield* Effect.promise(() => NodeFs.readFile(NodePath.join(out, "review.md"), "utf8"))
      expect(markdown).toContain("src/planted.ts:6")

      const status = yield* run(binPath("cli", "agnt.js"), ["status", ordered.job.job_id], { cwd: work, env: buyerEnv })
      expect([status.code, JSON.parse(status.stdout).status]).toEqual([0, "completed"])
      const missing = yield* run(binPath("cli", "agnt.js"), ["status", "job_01m7zs9nfmfvgv05wwj3kfhyfn"], { cwd: work, env: buyerEnv })
      expect(missing.code).toBe(4)
      expect(missing.stdout).toBe("")
      expect(JSON.parse(missing.stderr)._tag).toBe("JobNotFound")
      const unauthorized = yield* run(binPath("cli", "agnt.js"), ["jobs"], {
        cwd: work,
        env: { ...baseEnv, AGNT_API_KEY: "agnt_buyer_bogus" }
      })
      expect([unauthorized.code, JSON.parse(unauthorized.stderr)._tag]).toEqual([6, "Unauthorized"])
    }).pipe(Effect.scoped, Effect.provide(TestLive))) // processes stop before the server does
})
