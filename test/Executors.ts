/**
 * Helpers for end-to-end tests of the executor runtime: real `agnt-executor`
 * and `agnt-server` processes, command-executor configs over small shell
 * scripts, the buyer's derived API client, and polling with deadlines.
 */
import { makeApiClient } from "@agnt/client/ApiClient"
import type { AgentId, JobId } from "@agnt/domain/Ids"
import type { Job, JobEvent } from "@agnt/domain/Job"
import { Duration, Effect, Exit, Layer, Redacted, Schedule } from "effect"
import type { ChildProcess } from "node:child_process"
import { once } from "node:events"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { DatabaseLive } from "../packages/server/src/Database.js"
import { freePortPromise } from "../packages/server/src/FreePort.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { ServerConfig } from "../packages/server/src/ServerConfig.js"
import { serverUrl, temporaryDirectory, testSettings } from "../packages/server/src/Testing.js"
import { binPath, daemon, run } from "./Processes.js"

/** A buyer key and an executor key, made straight in the database of `databaseUrl`. */
export const makeKeys = (dataDir: string, databaseUrl: string) =>
  Effect.all([
    Effect.flatMap(ApiKeys, (keys) => keys.create({ role: "buyer" })),
    Effect.flatMap(ApiKeys, (keys) => keys.create({ role: "executor" }))
  ]).pipe(
    Effect.provide(ApiKeys.Default.pipe(
      Layer.provide(DatabaseLive),
      Layer.provide(ServerConfig.make(testSettings(dataDir, databaseUrl)))
    ))
  )

/** A TCP port free on loopback right now. */
export const freePort = Effect.promise(freePortPromise)

/**
 * Write `<dir>/<name>.sh` (the `script` body after `#!/bin/sh`) and
 * `<dir>/<name>.json`, a command config running it with the prompt on
 * stdin and a 1-second kill grace (and any further config `settings`);
 * yields the config's path. The sandbox shows `dir` read-only (opened to
 * every user, so that a sandbox an executor running as root runs as
 * `nobody` can reach the script).
 */
export const writeCommandExecutor = (
  dir: string,
  name: string,
  script: string,
  env: Record<string, string> = {},
  settings: Readonly<Record<string, unknown>> = {}
) =>
  Effect.promise(async () => {
    await NodeFs.chmod(dir, 0o755)
    const program = NodePath.join(dir, `${name}.sh`)
    await NodeFs.writeFile(program, `#!/bin/sh\n${script}\n`, { mode: 0o755 })
    const config = NodePath.join(dir, `${name}.json`)
    await NodeFs.writeFile(
      config,
      JSON.stringify({
        name: `Test ${name}`,
        description: `test executor ${name}`,
        program,
        prompt_via: "stdin",
        env,
        kill_grace_seconds: 1,
        sandbox: { read_only: [dir] },
        ...settings
      })
    )
    return config
  })

/**
 * Run `agnt-executor run command` to its end in `dir` for a new agent,
 * against the API at `url` with a key no API knows (a command executor
 * whose program exits 0); yields how it ended.
 */
export const runWithUnknownKey = (dir: string, url: string) =>
  Effect.gen(function*() {
    const config = yield* writeCommandExecutor(dir, "refused", "exit 0")
    return yield* run(binPath("executor", "agnt-executor.js"), ["run", "command", "--agent-id", makeAgentId(), "--config", config], {
      cwd: dir,
      env: { ...process.env, XDG_CONFIG_HOME: NodePath.join(dir, "config"), AGNT_API_URL: url, AGNT_API_KEY: "agnt_executor_bogus" }
    })
  })

/**
 * Start `agnt-executor run <args>` for the life of the scope (SIGTERM, then
 * SIGKILL, at the end), its state directory `executor-state` in `cwd`
 * unless `env` names one; its output is printed if the test fails.
 * `program` replaces the bin (e.g. a bundle of `npm run build`).
 */
