#!/usr/bin/env node
/* global process */
// The `agnt` npm package's bin: runs the compiled `agnt` of this machine's
// platform package (`@agnt/cli-<platform>`, one of the package's
// optionalDependencies, of which npm installs only the one whose `os`/`cpu`
// match), passing the arguments, the standard streams and the signals
// through and exiting as it exits. `npm run dist` copies this file into the
// package as `bin/agnt.js`; it needs nothing but Node.
import { spawn } from "node:child_process"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

const platforms = {
  "linux x64": "linux-x64",
  "linux arm64": "linux-arm64",
  "darwin x64": "darwin-x64",
  "darwin arm64": "darwin-arm64",
  "win32 x64": "windows-x64"
}

// Errors as the CLI's own: one JSON object on stderr, exit code 2 (bad set-up, before any request).
const fail = (message) => {
  process.stderr.write(JSON.stringify({ _tag: "UsageError", message }) + "\n")
  process.exit(2)
}

const platform = platforms[`${process.platform} ${process.arch}`]
if (platform === undefined) {
  fail(`agnt has no binary for ${process.platform} ${process.arch}; it ships for ${Object.keys(platforms).join(", ")}`)
}
const pkg = `@agnt/cli-${platform}`
let binary
try {
  binary = require.resolve(`${pkg}/bin/agnt${process.platform === "win32" ? ".exe" : ""}`)
} catch {
  fail(`${pkg} is not installed: reinstall agnt without --omit=optional / --no-optional`)
}

const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" })
const forwarded = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGBREAK"].filter((signal) =>
  signal !== "SIGBREAK" || process.platform === "win32"
)
for (const signal of forwarded) process.on(signal, () => child.kill(signal))
child.on("error", (error) => fail(`cannot run ${binary}: ${error.message}`))
child.on("exit", (code, signal) => {
  if (signal === null) process.exit(code ?? 1)
  // Die of the same signal, so the caller sees what the program saw.
  for (const forwardedSignal of forwarded) process.removeAllListeners(forwardedSignal)
  process.kill(process.pid, signal)
})
