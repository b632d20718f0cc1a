import { AgentManifest } from "@agnt/domain/Agent"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schedule } from "effect"
import { readFileSync } from "node:fs"
import { access, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CommandConfig, decodeCommandConfig, loadCommandConfig, loadPreset } from "../src/Command/Config.js"
import { command, type Isolation } from "../src/Command/Executor.js"
import { presetNames, presetPath } from "../src/Command/Presets.js"
import { lineSplitter } from "../src/Command/Process.js"
import type { JobContext } from "../src/Executor.js"
import { JobFailure } from "../src/Executor.js"
import { agentId, jobId, makeJob } from "./Jobs.js"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
/** These tests pin how programs are run, reported and stopped; `Sandbox.test.ts` runs them in the sandbox. */
const unsandboxed: Isolation = { _tag: "Unsandboxed" }

const config = (fields: Omit<ConstructorParameters<typeof CommandConfig>[0], "name" | "description">) =>
  new CommandConfig({ name: "Test command", description: "runs a fixture", ...fields })

/** A job context laid out like the runtime's (root/workspace, root/out), recording progress and log lines. */
const jobContext = (inputs: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "agnt-command-"))),
    (root) => Effect.promise(() => rm(root, { recursive: true, force: true }))
  ).pipe(
    Effect.flatMap((root) =>
      Effect.promise(async () => {
        const workspace = join(root, "workspace")
        const outDir = join(root, "out")
        await mkdir(workspace, { recursive: true })
        await mkdir(outDir, { recursive: true })
        for (const [path, text] of Object.entries(inputs)) {
          await mkdir(dirname(join(workspace, path)), { recursive: true })
          await writeFile(join(workspace, path), text)
        }
        const logs: Array<string> = []
        const progress: Array<number> = []
        const ctx: JobContext = {
          workspace,
          inputs: Object.keys(inputs),
          outDir,
          progress: (percent) => Effect.sync(() => void progress.push(percent)),
          log: (line) => Effect.sync(() => void logs.push(line)),
          childKey: Effect.fail(new JobFailure({ reason: "no API in these tests" }))
        }
        return { root, workspace, outDir, ctx, logs, progress }
      })
    )
  )

/** Regular files under `dir`, relative and sorted (what the runtime uploads, minus links). */
const listResults = async (dir: string, prefix = ""): Promise<Array<string>> => {
  const entries = await readdir(dir, { withFileTypes: true })
  const nested = await Promise.all(entries.map((entry) =>
    entry.isDirectory()
      ? listResults(join(dir, entry.name), `${prefix}${entry.name}/`)
      : Promise.resolve([`${prefix}${entry.name}${entry.isFile() ? "" : " (not a file)"}`])
  ))
  return nested.flat().sort()
}

const read = (path: string) => Effect.promise(() => readFile(path, "utf8"))
const exists = (path: string) => Effect.promise(() => access(path).then(() => true, () => false))

/** Whether process `pid` is gone: `kill(pid, 0)` fails with ESRCH. */
const processGone = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "ESRCH"
  }
}

/**
 * Whether process `pid` has ended: gone, or a zombie (an orphaned grandchild
 * waits as a zombie until init reaps it, which may take a while).
 */
const processEnded = (pid: number): boolean => {
  if (processGone(pid)) return true
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") === true
  } catch {
    return processGone(pid)
  }
}

/** The pids a fixture recorded in `pid` and `child.pid` of its workspace, once both are written. */
const recordedPids = (workspace: string) =>
  Effect.tryPromise(async () => {
    const [pid, child] = await Promise.all([readFile(join(workspace, "pid"), "utf8"), readFile(join(workspace, "child.pid"), "utf8")])
    return [Number(pid.trim()), Number(child.trim())] as const
  }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }), Effect.orDie)

const failureReason = <A>(exit: Exit.Exit<A, JobFailure>): string => {
  if (Exit.isSuccess(exit)) return expect.fail("expected the run to fail")
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") return expect.fail(`expected a JobFailure, got ${Cause.pretty(exit.cause)}`)
  expect(failure.value).toBeInstanceOf(JobFailure)
  return failure.value.reason
}

