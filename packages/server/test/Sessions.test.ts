/**
 * Browser sessions (DESIGN.md "Auth", domain `Session.ts`) over real HTTP:
 * signing in with a key or a one-time link sets an HttpOnly, SameSite=Strict
 * cookie that authenticates every group; requests that change something
 * need the session's CSRF token; a session ends at sign-out, at its expiry
 * and with its key; a link works once, within its lifetime, and never from
 * another origin.
 */
import { csrfHeaderName, sessionCookieName } from "@agnt/domain/Session"
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeCrypto from "node:crypto"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { SessionsRepo } from "../src/Sessions/Repo.js"
import { serverUrl, TestServerLive } from "../src/Testing.js"
import { actor, openMarket, TestLive } from "./support.js"

/** What a test reads of a response: status, JSON body (or null), and its `Set-Cookie`. */
interface Answer {
  readonly status: number
  readonly body: unknown
  readonly setCookie: string
}

/** `method path` on the test server with `headers` and a JSON `body`. */
const call = (method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}) =>
  Effect.gen(function*() {
    const url = yield* serverUrl
    return yield* Effect.promise(async (): Promise<Answer> => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { ...(options.body === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
      })
      const text = await response.text()
      return { status: response.status, body: text === "" ? null : JSON.parse(text), setCookie: response.headers.get("set-cookie") ?? "" }
    })
  })

/** `POST /v1/sessions` with `body` and `headers`. */
const signIn = (body: unknown, headers: Record<string, string> = {}) => call("POST", "/v1/sessions", { body, headers })

/** The `agnt_session=<token>` pair of a `Set-Cookie`, as a `Cookie` header sends it back. */
const cookieOf = (answer: Answer) => {
  const pair = answer.setCookie.split(";")[0] ?? ""
  expect(pair.startsWith(`${sessionCookieName}=`), answer.setCookie).toBe(true)
  return pair
}

/** A fresh buyer's key, signed in: its cookie pair and its session's CSRF token. */
const signedInBuyer = Effect.gen(function*() {
  const buyer = yield* actor("buyer")
  const answer = yield* signIn({ api_key: buyer.key })
  expect(answer.status).toBe(201)
  return { buyer, answer, cookie: cookieOf(answer), csrf: String(fieldOf(answer.body, "csrf_token")) }
})

const fieldOf = (body: unknown, field: string): unknown =>
  typeof body === "object" && body !== null && field in body ? Reflect.get(body, field) : undefined

const tagOf = (answer: Answer) => fieldOf(answer.body, "_tag")
const messageOf = (answer: Answer) => String(fieldOf(answer.body, "message"))

/** A sign-in link made by `key` (`POST /v1/sessions/links`): its token. */
const linkOf = (key: string) =>
  Effect.gen(function*() {
    const answer = yield* call("POST", "/v1/sessions/links", { headers: { authorization: `Bearer ${key}` } })
    expect(answer.status).toBe(201)
    const path = String(fieldOf(answer.body, "path"))
    const token = String(fieldOf(answer.body, "link_token"))
    expect(path).toBe(`/sign-in#token=${token}`)
    return token
  })