export const startExecutor = (
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly program?: string | undefined }
) =>
  Effect.tap(
    daemon(options.program ?? binPath("executor", "agnt-executor.js"), ["run", ...args], {
      cwd: options.cwd,
      // Its state directory is the test's own unless the test names one.
      env: { AGNT_EXECUTOR_STATE_DIR: NodePath.join(options.cwd, "executor-state"), ...options.env }
    }),
    (executor) =>
      Effect.addFinalizer((exit) =>
        Exit.isFailure(exit) ? Effect.sync(() => console.error(`executor output:\n${executor.output.join("")}`)) : Effect.void
      )
  )

/**
 * Start `agnt-server serve` for the life of the scope and wait until
 * `/healthz` answers. `program` replaces the bin (e.g. a bundle of `npm run build`).
 */
export const startServer = (
  port: number,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly program?: string | undefined }
) =>
  Effect.gen(function*() {
    const server = yield* daemon(options.program ?? binPath("server", "agnt-server.js"), ["serve"], {
      cwd: options.cwd,
      env: { ...options.env, PORT: String(port), HOST: "127.0.0.1" }
    })
    yield* Effect.tryPromise(() =>
      fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }).then((response) =>
        response.ok ? response : Promise.reject(new Error(`HTTP ${response.status}`))
      )
    ).pipe(
      Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds"))),
      Effect.tapError(() => Effect.sync(() => console.error(server.output.join(""))))
    )
    return server
  })

/**
 * A real `agnt-server` process on `databaseUrl` in a fresh work directory
 * (named from `prefix`; its data dir at `<work>/data`, the client config at
 * `<work>/config`), with `env` on top of this process's environment, on a
 * free port. Yields the process, its URL and port, the directories, and the
 * whole environment it got (to start it again the same way). `program`
 * replaces the bin (e.g. a bundle of `npm run build`).
 */
export const startServerOn = (databaseUrl: string, prefix: string, env: Readonly<Record<string, string>> = {}, program?: string) =>
  Effect.gen(function*() {
    const work = yield* temporaryDirectory(prefix)
    const dataDir = NodePath.join(work, "data")
    yield* Effect.promise(() => NodeFs.mkdir(dataDir, { mode: 0o755 }))
    const port = yield* freePort
    const serverEnv: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      AGNT_DATA_DIR: dataDir,
      XDG_CONFIG_HOME: NodePath.join(work, "config"),
      ...env
    }
    const server = yield* startServer(port, { cwd: work, env: serverEnv, program })
    return { server, port, url: `http://127.0.0.1:${port}`, work, dataDir, env: serverEnv }
  })

/** Waits for `child` to exit, at most `within`; yields its exit code and signal. */
export const exitOf = (child: ChildProcess, within: Duration.DurationInput) =>
  Effect.promise(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode }
    const [code, signal] = await once(child, "exit")
    return { code: typeof code === "number" ? code : null, signal: typeof signal === "string" ? signal : null }
  }).pipe(Effect.timeoutFail({
    duration: within,
    onTimeout: () => new Error(`process ${child.pid} still running after ${Duration.format(within)}`)
  }))

/** Kill process group `pgid` with SIGKILL if any of it is left (cleanup after a test). */
export const killGroup = (pgid: number) =>
  Effect.sync(() => {
    try {
      process.kill(-pgid, "SIGKILL")
    } catch {
      // already gone
    }
  })

/** Retry `effect` every 100 ms until `until` holds of its result, at most `within`; `what` names it in the failure. */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  until: (value: A) => boolean,
  options: { readonly within: Duration.DurationInput; readonly what: string }
) =>
  effect.pipe(
    Effect.filterOrFail(until, (value) => new Error(`${options.what}: still ${JSON.stringify(value)}`)),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo(options.within))),
    Effect.mapError((error) => new Error(`not within ${Duration.format(options.within)}: ${options.what} (${String(error)})`))
  )

/** A pid a script wrote to `file`, once it is there. */
export const readPid = (file: string) =>
  eventually(
    Effect.promise(() => NodeFs.readFile(file, "utf8").then((text) => Number.parseInt(text.trim(), 10), () => Number.NaN)),
    (pid) => Number.isInteger(pid) && pid > 0,
    { within: "60 seconds", what: `a pid in ${file}` }
  )

