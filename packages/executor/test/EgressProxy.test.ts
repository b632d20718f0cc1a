import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schedule, Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import * as NodeHttp from "node:http"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { addressRefusal, isIpLiteral, matchesPattern, parseHostPattern } from "../src/Command/EgressPolicy.js"
import {
  bridgeCommand,
  egressBridgeExists,
  egressBridgePath,
  type EgressDecision,
  egressProxy,
  type EgressProxyOptions,
  EgressResolveError,
  proxyEnvironment
} from "../src/Command/EgressProxy.js"
import { isLive, readStat } from "../src/ProcessTable.js"

const client = fileURLToPath(new URL("./fixtures/egress-client.mjs", import.meta.url))

/** Where an allowed name "resolves" in these tests: a public address (once example.com's), routed to a local server by `connect`. */
const publicAddress = "93.184.215.14"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "agnt-egress-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** A server on 127.0.0.1:0, every connection cut when the scope closes. */
const localServer = <S extends NodeNet.Server>(server: S) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        if (server instanceof NodeHttp.Server) server.closeAllConnections()
      })
  )

/** A TCP server that sends back what it reads: the stand-in for an allowed host on the internet. */
const echoServer = Effect.gen(function*() {
  const sockets = new Set<NodeNet.Socket>()
  const server = NodeNet.createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.pipe(socket)
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((socket) => socket.destroy())))
  return yield* localServer(server)
})

/**
 * The proxy in a temporary directory, recording its decisions and every
 * address it dials; `names` stands in for DNS (unset: the system resolver),
 * and every dial goes to `routeTo` on 127.0.0.1, whatever checked address it was for.
 */
const startProxy = (options: {
  readonly allow: ReadonlyArray<string>
  readonly names?: Readonly<Record<string, ReadonlyArray<string>>>
  readonly routeTo?: number
  readonly ports?: ReadonlyArray<number>
  readonly maxConnections?: number
}) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const socketPath = join(dir, "egress.sock")
    const decisions: Array<EgressDecision> = []
    const dialed: Array<string> = []
    const resolved: Array<string> = []
    const names = options.names
    const proxyOptions: EgressProxyOptions = {
      socketPath,
      allow: options.allow,
      onDecision: (decision) => Effect.sync(() => decisions.push(decision)),
      connect: (address, port) => {
        dialed.push(address)
        return NodeNet.connect({ host: "127.0.0.1", port: options.routeTo ?? port })
      },
      ...(options.ports === undefined ? {} : { ports: options.ports }),
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(names === undefined ? {} : {
        resolve: (host: string) =>
          Effect.sync(() => resolved.push(host)).pipe(
            Effect.flatMap(() =>
              host in names ? Effect.succeed(names[host] ?? []) : Effect.fail(new EgressResolveError({ host, code: "ENOTFOUND" }))
            )
          )
      })
    }
    yield* egressProxy(proxyOptions)
    return { dir, socketPath, decisions, dialed, resolved }
  })

interface Finished {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run `file` with `args` to its end. */
const runProcess = (file: string, args: ReadonlyArray<string>) =>
  Effect.async<Finished>((resume) => {
    execFile(file, [...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: typeof error?.code === "number" ? error.code : error === null ? 0 : 1, stdout, stderr })))
  })

/** The fixture client: CONNECT `target` through the proxy at `proxy` (a socket path or a loopback port), then echo `message`. */
const connectThrough = (proxy: string, target: string, message = "ping") => runProcess(process.execPath, [client, proxy, target, message])

const firstLine = (text: string) => text.split("\r\n")[0]

