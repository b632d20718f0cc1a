/**
 * The filtering proxy that is a sandboxed job's only way out: an HTTP proxy
 * on a Unix domain socket (bind-mounted into the job's sandbox, which has no
 * network but loopback) that reaches only the hosts on the agent's
 * allow-list and never an internal address (the rules: `EgressPolicy.ts`).
 *
 * - `CONNECT host:port` (what HTTPS clients send to an `HTTPS_PROXY`) opens a
 *   TCP tunnel after the checks; the TLS inside stays end to end.
 * - A request with an absolute `http://` URI (what clients send to an
 *   `HTTP_PROXY` for plain HTTP) is forwarded after the same checks, with the
 *   hop-by-hop headers (RFC 9110 §7.6.1) dropped.
 * - Anything else gets 400.
 *
 * The proxy resolves the name itself (every address, `/etc/hosts` then DNS
 * like any program on the host), refuses the request if ANY answer is not
 * public, and connects to the address it checked — a second resolution that
 * could answer differently (DNS rebinding) never happens. A refusal is a
 * 403 whose body is one line naming the host and the reason; each decision
 * is also handed to `onDecision`.
 *
 * Inside the sandbox a program reaches the socket through the bridge script
 * (`egressBridgePath`, `bridgeCommand`) listening on 127.0.0.1, with
 * `proxyEnvironment(port)` pointing its HTTP clients there.
 */
import { Data, Duration, Effect, FiberSet, type Scope } from "effect"
import * as NodeDns from "node:dns"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeNet from "node:net"
import type { Duplex } from "node:stream"
import { besideModule } from "../Assets.js"
import { addressRefusal, type HostPattern, isIpLiteral, matchesPattern, normalizeHostName, parseHostPattern } from "./EgressPolicy.js"

/** One request's verdict, as handed to `onDecision`. */
export interface EgressDecision {
  /** The host as the program asked for it (a name lower-cased, or the IP literal as written). */
  readonly host: string
  readonly port: number
  readonly allowed: boolean
  /** One sentence: why refused, or which allow-list entry let it through and where it goes. */
  readonly reason: string
  /** What the name resolved to (every address, in the resolver's order); empty when it was not resolved. */
  readonly addresses: ReadonlyArray<string>
}

/** What `egressProxy` starts. */
export interface EgressProxyOptions {
  /** Where to listen; the file must not exist (the sandbox's directory for it is the caller's). Removed on close. */
  readonly socketPath: string
  /** DNS names and `*.` wildcards (see `EgressPolicy.ts`); empty refuses everything. */
  readonly allow: ReadonlyArray<string>
  /** TCP ports that may be reached; default `defaultEgressPorts`. */
  readonly ports?: ReadonlyArray<number>
  /**
   * Most connections open at once (tunnels included); more are closed at
   * once, unanswered. Default `defaultEgressMaxConnections`. A job cannot
   * exhaust the executor's file descriptors through its proxy.
   */
  readonly maxConnections?: number
  /** Told every decision (e.g. to put refusals in the job's log); default: nothing. */
  readonly onDecision?: (decision: EgressDecision) => Effect.Effect<void>
  /**
   * Name → addresses; default `lookupAll` (the system resolver). The answer
   * is checked by the same rules whatever gives it.
   */
  readonly resolve?: (host: string) => Effect.Effect<ReadonlyArray<string>, EgressResolveError>
  /**
   * Opens the TCP connection to an address that passed the checks; default
   * `net.connect` to exactly that address. It cannot change what is allowed:
   * it is only ever given checked addresses (tests route one to a local server).
   */
  readonly connect?: (address: string, port: number) => NodeNet.Socket
}

/** A running proxy (for the life of its scope). */
export interface EgressProxy {
  readonly socketPath: string
}

/** HTTPS and HTTP. */
export const defaultEgressPorts: ReadonlyArray<number> = [443, 80]

/** Connections one job's proxy holds at once, unless told otherwise. */
export const defaultEgressMaxConnections = 256

/** Longest wait for a name's addresses, then for a TCP connection to one of them. */
export const egressResolveTimeout = Duration.seconds(10)
export const egressConnectTimeout = Duration.seconds(10)

