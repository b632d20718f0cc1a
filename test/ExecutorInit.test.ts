/**
 * `agnt-executor init` writes an executor that works as written: start it
 * with the command `init` prints, order a job with `agnt order --wait`,
 * and the result comes back.
 */
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { agentPublished, buyerClient } from "./Executors.js"
import { binPath, daemon, run } from "./Processes.js"

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

describe("agnt-executor init", () => {
  it.scopedLive("writes a command executor that, started with the printed command, completes a job ordered with agnt order --wait", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const work = yield* temporaryDirectory("agnt-init-")
      const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url }

      const init = yield* run(binPath("executor", "agnt-executor.js"), ["init", "hello", "--dir", "agents"], { cwd: work, env })
      expect(init.code).toBe(0)
      const config = JSON.parse(yield* Effect.promise(() => NodeFs.readFile(NodePath.join(work, "agents", "hello.executor.json"), "utf8")))
      expect(config.agent_id).toMatch(/^agent_[0-7][0-9a-hjkmnp-tv-z]{25}$/)
      expect(config.program).toBe("./hello.sh")
      const mode = (yield* Effect.promise(() => NodeFs.stat(NodePath.join(work, "agents", "hello.sh")))).mode
      expect(mode & 0o111).not.toBe(0)

      const printed = init.stdout.split("\n").map((line) => line.trim()).find((line) => line.startsWith("npx agnt-executor run "))
      // No --agent-id: the config holds the agent's id.
      expect(printed).toBe("npx agnt-executor run command --config ./agents/hello.executor.json")
      const args = (printed ?? "").split(" ").slice(2)
      const executor = yield* daemon(binPath("executor", "agnt-executor.js"), args, {
        cwd: work,
        env: { ...env, AGNT_API_KEY: executorKey }
      })
      const client = yield* buyerClient(url, buyerKey)
      yield* agentPublished(client, config.agent_id).pipe(
        Effect.tapError(() => Effect.sync(() => console.error(executor.output.join(""))))
      )

      const again = yield* run(binPath("executor", "agnt-executor.js"), ["init", "hello", "--dir", "agents"], { cwd: work, env })
      expect(again.code).toBe(1)
      expect(again.stderr).toContain("exists")

      const out = NodePath.join(work, "results")
      const ordered = yield* run(binPath("cli", "agnt.js"), [
        "order",
        config.agent_id,
        "--prompt",
        "hello from the test",
        "--wait",
        "--out",
        out
      ], { cwd: work, env: { ...env, AGNT_API_KEY: buyerKey } })
      if (ordered.code !== 0) console.error(ordered.stderr, executor.output.join(""))
      expect(ordered.code).toBe(0)
      expect(JSON.parse(ordered.stdout).job.status).toBe("completed")
      const result = yield* Effect.promise(() => NodeFs.readFile(NodePath.join(out, "result.md"), "utf8"))
      expect(result).toContain("hello from the test")
    }).pipe(Effect.scoped, Effect.provide(TestLive))) // processes stop before the server does

  it.scopedLive("init --repo writes an agent whose repo job comes back, through agnt result --apply, as a branch with its commit", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const keys = yield* ApiKeys
      const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
      const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
      const work = yield* temporaryDirectory("agnt-init-repo-")
      const env = { ...process.env, XDG_CONFIG_HOME: NodePath.join(work, "config"), AGNT_API_URL: url }
      const init = yield* run(binPath("executor", "agnt-executor.js"), ["init", "noter", "--repo", "--dir", "agents"], { cwd: work, env })
      expect(init.code).toBe(0)
      const config = JSON.parse(yield* Effect.promise(() => NodeFs.readFile(NodePath.join(work, "agents", "noter.executor.json"), "utf8")))
      expect(config.description).toContain("for repo jobs")
      const script = yield* Effect.promise(() => NodeFs.readFile(NodePath.join(work, "agents", "noter.sh"), "utf8"))
      expect(script).toContain(`printf -- '- %s\\n' "$prompt" >> AGNT_NOTES.md`)
      const executor = yield* daemon(binPath("executor", "agnt-executor.js"), [
        "run",
        "command",
        "--config",
        "./agents/noter.executor.json"
      ], {
        cwd: work,
        env: { ...env, AGNT_API_KEY: executorKey }
      })
      yield* agentPublished(yield* buyerClient(url, buyerKey), config.agent_id).pipe(
        Effect.tapError(() => Effect.sync(() => console.error(executor.output.join(""))))
      )
      const repo = NodePath.join(work, "repo")
      const git = (...args: ReadonlyArray<string>) => run("/usr/bin/env", ["git", ...args], { cwd: repo, env: gitEnv })
      const gitEnv = {
        ...process.env,
        GIT_AUTHOR_NAME: "B",
        GIT_AUTHOR_EMAIL: "b@example.com",
        GIT_COMMITTER_NAME: "B",
        GIT_COMMITTER_EMAIL: "b@example.com"
      }
      yield* Effect.promise(() => NodeFs.mkdir(repo))
      yield* git("init", "-q")
      yield* Effect.promise(() => NodeFs.writeFile(NodePath.join(repo, "README.md"), "hello\n"))
      yield* git("add", "-A")
      yield* git("commit", "-q", "-m", "Initial")
      const buyerEnv = { ...env, AGNT_API_KEY: buyerKey }
      const ordered = yield* run(binPath("cli", "agnt.js"), ["order", config.agent_id, "--repo", "--prompt", "remember this", "--wait"], {
        cwd: repo,
        env: buyerEnv
      })
      if (ordered.code !== 0) console.error(ordered.stderr, executor.output.join(""))
      expect(ordered.code).toBe(0)
      const job = JSON.parse(ordered.stdout)
      const applied = yield* run(binPath("cli", "agnt.js"), ["result", job.job_id, "--apply"], { cwd: repo, env: buyerEnv })
      expect(applied.code, applied.stderr).toBe(0)
      const notes = yield* git("show", `agnt/${job.job_id}:AGNT_NOTES.md`)
      expect(notes.stdout).toBe("- remember this\n")
      const subject = yield* git("log", "-1", "--format=%s", `agnt/${job.job_id}`)
      expect(subject.stdout.trim()).toBe("noter: note the request")
    }).pipe(Effect.scoped, Effect.provide(TestLive)))
})