describe("egress policy", () => {
  it("a wildcard matches names strictly below its domain, case-insensitive, never the domain itself or a look-alike", () => {
    const pattern = parseHostPattern("*.Example.com")
    if ("reason" in pattern) throw new Error(pattern.reason)
    expect(["a.example.com", "a.b.example.com"].map((host) => matchesPattern(host, pattern))).toEqual([true, true])
    expect(["example.com", "evil-example.com", "example.com.evil.net", "aexample.com"].map((host) => matchesPattern(host, pattern)))
      .toEqual([false, false, false, false])
    const exact = parseHostPattern("API.anthropic.com.")
    if ("reason" in exact) throw new Error(exact.reason)
    expect(exact).toEqual({ name: "api.anthropic.com", wildcard: false })
  })

  it("an allow-list entry must be a DNS name or *. and one: IP addresses and malformed names are errors", () => {
    for (
      const entry of ["10.0.0.1", "*.169.254.169.254", "[::1]", "*.", "exa mple.com", "*.*.example.com", "a..b", "-a.com", "2130706433"]
    ) {
      expect(parseHostPattern(entry)).toHaveProperty("reason")
    }
  })

  it("IP literals in every form a resolver accepts are recognised as such", () => {
    for (const host of ["127.0.0.1", "169.254.169.254", "[::1]", "::1", "10.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1"]) {
      expect(isIpLiteral(host), host).toBe(true)
    }
    expect(isIpLiteral("api.anthropic.com")).toBe(false)
  })

  it("refuses loopback, unspecified, private, CGNAT, link-local, metadata, multicast, reserved and IPv4-in-IPv6 forms of them", () => {
    const internal = [
      "127.0.0.1",
      "127.255.0.9",
      "0.0.0.0",
      "10.0.0.1",
      "172.16.5.4",
      "172.31.255.255",
      "192.168.1.1",
      "100.64.0.1",
      "100.100.100.200",
      "169.254.169.254",
      "169.254.170.2",
      "168.63.129.16",
      "224.0.0.1",
      "255.255.255.255",
      "240.0.0.1",
      "192.0.2.1",
      "198.18.0.1",
      "::1",
      "::",
      "fc00::1",
      "fd00:ec2::254",
      "fe80::1",
      "fec0::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:169.254.169.254",
      "::ffff:10.1.2.3",
      "64:ff9b::a9fe:a9fe",
      "64:ff9b::7f00:1",
      "::7f00:1",
      "2002:7f00:1::1",
      "2001:db8::1",
      "2001::1",
      "not-an-address"
    ]
    expect(internal.filter((address) => addressRefusal(address) === undefined)).toEqual([])
    expect(addressRefusal("169.254.169.254")).toBe("linkLocal")
    expect(addressRefusal("::ffff:127.0.0.1")).toBe("loopback")
    expect(addressRefusal("fd00:ec2::254")).toBe("uniqueLocal")
  })

  it("passes public unicast addresses, IPv4, IPv6 and a NAT64 form of a public IPv4 address", () => {
    const publicAddresses = [
      publicAddress,
      "8.8.8.8",
      "172.32.0.1",
      "100.128.0.1",
      "2606:4700:4700::1111",
      "::ffff:8.8.8.8",
      "64:ff9b::808:808"
    ]
    expect(publicAddresses.map((address) => [address, addressRefusal(address)])).toEqual(
      publicAddresses.map((address) => [address, undefined])
    )
  })
})

