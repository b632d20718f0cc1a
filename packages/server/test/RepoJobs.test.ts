/**
 * Repo jobs and handoff on the API (DESIGN.md "Repo jobs"): an order's
 * `repo` is kept and returned as sent; `parent_job_id` must name a job the
 * orderer may see (the parent's ownership holds for the child: another
 * account's job is 404, as if it did not exist); `GET /v1/jobs?parent_job_id`
 * lists a job's children, only to those who may see them; an order that
 * differs only in its repo is another request for its `Idempotency-Key`;
 * a child-order key, issued to the executor holding a job, orders and sees
 * that job's children only, is logged in the job's events, signs no
 * browser in, and stops working when the job ends.
 */
import { type JobId, LeaseId } from "@agnt/domain/Ids"
import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { order } from "./Fixtures.js"
import { actor, clientWith, openMarket, TestLive } from "./support.js"

const repo = {
  base_commit: "0123456789abcdef0123456789abcdef01234567",
  tree: "89abcdef0123456789abcdef0123456789abcdef",
  branch: "main",
  modes: { "run.sh": "100755", "link": "120000" },
  submodules: { "vendor/lib": "fedcba9876543210fedcba9876543210fedcba98" }
}

/** An order of `agentId` with `fields` added to the form. */
const orderWith = (agentId: Parameters<typeof order>[0], fields: Readonly<Record<string, string>>) => {
  const form = order(agentId, { files: { "run.sh": "#!/bin/sh\n", "link": "run.sh" } })
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  return form
}

layer(TestLive, { timeout: 60_000 })("repo jobs and handoff", (it) => {
  it.effect("repo is returned as sent; a child of another account's job is 404; children are listed by parent, to their owner only", () =>
    Effect.gen(function*() {
      const { agentId, buyer } = yield* openMarket
      const parent = yield* buyer.client.jobs.create({ headers: {}, payload: orderWith(agentId, { repo: JSON.stringify(repo) }) })
      expect(parent.repo).toEqual(repo)
      expect(parent.parent_job_id).toBeNull()

      const child = yield* buyer.client.jobs.create({ headers: {}, payload: orderWith(agentId, { parent_job_id: parent.job_id }) })
      expect([child.parent_job_id, child.repo]).toEqual([parent.job_id, null])
      const sameAccount = yield* actor("buyer", [], buyer.info.account_id)
      const grandchild = yield* sameAccount.client.jobs.create({
        headers: {},
        payload: orderWith(agentId, { parent_job_id: child.job_id })
      })
      expect(grandchild.parent_job_id).toBe(child.job_id)

      const stranger = yield* actor("buyer")
      const refused = yield* stranger.client.jobs.create({ headers: {}, payload: orderWith(agentId, { parent_job_id: parent.job_id }) })
        .pipe(Effect.either)
      expect(Either.isLeft(refused) && refused.left._tag).toBe("JobNotFound")

      const children = (by: typeof buyer, jobId: JobId) =>
        Effect.map(by.client.jobs.list({ urlParams: { parent_job_id: jobId, limit: 20 } }), (page) => page.data.map((job) => job.job_id))
      expect(yield* children(buyer, parent.job_id)).toEqual([child.job_id])
      expect(yield* children(buyer, child.job_id)).toEqual([grandchild.job_id])
      expect(yield* children(stranger, parent.job_id)).toEqual([])
    }))

  it.effect("an Idempotency-Key reused with another repo is 409 IdempotencyConflict", () =>
    Effect.gen(function*() {
      const { agentId, buyer } = yield* openMarket
      const headers = { "idempotency-key": "repo-order-1" }
      yield* buyer.client.jobs.create({ headers, payload: orderWith(agentId, { repo: JSON.stringify(repo) }) })
      const other = { ...repo, tree: "0000000000000000000000000000000000000000" }
      const conflict = yield* buyer.client.jobs.create({ headers, payload: orderWith(agentId, { repo: JSON.stringify(other) }) }).pipe(
        Effect.either
      )
      expect(Either.isLeft(conflict) && conflict.left._tag).toBe("IdempotencyConflict")
    }))

  it.effect("a child-order key orders and sees children of its job only, shows in the job's events, and is refused once the job ends", () =>
    Effect.gen(function*() {
      const { agentId, buyer, executor } = yield* openMarket
      const parent = yield* buyer.client.jobs.create({ headers: {}, payload: order(agentId) })
      const { lease } = yield* executor.client.executor.status({ path: { job_id: parent.job_id }, payload: { status: "accepted" } })
      const path = { job_id: parent.job_id }
      const otherExecutor = yield* actor("executor", [agentId])
      const notHolder = yield* otherExecutor.client.executor.childKey({ path, payload: { lease_id: LeaseId.make(`${lease.lease_id}x`) } })
        .pipe(Effect.either)
      expect(Either.isLeft(notHolder) && notHolder.left._tag).toBe("LeaseLost")

      const issued = yield* executor.client.executor.childKey({ path, payload: { lease_id: lease.lease_id } })
      expect(issued.job_id).toBe(parent.job_id)
      const events = yield* buyer.client.jobs.events({ path, urlParams: { after: 0, limit: 100, wait: 0 } })
      const lines = events.data.flatMap((event) => event._tag === "Logged" ? event.data.lines : [])
      expect(lines.some((line) => line.includes(`child-order key ${issued.key_id}`) && !line.includes(issued.key))).toBe(true)

      const scoped = yield* clientWith(issued.key)
      const child = yield* scoped.jobs.create({ headers: {}, payload: orderWith(agentId, { parent_job_id: parent.job_id }) })
      expect([child.parent_job_id, child.account_id]).toEqual([parent.job_id, buyer.info.account_id])
      const loose = yield* scoped.jobs.create({ headers: {}, payload: order(agentId) }).pipe(Effect.either)
      expect(Either.isLeft(loose) && loose.left._tag).toBe("Forbidden")
      const seen = yield* scoped.jobs.list({ urlParams: { limit: 20 } })
      expect(seen.data.map((job) => job.job_id)).toEqual([child.job_id])
      const parentRead = yield* scoped.jobs.get({ path }).pipe(Effect.either)
      expect(Either.isLeft(parentRead) && parentRead.left._tag).toBe("JobNotFound")
      // A browser session would be the whole account's: a child-order key signs none in.
      const link = yield* scoped.sessions.createLink().pipe(Effect.either)
      expect(Either.isLeft(link) && link.left._tag).toBe("Unauthorized")
      const signIn = yield* scoped.sessions.create({ payload: { api_key: issued.key } }).pipe(Effect.either)
      expect(Either.isLeft(signIn) && signIn.left._tag).toBe("Unauthorized")

      yield* executor.client.executor.status({ path, payload: { status: "failed", lease_id: lease.lease_id, reason: "done" } })
      const late = yield* scoped.jobs.create({ headers: {}, payload: orderWith(agentId, { parent_job_id: parent.job_id }) }).pipe(
        Effect.either
      )
      expect(Either.isLeft(late) && ["Forbidden", "Unauthorized"].includes(late.left._tag)).toBe(true)
    }))
})
