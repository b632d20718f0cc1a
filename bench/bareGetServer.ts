/**
 * The baseline of `bench/get.ts`: `GET /v1/jobs/{id}` as a bare `node:http`
 * server with a `pg` pool (20 connections, as agnt's) does it — the bearer
 * key parsed, its row looked up by key id and the SHA-256 of the key
 * compared in constant time, then the job selected with agnt's own job
 * columns (`Jobs/Sql.ts`) if the key's account owns it, and sent as JSON.
 * No schemas, no rate limits, no logging, no tracing.
 *
 *   DATABASE_URL=postgres://… node --import tsx bench/bareGetServer.ts
 *
 * It listens on a free loopback port and prints `listening <port>`.
 */
import * as NodeCrypto from "node:crypto"
import * as NodeHttp from "node:http"
import Pg from "pg"
import { jobColumns } from "../packages/server/src/Jobs/Sql.js"

const keyPattern = /^Bearer (agnt_(?:buyer|executor|admin)_([0-7][0-9a-hjkmnp-tv-z]{25})_[0-9a-f]{64})$/
const jobPath = /^\/v1\/jobs\/([A-Za-z0-9_]+)$/

const pool = new Pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 })

const send = (response: NodeHttp.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

const answer = async (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => {
  const path = jobPath.exec(request.url ?? "")
  if (request.method !== "GET" || path === null) return send(response, 404, { _tag: "NotFound" })
  const key = keyPattern.exec(request.headers.authorization ?? "")
  if (key === null) return send(response, 401, { _tag: "Unauthorized" })
  const found = await pool.query<{ account_id: string; secret_sha256: Buffer }>(
    "SELECT account_id, secret_sha256 FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL",
    [`key_${key[2]}`]
  )
  const row = found.rows[0]
  const hash = NodeCrypto.createHash("sha256").update(key[1] ?? "").digest()
  if (row === undefined || !NodeCrypto.timingSafeEqual(row.secret_sha256, hash)) return send(response, 401, { _tag: "Unauthorized" })
  const job = await pool.query(`SELECT ${jobColumns} FROM jobs j WHERE j.job_id = $1 AND j.account_id = $2`, [path[1], row.account_id])
  return job.rows[0] === undefined ? send(response, 404, { _tag: "JobNotFound" }) : send(response, 200, job.rows[0])
}

const server = NodeHttp.createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  answer(request, response).catch(() => send(response, 500, { _tag: "InternalError" }))
})
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  console.log(`listening ${typeof address === "object" && address !== null ? address.port : 0}`)
})
process.on("SIGTERM", () => {
  server.close()
  server.closeAllConnections()
  void pool.end()
})
