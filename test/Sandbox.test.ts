/**
 * The sandbox against hostile jobs: a real `agnt-executor run command`
 * (sandboxed, the default) whose program runs each job's prompt as a shell
 * script, so each job is one escape attempt. Each must fail to do what it
 * tries, and the executor must go on serving the next job.
 */
import type { AgentId, JobId } from "@agnt/domain/Ids"
import type { Job } from "@agnt/domain/Job"
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { allProcesses } from "../packages/executor/src/ProcessTable.js"
import { ApiKeys } from "../packages/server/src/ApiKeys.js"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { allEvents, buyerClient, commandAgent, jobWhen, logLines, order, writeCommandExecutor } from "./Executors.js"
import { binPath, run } from "./Processes.js"

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(Layer.provideMerge(FetchHttpClient.layer))

/** The hostile program: each job's prompt, run by `sh -c`, in a sandbox with small limits. */
const hostileSettings = {
  program: "/bin/sh",
  args: ["-c", "{prompt}"],
  prompt_via: "argument",
  timeout_seconds: 15,
  sandbox: { memory_mb: 256, max_processes: 64, max_file_mb: 8, workspace_mb: 16 }
}

const secret = `s3cr3t-${NodeCrypto.randomBytes(8).toString("hex")}`

type Client = Effect.Effect.Success<ReturnType<typeof commandAgent>>["client"]

/** Order `script` as a job and wait until it ends; yields the job and its log lines. */
const attempt = (client: Client, agentId: AgentId, script: string) =>
  Effect.gen(function*() {
    const created = yield* order(client, agentId, script)
    const job: Job = yield* jobWhen(
      client,
      created.job_id,
      (found) => ["completed", "failed", "canceled"].includes(found.status),
      "90 seconds",
      "ended"
    )
    return { job, logs: logLines(yield* allEvents(client, job.job_id)).join("\n") }
  })

/** The result files' paths of `jobId`. */
const resultPaths = (client: Client, jobId: JobId) =>
  Effect.map(client.jobs.result({ path: { job_id: jobId } }), (result) => result.files.map((file) => file.path).sort())

/** Host processes whose command line contains `marker`. */
const processesWith = (marker: string) =>
  (allProcesses() ?? []).filter((stat) => {
    try {
      return NodeFs.readFileSync(`/proc/${stat.pid}/cmdline`, "utf8").includes(marker)
    } catch {
      return false
    }
  })