describe("egress proxy", () => {
  it.scoped("tunnels CONNECT to an allowed name, connecting to the address it checked", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const proxy = yield* startProxy({ allow: ["api.example.com"], names: { "api.example.com": [publicAddress] }, routeTo: echo })
      const result = yield* connectThrough(proxy.socketPath, "API.Example.com:443", "hello through the tunnel")
      expect(firstLine(result.stdout)).toBe("HTTP/1.1 200 Connection Established")
      expect(result.stdout.endsWith("\r\n\r\nhello through the tunnel")).toBe(true)
      expect(proxy.dialed).toEqual([publicAddress])
      expect(proxy.decisions).toEqual([{
        host: "api.example.com",
        port: 443,
        allowed: true,
        reason: `on the allow-list as api.example.com, resolves to ${publicAddress}`,
        addresses: [publicAddress]
      }])
    }))

  it.scoped("resolves a name once and dials the checked address, so a second DNS answer (rebinding) is never used", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const proxy = yield* startProxy({ allow: ["*.example.com"], names: { "a.example.com": [publicAddress] }, routeTo: echo })
      yield* connectThrough(proxy.socketPath, "a.example.com:443")
      expect(proxy.resolved).toEqual(["a.example.com"])
      expect(proxy.dialed).toEqual([publicAddress])
    }))

  it.scoped("forwards a plain HTTP request with an absolute URI to an allowed name, without hop-by-hop headers", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly url: string | undefined; readonly headers: NodeHttp.IncomingHttpHeaders }> = []
      const origin = yield* localServer(NodeHttp.createServer((request, response) => {
        seen.push({ url: request.url, headers: request.headers })
        response.end("plain answer")
      }))
      const proxy = yield* startProxy({ allow: ["plain.example.com"], names: { "plain.example.com": [publicAddress] }, routeTo: origin })
      const answer = yield* Effect.async<{ readonly status: number | undefined; readonly body: string }>((resume) => {
        NodeHttp.get({
          socketPath: proxy.socketPath,
          path: "http://plain.example.com/path?q=1",
          headers: { host: "plain.example.com", "proxy-authorization": "Basic c2VjcmV0", "x-kept": "yes" }
        }, (response) => {
          let body = ""
          response.setEncoding("utf8").on("data", (text: string) => (body += text))
          response.on("end", () => resume(Effect.succeed({ status: response.statusCode, body })))
        })
      })
      expect(answer).toEqual({ status: 200, body: "plain answer" })
      expect(seen.map(({ headers, url }) => [url, headers.host, headers["x-kept"], headers["proxy-authorization"]]))
        .toEqual([["/path?q=1", "plain.example.com", "yes", undefined]])
    }))

  it.scoped("refuses a name not on the allow-list with 403 and the reason, without resolving it", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({ allow: ["api.anthropic.com", "*.example.com"], names: { "evil.test": [publicAddress] } })
      const result = yield* connectThrough(proxy.socketPath, "evil.test:443")
      expect(firstLine(result.stdout)).toBe("HTTP/1.1 403 Forbidden")
      expect(result.stdout).toContain("agnt egress proxy refused CONNECT evil.test:443: not on the agent's allow-list")
      expect(proxy.resolved).toEqual([])
      expect(proxy.decisions).toEqual([{
        host: "evil.test",
        port: 443,
        allowed: false,
        reason: "not on the agent's allow-list",
        addresses: []
      }])
    }))

  it.scoped("refuses an allowed name that the system resolver maps to 127.0.0.1 (the hosts file's localhost)", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({ allow: ["localhost"] })
      const result = yield* connectThrough(proxy.socketPath, "localhost:443")
      expect(firstLine(result.stdout)).toBe("HTTP/1.1 403 Forbidden")
      expect(result.stdout).toContain("127.0.0.1 (loopback)")
      expect(result.stdout).toContain("which no job may reach")
      expect(proxy.dialed).toEqual([])
    }))

  it.scoped("refuses an allowed name when any one of its addresses is internal (metadata beside a public one)", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({
        allow: ["*.example.com"],
        names: { "mixed.example.com": [publicAddress, "169.254.169.254"], "v6.example.com": ["::ffff:10.0.0.7"] }
      })
      const mixed = yield* connectThrough(proxy.socketPath, "mixed.example.com:443")
      expect(mixed.stdout).toContain("resolves to 169.254.169.254 (linkLocal), which no job may reach")
      const mapped = yield* connectThrough(proxy.socketPath, "v6.example.com:443")
      expect(mapped.stdout).toContain("resolves to ::ffff:10.0.0.7 (private)")
      expect(proxy.dialed).toEqual([])
    }))

  it.scoped("refuses IP literals, loopback, metadata, IPv6 and private alike, and a port not allowed", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({ allow: ["*.example.com", "api.example.com"], names: { "api.example.com": [publicAddress] } })
      for (const target of ["127.0.0.1:443", "169.254.169.254:80", "[::1]:443", "10.0.0.1:443", "2130706433:443", "[fd00:ec2::254]:80"]) {
        const result = yield* connectThrough(proxy.socketPath, target)
        expect(result.stdout, target).toContain(`refused CONNECT ${target}: an IP address`)
      }
      const ssh = yield* connectThrough(proxy.socketPath, "api.example.com:22")
      expect(ssh.stdout).toContain("port 22 is not allowed (allowed: 443, 80)")
      expect(proxy.resolved).toEqual([])
      expect(proxy.dialed).toEqual([])
      expect(proxy.decisions.every((decision) => !decision.allowed)).toBe(true)
    }), 30_000)

  it.scoped("refuses a plain HTTP request to an IP literal and answers 400 to a request that is not for a proxy", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({ allow: ["*.example.com"], names: {} })
      const get = (path: string) =>
        Effect.async<{ readonly status: number | undefined; readonly body: string }>((resume) => {
          NodeHttp.get({ socketPath: proxy.socketPath, path }, (response) => {
            let body = ""
            response.setEncoding("utf8").on("data", (text: string) => (body += text))
            response.on("end", () => resume(Effect.succeed({ status: response.statusCode, body })))
          })
        })
      const metadata = yield* get("http://169.254.169.254/latest/meta-data/")
      expect(metadata.status).toBe(403)
      expect(metadata.body).toContain("an IP address")
      expect((yield* get("/latest/meta-data/")).status).toBe(400)
    }))

  it.scoped("closes connections past its limit unanswered while the open ones go on", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const proxy = yield* startProxy({
        allow: ["api.example.com"],
        names: { "api.example.com": [publicAddress] },
        routeTo: echo,
        maxConnections: 1
      })
      const first = NodeNet.connect(proxy.socketPath)
      yield* Effect.addFinalizer(() => Effect.sync(() => first.destroy()))
      yield* Effect.async<void>((resume) => {
        first.write("CONNECT api.example.com:443 HTTP/1.1\r\n\r\n")
        first.once("data", () => resume(Effect.void))
      })
      const second = yield* connectThrough(proxy.socketPath, "api.example.com:443")
      expect(second.stdout).not.toContain("HTTP/1.1")
      const echoed = yield* Effect.async<string>((resume) => {
        first.once("data", (data) => resume(Effect.succeed(data.toString())))
        first.write("still open")
      })
      expect(echoed).toBe("still open")
    }))

  it.effect("fails to start on an allow-list entry that is not a name, saying which", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.scoped(
        Effect.flatMap(tempDir, (dir) => egressProxy({ socketPath: join(dir, "egress.sock"), allow: ["api.anthropic.com", "10.0.0.1"] }))
      ).pipe(Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("10.0.0.1")
    }))

  it.effect("closing its scope ends open tunnels and removes the socket file", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const echo = yield* echoServer.pipe(Scope.extend(outer))
      const inner = yield* Scope.make()
      const proxy = yield* startProxy({ allow: ["api.example.com"], names: { "api.example.com": [publicAddress] }, routeTo: echo }).pipe(
        Scope.extend(inner)
      )
      const tunnel = NodeNet.connect(proxy.socketPath)
      yield* Effect.async<void>((resume) => {
        tunnel.write("CONNECT api.example.com:443 HTTP/1.1\r\n\r\n")
        tunnel.once("data", () => resume(Effect.void))
      })
      const closed = new Promise<void>((resolve) => tunnel.once("close", () => resolve()))
      yield* Scope.close(inner, Exit.void)
      yield* Effect.promise(() => closed)
      expect(existsSync(proxy.socketPath)).toBe(false)
      yield* Scope.close(outer, Exit.void)
    }))
})

