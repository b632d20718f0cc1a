/**
 * Repo jobs and handoff on the API (DESIGN.md "Repo jobs"): an order's
 * `repo` is kept and returned as sent; `parent_job_id` must name a job the
 * orderer may see (the parent's ownership holds for the child: another
 * account's job is 404, as if it did not exist); `GET /v1/jobs?parent_job_id`
 * lists a job's children, only to those who may see them; an order that
 * differs only in its repo is another request for its `Idempotency-Key`.
 */
import type { JobId } from "@agnt/domain/Ids"
import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { order } from "./Fixtures.js"
import { actor, openMarket, TestLive } from "./support.js"

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
})