/** Allow-list entries that are not DNS names or `*.` wildcards, each with its reason. */
export class EgressAllowListError extends Data.TaggedError("EgressAllowListError")<{
  readonly entries: ReadonlyArray<{ readonly entry: string; readonly reason: string }>
}> {
  override get message() {
    return `invalid egress allow-list entries: ${this.entries.map(({ entry, reason }) => `"${entry}" (${reason})`).join(", ")}`
  }
}

/** The proxy could not listen at `socketPath` (`code`: `EADDRINUSE`, `EACCES`, `ENOENT`, …). */
export class EgressListenError extends Data.TaggedError("EgressListenError")<{
  readonly socketPath: string
  readonly code: string | undefined
  readonly message: string
}> {}

/** A name did not resolve (`code`: `ENOTFOUND`, `EAI_AGAIN`, …, or `ETIMEOUT`). */
export class EgressResolveError extends Data.TaggedError("EgressResolveError")<{
  readonly host: string
  readonly code: string | undefined
}> {}

class ConnectFailure extends Data.TaggedError("ConnectFailure")<{ readonly code: string | undefined }> {}

const errorCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : undefined

/** The system resolver (`getaddrinfo`: `/etc/hosts`, then DNS), every address in its order. */
export const lookupAll = (host: string): Effect.Effect<ReadonlyArray<string>, EgressResolveError> =>
  Effect.tryPromise({
    try: () => NodeDns.promises.lookup(host, { all: true, verbatim: true }),
    catch: (cause) => new EgressResolveError({ host, code: errorCode(cause) })
  }).pipe(
    Effect.map((answers) => answers.map(({ address }) => address)),
    Effect.timeoutFail({ duration: egressResolveTimeout, onTimeout: () => new EgressResolveError({ host, code: "ETIMEOUT" }) })
  )

const parseAllowList = (allow: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<HostPattern>, EgressAllowListError> => {
  const parsed = allow.map(parseHostPattern)
  const invalid = parsed.flatMap((pattern) => "reason" in pattern ? [pattern] : [])
  return invalid.length > 0
    ? Effect.fail(new EgressAllowListError({ entries: invalid }))
    : Effect.succeed(parsed.flatMap((pattern) => "reason" in pattern ? [] : [pattern]))
}

/** The decision's checks that need no resolver: port, IP literal, name syntax, allow-list. */
const preCheck = (
  patterns: ReadonlyArray<HostPattern>,
  ports: ReadonlyArray<number>,
  host: string,
  port: number
): { readonly refused: string } | { readonly name: string; readonly entry: string } => {
  if (!ports.includes(port)) return { refused: `port ${port} is not allowed (allowed: ${ports.join(", ")})` }
  if (isIpLiteral(host)) return { refused: "an IP address; only host names on the agent's allow-list are reached" }
  const name = normalizeHostName(host)
  if (name === undefined) return { refused: "not a host name" }
  const pattern = patterns.find((candidate) => matchesPattern(name, candidate))
  if (pattern === undefined) return { refused: "not on the agent's allow-list" }
  return { name, entry: pattern.wildcard ? `*.${pattern.name}` : pattern.name }
}

const decide = (
  patterns: ReadonlyArray<HostPattern>,
  ports: ReadonlyArray<number>,
  resolve: (host: string) => Effect.Effect<ReadonlyArray<string>, EgressResolveError>,
  requested: string,
  port: number
): Effect.Effect<EgressDecision> => {
  const checked = preCheck(patterns, ports, requested, port)
  if ("refused" in checked) return Effect.succeed({ host: requested, port, allowed: false, reason: checked.refused, addresses: [] })
  const { entry, name } = checked
  const verdict = (allowed: boolean, reason: string, addresses: ReadonlyArray<string>): EgressDecision => ({
    host: name,
    port,
    allowed,
    reason,
    addresses
  })
  return resolve(name).pipe(
    Effect.map((addresses) => {
      if (addresses.length === 0) return verdict(false, "resolves to no address", addresses)
      const internal = addresses.flatMap((address) => {
        const refusal = addressRefusal(address)
        return refusal === undefined ? [] : [`${address} (${refusal})`]
      })
      return internal.length > 0
        ? verdict(false, `resolves to ${internal.join(", ")}, which no job may reach`, addresses)
        : verdict(true, `on the allow-list as ${entry}, resolves to ${addresses.join(", ")}`, addresses)
    }),
    Effect.catchAll((error) => Effect.succeed(verdict(false, `does not resolve (${error.code ?? "unknown error"})`, [])))
  )
}

/** `host:port` or `[v6]:port` of a CONNECT request, or `undefined`. */
const parseAuthority = (target: string): { readonly host: string; readonly port: number } | undefined => {
  const match = /^(\[[^\]]*\]|[^:[\]]+):(\d{1,5})$/.exec(target)
  const host = match?.[1]
  const port = Number(match?.[2])
  return host === undefined || port < 1 || port > 65535 ? undefined : { host, port }
}

