/**
 * Large files through agnt, beside curl: one `SIZE_MIB` file (1024 by
 * default) of random bytes goes up with the real `agnt order --file` and
 * with curl to the same endpoint, through a real `agnt-executor` (its input
 * downloaded and a copy uploaded as the result), and comes back with the
 * real `agnt result --out` and with curl from the same download URL. One
 * real `agnt-server` process on a fresh embedded PostgreSQL database and a
 * local object directory. The programs are what a user installs, built
 * fresh: the server and executor bundles under Node, `agnt` compiled. Prints MiB/s (wall time of the whole process, so
 * `agnt`'s start-up counts) and peak RSS (`/usr/bin/time`'s maximum
 * resident set size; VmHWM from /proc for the executor and the server).
 *
 *   npx tsx bench/files.ts              # SIZE_MIB=1024
 *   SIZE_MIB=256 npx tsx bench/files.ts
 *
 * `filesMeasure` is the suite's (`bench/suite.ts`; 1 GiB, 128 MiB quick):
 * upload and download MiB/s and the upload's peak RSS beside curl's.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import type { JobId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Redacted, Schedule } from "effect"
import { spawn } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import * as EmbeddedPostgres from "../packages/server/src/EmbeddedPostgres.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase, temporaryDirectory } from "../packages/server/src/Testing.js"
import { buildAll } from "../scripts/build.js"
import { compileAgnt, hostPlatform } from "../scripts/dist.js"
import { makeKeys, startExecutor, startServerOn, writeCommandExecutor } from "../test/Executors.js"
import { command } from "../test/Processes.js"
import { type Measure, type Row, runIfMain } from "./Bench.js"

/** A finished measured process: its exit code, wall seconds, peak RSS in MiB and output. */
interface Measured {
  readonly code: number | null
  readonly seconds: number
  readonly peakMiB: number
  readonly stdout: string
  readonly stderr: string
}

/** Run `command args` under `/usr/bin/time`, which reports the peak RSS of the process. */
const timed = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd?: string) =>
  Effect.promise(() =>
    new Promise<Measured>((resolve) => {
      const started = performance.now()
      const child = spawn("/usr/bin/time", ["-f", "AGNT_BENCH_RSS_KB=%M", command, ...args], { env, cwd })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text))
      child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
      child.on("close", (code) => {
        const kb = Number(/AGNT_BENCH_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? Number.NaN)
        resolve({ code, seconds: (performance.now() - started) / 1000, peakMiB: kb / 1024, stdout, stderr })
      })
    })
  )

/** The peak resident set size of a live process, in MiB (`VmHWM` of /proc/<pid>/status). */
const peakOf = (pid: number | undefined) =>
  Effect.promise(async () => {
    const status = await NodeFs.readFile(`/proc/${pid}/status`, "utf8")
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024
  })

/** `size` bytes of random data at `path`, written 16 MiB at a time; yields their SHA-256. */
const writeRandomFile = (path: string, size: number) =>
  Effect.promise(async () => {
    const file = await NodeFs.open(path, "w")
    const hash = NodeCrypto.createHash("sha256")
    const block = 16 * 1024 * 1024
    for (let written = 0; written < size; written += block) {
      const bytes = NodeCrypto.randomBytes(Math.min(block, size - written))
      hash.update(bytes)
      await file.write(bytes)
    }
    await file.close()
    return hash.digest("hex")
  })

const fail = (what: string, run: Measured) =>
  run.code === 0 ? Effect.void : Effect.die(new Error(`${what} exited ${run.code}: ${run.stderr}\n${run.stdout}`))

/** The time of day of the executor's first log line containing `text` (`[hh:mm:ss.mmm] INFO …`), in milliseconds. */
const loggedAt = (output: ReadonlyArray<string>, text: string) => {
  const line = output.join("").split("\n").find((line) => line.includes(text)) ?? ""
  const [hours, minutes, seconds] = (/^\[(\d\d):(\d\d):(\d\d\.\d+)\]/.exec(line) ?? []).slice(1).map(Number)
  return ((hours ?? Number.NaN) * 60 + (minutes ?? Number.NaN)) * 60_000 + (seconds ?? Number.NaN) * 1000
}

/** One line of the table; `startup` is the seconds of `agnt --help`, left out of the second rate. */
const row = (what: string, mib: number, seconds: number, peakMiB: number | undefined, startup = 0) => {
  const cell = (value: number | undefined, digits: number) => (value === undefined ? "–" : value.toFixed(digits)).padStart(12)
  return `${what.padEnd(30)}${cell(mib / seconds, 1)}${cell(startup === 0 ? undefined : mib / (seconds - startup), 1)}${cell(seconds, 2)}${
    cell(peakMiB, 0)
  }`
}

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")

