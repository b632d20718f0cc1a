/**
 * Model-based property test of the job lifecycle (DESIGN.md "Tests":
 * random buyer/executor action sequences against the running server,
 * checked against the pure model of `LifecycleModel.ts`).
 *
 * One real server on a fresh PostgreSQL database serves every run; each
 * run makes its own agent and keys (two buyers, two executor processes on
 * one shared or two separate keys), so runs — and fast-check's shrinking
 * replays — never see each other's jobs. After every step the outcome of
 * the call (success or the exact error `_tag`), the touched job's state
 * and its new events must equal the model's; at the end of a run every
 * job, its whole event history and every input and result file (bytes and
 * sha256) are checked again.
 *
 * Lease expiry is made deterministic: the server runs with the default
 * 60 s lease (no lease runs out by accident, however slow a run), and the
 * `leaseRunsOut` step moves the job's `lease_expires_at` into the past —
 * the database's record of time, not the code under test — then waits for
 * the real reaper fiber (every 0.1 s, without the start-up grace that lets
 * holders reconnect after a restart) to end the job. Waiting out a real
 * 1 s lease would cost a second per step and make every other lease of
 * the run race the clock.
 */
import type { AgentId, JobId } from "@agnt/domain/Ids"
import type { Job, JobEvent } from "@agnt/domain/Job"
import { canTransition, isTerminal, type JobStatus } from "@agnt/domain/Lifecycle"
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { layer } from "@effect/vitest"
import { Data, Effect, Either, Layer, Redacted, Schedule } from "effect"
import { inject } from "vitest"
import { ApiKeys } from "../src/ApiKeys.js"
import { makeAgentId } from "../src/Ids.js"
import { TestServerLive } from "../src/Testing.js"
import { manifest } from "./Fixtures.js"
import * as Model from "./LifecycleModel.js"
import { clientWith } from "./support.js"

type Client = Effect.Effect.Success<ReturnType<typeof clientWith>>

/** The server answered otherwise than the model said. */
class ModelMismatch extends Data.TaggedError("ModelMismatch")<{ readonly message: string }> {}

/** What the driver saw of a job so far: its last status and how many of its events were checked. */
interface Seen {
  status: JobStatus
  checkedEvents: number
  lastEventId: number
}

interface World {
  readonly agentId: AgentId
  readonly buyers: readonly [Client, Client]
  readonly executors: readonly [Client, Client]
  readonly executorIds: readonly [string, string]
  readonly model: Model.Model
  readonly seen: Map<JobId, Seen>
}

const ModelServerLive = TestServerLive(inject("pgAdminUrl"), { reaperIntervalSeconds: 0.1, reaperGraceSeconds: 0 }).pipe(
  Layer.provideMerge(FetchHttpClient.layer)
)

const json = (value: unknown) => JSON.stringify(value)

/** Fail the run unless `actual` equals `expected` (compared as JSON). */
const same = (what: string, actual: unknown, expected: unknown) =>
  json(actual) === json(expected)
    ? Effect.void
    : Effect.fail(new ModelMismatch({ message: `${what}: expected ${json(expected)}, got ${json(actual)}` }))

const holds = (what: string, condition: boolean) => condition ? Effect.void : Effect.fail(new ModelMismatch({ message: what }))

/** `ok` or the `_tag` of the error a call failed with. */
const outcomeOf = (result: Either.Either<unknown, unknown>): string =>
  Either.isRight(result)
    ? "ok"
    : typeof result.left === "object" && result.left !== null && "_tag" in result.left
    ? String(result.left._tag)
    : String(result.left)

const form = (fields: Readonly<Record<string, string>>, files: ReadonlyArray<Model.FileSpec>) => {
  const body = new FormData()
  for (const [name, value] of Object.entries(fields)) body.append(name, value)
  for (const file of files) body.append("files", new Blob([file.text], { type: "text/plain" }), file.name)
  return body
}

