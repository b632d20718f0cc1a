/**
 * Object- and function-level authorization of every endpoint (OWASP API
 * Security Top 10 2023: API1 BOLA, API5 BFLA), as one explicit table: a row
 * per endpoint (and a few variants), a column per actor. One fixture world
 * is built per file: agent A served by executor key EA, agent B served by
 * EB, and the owner buyer's completed job J on A with an input and a result
 * file (plus K, the other buyer's job on B with an input file). Jobs belong
 * to accounts: the owner's other key, a second buyer key of the owner's
 * account, may do whatever the owner buyer may; so may the owner's browser,
 * the owner buyer's key signed in with the session cookie (sending its CSRF
 * token), but for making sign-in links. Cells that change state get their
 * own fresh job, agent or session, so cells never interfere.
 */
import { Api } from "@agnt/domain/Api"
import type { AgentId, FileId, JobId } from "@agnt/domain/Ids"
import type { Job } from "@agnt/domain/Job"
import { csrfHeaderName, Session } from "@agnt/domain/Session"
import { HttpApi, HttpBody, HttpClient, HttpClientRequest, HttpClientResponse, type HttpServer } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId, makeFileId, makeJobId } from "../src/Ids.js"
import { serverUrl } from "../src/Testing.js"
import { manifest, orderForm } from "./Fixtures.js"
import { actor, clientWith, TestLive } from "./support.js"

// ---------------------------------------------------------------------------
// The policy
// ---------------------------------------------------------------------------

/** The callers of the table, in column order. */
const actors = [
  "owner buyer",
  "owner's other key",
  "other buyer",
  "executor of A",
  "executor of B",
  "admin",
  "no key",
  "revoked key",
  "owner's browser"
] as const
type Actor = typeof actors[number]

/** A cell's outcome: success, or the exact `_tag` of the error body. */
type Outcome =
  | "ok"
  | "ok, J listed"
  | "ok, J hidden"
  | "Unauthorized"
  | "Forbidden"
  | "JobNotFound"
  | "FileNotFound"

type Row = readonly [
  route: string,
  ownerBuyer: Outcome,
  ownersOtherKey: Outcome,
  otherBuyer: Outcome,
  executorOfA: Outcome,
  executorOfB: Outcome,
  admin: Outcome,
  noKey: Outcome,
  revokedKey: Outcome,
  ownersBrowser: Outcome
]

/**
 * Who may do what. Keys are `<group>.<endpoint>` of `Api` (optionally
 * ` · <variant>`), or a route served beside `Api`. "J" is the owner buyer's
 * completed job on agent A; "K" the other buyer's job on agent B. The
 * revoked key is a revoked *admin* key: it would pass everything if it
 * still worked.
 */
