/**
 * What the sandbox adds to a job: the command executor's whole run of one
 * job (workspace prepared, program started and waited for, results
 * collected), N jobs one after another, in the default sandbox, in a
 * sandbox with an allow-list (bridge and egress proxy), and unsandboxed
 * (`--no-sandbox`, the baseline), alternated job by job. The program is
 * `/bin/true`, so the figures are the isolation's own cost. Prints median
 * and p90 in milliseconds, and the medians' differences.
 *
 *   npx tsx bench/sandbox.ts          # N=50
 *   N=200 npx tsx bench/sandbox.ts
 */
import { Config, Console, Effect } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { CommandConfig } from "../packages/executor/src/Command/Config.js"
import { command, type Isolation, isolationFor } from "../packages/executor/src/Command/Executor.js"
import { SandboxSettings } from "../packages/executor/src/Command/Sandbox.js"
import { type JobContext, JobFailure } from "../packages/executor/src/Executor.js"
import { agentId, makeJob } from "../packages/executor/test/Jobs.js"
import { percentile, runIfMain } from "./Bench.js"

/** One job of `config` under `isolation` in a fresh job directory (as the runtime lays it out); milliseconds. */
const oneJob = (config: CommandConfig, isolation: Isolation) =>
  Effect.gen(function*() {
    const root = yield* Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-bench-sandbox-")))
    const ctx: JobContext = {
      workspace: NodePath.join(root, "workspace"),
      outDir: NodePath.join(root, "out"),
      inputs: [],
      progress: () => Effect.void,
      log: () => Effect.void,
      childKey: Effect.fail(new JobFailure({ reason: "no API in this bench" }))
    }
    yield* Effect.promise(() => Promise.all([NodeFs.mkdir(ctx.workspace), NodeFs.mkdir(ctx.outDir)]))
    const started = performance.now()
    yield* command(config, agentId, isolation).run(makeJob("p"), ctx).pipe(Effect.orDie)
    const ms = performance.now() - started
    yield* Effect.promise(() => NodeFs.rm(root, { recursive: true, force: true }))
    return ms
  })

const program = Effect.gen(function*() {
  const n = yield* Config.integer("N").pipe(Config.withDefault(50))
  const plain = new CommandConfig({ name: "bench", description: "true", program: "/bin/true" })
  const allowList = new CommandConfig({
    ...plain,
    sandbox: new SandboxSettings({ ...plain.sandbox, network: { allow: ["api.example.com"] } })
  })
  const runs = [
    { name: "unsandboxed (--no-sandbox)", config: plain, isolation: yield* isolationFor(plain, "/bin/true", true) },
    { name: "sandbox, network none", config: plain, isolation: yield* isolationFor(plain, "/bin/true", false) },
    { name: "sandbox, allow-list", config: allowList, isolation: yield* isolationFor(allowList, "/bin/true", false) }
  ]
  const samples = runs.map(() => [] as Array<number>)
  for (let i = 0; i < n; i++) {
    for (const [index, run] of runs.entries()) samples[index]?.push(yield* oneJob(run.config, run.isolation))
  }
  const medians = samples.map((values) => percentile(values.sort((a, b) => a - b), 50))
  const baseline = medians[0] ?? Number.NaN
  for (const [index, run] of runs.entries()) {
    const values = samples[index] ?? []
    const median = medians[index] ?? Number.NaN
    yield* Console.log(
      `${run.name.padEnd(28)} n=${values.length}  median ${median.toFixed(1).padStart(7)} ms  p90 ${
        percentile(values, 90).toFixed(1).padStart(7)
      } ms  (+${(median - baseline).toFixed(1)} ms)`
    )
  }
})

runIfMain(import.meta.url, program)