/** Fresh agent and keys: two buyers, and two executor processes on one key or two. */
const setup = (sharedExecutorKey: boolean) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const keyOf = (role: "buyer" | "executor", agentIds: ReadonlyArray<AgentId> = []) =>
      Effect.map(keys.create({ role, agent_ids: agentIds }), (created) => Redacted.value(created.key))
    const agentId = makeAgentId()
    const first = yield* clientWith(yield* keyOf("executor"))
    yield* first.agents.publish({ path: { agent_id: agentId }, payload: manifest("Model agent") })
    const second = sharedExecutorKey ? first : yield* clientWith(yield* keyOf("executor", [agentId]))
    const world: World = {
      agentId,
      buyers: [yield* clientWith(yield* keyOf("buyer")), yield* clientWith(yield* keyOf("buyer"))],
      executors: [first, second],
      executorIds: [`model-${agentId}-0`, `model-${agentId}-1`],
      model: Model.emptyModel(),
      seen: new Map()
    }
    return world
  })

/** The job as its buyer sees it equals the model's job; its status only moved as the lifecycle allows. */
const checkJob = (world: World, job: Model.ModelJob, actual: Job) =>
  Effect.gen(function*() {
    const seen = world.seen.get(job.id)
    if (seen !== undefined && seen.status !== actual.status) {
      yield* holds(
        `status regressed: ${seen.status} → ${actual.status}`,
        !isTerminal(seen.status) && canTransition(seen.status, actual.status)
      )
    }
    yield* same("status", actual.status, job.status)
    yield* same("cancel_requested", actual.cancel_requested, job.cancelRequested)
    yield* same("decision_reason", actual.decision_reason, job.decisionReason)
    yield* same("failure_reason", actual.failure_reason, job.failureReason)
    yield* same("progress", actual.progress, job.progress)
    yield* same("status_message", actual.status_message, job.statusMessage)
    const active = job.status === "accepted" || job.status === "running"
    yield* same("lease_expires_at is set (accepted or running)", actual.lease_expires_at !== null, active)
    yield* same("started_at is set", actual.started_at !== null, job.started)
    yield* same("completed_at is set (terminal)", actual.completed_at !== null, isTerminal(job.status))
    yield* same("duration_seconds is set", actual.duration_seconds !== null, job.started && isTerminal(job.status))
    yield* same(
      "input files (path, sha256)",
      actual.input_files.map((file) => [file.kind, file.path, file.sha256]),
      [...job.inputs].sort((a, b) => a.name < b.name ? -1 : 1).map((file) => ["input", file.name, Model.sha256Hex(file.text)])
    )
    world.seen.set(job.id, { ...(seen ?? { checkedEvents: 0, lastEventId: 0 }), status: actual.status })
  })

/** Events are strictly ordered by id, and their status-type events only move as the lifecycle allows. */
const checkEventOrder = (events: ReadonlyArray<JobEvent>, after: number, before: JobStatus | undefined) =>
  Effect.gen(function*() {
    let last = after
    let status = before
    for (const event of events) {
      yield* holds(`event ids not increasing: ${last} then ${event.event_id}`, event.event_id > last)
      last = event.event_id
      if (event.type === "status" && status !== undefined && event.status !== status) {
        yield* holds(`status event ${status} → ${event.status} is no lifecycle transition`, canTransition(status, event.status))
      }
      status = event.status
    }
  })

/** Events equal the expected ones in type and status, and in the keys of `data` the model names. */
const sameEvents = (what: string, actual: ReadonlyArray<JobEvent>, expected: ReadonlyArray<Model.ExpectedEvent>) =>
  same(
    what,
    actual.map((event, index) => {
      const keys = Object.keys(expected[index]?.data ?? {})
      const data: { readonly [key: string]: unknown } = event.data
      return {
        type: event.type,
        status: event.status,
        ...(keys.length === 0 ? {} : { data: Object.fromEntries(keys.map((key) => [key, data[key]])) })
      }
    }),
    expected
  )

/**
 * Fetch the job (it must equal the model's) and, when the model expects
 * new events or `always`, its events after the last checked one (they
 * must be the model's new events). An event the model did not expect is
 * caught by the next fetch of the job's events at the latest.
 */