const countRows = (table: "sessions" | "sign_in_links") =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`, (rows) => rows[0]?.n ?? -1)
  )

layer(TestLive, { timeout: 60_000 })("browser sessions", (it) => {
  describe("signing in with a key", () => {
    it.effect("201 with the key's session and an HttpOnly, SameSite=Strict, Path=/ cookie for 12 hours; only its SHA-256 is stored", () =>
      Effect.gen(function*() {
        const { answer, buyer, cookie } = yield* signedInBuyer
        expect(answer.body).toMatchObject({
          account_id: buyer.info.account_id,
          key_id: buyer.info.key_id,
          role: "buyer",
          agent_ids: []
        })
        const attributes = answer.setCookie.split(";").slice(1).map((part) => part.trim())
        expect(attributes).toEqual(expect.arrayContaining(["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"]))
        expect(attributes).not.toContain("Secure")
        const token = cookie.slice(`${sessionCookieName}=`.length)
        expect(Buffer.from(token, "base64url")).toHaveLength(32)
        const expires = Date.parse(String(fieldOf(answer.body, "expires_at")))
        expect(Math.abs(expires - (Date.now() + 43_200_000))).toBeLessThan(600_000)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ token_sha256: Uint8Array; text: string }>`
          SELECT token_sha256, row_to_json(s)::text AS text FROM sessions s WHERE key_id = ${buyer.info.key_id}`
        expect(rows).toHaveLength(1)
        expect(Buffer.from(rows[0]?.token_sha256 ?? []).toString("hex")).toBe(NodeCrypto.createHash("sha256").update(token).digest("hex"))
        expect(rows[0]?.text).not.toContain(token)
      }))

    it.effect("the cookie is Secure when the request came over HTTPS through a proxy (X-Forwarded-Proto: https)", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const answer = yield* signIn({ api_key: buyer.key }, { "x-forwarded-proto": "https" })
        expect(answer.status).toBe(201)
        expect(answer.setCookie.split(";").map((part) => part.trim())).toContain("Secure")
      }))

    it.effect("a wrong key is 401 with a message a person can act on, and stores nothing", () =>
      Effect.gen(function*() {
        const before = yield* countRows("sessions")
        const buyer = yield* actor("buyer")
        const wrong = `${buyer.key.slice(0, -4)}0000` === buyer.key ? `${buyer.key.slice(0, -4)}1111` : `${buyer.key.slice(0, -4)}0000`
        for (const key of [wrong, "not a key", ""]) {
          const answer = yield* signIn({ api_key: key })
          expect(answer.status, key).toBe(401)
          expect(tagOf(answer)).toBe("Unauthorized")
          expect(messageOf(answer)).toBe("that API key is not valid or was revoked")
          expect(answer.setCookie).toBe("")
        }
        expect(yield* countRows("sessions")).toBe(before)
      }))

    it.effect("a body with both, neither, or another field is 400 with the fields at fault in its message; malformed JSON is 400 InvalidRequest", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const cases = [
          [{ api_key: buyer.key, link_token: "x" }, "exactly one of api_key or link_token"],
          [{}, "exactly one of api_key or link_token"],
          [{ api_key: buyer.key, remember: true }, "unknown field `remember` in the body"],
          [{ key: buyer.key }, "unknown field `key` in the body"]
        ] as const
        for (const [body, message] of cases) {
          const answer = yield* signIn(body)
          expect(answer.status, JSON.stringify(body)).toBe(400)
          expect(tagOf(answer)).toBe("HttpApiDecodeError")
          expect(messageOf(answer)).toContain(message)
        }
        const url = yield* serverUrl
        const malformed = yield* Effect.promise(async () => {
          const response = await fetch(`${url}/v1/sessions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "{\"api_key\":"
          })
          return { status: response.status, body: await response.json() }
        })
        expect(malformed).toEqual({ status: 400, body: { _tag: "InvalidRequest", message: "the request body is not valid JSON" } })
      }))

    it.effect("a sign-in from a page of another origin is 403 Forbidden (login CSRF); from the server's own origin it works", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const before = yield* countRows("sessions")
        for (const origin of ["https://evil.example", "null", "http://127.0.0.1:1"]) {
          const foreign = yield* signIn({ api_key: buyer.key }, { origin })
          expect(foreign.status, origin).toBe(403)
          expect(tagOf(foreign)).toBe("Forbidden")
          expect(foreign.setCookie).toBe("")
        }
        expect(yield* countRows("sessions")).toBe(before)
        const own = yield* signIn({ api_key: buyer.key }, { origin: yield* serverUrl })
        expect(own.status).toBe(201)
      }))
  })

  describe("the cookie as a credential", () => {
    it.effect("reads GET /v1/jobs and GET /v1/sessions/current without a key", () =>
      Effect.gen(function*() {
        const { answer, cookie } = yield* signedInBuyer
        const jobs = yield* call("GET", "/v1/jobs", { headers: { cookie } })
        expect(jobs.status).toBe(200)
        expect(fieldOf(jobs.body, "data")).toEqual([])
        const current = yield* call("GET", "/v1/sessions/current", { headers: { cookie } })
        expect(current.status).toBe(200)
        expect(current.body).toEqual(answer.body)
      }))

    it.effect("a POST without the CSRF header, or with a wrong one, is 403 Forbidden and changes nothing; with it, it works", () =>
      Effect.gen(function*() {
        const { agentId } = yield* openMarket
        const { cookie, csrf } = yield* signedInBuyer
        const order = { agent_id: agentId, prompt: "from the browser", params: {} }
        for (const headers of [{ cookie }, { cookie, [csrfHeaderName]: "wrong" }, { cookie, [csrfHeaderName]: `${csrf}x` }]) {
          const refused = yield* call("POST", "/v1/jobs", { headers, body: order })
          expect(refused.status).toBe(403)
          expect(tagOf(refused)).toBe("Forbidden")
          expect(messageOf(refused)).toContain("missing or wrong CSRF token")
        }
        const none = yield* call("GET", "/v1/jobs", { headers: { cookie } })
        expect(fieldOf(none.body, "data")).toEqual([])
        const made = yield* call("POST", "/v1/jobs", { headers: { cookie, [csrfHeaderName]: csrf }, body: order })
        expect(made.status).toBe(201)
        expect(fieldOf(made.body, "prompt")).toBe("from the browser")
      }))

    it.effect("no key and no cookie, or an unknown cookie, is 401", () =>
      Effect.gen(function*() {
        const bare = yield* call("GET", "/v1/jobs")
        expect(bare.status).toBe(401)
        expect(messageOf(bare)).toContain("missing API key")
        for (const cookie of [`${sessionCookieName}=${NodeCrypto.randomBytes(32).toString("base64url")}`, `${sessionCookieName}=x`]) {
          const unknown = yield* call("GET", "/v1/jobs", { headers: { cookie } })
          expect(unknown.status).toBe(401)
          expect(messageOf(unknown)).toContain("sign in again")
        }
      }))

    it.effect("a request with a bearer key is judged by the key alone: a bad key beside a live cookie is 401", () =>
      Effect.gen(function*() {
        const { cookie } = yield* signedInBuyer
        const answer = yield* call("GET", "/v1/jobs", { headers: { cookie, authorization: "Bearer agnt_buyer_nonsense" } })
        expect(answer.status).toBe(401)
        expect(messageOf(answer)).toBe("malformed API key")
      }))

    it.effect("a cookie cannot make sign-in links (a key is needed): 401", () =>
      Effect.gen(function*() {
        const { cookie, csrf } = yield* signedInBuyer
        const answer = yield* call("POST", "/v1/sessions/links", { headers: { cookie, [csrfHeaderName]: csrf } })
        expect(answer.status).toBe(401)
      }))
  })

  describe("the end of a session", () => {
    it.effect("sign-out is 204, clears the cookie (Max-Age=0) and ends the session: the cookie no longer works", () =>
      Effect.gen(function*() {
        const { cookie, csrf } = yield* signedInBuyer
        const withoutCsrf = yield* call("DELETE", "/v1/sessions/current", { headers: { cookie } })
        expect(withoutCsrf.status).toBe(403)
        const out = yield* call("DELETE", "/v1/sessions/current", { headers: { cookie, [csrfHeaderName]: csrf } })
        expect(out.status).toBe(204)
        expect(out.setCookie.split(";").map((part) => part.trim())).toEqual(
          expect.arrayContaining([`${sessionCookieName}=`, "Max-Age=0", "Path=/", "HttpOnly", "SameSite=Strict"])
        )
        for (const path of ["/v1/jobs", "/v1/sessions/current"]) {
          const after = yield* call("GET", path, { headers: { cookie } })
          expect(after.status, path).toBe(401)
        }
      }))

    it.effect("revoking the key ends its sessions", () =>
      Effect.gen(function*() {
        const { buyer, cookie } = yield* signedInBuyer
        expect((yield* call("GET", "/v1/jobs", { headers: { cookie } })).status).toBe(200)
        expect(yield* (yield* ApiKeys).revoke(buyer.info.key_id)).toBe(true)
        const after = yield* call("GET", "/v1/jobs", { headers: { cookie } })
        expect(after.status).toBe(401)
        expect(tagOf(after)).toBe("Unauthorized")
      }))
  })

  describe("the edge and the document", () => {
    it.effect("another method on a sessions path is 405 MethodNotAllowed with Allow", () =>
      Effect.gen(function*() {
        const url = yield* serverUrl
        for (const [method, path, allow] of [["PUT", "/v1/sessions", "POST"], ["POST", "/v1/sessions/current", "DELETE, GET"]] as const) {
          const response = yield* Effect.promise(() => fetch(`${url}${path}`, { method }))
          expect(response.status, `${method} ${path}`).toBe(405)
          expect(response.headers.get("allow")).toBe(allow)
          expect(yield* Effect.promise(() => response.json())).toMatchObject({ _tag: "MethodNotAllowed" })
        }
      }))

    it.effect("/openapi.json states the cookie scheme, which every authenticated group accepts beside the bearer key", () =>
      Effect.gen(function*() {
        const document = yield* call("GET", "/openapi.json")
        expect(document.body).toMatchObject({
          components: { securitySchemes: { cookie: { type: "apiKey", in: "cookie", name: sessionCookieName } } },
          paths: {
            "/v1/jobs": { get: { security: [{ bearer: [] }, { cookie: [] }] } },
            "/v1/sessions/current": { get: { security: [{ cookie: [] }] }, delete: { security: [{ cookie: [] }] } },
            "/v1/sessions/links": { post: { security: [{ bearer: [] }] } },
            "/v1/sessions": { post: { security: [] } }
          }
        })
      }))
  })

  it.effect("the sweep deletes sessions and links that ended over a day ago, and keeps the others", () =>
    Effect.gen(function*() {
      const { buyer, cookie } = yield* signedInBuyer
      yield* signIn({ api_key: buyer.key })
      yield* linkOf(buyer.key)
      yield* linkOf(buyer.key)
      const sql = yield* SqlClient.SqlClient
      const keyId = buyer.info.key_id
      yield* sql`UPDATE sessions SET expires_at = now() - interval '2 days' WHERE key_id = ${keyId} AND token_sha256 <> ${
        NodeCrypto.createHash("sha256").update(cookie.slice(`${sessionCookieName}=`.length)).digest()
      }`
      yield* sql`UPDATE sign_in_links SET expires_at = now() - interval '2 days'
        WHERE token_sha256 = (SELECT token_sha256 FROM sign_in_links WHERE key_id = ${keyId} LIMIT 1)`
      yield* Effect.flatMap(SessionsRepo, (repo) => repo.sweep()).pipe(Effect.provide(SessionsRepo.Default))
      const left = yield* sql<{ sessions: number; links: number }>`
        SELECT (SELECT count(*)::int FROM sessions WHERE key_id = ${keyId}) AS sessions,
               (SELECT count(*)::int FROM sign_in_links WHERE key_id = ${keyId}) AS links`
      expect(left[0]).toEqual({ sessions: 1, links: 1 })
      expect((yield* call("GET", "/v1/jobs", { headers: { cookie } })).status).toBe(200)
    }))

  describe("sign-in links", () => {
    it.effect("a link signs the browser in as the key that made it, once: the second use is 401 'already used'", () =>
      Effect.gen(function*() {
        const executor = yield* actor("executor", [])
        const token = yield* linkOf(executor.key)
        const first = yield* signIn({ link_token: token })
        expect(first.status).toBe(201)
        expect(first.body).toMatchObject({ key_id: executor.info.key_id, account_id: executor.info.account_id, role: "executor" })
        expect((yield* call("GET", "/v1/jobs", { headers: { cookie: cookieOf(first) } })).status).toBe(200)
        const again = yield* signIn({ link_token: token })
        expect(again.status).toBe(401)
        expect(messageOf(again)).toBe("this sign-in link was already used")
        expect(again.setCookie).toBe("")
      }))

    it.effect("an expired link is 401 with how to get a new one, and makes no session", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const token = yield* linkOf(buyer.key)
        const sql = yield* SqlClient.SqlClient
        const sha256 = NodeCrypto.createHash("sha256").update(token).digest()
        yield* sql`UPDATE sign_in_links SET expires_at = now() - interval '1 second' WHERE token_sha256 = ${sha256}`
        const answer = yield* signIn({ link_token: token })
        expect(answer.status).toBe(401)
        expect(messageOf(answer)).toBe("this sign-in link expired; run `agnt ui` for a new one")
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sessions WHERE key_id = ${buyer.info.key_id}`
        expect(rows[0]?.n).toBe(0)
      }))

    it.effect("an unknown link is 401; the stored link holds only its token's SHA-256", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        const token = yield* linkOf(buyer.key)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<
          { text: string }
        >`SELECT row_to_json(l)::text AS text FROM sign_in_links l WHERE key_id = ${buyer.info.key_id}`
        expect(rows).toHaveLength(1)
        expect(rows[0]?.text).not.toContain(token)
        for (const unknown of [NodeCrypto.randomBytes(32).toString("base64url"), "short"]) {
          const answer = yield* signIn({ link_token: unknown })
          expect(answer.status).toBe(401)
          expect(messageOf(answer)).toContain("not valid")
        }
      }))

    it.effect("of two concurrent redemptions of one link exactly one gets a session", () =>
      Effect.gen(function*() {
        const buyer = yield* actor("buyer")
        for (let round = 0; round < 5; round++) {
          const token = yield* linkOf(buyer.key)
          const answers = yield* Effect.all([signIn({ link_token: token }), signIn({ link_token: token })], { concurrency: "unbounded" })
          expect(answers.map((answer) => answer.status).sort()).toEqual([201, 401])
        }
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sessions WHERE key_id = ${buyer.info.key_id}`
        expect(rows[0]?.n).toBe(5)
      }))
  })
})

