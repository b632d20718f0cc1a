/**
 * What the egress proxy adds to a sandboxed program's connection: the time
 * from opening a connection to the first byte echoed back through it, over
 * N connections one after another (median, p90), for
 *
 * - direct: TCP to a local echo server (the baseline: no proxy);
 * - proxy: `CONNECT` over the proxy's Unix socket, the 200, then the byte
 *   (the name "resolves" through a stand-in resolver, so no DNS time is in
 *   it; a real lookup adds the resolver's own time once per connection);
 * - bridge + proxy: the same through the bridge script on 127.0.0.1, as a
 *   program inside the sandbox connects;
 *
 * and what the bridge adds to a job's start: `node egress-bridge.mjs … --
 * true` beside `true` alone and `node -e 0` (median over N_START runs).
 *
 *   npx tsx bench/egress.ts            # N=100, N_START=10
 *   N=500 npx tsx bench/egress.ts
 */
import { Config, Console, Effect, Schedule } from "effect"
import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import * as NodePath from "node:path"
import { egressBridgePath, egressProxy } from "../packages/executor/src/Command/EgressProxy.js"
import { percentile, runIfMain } from "./Bench.js"

const listening = (server: NodeNet.Server, port: number, host: string) =>
  new Promise<void>((resolve) => server.listen(port, host, () => resolve()))

/** Milliseconds from `open()` to one byte written and echoed back; `prelude` runs first on the open socket. */
const roundTrip = (open: () => NodeNet.Socket, prelude: string | undefined) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now()
    const socket = open()
    let received = ""
    socket.setEncoding("utf8")
    socket.on("error", reject)
    socket.on("connect", () => socket.write(prelude ?? "x"))
    socket.on("data", (text: string) => {
      received += text
      if (prelude !== undefined && received.startsWith("HTTP/1.1 200") && received.endsWith("\r\n\r\n")) socket.write("x")
      if (received.endsWith("x")) {
        resolve(performance.now() - started)
        socket.destroy()
      }
    })
  })

const series = async (n: number, sample: () => Promise<number>) => {
  const samples: Array<number> = []
  for (let i = 0; i < n; i++) samples.push(await sample())
  return samples.sort((a, b) => a - b)
}

const runToEnd = (file: string, args: ReadonlyArray<string>) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now()
    execFile(file, [...args], (error) => (error === null ? resolve(performance.now() - started) : reject(error)))
  })

const line = (name: string, sorted: ReadonlyArray<number>, baseline?: ReadonlyArray<number>) => {
  const median = percentile(sorted, 50)
  const added = baseline === undefined ? "" : `  (+${(median - percentile(baseline, 50)).toFixed(2)} ms)`
  return `${name.padEnd(28)} median ${median.toFixed(2)} ms  p90 ${percentile(sorted, 90).toFixed(2)} ms${added}`
}

const connect = "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"

/** A port on 127.0.0.1 that was free a moment ago. */
const freePort = async () => {
  const server = NodeNet.createServer()
  await listening(server, 0, "127.0.0.1")
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  return typeof address === "object" && address !== null ? address.port : 0
}

const program = Effect.gen(function*() {
  const n = yield* Config.integer("N").pipe(Config.withDefault(100))
  const nStart = yield* Config.integer("N_START").pipe(Config.withDefault(10))
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(NodePath.join(tmpdir(), "agnt-bench-egress-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  const echo = NodeNet.createServer((socket) => socket.pipe(socket))
  yield* Effect.acquireRelease(Effect.promise(() => listening(echo, 0, "127.0.0.1")), () => Effect.sync(() => echo.close()))
  const address = echo.address()
  const echoPort = typeof address === "object" && address !== null ? address.port : 0
  const socketPath = NodePath.join(dir, "egress.sock")
  yield* egressProxy({
    socketPath,
    allow: ["api.example.com"],
    resolve: () => Effect.succeed(["93.184.215.14"]),
    connect: () => NodeNet.connect({ host: "127.0.0.1", port: echoPort })
  })
  const bridgePort = yield* Effect.promise(freePort)
  const bridge = execFile(process.execPath, [egressBridgePath, socketPath, String(bridgePort)])
  yield* Effect.addFinalizer(() => Effect.sync(() => bridge.kill()))
  // Started: when a connection to its port is accepted.
  yield* Effect.tryPromise(() => roundTrip(() => NodeNet.connect(bridgePort, "127.0.0.1"), connect)).pipe(
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
    Effect.orDie
  )
  const direct = yield* Effect.promise(() => series(n, () => roundTrip(() => NodeNet.connect(echoPort, "127.0.0.1"), undefined)))
  const proxied = yield* Effect.promise(() => series(n, () => roundTrip(() => NodeNet.connect(socketPath), connect)))
  const bridged = yield* Effect.promise(() => series(n, () => roundTrip(() => NodeNet.connect(bridgePort, "127.0.0.1"), connect)))
  const bare = yield* Effect.promise(() => series(nStart, () => runToEnd("true", [])))
  const node = yield* Effect.promise(() => series(nStart, () => runToEnd(process.execPath, ["-e", "0"])))
  const startPort = yield* Effect.promise(freePort)
  const wrapped = yield* Effect.promise(() =>
    series(nStart, () => runToEnd(process.execPath, [egressBridgePath, socketPath, String(startPort), "--", "true"]))
  )
  yield* Console.log(`connect → first byte echoed, ${n} connections one after another (Node ${process.version})`)
  yield* Console.log(line("direct TCP (baseline)", direct))
  yield* Console.log(line("proxy (Unix socket)", proxied, direct))
  yield* Console.log(line("bridge + proxy", bridged, direct))
  yield* Console.log(`program start, ${nStart} runs`)
  yield* Console.log(line("true (baseline)", bare))
  yield* Console.log(line("node -e 0", node, bare))
  yield* Console.log(line("bridge -- true", wrapped, bare))
}).pipe(Effect.scoped)

runIfMain(import.meta.url, program)