/** The buyer's client: the one derived from the domain API, with `key`. */
export const buyerClient = (baseUrl: string, key: string) => makeApiClient({ baseUrl, key: Redacted.make(key) })

type BuyerClient = Effect.Effect.Success<ReturnType<typeof buyerClient>>

/** Waits until the executor has published `agentId`. */
export const agentPublished = (client: BuyerClient, agentId: AgentId) =>
  eventually(
    client.agents.get({ path: { agent_id: agentId } }).pipe(Effect.either),
    (result) => result._tag === "Right",
    { within: "60 seconds", what: `agent ${agentId} published` }
  )

/** Order a job of `agentId` with `prompt` and no files. */
export const order = (client: BuyerClient, agentId: AgentId, prompt: string) => {
  const form = new FormData()
  form.append("agent_id", agentId)
  form.append("prompt", prompt)
  return client.jobs.create({ headers: {}, payload: form })
}

/** The job, once `until` holds of it (polled), within `within`. */
export const jobWhen = (client: BuyerClient, jobId: JobId, until: (job: Job) => boolean, within: Duration.DurationInput, what: string) =>
  eventually(client.jobs.get({ path: { job_id: jobId } }), until, { within, what: `${jobId} ${what}` })

/** All events of a job, oldest first. */
export const allEvents = (client: BuyerClient, jobId: JobId) =>
  client.jobs.events({ path: { job_id: jobId }, urlParams: { after: 0, limit: 500, wait: 0 } }).pipe(
    Effect.map((page): ReadonlyArray<JobEvent> => page.data)
  )

/** The log lines of a job's `log` events, in order. */
export const logLines = (events: ReadonlyArray<JobEvent>): Array<string> =>
  events.flatMap((event) => event._tag === "Logged" ? event.data.lines : [])

/**
 * On the test server (`serverUrl`, `ApiKeys`): a fresh agent served by a
 * command executor running `script` (given the test's directory), the
 * buyer's client, and how to start the executor (with extra `run` args)
 * until it has published the agent. The executor runs with `--no-sandbox`
 * unless `options.sandboxed`: most of these tests pin what the runtime does
 * with the processes it starts as its own user (their pids, written to the
 * test's directory, are the host's); `test/Sandbox.test.ts` pins the sandbox.
 * `options.env` goes on top of the executor's environment (`AGNT_API_URL`
 * included, e.g. to reach the server through a proxy).
 */
export const commandAgent = (
  name: string,
  script: (dir: string) => string,
  settings: Readonly<Record<string, unknown>> = {},
  options: { readonly sandboxed?: boolean; readonly env?: Readonly<Record<string, string>> } = {}
) =>
  Effect.gen(function*() {
    const url = yield* serverUrl
    const keys = yield* ApiKeys
    const buyerKey = Redacted.value((yield* keys.create({ role: "buyer" })).key)
    const executorKey = Redacted.value((yield* keys.create({ role: "executor" })).key)
    const dir = yield* temporaryDirectory(`agnt-${name}-`)
    const config = yield* writeCommandExecutor(dir, name, script(dir), {}, settings)
    const agentId: AgentId = makeAgentId()
    const client = yield* buyerClient(url, buyerKey)
    const env = {
      ...process.env,
      XDG_CONFIG_HOME: NodePath.join(dir, "config"),
      AGNT_API_URL: url,
      AGNT_API_KEY: executorKey,
      ...options.env
    }
    const start = (...extra: ReadonlyArray<string>) =>
      Effect.tap(
        startExecutor(
          ["command", "--agent-id", agentId, "--config", config, ...(options.sandboxed === true ? [] : ["--no-sandbox"]), ...extra],
          { cwd: dir, env }
        ),
        () => agentPublished(client, agentId)
      )
    return { agentId, buyerKey, client, dir, executorKey, start }
  })