describe("command executor", () => {
  const prompt = "Summarise notes/input.txt — keep $HOME, `quotes` and {out} literal\nsecond line"

  for (const via of ["argument", "stdin", "env"] as const) {
    it.scopedLive(`prompt arrives via ${via}; files in the out dir and in workspace out/ become results`, () =>
      Effect.gen(function*() {
        const { ctx, logs, outDir, progress, workspace } = yield* jobContext({ "notes/input.txt": "hello input\n" })
        const job = makeJob(prompt, { depth: 2 })
        yield* command(
          config({
            program: fixture("write-results.sh"),
            args: ["--out={out}", "--job={job_id}", "{params_json}", "{workspace}"],
            prompt_via: via,
            env: { PROMPT_VIA: via }
          }),
          agentId,
          unsandboxed
        ).run(job, ctx)

        expect(yield* Effect.promise(() => listResults(outDir))).toEqual([
          "args.txt",
          "env.txt",
          "nested/upper.txt",
          "prompt.txt"
        ])
        expect(yield* read(join(outDir, "prompt.txt"))).toBe(prompt)
        expect(yield* read(join(outDir, "nested/upper.txt"))).toBe("HELLO INPUT\n")
        const args = (yield* read(join(outDir, "args.txt"))).split("\0").slice(0, -1)
        // The prompt is appended as the last argument only when it goes by argument.
        expect(args).toEqual([
          `--out=${outDir}`,
          `--job=${jobId}`,
          "{\"depth\":2}",
          workspace,
          ...(via === "argument" ? [prompt] : [])
        ])
        expect(yield* read(join(outDir, "env.txt"))).toBe(
          [
            `cwd=${workspace}`,
            `AGNT_JOB_ID=${jobId}`,
            `AGNT_WORKSPACE=${workspace}`,
            `AGNT_OUT_DIR=${outDir}`,
            "AGNT_PARAMS={\"depth\":2}",
            "AGNT_API_KEY=unset",
            ""
          ].join("\n")
        )
        expect(logs).toContain("wrote results")
        expect(logs).toContain("[stderr] a note on stderr")
        // Symbolic links are never results, wherever the program put them.
        expect(logs.some((line) => line.includes("link-to-host-file"))).toBe(true)
        expect(logs.some((line) => line.includes("direct-link"))).toBe(true)
        expect(progress.length).toBeGreaterThan(0)
      }))
  }

  it.scopedLive("{prompt} is substituted inside an argument and not appended again", () =>
    Effect.gen(function*() {
      const { ctx, outDir } = yield* jobContext()
      yield* command(
        config({ program: fixture("fake-agent-cli.sh"), args: ["--task=[{prompt}]", "--done"] }),
        agentId,
        unsandboxed
      ).run(makeJob("do {job_id} things"), ctx)
      expect(yield* read(join(outDir, "argv.txt"))).toBe("fake-agent-cli.sh\0--task=[do {job_id} things]\0--done\0")
    }))

  it.scopedLive("the executor's own AGNT_* variables, such as its API key, do not reach the program", () =>
    Effect.gen(function*() {
      const { ctx, outDir } = yield* jobContext({ "notes/input.txt": "x\n" })
      const previous = process.env["AGNT_API_KEY"]
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.env["AGNT_API_KEY"] = "agnt_secret_executor_key"
        }),
        () =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env["AGNT_API_KEY"]
            else process.env["AGNT_API_KEY"] = previous
          })
      )
      yield* command(
        config({ program: fixture("write-results.sh"), prompt_via: "env", env: { PROMPT_VIA: "env" } }),
        agentId,
        unsandboxed
      ).run(makeJob("p"), ctx)
      expect(yield* read(join(outDir, "env.txt"))).toContain("AGNT_API_KEY=unset\n")
    }))

  it.scopedLive("a non-zero exit fails the job with the exit code and the last 20 lines of output", () =>
    Effect.gen(function*() {
      const { ctx, logs, outDir } = yield* jobContext()
      const exit = yield* command(config({ program: fixture("exit-3.sh") }), agentId, unsandboxed).run(makeJob("p"), ctx).pipe(Effect.exit)
      const reason = failureReason(exit)
      expect(reason).toMatch(/^exit-3\.sh failed with exit code 3; last 20 line\(s\) of output:\n/)
      const tail = reason.split("\n").slice(1)
      expect(tail).toHaveLength(20)
      expect(tail).toContain("line 25")
      expect(tail).toContain("[stderr] line 24")
      expect(tail).not.toContain("line 1")
      // The program's 25 lines, after the runtime's note that it runs unsandboxed.
      expect(logs[0]).toMatch(/^running unsandboxed \(--no-sandbox\)/)
      expect(logs).toHaveLength(26)
      expect(yield* Effect.promise(() => listResults(outDir))).toEqual([])
    }))

  it.scopedLive(
    "a program past its timeout gets SIGTERM, its whole process group is gone, and the job fails as timed out",
    () =>
      Effect.gen(function*() {
        const { ctx, workspace } = yield* jobContext()
        const started = Date.now()
        const exit = yield* command(
          config({ program: fixture("hang.sh"), timeout_seconds: 1, kill_grace_seconds: 5 }),
          agentId,
          unsandboxed
        ).run(makeJob("p"), ctx).pipe(Effect.exit)
        const elapsed = Date.now() - started
        const reason = failureReason(exit)
        expect(reason).toMatch(/^timed out after 1 s; last 1 line\(s\) of output:\nhanging$/)
        const [pid, child] = yield* recordedPids(workspace)
        expect(processGone(pid)).toBe(true)
        expect(processEnded(child)).toBe(true)
        expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }))
        // It went on SIGTERM, well before the grace period would have ended in SIGKILL.
        expect((yield* read(join(workspace, "got-term"))).trim()).toBe("TERM")
        expect(elapsed).toBeGreaterThanOrEqual(1000)
      }),
    15_000
  )

  it.scopedLive("a program that ignores SIGTERM is killed with SIGKILL after kill_grace_seconds", () =>
    Effect.gen(function*() {
      const { ctx, workspace } = yield* jobContext()
      const started = Date.now()
      const exit = yield* command(
        config({ program: fixture("ignore-term.sh"), timeout_seconds: 1, kill_grace_seconds: 1 }),
        agentId,
        unsandboxed
      ).run(makeJob("p"), ctx).pipe(Effect.exit)
      const elapsed = Date.now() - started
      expect(failureReason(exit)).toMatch(/^timed out after 1 s/)
      const [pid, child] = yield* recordedPids(workspace)
      expect(processGone(pid)).toBe(true)
      expect(processEnded(child)).toBe(true)
      // Timeout (1 s) plus the full grace period (1 s): SIGTERM did not end it.
      expect(elapsed).toBeGreaterThanOrEqual(2000)
    }), 15_000)

  it.scopedLive(
    "interrupting the run (a canceled job) stops the process group before the interruption completes",
    () =>
      Effect.gen(function*() {
        const { ctx, outDir, workspace } = yield* jobContext()
        const fiber = yield* command(
          config({ program: fixture("hang.sh"), timeout_seconds: 60, kill_grace_seconds: 5 }),
          agentId,
          unsandboxed
        ).run(makeJob("p"), ctx).pipe(Effect.fork)
        const [pid, child] = yield* recordedPids(workspace)
        expect(processGone(pid)).toBe(false)
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(processGone(pid)).toBe(true)
        expect(processEnded(child)).toBe(true)
        expect(yield* exists(join(workspace, "got-term"))).toBe(true)
        expect(yield* Effect.promise(() => listResults(outDir))).toEqual([])
      }),
    15_000
  )

  it.scopedLive(
    "a program that exits 0 but leaves a process behind completes at once, and the leftover is stopped",
    () =>
      Effect.gen(function*() {
        const { ctx, logs, workspace } = yield* jobContext()
        // A 60 s grace period past the test's 15 s bound: waiting for the leftover would fail the test.
        yield* command(config({ program: fixture("leave-background.sh"), kill_grace_seconds: 60 }), agentId, unsandboxed).run(
          makeJob("p"),
          ctx
        )
        const [pid, child] = yield* recordedPids(workspace)
        expect(processGone(pid)).toBe(true)
        expect(processEnded(child)).toBe(true)
        expect(logs).toContain("left a sleeper behind")
      }),
    15_000
  )

  it.scopedLive(
    "a process the program left in a session of its own (setsid) is stopped when the job ends",
    () =>
      Effect.gen(function*() {
        const { ctx, logs, workspace } = yield* jobContext()
        yield* command(config({ program: fixture("leave-escaped.sh"), kill_grace_seconds: 5 }), agentId, unsandboxed).run(makeJob("p"), ctx)
        const [pid, escaped] = yield* recordedPids(workspace)
        expect(processGone(pid)).toBe(true)
        expect(processEnded(escaped)).toBe(true)
        expect(logs).toContain("left a daemon behind")
      }),
    15_000
  )

  it.scopedLive("a missing program fails the job saying it was not found", () =>
    Effect.gen(function*() {
      const { ctx } = yield* jobContext()
      const exit = yield* command(config({ program: "agnt-no-such-program-7f3a" }), agentId, unsandboxed).run(makeJob("p"), ctx).pipe(
        Effect.exit
      )
      expect(failureReason(exit)).toBe(
        "program not found: agnt-no-such-program-7f3a (is it installed and on the executor's PATH?)"
      )
    }))

  it.scopedLive("a program file that is not executable fails the job saying so", () =>
    Effect.gen(function*() {
      const { ctx, root } = yield* jobContext()
      const script = join(root, "not-executable.sh")
      yield* Effect.promise(() => writeFile(script, "#!/bin/sh\necho hi\n", { mode: 0o644 }))
      const exit = yield* command(config({ program: script }), agentId, unsandboxed).run(makeJob("p"), ctx).pipe(Effect.exit)
      expect(failureReason(exit)).toBe(`program not executable: ${script}`)
    }))

  it.effect("the manifest publishes the config's name, description, tags and input schema, and that it runs unsandboxed", () =>
    Effect.sync(() => {
      const definition = command(
        config({ program: "true", tags: ["shell"], input_schema: { type: "object" } }),
        agentId,
        unsandboxed
      )
      expect(definition.agent_id).toBe(agentId)
      expect(definition.manifest).toEqual(
        new AgentManifest({
          name: "Test command",
          description: "runs a fixture",
          tags: ["shell"],
          input_schema: { type: "object" },
          sandboxed: false
        })
      )
    }))
})