/**
 * What a user installs, built fresh into a temporary directory: the
 * esbuild bundles of the server and the executor (run by Node, their
 * external packages found through a `node_modules` link beside them) and
 * `agnt` compiled for this machine (`npm run dist`'s binary).
 */
const shippedPrograms = Effect.gen(function*() {
  const dir = yield* temporaryDirectory("agnt-bench-files-programs-")
  return yield* Effect.promise(async () => {
    await NodeFs.symlink(NodePath.join(root, "node_modules"), NodePath.join(dir, "node_modules"))
    const built = await buildAll(NodePath.join(dir, "dist"))
    const agnt = await compileAgnt(hostPlatform(), NodePath.join(dir, "agnt"))
    return { agnt, server: built.server.file, executor: built.executor.file }
  })
})

/** One `sizeMiB` file up and down through agnt and curl on a fresh database of `adminUrl`; every figure of the table. */
export const fileFigures = (adminUrl: string, sizeMiB: number) =>
  Effect.gen(function*() {
    const size = sizeMiB * 1024 * 1024
    const databaseUrl = yield* freshDatabase(adminUrl)
    const limit = String(2 * size + 1024 * 1024)
    const programs = yield* shippedPrograms
    const { dataDir, server, url, work } = yield* startServerOn(databaseUrl, "agnt-bench-files-", {
      AGNT_MAX_FILE_BYTES: limit,
      AGNT_MAX_BODY_BYTES: limit,
      AGNT_MAX_JOB_BYTES: limit
    }, programs.server)
    const [buyerKey, executorKey] = yield* makeKeys(dataDir, databaseUrl)
    const buyer = yield* makeApiClient({ baseUrl: url, key: buyerKey.key })
    const agentId = makeAgentId()
    const source = NodePath.join(work, "big.bin")
    const sha256 = yield* writeRandomFile(source, size)
    const cliEnv = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url }
    const buyerEnv = { ...cliEnv, AGNT_API_KEY: Redacted.value(buyerKey.key) }
    const agnt = programs.agnt

    // The agent is published by its executor, started and stopped here so that no executor runs during the uploads.
    const config = yield* writeCommandExecutor(work, "copy", "cp -a . \"$AGNT_OUT_DIR/\"", {}, {
      sandbox: { read_only: [work], max_file_mb: 2 * sizeMiB, workspace_mb: 4 * sizeMiB }
    })
    const executorArgs = ["command", "--config", config, "--agent-id", agentId]
    const executorEnv = { ...cliEnv, AGNT_API_KEY: Redacted.value(executorKey.key) }
    yield* Effect.scoped(Effect.gen(function*() {
      yield* startExecutor(executorArgs, { cwd: work, env: executorEnv, program: programs.executor })
      yield* buyer.agents.get({ path: { agent_id: agentId } }).pipe(Effect.retry(Schedule.spaced("200 millis")))
    }))

    const startup = yield* timed(...command(agnt, ["--help"]), buyerEnv)
    const authorization = `Authorization: Bearer ${Redacted.value(buyerKey.key)}`
    const curl = (args: ReadonlyArray<ReadonlyArray<string>>) =>
      timed("curl", ["-sS", "--fail-with-body", "-H", authorization, ...args.flat()], process.env)
    const curlUp = yield* curl([
      ["-o", NodePath.join(work, "curl-order.json")],
      ["-F", `agent_id=${agentId}`, "-F", "prompt=curl", "-F", `files=@${source};filename=big.bin`],
      [`${url}/v1/jobs`]
    ])
    yield* fail("curl upload", curlUp)
    const curlJob: { readonly job_id: JobId } = JSON.parse(
      yield* Effect.promise(() => NodeFs.readFile(NodePath.join(work, "curl-order.json"), "utf8"))
    )
    yield* buyer.jobs.cancel({ path: { job_id: curlJob.job_id } })

    const agntUp = yield* timed(...command(agnt, ["order", agentId, "--prompt", "copy", "--file", "big.bin"]), buyerEnv, work)
    yield* fail("agnt order", agntUp)
    const job: { readonly job_id: JobId } = JSON.parse(agntUp.stdout)

    const executor = yield* startExecutor(executorArgs, { cwd: work, env: executorEnv, program: programs.executor })
    const done = yield* buyer.jobs.get({ path: { job_id: job.job_id } }).pipe(
      Effect.filterOrFail((found) => found.status === "completed" || found.status === "failed", () => "running"),
      Effect.retry(Schedule.spaced("500 millis"))
    )
    if (done.status !== "completed") return yield* Effect.die(new Error(`job ${done.status}: ${done.failure_reason}`))
    // The executor logs its completion just after the API records it.
    yield* Effect.sync(() => executor.output.join("").includes("completed with 1 result file")).pipe(
      Effect.filterOrFail((logged) => logged, () => "not yet"),
      Effect.retry(Schedule.spaced("100 millis"))
    )
    const executorPeak = yield* peakOf(executor.child.pid)
    const downloadStarted = loggedAt(executor.output, "downloading 1 input file")
    const runStarted = loggedAt(executor.output, "running ")
    const uploadStarted = loggedAt(executor.output, "uploading 1 result file")
    const completedAt = loggedAt(executor.output, "completed with 1 result file")

    const result = yield* buyer.jobs.result({ path: { job_id: job.job_id } })
    const file = result.files[0]
    if (file === undefined || file.sha256 !== sha256) return yield* Effect.die(new Error("the result is not the input"))
    const curlDown = yield* curl([["-o", NodePath.join(work, "curl-download.bin")], [`${url}${file.download_url}`]])
    yield* fail("curl download", curlDown)
    yield* Effect.promise(() => NodeFs.rm(NodePath.join(work, "curl-download.bin")))
    const agntDown = yield* timed(...command(agnt, ["result", job.job_id, "--out", NodePath.join(work, "back")]), buyerEnv)
    yield* fail("agnt result", agntDown)
    const serverPeak = yield* peakOf(server.child.pid)

    return {
      sizeMiB,
      startup,
      curlUp,
      agntUp,
      curlDown,
      agntDown,
      executorDownloadSeconds: (runStarted - downloadStarted) / 1000,
      executorUploadSeconds: (completedAt - uploadStarted) / 1000,
      executorPeak,
      serverPeak
    }
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))