/** A TCP server on 127.0.0.1 counting the connections it accepts, for the life of the scope. */
const countingListener = Effect.acquireRelease(
  Effect.async<{ readonly server: NodeNet.Server; readonly port: number; readonly accepted: () => number }>((resume) => {
    let accepted = 0
    const server = NodeNet.createServer((socket) => {
      accepted++
      socket.destroy()
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({
        server,
        port: address !== null && typeof address === "object" ? address.port : 0,
        accepted: () => accepted
      }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

layer(TestLive, { excludeTestServices: true, timeout: "300 seconds" })("the sandbox against hostile jobs", (it) => {
  it.scoped("every escape attempt fails, the executor serves the next job, and the manifest says sandboxed", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const apiPort = new URL(url).port
      const secretDir = yield* temporaryDirectory("agnt-secret-")
      const secretFile = NodePath.join(secretDir, "secret.txt")
      NodeFs.writeFileSync(secretFile, secret, { mode: 0o644 })
      NodeFs.chmodSync(secretDir, 0o755)
      const { agentId, client, dir, executorKey, start } = yield* commandAgent("hostile", () => "exit 0", hostileSettings, {
        sandboxed: true,
        env: { AGNT_TEST_SECRET: secret, AWS_SECRET_ACCESS_KEY: secret }
      })
      yield* start()
      const agent = yield* client.agents.get({ path: { agent_id: agentId } })
      expect(agent.sandboxed).toBe(true)

      // The executor's key, environment and config, the seller's home and SSH keys, another folder's secret.
      const snoop = yield* attempt(
        client,
        agentId,
        [
          "env",
          "cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'",
          `cat ${secretFile}`,
          `cat ${NodePath.join(dir, "config", "agnt", "config.json")}`,
          `ls -la ${process.env["HOME"] ?? "/root"} ~/.ssh /root /home`,
          "cat /etc/shadow /etc/ssh/ssh_host_*",
          "exit 0"
        ].join("; ")
      )
      expect(snoop.job.status).toBe("completed")
      expect(snoop.logs).not.toContain(secret)
      expect(snoop.logs).not.toContain(executorKey)
      expect(snoop.logs).toContain("HOME=/job/home")

      // Writing outside the workspace.
      const outside = NodePath.join(secretDir, "written-by-job")
      const write = yield* attempt(client, agentId, `touch /usr/agnt-x /etc/agnt-x ${outside} ${dir}/agnt-x; exit 0`)
      expect(write.job.status).toBe("completed")
      expect(write.logs).toMatch(/Read-only file system|No such file or directory|Permission denied/)
      for (const path of ["/usr/agnt-x", "/etc/agnt-x", outside, NodePath.join(dir, "agnt-x")]) {
        expect(NodeFs.existsSync(path)).toBe(false)
      }

      // The network: the API's port and another local port on 127.0.0.1, a private address.
      const listener = yield* countingListener
      const connect = (host: string, port: number | string) =>
        `node -e "const s=require('net').connect(${port},'${host}');s.on('connect',()=>{console.log('CONNECTED ${host}:${port}');process.exit(0)});` +
        `s.on('error',e=>{console.log('refused ${host}:${port} '+e.code);process.exit(0)});setTimeout(()=>{console.log('timeout ${host}:${port}');process.exit(0)},3000)"`
      const network = yield* attempt(
        client,
        agentId,
        [connect("127.0.0.1", apiPort), connect("127.0.0.1", listener.port), connect("10.0.0.1", 80), "exit 0"].join("; ")
      )
      expect(network.job.status).toBe("completed")
      expect(network.logs).not.toContain("CONNECTED")
      expect(network.logs).toContain(`refused 127.0.0.1:${listener.port}`)
      expect(listener.accepted()).toBe(0)

      // Processes left behind: detached with setsid, nohup, a double fork.
      const marker = `${3000 + Math.floor(Math.random() * 900)}.5`
      const leave = yield* attempt(
        client,
        agentId,
        `setsid sleep ${marker} < /dev/null > /dev/null 2>&1 & nohup sleep ${marker} > /dev/null 2>&1 & (sleep ${marker} &) ; exit 0`
      )
      expect(leave.job.status).toBe("completed")
      expect(processesWith(`sleep ${marker}`)).toEqual([])

      // A fork bomb: held to the process limit, ended with the job.
      const bomb = yield* attempt(client, agentId, "bomb() { bomb | bomb & }; bomb; sleep 5; exit 0")
      expect(["completed", "failed"]).toContain(bomb.job.status)
      expect(processesWith("bomb()")).toEqual([])

      // Memory past the limit.
      const memory = yield* attempt(client, agentId, "node -e \"const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))\"")
      expect(memory.job.status).toBe("failed")
      expect(memory.job.failure_reason).toContain("memory limit of 256 MiB per process")

      // A file of exactly the file size limit, copied (cp asks to write once more at the limit), is allowed;
      // a file past it is not; the job's files past the workspace limit are not.
      const exact = yield* attempt(client, agentId, "head -c 8388608 /dev/zero > /tmp/exact.bin && cp /tmp/exact.bin exact.bin")
      expect(exact.job.status).toBe("completed")
      const bigFile = yield* attempt(client, agentId, "head -c 20000000 /dev/zero > big.bin")
      expect(bigFile.job.status).toBe("failed")
      expect(bigFile.job.failure_reason).toContain("file size limit of 8 MiB")
      const fill = yield* attempt(
        client,
        agentId,
        "for i in 1 2 3 4; do head -c 6000000 /dev/zero > fill$i.bin; done; sleep 30"
      )
      expect(fill.job.status).toBe("failed")
      expect(fill.job.failure_reason).toContain("workspace limit of 16 MiB")

      // Links out of the workspace among the results: never uploaded.
      const links = yield* attempt(
        client,
        agentId,
        "ln -s /etc/passwd out/passwd; mkdir -p out/d; ln -s /etc out/d/etc; echo ok > out/ok.txt"
      )
      expect(links.job.status).toBe("completed")
      expect(yield* resultPaths(client, links.job.job_id)).toEqual(["ok.txt"])

      // And the executor still serves an ordinary job.
      const ordinary = yield* attempt(client, agentId, "echo done > out/done.txt")
      expect(ordinary.job.status).toBe("completed")
      expect(yield* resultPaths(client, ordinary.job.job_id)).toEqual(["done.txt"])
    }))

  it.scoped("with an allow-list, the program's only way out is the egress proxy: a name off the list and an allowed name resolving to 127.0.0.1 are refused", () =>
    Effect.gen(function*() {
      const { agentId, client, start } = yield* commandAgent(
        "egress",
        () => "exit 0",
        { ...hostileSettings, sandbox: { ...hostileSettings.sandbox, network: { allow: ["localhost", "*.example.com"] } } },
        { sandboxed: true }
      )
      yield* start()
      // A CONNECT through $HTTPS_PROXY (the bridge on 127.0.0.1:3128), as an agent CLI's HTTP client sends it.
      const viaProxy = (target: string) =>
        `node -e "const u=new URL(process.env.HTTPS_PROXY);require('http').request({host:u.hostname,port:u.port,method:'CONNECT',path:'${target}'})` +
        `.on('connect',(r)=>{console.log('CONNECT ${target} '+r.statusCode);process.exit(0)}).on('error',e=>{console.log('CONNECT ${target} '+e.code);process.exit(0)}).end()"`
      const egress = yield* attempt(
        client,
        agentId,
        [viaProxy("localhost:443"), viaProxy("example.com:443"), viaProxy("127.0.0.1:443"), viaProxy("evil.test:443"), "exit 0"].join("; ")
      )
      expect(egress.job.status).toBe("completed")
      for (const target of ["localhost:443", "example.com:443", "127.0.0.1:443", "evil.test:443"]) {
        expect(egress.logs).toContain(`CONNECT ${target} 403`)
      }
      expect(egress.logs).toContain("[egress] refused localhost:443: resolves to 127.0.0.1 (loopback)")
    }))

  it.scoped("--no-sandbox runs the program as the executor's user, says so in every job's log and in the manifest", () =>
    Effect.gen(function*() {
      const { agentId, client, start } = yield* commandAgent("open", () => "exit 0", hostileSettings)
      yield* start()
      const agent = yield* client.agents.get({ path: { agent_id: agentId } })
      expect(agent.sandboxed).toBe(false)
      const open = yield* attempt(client, agentId, "echo HOME=$HOME")
      expect(open.job.status).toBe("completed")
      expect(open.logs).toContain("running unsandboxed (--no-sandbox)")
      expect(open.logs).not.toContain("HOME=/job/home")
    }))

  it.scoped("without bubblewrap on the PATH the executor refuses to start, says why and how to fix it, and publishes nothing", () =>
    Effect.gen(function*() {
      const url = yield* serverUrl
      const dir = yield* temporaryDirectory("agnt-no-bwrap-")
      const config = yield* writeCommandExecutor(dir, "nobwrap", "exit 0", {}, { program: "/bin/sh", args: ["-c", "true"] })
      const agentId = makeAgentId()
      const refused = yield* run(binPath("executor", "agnt-executor.js"), [
        "run",
        "command",
        "--agent-id",
        agentId,
        "--config",
        config
      ], {
        cwd: dir,
        env: {
          ...process.env,
          PATH: "/nonexistent",
          XDG_CONFIG_HOME: NodePath.join(dir, "config"),
          AGNT_API_URL: url,
          AGNT_API_KEY: "agnt_executor_unused"
        }
      })
      expect(refused.code).toBe(1)
      const error = JSON.parse(refused.stderr)
      expect(error._tag).toBe("SandboxUnavailable")
      expect(error.message).toContain("bwrap")
      expect(error.message).toContain("--no-sandbox")
      const keys = yield* ApiKeys
      const buyer = yield* buyerClient(url, Redacted.value((yield* keys.create({ role: "buyer" })).key))
      const published = yield* Effect.either(buyer.agents.get({ path: { agent_id: agentId } }))
      expect(published._tag === "Left" && published.left._tag).toBe("AgentNotFound")
    }))
})