layer(TestServerLive(inject("pgAdminUrl"), { sessionSeconds: 1 }).pipe(Layer.provideMerge(FetchHttpClient.layer)), {
  timeout: 60_000,
  excludeTestServices: true
})(
  "a short session lifetime",
  (it) => {
    it.effect("the cookie's Max-Age is the configured lifetime, and past it the session is 401", () =>
      Effect.gen(function*() {
        const { answer, cookie } = yield* signedInBuyer
        expect(answer.setCookie).toContain("Max-Age=1")
        yield* Effect.sleep("1100 millis")
        const after = yield* call("GET", "/v1/jobs", { headers: { cookie } })
        expect(after.status).toBe(401)
        expect(messageOf(after)).toContain("sign in again")
      }))
  }
)

layer(
  TestServerLive(inject("pgAdminUrl"), { addressRateLimitPerSecond: 0.01, addressRateLimitBurst: 5 }).pipe(
    Layer.provideMerge(FetchHttpClient.layer)
  ),
  { timeout: 60_000, excludeTestServices: true }
)("sign-in under the address rate", (it) => {
  it.effect("sign-in attempts spend from the address's rate, with or without a bearer header: past it, 429", () =>
    Effect.gen(function*() {
      const statuses: Array<number> = []
      for (let attempt = 0; attempt < 8; attempt++) {
        const headers = attempt % 2 === 0 ? {} : { authorization: "Bearer agnt_buyer_guess" }
        statuses.push((yield* signIn({ api_key: `agnt_buyer_guess_${attempt}` }, headers)).status)
      }
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
      expect(statuses.slice(5)).toEqual([429, 429, 429])
    }))
})