type FileFigures = Effect.Effect.Success<ReturnType<typeof fileFigures>>

/** The standalone table: MiB/s, the same less `agnt`'s start-up, seconds and peak RSS of each transfer. */
const report = (figures: FileFigures) => {
  const { agntDown, agntUp, curlDown, curlUp, sizeMiB, startup } = figures
  return [
    `${sizeMiB} MiB, one file; agnt --help alone takes ${startup.seconds.toFixed(2)} s at ${startup.peakMiB.toFixed(0)} MiB`,
    `${"".padEnd(30)}${"MiB/s".padStart(12)}${"less start".padStart(12)}${"seconds".padStart(12)}${"peak MiB".padStart(12)}`,
    row("upload   curl -F", sizeMiB, curlUp.seconds, curlUp.peakMiB),
    row("upload   agnt order --file", sizeMiB, agntUp.seconds, agntUp.peakMiB, startup.seconds),
    row("download curl", sizeMiB, curlDown.seconds, curlDown.peakMiB),
    row("download agnt result --out", sizeMiB, agntDown.seconds, agntDown.peakMiB, startup.seconds),
    row("executor input download", sizeMiB, figures.executorDownloadSeconds, undefined),
    row("executor result upload", sizeMiB, figures.executorUploadSeconds, undefined),
    `executor peak RSS over the whole job: ${figures.executorPeak.toFixed(0)} MiB; ` +
    `server peak RSS over the run: ${figures.serverPeak.toFixed(0)} MiB`
  ].join("\n")
}

/** The suite's rows: upload and download MiB/s (whole processes, start-up included) and the upload's peak RSS, beside curl. */
const filesRows = ({ agntDown, agntUp, curlDown, curlUp, sizeMiB }: FileFigures): ReadonlyArray<Row> => [
  {
    measure: `upload ${sizeMiB} MiB, agnt order --file`,
    unit: "MiB/s",
    better: "higher",
    agnt: sizeMiB / agntUp.seconds,
    baseline: sizeMiB / curlUp.seconds,
    baselineName: "curl -F"
  },
  {
    measure: `download ${sizeMiB} MiB, agnt result`,
    unit: "MiB/s",
    better: "higher",
    agnt: sizeMiB / agntDown.seconds,
    baseline: sizeMiB / curlDown.seconds,
    baselineName: "curl"
  },
  {
    measure: `upload ${sizeMiB} MiB peak RSS`,
    unit: "MiB",
    better: "lower",
    agnt: agntUp.peakMiB,
    baseline: curlUp.peakMiB,
    baselineName: "curl -F"
  }
]

/** The suite's measure: 1 GiB (128 MiB quick). */
export const filesMeasure: Measure = {
  name: "files",
  run: (context) => Effect.map(fileFigures(context.adminUrl, context.quick ? 128 : 1024), filesRows)
}

runIfMain(
  import.meta.url,
  Effect.gen(function*() {
    const sizeMiB = yield* Config.integer("SIZE_MIB").pipe(Config.withDefault(1024))
    const adminUrl = yield* EmbeddedPostgres.start(NodePath.join(yield* temporaryDirectory("agnt-bench-pg-"), "pg"))
    yield* Console.log(report(yield* fileFigures(Redacted.value(adminUrl), sizeMiB)))
  }).pipe(Effect.scoped)
)