const observe = (world: World, job: Model.ModelJob, always = false) =>
  Effect.gen(function*() {
    const buyer = world.buyers[job.buyer]
    const current = yield* buyer.jobs.get({ path: { job_id: job.id } })
    yield* checkJob(world, job, current)
    const seen = world.seen.get(job.id) ?? { status: job.status, checkedEvents: 0, lastEventId: 0 }
    if (!always && job.events.length === seen.checkedEvents) return current
    const page = yield* buyer.jobs.events({ path: { job_id: job.id }, urlParams: { after: seen.lastEventId, limit: 500, wait: 0 } })
    yield* checkEventOrder(page.data, seen.lastEventId, job.events[seen.checkedEvents - 1]?.status)
    yield* sameEvents("new events (type, status, data)", page.data, job.events.slice(seen.checkedEvents))
    world.seen.set(job.id, {
      status: seen.status,
      checkedEvents: job.events.length,
      lastEventId: page.data[page.data.length - 1]?.event_id ?? seen.lastEventId
    })
    return current
  })

/** End of a run: every job again, the rest of its history, its result, and each input and result file's bytes. */
const finalCheck = (world: World) =>
  Effect.forEach(world.model.jobs, (job) =>
    Effect.gen(function*() {
      const buyer = world.buyers[job.buyer]
      const current = yield* observe(world, job, true)
      const result = yield* buyer.jobs.result({ path: { job_id: job.id } })
      yield* same("result status", result.status, job.status)
      const expectedResults = job.status === "completed" ? job.results : []
      yield* same(
        "result files (path, sha256)",
        result.files.map((file) => [file.path, file.sha256]),
        [...expectedResults].sort((a, b) => a.name < b.name ? -1 : 1).map((file) => [file.name, Model.sha256Hex(file.text)])
      )
      yield* Effect.forEach([...current.input_files, ...result.files], (file) =>
        Effect.gen(function*() {
          const bytes = yield* buyer.jobs.download({ path: { job_id: job.id, file_id: file.file_id } })
          yield* same(`bytes of ${file.kind} file ${file.path}`, Model.sha256Hex(bytes), file.sha256)
          yield* same(`size of ${file.kind} file ${file.path}`, bytes.length, file.size)
        }), { discard: true, concurrency: 4 })
    }), { discard: true, concurrency: 4 })

const expectOutcome = (actual: string, expected: string) => same("outcome", actual, expected)