const refusalBody = (what: string, reason: string) => `agnt egress proxy refused ${what}: ${reason}\n`

/** A whole HTTP/1.1 response for a raw socket (the CONNECT side has no `ServerResponse`). */
const rawResponse = (status: 400 | 403 | 502, body: string) => {
  const text = status === 400 ? "Bad Request" : status === 403 ? "Forbidden" : "Bad Gateway"
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${
    Buffer.byteLength(body)
  }\r\nConnection: close\r\n\r\n${body}`
}

/** Resolves once either side closes; both are destroyed then (and on interruption). */
const pipeUntilClosed = (client: Duplex, upstream: NodeNet.Socket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const done = () => {
      client.destroy()
      upstream.destroy()
      resume(Effect.void)
    }
    for (const side of [client, upstream]) {
      side.on("error", done)
      side.on("close", done)
    }
    client.pipe(upstream)
    upstream.pipe(client)
    return Effect.sync(done)
  })

const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

/** The request's end-to-end headers (RFC 9110 §7.6.1: hop-by-hop ones and those `Connection` names dropped). */
const endToEndHeaders = (headers: NodeHttp.IncomingHttpHeaders): NodeHttp.OutgoingHttpHeaders => {
  const named = new Set((headers.connection ?? "").toLowerCase().split(",").map((name) => name.trim()))
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name) && !named.has(name)))
}

/** Sends `request` over the connected `socket` and pipes the answer into `response`; resolves when the response is done. */
const relay = (
  request: NodeHttp.IncomingMessage,
  response: NodeHttp.ServerResponse,
  url: URL,
  socket: NodeNet.Socket
): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const upstream = NodeHttp.request({
      createConnection: () => socket,
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: { ...endToEndHeaders(request.headers), host: url.host, connection: "close" },
      setHost: false
    })
    const fail = () => {
      if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain; charset=utf-8" })
      response.end()
      resume(Effect.void)
    }
    upstream.on("error", fail)
    upstream.on("response", (answer) => {
      response.writeHead(answer.statusCode ?? 502, endToEndHeaders(answer.headers))
      answer.pipe(response)
      answer.on("error", fail)
    })
    response.on("close", () => resume(Effect.void))
    request.pipe(upstream)
    return Effect.sync(() => upstream.destroy())
  })

const listen = (server: NodeHttp.Server, socketPath: string): Effect.Effect<void, EgressListenError> =>
  Effect.async<void, EgressListenError>((resume) => {
    server.once(
      "error",
      (cause) => resume(Effect.fail(new EgressListenError({ socketPath, code: errorCode(cause), message: cause.message })))
    )
    server.listen(socketPath, () => resume(Effect.void))
  })

/** Stop accepting, cut every open connection and tunnel, and wait for the server (and its socket file) to be gone. */
const close = (server: NodeHttp.Server, sockets: ReadonlySet<Duplex>): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    for (const socket of sockets) socket.destroy()
  })

/** Everything a request is judged and connected by. */
interface Route {
  readonly patterns: ReadonlyArray<HostPattern>
  readonly ports: ReadonlyArray<number>
  readonly resolve: (host: string) => Effect.Effect<ReadonlyArray<string>, EgressResolveError>
  readonly dial: (address: string, port: number) => NodeNet.Socket
  readonly onDecision: (decision: EgressDecision) => Effect.Effect<void>
}

/** A decision, and the connection it allowed (`undefined` when it refused). */
interface Opened {
  readonly decision: EgressDecision
  readonly socket: NodeNet.Socket | undefined
}

/** The decision on `host:port` (told to `onDecision`), and when allowed the connection to the first checked address that answers (closed with the scope). */
const open = (
  route: Route,
  host: string,
  port: number
): Effect.Effect<Opened, ConnectFailure, Scope.Scope> =>
  decide(route.patterns, route.ports, route.resolve, host, port).pipe(
    Effect.tap(route.onDecision),
    Effect.flatMap((decision): Effect.Effect<Opened, ConnectFailure, Scope.Scope> =>
      decision.allowed
        ? Effect.acquireRelease(
          Effect.firstSuccessOf(decision.addresses.map((address) => connectTo(route.dial, address, port))),
          (socket) => Effect.sync(() => socket.destroy())
        ).pipe(Effect.map((socket) => ({ decision, socket })))
        : Effect.succeed({ decision, socket: undefined })
    )
  )

const couldNotConnect = (failure: ConnectFailure) => `could not connect (${failure.code ?? "unknown error"})`

/** A CONNECT request: 400 for a malformed target, 403 refused, 502 unreachable, else 200 and the tunnel until either side closes. */
const tunnel = (route: Route, target: string, client: Duplex, head: Buffer): Effect.Effect<void> =>
  Effect.gen(function*() {
    const authority = parseAuthority(target)
    if (authority === undefined) return client.end(rawResponse(400, refusalBody(`CONNECT ${target}`, "expected host:port")))
    const { decision, socket } = yield* open(route, authority.host, authority.port)
    if (socket === undefined) return client.end(rawResponse(403, refusalBody(`CONNECT ${target}`, decision.reason)))
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
    if (head.length > 0) socket.write(head)
    yield* pipeUntilClosed(client, socket)
  }).pipe(
    Effect.catchTag("ConnectFailure", (failure) =>
      Effect.sync(() => client.end(rawResponse(502, refusalBody(`CONNECT ${target}`, couldNotConnect(failure)))))),
    Effect.scoped
  )

/** A plain HTTP request: an absolute `http://` URI is judged like a CONNECT and relayed; anything else is 400. */
const forward = (route: Route, request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse): Effect.Effect<void> => {
  const answer = (status: 400 | 403 | 502, reason: string) =>
    Effect.sync(() =>
      response.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(
        refusalBody(`${request.method} ${request.url}`, reason)
      )
    )
  return Effect.gen(function*() {
    const url = URL.canParse(request.url ?? "") ? new URL(request.url ?? "") : undefined
    if (url === undefined || url.protocol !== "http:") return yield* answer(400, "send CONNECT host:port, or an absolute http:// URI")
    const { decision, socket } = yield* open(route, url.hostname, url.port === "" ? 80 : Number(url.port))
    if (socket === undefined) return yield* answer(403, decision.reason)
    yield* relay(request, response, url, socket)
  }).pipe(
    Effect.catchTag("ConnectFailure", (failure) => answer(502, couldNotConnect(failure))),
    Effect.scoped
  )
}

/** A request's handling that died (a defect in `onDecision`, say) cuts its connection rather than leaving it unanswered. */
const cutOnDefect = (socket: Duplex | null) => (handling: Effect.Effect<void>): Effect.Effect<void> =>
  handling.pipe(
    Effect.catchAllCause((cause) =>
      Effect.sync(() => socket?.destroy()).pipe(Effect.zipRight(Effect.logWarning("egress proxy: a request's handling failed", cause)))
    )
  )

/**
 * Start the proxy at `options.socketPath` for the life of the scope (see
 * the module comment). Closing the scope ends every tunnel and removes the
 * socket file. Fails with `EgressAllowListError` for an entry that is not a
 * DNS name or wildcard, `EgressListenError` when the socket cannot be made.
 */
export const egressProxy = Effect.fn("EgressProxy.start")(function*(
  options: EgressProxyOptions
): Effect.fn.Return<EgressProxy, EgressAllowListError | EgressListenError, Scope.Scope> {
  const route: Route = {
    patterns: yield* parseAllowList(options.allow),
    ports: options.ports ?? defaultEgressPorts,
    resolve: options.resolve ?? lookupAll,
    dial: options.connect ?? ((address, port) => NodeNet.connect({ host: address, port })),
    onDecision: options.onDecision ?? (() => Effect.void)
  }
  const run = yield* FiberSet.makeRuntime<never>()
  const server = NodeHttp.createServer()
  server.maxConnections = options.maxConnections ?? defaultEgressMaxConnections
  const sockets = new Set<Duplex>()
  server.on("connection", (socket: NodeNet.Socket) => {
    sockets.add(socket)
    socket.on("error", () => socket.destroy())
    socket.on("close", () => sockets.delete(socket))
  })
  server.on(
    "connect",
    (request: NodeHttp.IncomingMessage, client: Duplex, head: Buffer) =>
      run(tunnel(route, request.url ?? "", client, head).pipe(cutOnDefect(client)))
  )
  server.on(
    "request",
    (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) =>
      run(forward(route, request, response).pipe(cutOnDefect(response.socket)))
  )
  yield* Effect.acquireRelease(listen(server, options.socketPath), () => close(server, sockets))
  return { socketPath: options.socketPath }
})

const connectTo = (
  dial: (address: string, port: number) => NodeNet.Socket,
  address: string,
  port: number
): Effect.Effect<NodeNet.Socket, ConnectFailure> =>
  Effect.async<NodeNet.Socket, ConnectFailure>((resume) => {
    const socket = dial(address, port)
    const onError = (cause: Error) => resume(Effect.fail(new ConnectFailure({ code: errorCode(cause) })))
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutFail({ duration: egressConnectTimeout, onTimeout: () => new ConnectFailure({ code: "ETIMEDOUT" }) }))

/**
 * Absolute path of the bridge script (`egress-bridge.mjs`, plain Node, no
 * dependencies): `src/Command/` from source, the bundle's directory from
 * `dist/` (`scripts/build.ts` copies it there), `Assets.ts`'s `besideModule`.
 */
export const egressBridgePath: string = besideModule("egress-bridge.mjs", import.meta.url)

/** True when the bridge script is where `egressBridgePath` says (a bundle built without it lacks it). */
export const egressBridgeExists = (): boolean => NodeFs.existsSync(egressBridgePath)

/**
 * The argv that runs `program` inside the sandbox behind the bridge: Node
 * (`process.execPath`, which the sandbox must show at the same path) runs
 * the bridge, which listens on 127.0.0.1:`port`, forwards each connection
 * to `socketPath`, then runs the program with the same stdio and
 * environment and exits as it does (code, or signal re-raised).
 */
export const bridgeCommand = (options: {
  readonly socketPath: string
  readonly port: number
  readonly program: string
  readonly args: ReadonlyArray<string>
}): ReadonlyArray<string> => [
  process.execPath,
  egressBridgePath,
  options.socketPath,
  String(options.port),
  "--",
  options.program,
  ...options.args
]

/**
 * The environment that sends a program's HTTP clients to the bridge on
 * 127.0.0.1:`port`: `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` in both cases
 * (curl, Python's requests and urllib, Go's net/http, Rust's reqwest — so
 * Codex —, Claude Code and Gemini CLI read them), `NO_PROXY` empty so no
 * inherited exception bypasses the proxy, and `NODE_USE_ENV_PROXY=1`, which
 * makes Node's own `fetch` (Node 22.21+ and 24+) honour them; older Nodes'
 * `fetch` ignores them, and a program using it directly gets no network.
 */
export const proxyEnvironment = (port: number): Readonly<Record<string, string>> => {
  const url = `http://127.0.0.1:${port}`
  return {
    HTTPS_PROXY: url,
    https_proxy: url,
    HTTP_PROXY: url,
    http_proxy: url,
    ALL_PROXY: url,
    all_proxy: url,
    NO_PROXY: "",
    no_proxy: "",
    NODE_USE_ENV_PROXY: "1"
  }
}