describe("command presets", () => {
  it.effect("each preset decodes, defaults to a one-hour timeout and 10 s grace, and says what it wraps", () =>
    Effect.gen(function*() {
      const wraps = { "claude-code": "claude", codex: "codex", gemini: "gemini" } as const
      for (const name of presetNames) {
        const preset = yield* loadPreset(name)
        expect(preset.program).toBe(wraps[name])
        expect(preset.timeout_seconds).toBe(3600)
        expect(preset.kill_grace_seconds).toBe(10)
        expect(preset.description.toLowerCase()).toContain(wraps[name])
        expect(preset.prompt_suffix).toContain("./out")
      }
    }))

  it.scopedLive("each preset runs its CLI headless with the prompt and the documented flags", () =>
    Effect.gen(function*() {
      const { root } = yield* jobContext()
      const bin = join(root, "bin")
      yield* Effect.promise(async () => {
        await mkdir(bin)
        for (const name of ["claude", "codex", "gemini"]) await symlink(fixture("fake-agent-cli.sh"), join(bin, name))
      })
      const expected = {
        "claude-code": ["claude", "-p", "<prompt>", "--output-format", "text", "--permission-mode", "acceptEdits"],
        codex: ["codex", "exec", "--skip-git-repo-check", "--sandbox", "workspace-write", "--color", "never", "<prompt>"],
        gemini: ["gemini", "--approval-mode", "yolo", "-p", "<prompt>"]
      } as const
      for (const name of presetNames) {
        const { ctx, outDir } = yield* jobContext()
        const preset = yield* loadPreset(name)
        const onFakePath = new CommandConfig({ ...preset, env: { ...preset.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` } })
        yield* command(onFakePath, agentId, unsandboxed).run(makeJob("Fix the bug"), ctx)
        const argv = (yield* read(join(outDir, "argv.txt"))).split("\0").slice(0, -1)
        const withPrompt = expected[name].map((arg) => arg === "<prompt>" ? `Fix the bug\n\n${preset.prompt_suffix}` : arg)
        expect(argv).toEqual(withPrompt)
        expect(yield* read(join(outDir, "gemini-trust.txt"))).toBe(name === "gemini" ? "true" : "unset")
      }
    }))
})

describe("loadCommandConfig", () => {
  it.scoped("applies defaults and resolves a relative program against the file's directory", () =>
    Effect.gen(function*() {
      const { root } = yield* jobContext()
      const path = join(root, "tool.json")
      yield* Effect.promise(() => writeFile(path, JSON.stringify({ name: "Tool", description: "d", program: "./bin/tool" })))
      const loaded = yield* loadCommandConfig(path)
      expect(loaded.program).toBe(join(root, "bin/tool"))
      expect(loaded.args).toEqual([])
      expect(loaded.prompt_via).toBe("argument")
      expect(loaded.timeout_seconds).toBe(3600)
      expect(loaded.kill_grace_seconds).toBe(10)
      expect(presetPath("codex")).toMatch(/presets\/codex\.json$/)
    }))

  it.effect("a missing file is a CommandConfigError naming the path", () =>
    Effect.gen(function*() {
      const error = yield* loadCommandConfig("/nonexistent/agnt.json").pipe(Effect.flip)
      expect(error._tag).toBe("CommandConfigError")
      expect(error.message).toMatch(/^cannot read command config \/nonexistent\/agnt\.json: ENOENT/)
    }))

  it.scoped("malformed JSON is a CommandConfigError saying so", () =>
    Effect.gen(function*() {
      const { root } = yield* jobContext()
      const path = join(root, "broken.json")
      yield* Effect.promise(() => writeFile(path, "{ \"program\": "))
      const error = yield* loadCommandConfig(path).pipe(Effect.flip)
      expect(error.message).toContain(`command config ${path} is not valid JSON`)
    }))

  it.effect("schema violations are listed by field, unknown keys included", () =>
    Effect.gen(function*() {
      const error = yield* decodeCommandConfig(
        { name: "x", description: "d", program: "p", prompt_via: "pipe", timeout_seconds: -1, timeout: 5 },
        "bad.json"
      ).pipe(Effect.flip)
      expect(error.message).toContain("invalid command config bad.json")
      expect(error.message).toContain("[\"prompt_via\"]")
      expect(error.message).toContain("[\"timeout_seconds\"]")
      expect(error.message).toContain("[\"timeout\"]")
    }))
})

describe("lineSplitter", () => {
  it("splits chunks into lines, strips \\r and caps long lines at 4000 characters", () => {
    const splitter = lineSplitter()
    expect(splitter.push("a\r\nb")).toEqual(["a"])
    expect(splitter.push("c\n")).toEqual(["bc"])
    const long = splitter.push("x".repeat(5000))
    expect(long).toEqual([`${"x".repeat(3999)}…`])
    expect(splitter.push("y".repeat(10) + "\nafter")).toEqual([])
    expect(splitter.flush()).toEqual(["after"])
  })
})
