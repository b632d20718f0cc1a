/**
 * Slow uploads cannot tie up the real `agnt-server` process: one buyer key
 * opens 200 uploads that send their headers and a first slice of body and
 * then stall. Past the per-key cap they are refused at once with 429
 * `RateLimited` and the connection closed; the ones let in are cut when
 * their body stops arriving; the server's memory comes back near where it
 * was, and the key can order again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Schedule } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeNet from "node:net"
import { inject } from "vitest"
import { makeAgentId } from "../packages/server/src/Ids.js"
import { freshDatabase } from "../packages/server/src/Testing.js"
import { makeKeys, startServerOn } from "./Executors.js"

const uploads = 200
const cap = 16
const mib = 1024 * 1024

/** The resident set of process `pid`, in bytes (Linux `/proc`). */
const rssOf = (pid: number) =>
  Effect.promise(async () => {
    const status = await NodeFs.readFile(`/proc/${pid}/status`, "utf8")
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? "0") * 1024
  })

/**
 * A `POST /v1/jobs` that sends its headers (announcing a 10 MB body) and
 * the start of a file part, then nothing more; yields all the server sent
 * once the connection is closed (by the server: the test never closes it).
 */
const stalledUpload = (port: number, key: string, agentId: string) =>
  Effect.async<string>((resume) => {
    const boundary = "stalled-boundary"
    const start = [
      `--${boundary}\r\nContent-Disposition: form-data; name="agent_id"\r\n\r\n${agentId}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n`,
      "Content-Type: application/octet-stream\r\n\r\n",
      "x".repeat(16 * 1024)
    ].join("")
    const socket = NodeNet.connect(port, "127.0.0.1", () => {
      socket.write(
        `POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${key}\r\n` +
          `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 10000000\r\n\r\n${start}`
      )
    })
    const received: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => received.push(chunk))
    socket.on("error", () => undefined)
    socket.on("close", () => resume(Effect.succeed(Buffer.concat(received).toString("utf8"))))
    return Effect.sync(() => socket.destroy())
  })

describe("slow uploads", () => {
  it.scopedLive(`${uploads} stalled uploads on one key: past ${cap} in flight each is 429 RateLimited at once, the rest are cut when their body stalls, memory comes back, and the key orders again`, () =>
    Effect.gen(function*() {
      const databaseUrl = yield* freshDatabase(inject("pgAdminUrl"))
      const { dataDir, port, server, url } = yield* startServerOn(databaseUrl, "agnt-slow-uploads-", {
        AGNT_MAX_UPLOADS_PER_KEY: String(cap),
        AGNT_BODY_IDLE_TIMEOUT_SECONDS: "10"
      })
      const pid = server.child.pid ?? 0
      const [buyer, executor] = yield* makeKeys(dataDir, databaseUrl)
      const agentId = makeAgentId()
      const published = yield* Effect.promise(() =>
        fetch(`${url}/v1/agents/${agentId}`, {
          method: "PUT",
          headers: { authorization: `Bearer ${Redacted.value(executor.key)}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "Slow", description: "", tags: [], input_schema: {} })
        })
      )
      expect(published.status).toBe(200)
      const orderOnce = Effect.promise(async () => {
        const form = new FormData()
        form.append("agent_id", agentId)
        form.append("prompt", "small")
        form.append("files", new Blob(["hello"], { type: "text/plain" }), "hello.txt")
        const response = await fetch(`${url}/v1/jobs`, {
          method: "POST",
          headers: { authorization: `Bearer ${Redacted.value(buyer.key)}` },
          body: form
        })
        return response.status
      })
      // Warm up, then the baseline.
      for (let i = 0; i < 20; i++) expect(yield* orderOnce).toBe(201)
      const baseline = yield* rssOf(pid)

      const answers = yield* Effect.forEach(
        Array.from({ length: uploads }),
        () => stalledUpload(port, Redacted.value(buyer.key), agentId),
        { concurrency: "unbounded" }
      )
      const refused = answers.filter((text) => text.startsWith("HTTP/1.1 429"))
      const cut = answers.filter((text) => text === "")
      expect(refused.length).toBeGreaterThanOrEqual(uploads - cap)
      expect(refused.length + cut.length).toBe(uploads)
      const sample = refused[0] ?? ""
      expect(sample).toMatch(/\r\nretry-after: 1\r\n/i)
      expect(sample).toMatch(/\r\nconnection: close\r\n/i)
      expect(JSON.parse(sample.slice(sample.indexOf("\r\n\r\n") + 4))).toEqual({
        _tag: "RateLimited",
        message: `at most ${cap} uploads in flight per key`,
        retry_after_seconds: 1
      })

      // The slots of the cut uploads are free again, and memory settles near the baseline.
      expect(yield* orderOnce).toBe(201)
      const settled = yield* rssOf(pid).pipe(
        Effect.filterOrFail((rss) => rss <= baseline + 64 * mib),
        Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 60 }),
        Effect.orElse(() => rssOf(pid))
      )
      console.log(
        `server RSS: baseline ${(baseline / mib).toFixed(0)} MiB, after ${uploads} stalled uploads ${(settled / mib).toFixed(0)} MiB`
      )
      expect(settled).toBeLessThanOrEqual(baseline + 64 * mib)
    }))
})