/** Carry out one action against the server and the model; check the outcome and the touched job. */
const step = (world: World, action: Model.Action) =>
  Effect.gen(function*() {
    const { model } = world
    if (action._tag === "Order") {
      const created = yield* world.buyers[action.buyer].jobs.create({
        headers: {},
        payload: form({ agent_id: world.agentId, prompt: "model run", params: json({ level: 3 }) }, action.files)
      })
      const job: Model.ModelJob = {
        id: created.job_id,
        buyer: action.buyer,
        inputs: action.files,
        status: "pending",
        leaseId: null,
        holder: null,
        cancelRequested: false,
        decisionReason: null,
        failureReason: null,
        progress: null,
        statusMessage: null,
        started: false,
        results: [],
        events: [{ type: "status", status: "pending", data: { files: action.files.length } }]
      }
      model.jobs.push(job)
      yield* checkJob(world, job, created)
      yield* observe(world, job)
      return
    }
    if (action._tag === "Claim") {
      const oldest = model.jobs.filter((job) => job.status === "pending").sort((a, b) => a.id < b.id ? -1 : 1)[0]
      const response = yield* world.executors[action.executor].executor.claim({
        payload: { agent_id: world.agentId, executor_id: world.executorIds[action.executor], wait: 0 }
      })
      yield* same("claimed job", response.claimed?.job.job_id ?? null, oldest?.id ?? null)
      if (oldest === undefined || response.claimed === null) return
      yield* holds("a job leased twice", oldest.leaseId === null)
      Model.grantLease(model, oldest, action.executor, response.claimed.lease.lease_id)
      yield* checkJob(world, oldest, response.claimed.job)
      yield* observe(world, oldest)
      return
    }
    const job = Model.jobOf(model, action.job)
    if (job === undefined) return
    const executor = (who: Model.Who) => world.executors[who].executor
    const path = { job_id: job.id }
    switch (action._tag) {
      case "Accept": {
        const expected = job.status === "pending" ? "ok" : "InvalidTransition"
        const result = yield* Effect.either(executor(action.executor).status({ path, payload: { status: "accepted" } }))
        yield* expectOutcome(outcomeOf(result), expected)
        if (Either.isRight(result)) {
          yield* holds("a job leased twice", job.leaseId === null)
          Model.grantLease(model, job, action.executor, result.right.lease.lease_id)
        }
        break
      }
      case "RaceAccept": {
        const [first, second] = yield* Effect.all(
          world.executors.map((client) => Effect.either(client.executor.status({ path, payload: { status: "accepted" } }))),
          { concurrency: "unbounded" }
        )
        if (first === undefined || second === undefined) return
        const outcomes = [outcomeOf(first), outcomeOf(second)]
        yield* same(
          "outcomes of two accepts at once (sorted)",
          [...outcomes].sort(),
          job.status === "pending" ? ["InvalidTransition", "ok"] : ["InvalidTransition", "InvalidTransition"]
        )
        const winner = Either.isRight(first)
          ? { who: 0 as const, claimed: first.right }
          : Either.isRight(second)
          ? { who: 1 as const, claimed: second.right }
          : undefined
        if (winner !== undefined) Model.grantLease(model, job, winner.who, winner.claimed.lease.lease_id)
        break
      }
      case "Reject": {
        const expected = job.status === "pending" ? "ok" : "InvalidTransition"
        const result = yield* Effect.either(
          executor(action.executor).status({ path, payload: { status: "rejected", reason: action.reason } })
        )
        yield* expectOutcome(outcomeOf(result), expected)
        if (expected === "ok") {
          job.decisionReason = action.reason
          Model.moveTo(job, "rejected", { reason: action.reason })
        }
        break
      }
      case "Start":
      case "Progress": {
        const who = Model.executorBy(action.by, job)
        const sent = Model.leaseSentBy(model, who, job)
        const expected = Model.leasedCall(job, sent)
        const payload = action._tag === "Start"
          ? { status: "running" as const, lease_id: sent }
          : { status: "running" as const, lease_id: sent, progress: action.progress, message: `at ${action.progress}%` }
        const result = yield* Effect.either(executor(who).status({ path, payload }))
        yield* expectOutcome(outcomeOf(result), expected)
        if (expected === "ok") {
          if (action._tag === "Progress") {
            job.progress = action.progress
            job.statusMessage = `at ${action.progress}%`
          }
          Model.moveTo(job, "running", action._tag === "Progress" ? { progress: action.progress } : undefined)
        }
        if (Either.isRight(result)) yield* same("lease of the answer", result.right.lease.lease_id, sent)
        break
      }
      case "Log":
      case "Heartbeat": {
        const who = Model.executorBy(action.by, job)
        const sent = Model.leaseSentBy(model, who, job)
        const expected = Model.leasedCall(job, sent)
        const result = yield* Effect.either(
          action._tag === "Log"
            ? executor(who).logs({ path, payload: { lease_id: sent, lines: action.lines } })
            : executor(who).heartbeat({ path, payload: { lease_id: sent } })
        )
        yield* expectOutcome(outcomeOf(result), expected)
        if (Either.isRight(result)) yield* same("cancel_requested told to the holder", result.right.cancel_requested, job.cancelRequested)
        if (expected === "ok" && action._tag === "Log") job.events.push({ type: "log", status: job.status, data: { lines: action.lines } })
        break
      }
      case "Complete": {
        const who = Model.executorBy(action.by, job)
        const sent = Model.leaseSentBy(model, who, job)
        const expected = Model.completeOutcome(job, sent, action.files)
        const result = yield* Effect.either(executor(who).complete({ path, payload: form({ lease_id: sent }, action.files) }))
        yield* expectOutcome(outcomeOf(result), expected)
        if (expected === "ok" && job.status !== "completed") {
          job.results = action.files
          Model.moveTo(job, "completed")
        }
        if (Either.isRight(result)) yield* same("status of the answer", result.right.status, "completed")
        break
      }
      case "Fail": {
        const who = Model.executorBy(action.by, job)
        const sent = Model.leaseSentBy(model, who, job)
        const expected = Model.leasedCall(job, sent)
        const result = yield* Effect.either(
          executor(who).status({ path, payload: { status: "failed", lease_id: sent, reason: action.reason } })
        )
        yield* expectOutcome(outcomeOf(result), expected)
        if (expected === "ok") {
          job.failureReason = action.reason
          Model.moveTo(job, "failed", { reason: action.reason })
        }
        break
      }
      case "ConfirmCancel": {
        const who = Model.executorBy(action.by, job)
        const sent = Model.leaseSentBy(model, who, job)
        const expected = Model.leasedCall(job, sent)
        const result = yield* Effect.either(executor(who).status({ path, payload: { status: "canceled", lease_id: sent } }))
        yield* expectOutcome(outcomeOf(result), expected)
        if (expected === "ok") {
          job.failureReason = "canceled by the buyer"
          Model.moveTo(job, "canceled", { reason: "canceled by the buyer" })
        }
        break
      }
      case "Cancel": {
        const result = yield* Effect.either(world.buyers[action.buyer].jobs.cancel({ path }))
        yield* expectOutcome(outcomeOf(result), Model.cancelByBuyer(job, action.buyer))
        if (Either.isRight(result)) {
          yield* same("answer of the cancel", [result.right.status, result.right.cancel_requested], [job.status, job.cancelRequested])
        }
        break
      }
      case "Expire": {
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE jobs SET lease_expires_at = now() - interval '1 second'
                   WHERE job_id = ${job.id} AND lease_expires_at IS NOT NULL`
        if (Model.expire(job)) {
          // The reaper fiber ends the job within its 0.1 s interval.
          yield* world.buyers[job.buyer].jobs.get({ path }).pipe(
            Effect.filterOrFail((current) => isTerminal(current.status), () =>
              new ModelMismatch({ message: "the reaper did not end the job" })),
            Effect.retry({ schedule: Schedule.spaced("25 millis"), times: 200 })
          )
        }
        break
      }
    }
    yield* observe(world, job)
  })

/** Run the actions in order; a mismatch names the step and the model's view of the job. */
const runActions = (sharedExecutorKey: boolean, actions: ReadonlyArray<Model.Action>) =>
  Effect.gen(function*() {
    const world = yield* setup(sharedExecutorKey)
    for (const [index, action] of actions.entries()) {
      yield* step(world, action).pipe(
        Effect.catchAll((error) => {
          const job = "job" in action ? Model.jobOf(world.model, action.job) : undefined
          const view = job === undefined
            ? ""
            : `\n  model's job: ${json({ ...job, events: job.events.map((event) => `${event.type}:${event.status}`) })}`
          const message = error instanceof ModelMismatch ? error.message : `unexpected ${outcomeOf(Either.left(error))}: ${String(error)}`
          return Effect.fail(new ModelMismatch({ message: `step ${index + 1} ${Model.describeAction(action)}: ${message}${view}` }))
        })
      )
    }
    yield* finalCheck(world).pipe(
      Effect.catchAll((error) =>
        Effect.fail(
          new ModelMismatch({ message: `after the last step: ${error instanceof ModelMismatch ? error.message : String(error)}` })
        )
      )
    )
  })

layer(ModelServerLive, { timeout: 60_000, excludeTestServices: true })("the job lifecycle against its model", (it) => {
  it.effect.prop(
    "random buyer and executor actions have the model's outcomes, states, events and files on the real server",
    [Model.runArbitrary],
    ([run]) => runActions(run.sharedExecutorKey, run.actions),
    { timeout: 240_000, fastCheck: { numRuns: 200 } }
  )
})