// dprint-ignore: one row per endpoint, one column per actor
const policy = {
  //                                              route                                       owner buyer     owner's other   other buyer     executor of A   executor of B   admin           no key          revoked key     owner's browser
  "agents.search":                               ["GET /v1/agents/search",                    "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "Unauthorized", "Unauthorized", "ok"],
  "agents.get":                                  ["GET /v1/agents/:agent_id",                 "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "Unauthorized", "Unauthorized", "ok"],
  "agents.stats":                                ["GET /v1/agents/:agent_id/stats",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "Unauthorized", "Unauthorized", "ok"],
  "agents.publish":                              ["PUT /v1/agents/:agent_id",                 "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "Forbidden",    "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "agents.publish · a new agent id":             ["PUT /v1/agents/:agent_id",                 "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "ok",           "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "jobs.create":                                 ["POST /v1/jobs",                            "ok",           "ok",           "ok",           "Forbidden",    "Forbidden",    "ok",           "Unauthorized", "Unauthorized", "ok"],
  "jobs.list":                                   ["GET /v1/jobs",                             "ok, J listed", "ok, J listed", "ok, J hidden", "ok, J listed", "ok, J hidden", "ok, J listed", "Unauthorized", "Unauthorized", "ok, J listed"],
  "jobs.get":                                    ["GET /v1/jobs/:job_id",                     "ok",           "ok",           "JobNotFound",  "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "ok"],
  "jobs.get · a job id that does not exist":     ["GET /v1/jobs/:job_id",                     "JobNotFound",  "JobNotFound",  "JobNotFound",  "JobNotFound",  "JobNotFound",  "JobNotFound",  "Unauthorized", "Unauthorized", "JobNotFound"],
  "jobs.result":                                 ["GET /v1/jobs/:job_id/result",              "ok",           "ok",           "JobNotFound",  "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "ok"],
  "jobs.download":                               ["GET /v1/jobs/:job_id/files/:file_id",      "ok",           "ok",           "JobNotFound",  "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "ok"],
  "jobs.download · K's file through J's path":   ["GET /v1/jobs/:job_id/files/:file_id",      "FileNotFound", "FileNotFound", "JobNotFound",  "FileNotFound", "JobNotFound",  "FileNotFound", "Unauthorized", "Unauthorized", "FileNotFound"],
  "jobs.cancel":                                 ["POST /v1/jobs/:job_id/cancel",             "ok",           "ok",           "JobNotFound",  "Forbidden",    "Forbidden",    "ok",           "Unauthorized", "Unauthorized", "ok"],
  "jobs.events":                                 ["GET /v1/jobs/:job_id/events",              "ok",           "ok",           "JobNotFound",  "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "ok"],
  "executor.list":                               ["GET /v1/executor/jobs",                    "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "Forbidden",    "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "executor.claim":                              ["POST /v1/executor/jobs/claim",             "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "Forbidden",    "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "executor.status":                             ["POST /v1/executor/jobs/:job_id/status",    "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "executor.heartbeat":                          ["POST /v1/executor/jobs/:job_id/heartbeat", "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "executor.logs":                               ["POST /v1/executor/jobs/:job_id/logs",      "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "executor.childKey":                           ["POST /v1/executor/jobs/:job_id/child-key", "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "executor.complete":                           ["POST /v1/executor/jobs/:job_id/complete",  "Forbidden",    "Forbidden",    "Forbidden",    "ok",           "JobNotFound",  "ok",           "Unauthorized", "Unauthorized", "Forbidden"],
  "sessions.create":                             ["POST /v1/sessions",                        "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok"],
  "sessions.current":                            ["GET /v1/sessions/current",                 "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "ok"],
  "sessions.delete":                             ["DELETE /v1/sessions/current",              "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "Unauthorized", "ok"],
  "sessions.createLink":                         ["POST /v1/sessions/links",                  "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "Unauthorized", "Unauthorized", "Unauthorized"],
  "health.healthz":                              ["GET /healthz",                             "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok"],
  "health.readyz":                               ["GET /readyz",                              "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok"],
  "health.metrics":                              ["GET /metrics",                             "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok"],
  "GET /openapi.json":                           ["GET /openapi.json",                        "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok"],
  "GET /docs":                                   ["GET /docs",                                "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok",           "ok"],
} as const satisfies Record<string, Row>

type RowKey = keyof typeof policy

/** Routes served beside `Api` (by the server layer, not an `HttpApiGroup`). */
const extraRoutes: ReadonlyArray<RowKey> = ["GET /openapi.json", "GET /docs"]

/** The endpoint a row is about: its key without the variant. */
const endpointOf = (key: string) => key.split(" · ")[0] ?? key

/** Every endpoint of `Api`: `<group>.<endpoint>` → `METHOD /path`, and whether it authenticates. */
const apiEndpoints = (() => {
  const endpoints = new Map<string, { route: string; authenticated: boolean }>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, group, middleware }) => {
      endpoints.set(`${group.identifier}.${endpoint.name}`, {
        route: `${endpoint.method} ${endpoint.path}`,
        authenticated: middleware.size > 0
      })
    }
  })
  return endpoints
})()

// ---------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------

type Client = Effect.Effect.Success<ReturnType<typeof clientWith>>

interface Caller {
  readonly key: string | undefined
  readonly client: Client
  /** For a browser: the client of another session of the same key, made anew (to sign out of). */
  readonly fresh?: Effect.Effect<Client, never, HttpServer.HttpServer | HttpClient.HttpClient>
}

const inputText = "export const answer = 42\n"
const resultText = "# Review\n\nNo findings.\n"

interface WorldShape {
  readonly callers: Readonly<Record<Actor, Caller>>
  readonly agentA: AgentId
  readonly agentB: AgentId
  /** The owner buyer's completed job on A. */
  readonly job: Job
  readonly inputFileId: FileId
  readonly resultFileId: FileId
  /** The other buyer's pending job on B and its input file. */
  readonly otherJob: Job
  readonly otherFileId: FileId
}

/**
 * A browser signed in with `key` (through a sign-in link it made): a derived
 * client sending the session cookie and the session's CSRF token, no key.
 */
const browserOf = (key: string) =>
  Effect.gen(function*() {
    const keyed = yield* clientWith(key)
    const link = yield* keyed.sessions.createLink()
    const http = yield* HttpClient.HttpClient
    const url = yield* serverUrl
    const response = yield* http.post(`${url}/v1/sessions`, { body: HttpBody.unsafeJson({ link_token: link.link_token }) })
    const cookie = (response.headers["set-cookie"] ?? "").split(";")[0] ?? ""
    const session = yield* HttpClientResponse.schemaBodyJson(Session)(response)
    const browser = HttpClient.mapRequest(http, HttpClientRequest.setHeaders({ cookie, [csrfHeaderName]: session.csrf_token }))
    return yield* Effect.provideService(clientWith(undefined), HttpClient.HttpClient, browser)
  }).pipe(Effect.orDie)

class World extends Context.Tag("test/Authorization/World")<World, WorldShape>() {}

const WorldLive = Layer.effect(
  World,
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const owner = yield* actor("buyer")
    const ownersOtherKey = yield* actor("buyer", [], owner.info.account_id)
    const otherBuyer = yield* actor("buyer")
    const executorA = yield* actor("executor")
    const executorB = yield* actor("executor")
    const admin = yield* actor("admin")
    const revoked = yield* actor("admin")
    expect(yield* keys.revoke(revoked.info.key_id)).toBe(true)

    const agentA = makeAgentId()
    const agentB = makeAgentId()
    yield* executorA.client.agents.publish({ path: { agent_id: agentA }, payload: manifest("Agent A") })
    yield* executorB.client.agents.publish({ path: { agent_id: agentB }, payload: manifest("Agent B") })

    const created = yield* owner.client.jobs.create({
      headers: {},
      payload: orderForm(agentA, { level: 1 }, { "src/input.ts": inputText })
    })
    const { lease } = yield* executorA.client.executor.status({ path: { job_id: created.job_id }, payload: { status: "accepted" } })
    yield* executorA.client.executor.status({ path: { job_id: created.job_id }, payload: { status: "running", lease_id: lease.lease_id } })
    const form = new FormData()
    form.append("lease_id", lease.lease_id)
    form.append("files", new Blob([resultText], { type: "text/markdown" }), "review.md")
    const job = yield* executorA.client.executor.complete({ path: { job_id: created.job_id }, payload: form })
    const result = yield* owner.client.jobs.result({ path: { job_id: job.job_id } })

    const otherJob = yield* otherBuyer.client.jobs.create({
      headers: {},
      payload: orderForm(agentB, { level: 1 }, { "theirs.txt": "not for you\n" })
    })

    const [inputFile] = job.input_files
    const [resultFile] = result.files
    const [otherFile] = otherJob.input_files
    if (inputFile === undefined || resultFile === undefined || otherFile === undefined) {
      return yield* Effect.dieMessage("the fixture jobs lack their files")
    }
    return {
      callers: {
        "owner buyer": owner,
        "owner's other key": ownersOtherKey,
        "other buyer": otherBuyer,
        "executor of A": executorA,
        "executor of B": executorB,
        admin,
        "no key": { key: undefined, client: yield* clientWith(undefined) },
        "revoked key": revoked,
        "owner's browser": { key: undefined, client: yield* browserOf(owner.key), fresh: browserOf(owner.key) }
      },
      agentA,
      agentB,
      job,
      inputFileId: inputFile.file_id,
      resultFileId: resultFile.file_id,
      otherJob,
      otherFileId: otherFile.file_id
    } satisfies WorldShape
  }).pipe(Effect.orDie)
)

// ---------------------------------------------------------------------------
// The cells
// ---------------------------------------------------------------------------

/** `"ok"` or the `_tag` of the failure (including client-side failures, which then show in the diff). */
const observe = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<string, never, R> =>
  effect.pipe(
    Effect.as("ok"),
    Effect.catchAll((error: unknown) =>
      Effect.succeed(
        typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : `failed: ${String(error)}`
      )
    )
  )

/**
 * What a state-changing cell saw: its outcome, and — when it was refused —
 * whether the target was left as it was ("… but changed" otherwise).
 */
const refusalChangesNothing = (seen: string, before: Job, after: Job) =>
  seen === "ok" ||
    (after.status === before.status && after.cancel_requested === before.cancel_requested &&
      after.lease_expires_at?.epochMillis === before.lease_expires_at?.epochMillis)
    ? seen
    : `${seen} but changed`

type Cell = (caller: Caller, world: WorldShape) => Effect.Effect<string, never, HttpServer.HttpServer | HttpClient.HttpClient>

const cells = (() => {
  const owner = (world: WorldShape) => world.callers["owner buyer"].client
  const executorA = (world: WorldShape) => world.callers["executor of A"].client
  const admin = (world: WorldShape) => world.callers.admin.client
  const reread = (world: WorldShape, jobId: JobId) => admin(world).jobs.get({ path: { job_id: jobId } })

  /** A fresh pending job of the owner buyer on A. */
  const pending = (world: WorldShape) => owner(world).jobs.create({ headers: {}, payload: orderForm(world.agentA, { level: 1 }) })

  /** A fresh job on A, accepted (and, with `run`, running) by EA. */
  const held = (world: WorldShape, run: boolean) =>
    Effect.gen(function*() {
      const job = yield* pending(world)
      const accepted = yield* executorA(world).executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } })
      const lease_id = accepted.lease.lease_id
      const current = run
        ? (yield* executorA(world).executor.status({ path: { job_id: job.job_id }, payload: { status: "running", lease_id } })).job
        : accepted.job
      return { job: current, lease_id }
    })

  const raw = (path: string): Cell => (caller) =>
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const url = yield* serverUrl
      const response = yield* http.get(`${url}${path}`, {
        headers: caller.key === undefined ? {} : { authorization: `Bearer ${caller.key}` }
      })
      return response.status === 200 ? "ok" : `status ${response.status}`
    }).pipe(Effect.catchAll((error) => Effect.succeed(`failed: ${error._tag}`)))

  const table: Record<RowKey, Cell> = {
    "agents.search": ({ client }) => observe(client.agents.search({ urlParams: { limit: 20 } })),
    "agents.get": ({ client }, world) => observe(client.agents.get({ path: { agent_id: world.agentA } })),
    "agents.stats": ({ client }, world) => observe(client.agents.stats({ path: { agent_id: world.agentA } })),
    "agents.publish": ({ client }, world) =>
      observe(client.agents.publish({ path: { agent_id: world.agentA }, payload: manifest("Agent A") })),
    "agents.publish · a new agent id": ({ client }) =>
      observe(client.agents.publish({ path: { agent_id: makeAgentId() }, payload: manifest("Fresh agent") })),
    "jobs.create": ({ client }, world) =>
      observe(client.jobs.create({ headers: {}, payload: orderForm(world.agentA, { level: 1 }, { "a.txt": "a" }) })),
    "jobs.list": ({ client }, world) =>
      client.jobs.list({ urlParams: { status: "completed", limit: 100 } }).pipe(
        Effect.map((page) => page.data.some((job) => job.job_id === world.job.job_id) ? "ok, J listed" : "ok, J hidden"),
        (effect) => Effect.catchAll(effect, (error) => observe(Effect.fail(error)))
      ),
    "jobs.get": ({ client }, world) => observe(client.jobs.get({ path: { job_id: world.job.job_id } })),
    "jobs.get · a job id that does not exist": ({ client }) => observe(client.jobs.get({ path: { job_id: makeJobId() } })),
    "jobs.result": ({ client }, world) =>
      client.jobs.result({ path: { job_id: world.job.job_id } }).pipe(
        Effect.map((result) => result.files.map((file) => file.file_id).join() === world.resultFileId ? "ok" : "ok but wrong files"),
        (effect) => Effect.catchAll(effect, (error) => observe(Effect.fail(error)))
      ),
    "jobs.download": ({ client }, world) =>
      Effect.gen(function*() {
        const fetch = (fileId: FileId, text: string) =>
          client.jobs.download({ path: { job_id: world.job.job_id, file_id: fileId } }).pipe(
            Effect.map((bytes) => new TextDecoder().decode(bytes) === text ? "ok" : "ok but wrong bytes"),
            (effect) => Effect.catchAll(effect, (error) => observe(Effect.fail(error)))
          )
        const input = yield* fetch(world.inputFileId, inputText)
        const result = yield* fetch(world.resultFileId, resultText)
        return input === result ? input : `input file: ${input}, result file: ${result}`
      }),
    "jobs.download · K's file through J's path": ({ client }, world) =>
      observe(client.jobs.download({ path: { job_id: world.job.job_id, file_id: world.otherFileId } })),
    "jobs.cancel": ({ client }, world) =>
      Effect.gen(function*() {
        const job = yield* pending(world).pipe(Effect.orDie)
        const seen = yield* observe(client.jobs.cancel({ path: { job_id: job.job_id } }))
        const after = yield* reread(world, job.job_id).pipe(Effect.orDie)
        if (seen === "ok" && after.status !== "canceled") return "ok but not canceled"
        return refusalChangesNothing(seen, job, after)
      }),
    "jobs.events": ({ client }, world) =>
      client.jobs.events({ path: { job_id: world.job.job_id }, urlParams: { after: 0, limit: 100, wait: 0 } }).pipe(
        Effect.map((page) => page.data.length > 0 && page.status === "completed" ? "ok" : "ok but no events"),
        (effect) => Effect.catchAll(effect, (error) => observe(Effect.fail(error)))
      ),
    "executor.list": ({ client }, world) =>
      client.executor.list({ urlParams: { agent_id: world.agentA, status: "pending", limit: 100, wait: 0 } }).pipe(
        Effect.map((page) => page.data.every((job) => job.agent_id === world.agentA) ? "ok" : "ok but another agent's jobs"),
        (effect) => Effect.catchAll(effect, (error) => observe(Effect.fail(error)))
      ),
    "executor.claim": ({ client }, world) =>
      Effect.gen(function*() {
        // A fresh agent of EA with one job, so that a claim takes exactly that job.
        const agentId = makeAgentId()
        yield* executorA(world).agents.publish({ path: { agent_id: agentId }, payload: manifest("Claimable") }).pipe(Effect.orDie)
        const job = yield* owner(world).jobs.create({ headers: {}, payload: orderForm(agentId, { level: 1 }) }).pipe(Effect.orDie)
        const claimed = yield* client.executor.claim({ payload: { agent_id: agentId, executor_id: "authorization-test", wait: 0 } }).pipe(
          Effect.map((response) => response.claimed?.job.job_id === job.job_id ? "ok" : "ok but not that job"),
          (effect) => Effect.catchAll(effect, (error) => observe(Effect.fail(error)))
        )
        const after = yield* reread(world, job.job_id).pipe(Effect.orDie)
        return refusalChangesNothing(claimed, job, after)
      }),
    "executor.status": ({ client }, world) =>
      Effect.gen(function*() {
        const job = yield* pending(world).pipe(Effect.orDie)
        const seen = yield* observe(client.executor.status({ path: { job_id: job.job_id }, payload: { status: "accepted" } }))
        return refusalChangesNothing(seen, job, yield* reread(world, job.job_id).pipe(Effect.orDie))
      }),
    "executor.heartbeat": ({ client }, world) =>
      Effect.gen(function*() {
        const { job, lease_id } = yield* held(world, false).pipe(Effect.orDie)
        const seen = yield* observe(client.executor.heartbeat({ path: { job_id: job.job_id }, payload: { lease_id } }))
        return refusalChangesNothing(seen, job, yield* reread(world, job.job_id).pipe(Effect.orDie))
      }),
    "executor.childKey": ({ client }, world) =>
      Effect.gen(function*() {
        const { job, lease_id } = yield* held(world, true).pipe(Effect.orDie)
        const seen = yield* observe(client.executor.childKey({ path: { job_id: job.job_id }, payload: { lease_id } }))
        return refusalChangesNothing(seen, job, yield* reread(world, job.job_id).pipe(Effect.orDie))
      }),
    "executor.logs": ({ client }, world) =>
      Effect.gen(function*() {
        const { job, lease_id } = yield* held(world, true).pipe(Effect.orDie)
        const seen = yield* observe(client.executor.logs({ path: { job_id: job.job_id }, payload: { lease_id, lines: ["a line"] } }))
        const events = yield* admin(world).jobs.events({ path: { job_id: job.job_id }, urlParams: { after: 0, limit: 100, wait: 0 } }).pipe(
          Effect.orDie
        )
        const logged = events.data.some((event) => event.type === "log")
        if (seen === "ok") return logged ? "ok" : "ok but not logged"
        return logged ? `${seen} but logged` : refusalChangesNothing(seen, job, yield* reread(world, job.job_id).pipe(Effect.orDie))
      }),
    "executor.complete": ({ client }, world) =>
      Effect.gen(function*() {
        const { job, lease_id } = yield* held(world, true).pipe(Effect.orDie)
        const form = new FormData()
        form.append("lease_id", lease_id)
        form.append("files", new Blob(["done\n"], { type: "text/plain" }), "out.txt")
        const seen = yield* observe(client.executor.complete({ path: { job_id: job.job_id }, payload: form }))
        const after = yield* reread(world, job.job_id).pipe(Effect.orDie)
        const files = yield* admin(world).jobs.result({ path: { job_id: job.job_id } }).pipe(Effect.orDie)
        if (seen === "ok") return after.status === "completed" && files.files.length === 1 ? "ok" : "ok but not completed"
        return files.files.length > 0 ? `${seen} but files stored` : refusalChangesNothing(seen, job, after)
      }),
    "sessions.create": ({ client }, world) =>
      Effect.gen(function*() {
        const link = yield* owner(world).sessions.createLink().pipe(Effect.orDie)
        return yield* observe(client.sessions.create({ payload: { link_token: link.link_token } }))
      }),
    "sessions.current": ({ client }) => observe(client.sessions.current()),
    "sessions.delete": ({ client, fresh }) =>
      Effect.gen(function*() {
        const signedIn = fresh === undefined ? client : yield* fresh
        const seen = yield* observe(signedIn.sessions.delete())
        const after = yield* observe(signedIn.sessions.current())
        return seen === "ok" && after === "ok" ? "ok but still signed in" : seen
      }),
    "sessions.createLink": ({ client }) => observe(client.sessions.createLink()),
    "health.healthz": ({ client }) => observe(client.health.healthz()),
    "health.readyz": ({ client }) => observe(client.health.readyz()),
    "health.metrics": ({ client }) => observe(client.health.metrics()),
    "GET /openapi.json": raw("/openapi.json"),
    "GET /docs": raw("/docs")
  }
  return table
})()

/** "ok for owner buyer, admin · JobNotFound for other buyer, …": the row as a sentence. */
const describeRow = (row: Row) => {
  const byOutcome = new Map<string, Array<Actor>>()
  actors.forEach((name, index) => {
    const outcome = row[index + 1] ?? ""
    byOutcome.set(outcome, [...(byOutcome.get(outcome) ?? []), name])
  })
  return [...byOutcome].map(([outcome, names]) => `${outcome} for ${names.join(", ")}`).join(" · ")
}

const expectedOf = (row: Row): Record<Actor, string> =>
  Object.fromEntries(actors.map((name, index) => [name, row[index + 1] ?? ""])) as Record<Actor, string>

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

layer(WorldLive.pipe(Layer.provideMerge(TestLive)), { timeout: 60_000, excludeTestServices: true })(
  "authorization (OWASP API1 BOLA, API5 BFLA)",
  (it) => {
    describe("the table: every endpoint × every actor", () => {
      it.effect("the table has a row for every endpoint of Api, with its route, and nothing else", () =>
        Effect.sync(() => {
          const rows = Object.entries(policy) as ReadonlyArray<readonly [string, Row]>
          const covered = new Set(rows.map(([key]) => endpointOf(key)))
          expect([...apiEndpoints.keys()].filter((endpoint) => !covered.has(endpoint))).toEqual([])
          expect([...covered].filter((endpoint) => !apiEndpoints.has(endpoint) && !extraRoutes.includes(endpoint as RowKey))).toEqual([])
          for (const [key, row] of rows) {
            const endpoint = apiEndpoints.get(endpointOf(key))
            expect(row[0], key).toBe(endpoint === undefined ? endpointOf(key) : endpoint.route)
            // An endpoint without authentication is open to every caller, and only such an endpoint.
            const open = row[7] === "ok" && row[8] === "ok"
            expect(open, key).toBe(endpoint === undefined ? true : !endpoint.authenticated)
          }
        }))

      for (const [key, row] of Object.entries(policy) as ReadonlyArray<readonly [RowKey, Row]>) {
        it.effect(`${key} (${row[0]}): ${describeRow(row)}`, () =>
          Effect.gen(function*() {
            const world = yield* World
            const observed = yield* Effect.forEach(actors, (name) => cells[key](world.callers[name], world), {
              concurrency: "unbounded"
            })
            expect(Object.fromEntries(actors.map((name, index) => [name, observed[index]]))).toEqual(expectedOf(row))
          }))
      }
    })

    describe("not revealing what exists", () => {
      it.effect("another buyer's job and a job that does not exist give the same 404 body but for the id", () =>
        Effect.gen(function*() {
          const world = yield* World
          const http = yield* HttpClient.HttpClient
          const url = yield* serverUrl
          const key = world.callers["other buyer"].key ?? ""
          const fetch = (jobId: JobId, path: string) =>
            http.get(`${url}/v1/jobs/${jobId}${path}`, { headers: { authorization: `Bearer ${key}` } }).pipe(
              Effect.flatMap((response) =>
                Effect.map(response.text, (text) => ({ status: response.status, body: text.replaceAll(jobId, "<id>") }))
              )
            )
          const missing = makeJobId()
          for (const path of ["", "/result", "/events", `/files/${world.inputFileId}`]) {
            const theirs = yield* fetch(world.job.job_id, path)
            const nobody = yield* fetch(missing, path)
            expect(theirs.status, path).toBe(404)
            expect(theirs, path).toEqual(nobody)
          }
        }))

      it.effect("the event stream (text/event-stream) of another buyer's job is 404 JobNotFound, and the owner's opens", () =>
        Effect.gen(function*() {
          const world = yield* World
          const http = yield* HttpClient.HttpClient
          const url = yield* serverUrl
          const stream = (caller: Actor) =>
            http.get(`${url}/v1/jobs/${world.job.job_id}/events`, {
              headers: { authorization: `Bearer ${world.callers[caller].key ?? ""}`, accept: "text/event-stream" }
            }).pipe(Effect.flatMap((response) => Effect.map(response.text, (text) => ({ status: response.status, text }))))
          const other = yield* stream("other buyer")
          expect(other.status).toBe(404)
          expect(JSON.parse(other.text)).toMatchObject({ _tag: "JobNotFound" })
          const executorB = yield* stream("executor of B")
          expect(executorB.status).toBe(404)
          // J is completed, so the owner's stream sends the job and its events and ends.
          const owner = yield* stream("owner buyer")
          expect(owner.status).toBe(200)
          expect(owner.text).toMatch(/^event: job\n/)
          expect(owner.text).toContain("event: status")
        }))

      it.effect("a file id of another job is FileNotFound through one's own job, whichever job it belongs to", () =>
        Effect.gen(function*() {
          const world = yield* World
          const owner = world.callers["owner buyer"].client
          const other = world.callers["other buyer"].client
          const mine = yield* owner.jobs.download({ path: { job_id: world.job.job_id, file_id: world.otherFileId } }).pipe(Effect.flip)
          expect(mine._tag).toBe("FileNotFound")
          const theirs = yield* other.jobs.download({ path: { job_id: world.otherJob.job_id, file_id: world.inputFileId } }).pipe(
            Effect.flip
          )
          expect(theirs._tag).toBe("FileNotFound")
          const unknown = yield* owner.jobs.download({ path: { job_id: world.job.job_id, file_id: makeFileId() } }).pipe(Effect.flip)
          expect(unknown._tag).toBe("FileNotFound")
        }))

      it.effect("job lists filtered by another agent or status never reach past the caller's own jobs", () =>
        Effect.gen(function*() {
          const world = yield* World
          const ownerIds =
            (yield* world.callers["owner buyer"].client.jobs.list({ urlParams: { agent_id: world.agentB, limit: 100 } })).data
          expect(ownerIds).toEqual([])
          const executorA = yield* world.callers["executor of A"].client.jobs.list({ urlParams: { agent_id: world.agentB, limit: 100 } })
          expect(executorA.data).toEqual([])
          const executorB = yield* world.callers["executor of B"].client.jobs.list({ urlParams: { limit: 100 } })
          expect(executorB.data.map((job) => job.job_id)).toEqual([world.otherJob.job_id])
        }))
    })

    describe("publishing binds agents to executor keys", () => {
      it.effect("an executor publishing a new agent id comes to serve it; another executor may neither take it over nor serve it", () =>
        Effect.gen(function*() {
          const world = yield* World
          const executorA = world.callers["executor of A"].client
          const executorB = world.callers["executor of B"].client
          const agentId = makeAgentId()
          yield* executorB.agents.publish({ path: { agent_id: agentId }, payload: manifest("B's second agent") })
          const listed = yield* executorB.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } })
          expect(listed.data).toEqual([])
          const takeover = yield* executorA.agents.publish({ path: { agent_id: agentId }, payload: manifest("Stolen") }).pipe(Effect.flip)
          expect(takeover._tag).toBe("Forbidden")
          const serve = yield* executorA.executor.claim({ payload: { agent_id: agentId, executor_id: "thief", wait: 0 } }).pipe(Effect.flip)
          expect(serve._tag).toBe("Forbidden")
          expect((yield* executorA.agents.get({ path: { agent_id: agentId } })).name).toBe("B's second agent")
        }))

      it.effect("an agent an admin published belongs to no executor key: executors may not republish or serve it", () =>
        Effect.gen(function*() {
          const world = yield* World
          const agentId = makeAgentId()
          yield* world.callers.admin.client.agents.publish({ path: { agent_id: agentId }, payload: manifest("House agent") })
          for (const name of ["executor of A", "executor of B"] as const) {
            const client = world.callers[name].client
            const publish = yield* client.agents.publish({ path: { agent_id: agentId }, payload: manifest("Mine") }).pipe(Effect.flip)
            expect(publish._tag).toBe("Forbidden")
            const list = yield* client.executor.list({ urlParams: { agent_id: agentId, status: "pending", limit: 20, wait: 0 } }).pipe(
              Effect.flip
            )
            expect(list._tag).toBe("Forbidden")
          }
        }))
    })
  }
)