describe("egress bridge", () => {
  /** A port on 127.0.0.1 that was free a moment ago. */
  const freePort = localServer(NodeNet.createServer()).pipe(Effect.scoped)

  it("is found beside the module, and its environment points every proxy variable at it", () => {
    expect(egressBridgeExists()).toBe(true)
    expect(proxyEnvironment(3128)).toMatchObject({
      HTTPS_PROXY: "http://127.0.0.1:3128",
      http_proxy: "http://127.0.0.1:3128",
      NO_PROXY: ""
    })
    expect(bridgeCommand({ socketPath: "/run/egress.sock", port: 3128, program: "claude", args: ["-p", "hi"] }))
      .toEqual([process.execPath, egressBridgePath, "/run/egress.sock", "3128", "--", "claude", "-p", "hi"])
  })

  it.scoped(
    "a real bridge process carries a program's CONNECT to the proxy and exits with the program's code",
    () =>
      Effect.gen(function*() {
        const echo = yield* echoServer
        const proxy = yield* startProxy({ allow: ["api.example.com"], names: { "api.example.com": [publicAddress] }, routeTo: echo })
        const port = yield* freePort
        const [command, ...args] = bridgeCommand({
          socketPath: proxy.socketPath,
          port,
          program: process.execPath,
          args: [client, String(port), "api.example.com:443", "over the bridge"]
        })
        const result = yield* runProcess(command ?? "", args)
        expect(firstLine(result.stdout)).toBe("HTTP/1.1 200 Connection Established")
        expect(result.stdout.endsWith("over the bridge")).toBe(true)
        const failing = yield* runProcess(process.execPath, [egressBridgePath, proxy.socketPath, String(port), "--", "sh", "-c", "exit 3"])
        expect(failing.code).toBe(3)
      }),
    30_000
  )

  it.scopedLive("started with & by a shell, it serves until that shell ends, then exits", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({ allow: [], names: {} })
      const port = yield* freePort
      const shell = spawn("sh", [
        "-c",
        `"$0" "$1" "$2" "$3" & echo $!; read _`,
        process.execPath,
        egressBridgePath,
        proxy.socketPath,
        String(port)
      ], {
        stdio: ["pipe", "pipe", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => shell.kill("SIGKILL")))
      const bridge = yield* Effect.async<number>((resume) => {
        shell.stdout.once("data", (data) => resume(Effect.succeed(Number(data.toString().trim()))))
      })
      // Serving: a refusal from the proxy comes back through it (retried until it listens).
      const served = yield* connectThrough(String(port), "anything.example.com:443").pipe(
        Effect.filterOrFail((result) => result.stdout.startsWith("HTTP/1.1"), (result) => new Error(`not served yet: ${result.stdout}`)),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 }),
        Effect.orDie
      )
      expect(firstLine(served.stdout)).toBe("HTTP/1.1 403 Forbidden")
      shell.stdin.end()
      const alive = () => {
        const stat = readStat(bridge)
        return stat !== undefined && isLive(stat)
      }
      yield* Effect.sync(alive).pipe(Effect.repeat({ while: (live) => live, schedule: Schedule.spaced("100 millis"), times: 100 }))
      expect(alive()).toBe(false)
    }), 30_000)

  const sandbox = (dir: string, inside: ReadonlyArray<string>) =>
    runProcess("bwrap", [
      "--unshare-all",
      "--die-with-parent",
      "--ro-bind",
      "/",
      "/",
      "--bind",
      dir,
      dir,
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--",
      ...inside
    ])

  it.scoped(
    "inside a bwrap sandbox with only loopback, the bridge is the way to the proxy, and to nothing else",
    () =>
      Effect.gen(function*() {
        const echo = yield* echoServer
        const proxy = yield* startProxy({ allow: ["api.example.com"], names: { "api.example.com": [publicAddress] }, routeTo: echo })
        const behindBridge = (target: string) =>
          sandbox(
            proxy.dir,
            bridgeCommand({
              socketPath: proxy.socketPath,
              port: 3128,
              program: process.execPath,
              args: [client, "3128", target, "sandboxed"]
            })
          )
        const allowed = yield* behindBridge("api.example.com:443")
        expect(firstLine(allowed.stdout)).toBe("HTTP/1.1 200 Connection Established")
        expect(allowed.stdout.endsWith("sandboxed")).toBe(true)
        const refused = yield* behindBridge("169.254.169.254:80")
        expect(firstLine(refused.stdout)).toBe("HTTP/1.1 403 Forbidden")
        // No bridge: nothing listens on the sandbox's own loopback, and the host's loopback (the echo server) is out of reach.
        const noBridge = yield* sandbox(proxy.dir, [process.execPath, client, "3128", "api.example.com:443"])
        expect(noBridge.stdout).toBe("error ECONNREFUSED\n")
        const hostLoopback = yield* sandbox(proxy.dir, [process.execPath, client, String(echo), "api.example.com:443"])
        expect(hostLoopback.stdout).toBe("error ECONNREFUSED\n")
      }),
    30_000
  )
})
