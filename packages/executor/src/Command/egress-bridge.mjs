// The egress bridge, run by Node inside a job's sandbox, where the only
// network is loopback: it listens on 127.0.0.1:<port> and pipes every
// connection to the egress proxy's Unix socket (bind-mounted into the
// sandbox), so a program whose HTTPS_PROXY is http://127.0.0.1:<port>
// reaches the proxy and nothing else. Plain Node, no dependencies: it runs
// from the source tree and from the bundle's directory alike.
//
//   node egress-bridge.mjs <socket> <port> -- <program> [args…]
//     listens, then runs the program (same stdio, environment and working
//     directory), forwards SIGTERM/SIGINT/SIGHUP to it, and exits as it
//     does: its exit code, or its signal raised again. No race: the program
//     starts after the port is open.
//   node egress-bridge.mjs <socket> <port>
//     listens until its parent process ends (checked every 500 ms), for a
//     shell that starts it with `&` before `exec program`.
//
// Exit status 70 (EX_SOFTWARE) with a line on stderr when it cannot listen
// or cannot start the program.
import { spawn } from "node:child_process"
import { connect, createServer } from "node:net"
import process from "node:process"
import { setInterval } from "node:timers"

const [socketPath, portText, separator, program, ...args] = process.argv.slice(2)
const port = Number(portText)
if (
  socketPath === undefined || !Number.isInteger(port) || port < 1 || port > 65535 ||
  (separator !== undefined && (separator !== "--" || program === undefined))
) {
  process.stderr.write("usage: node egress-bridge.mjs <socket> <port> [-- <program> [args…]]\n")
  process.exit(64)
}

const bail = (message) => {
  process.stderr.write(`egress bridge: ${message}\n`)
  process.exit(70)
}

const server = createServer((client) => {
  const upstream = connect(socketPath)
  const close = () => {
    client.destroy()
    upstream.destroy()
  }
  for (const side of [client, upstream]) {
    side.on("error", close)
    side.on("close", close)
  }
  client.pipe(upstream)
  upstream.pipe(client)
})
server.on("error", (error) => bail(`cannot listen on 127.0.0.1:${port}: ${error.message}`))

const runProgram = () => {
  const child = spawn(program, args, { stdio: "inherit" })
  child.on("error", (error) => bail(`cannot start ${program}: ${error.message}`))
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => {
    if (signal === null) process.exit(code ?? 70)
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  })
}

const watchParent = () => {
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0)
  }, 500)
}

server.listen(port, "127.0.0.1", () => (program === undefined ? watchParent() : runProgram()))
