/**
 * The `executor` group: an executor's pending-job list and claim
 * (long-polls), heartbeats, logs, status reports and completion, all
 * through the `Jobs` service.
 */
import { Api } from "@agnt/domain/Api"
import { CurrentPrincipal } from "@agnt/domain/Auth"
import { Job } from "@agnt/domain/Job"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import { AuthenticationLive } from "../Auth.js"
import { ExecutorJobs } from "../Executor.js"
import { isSmallBody, RateLimits } from "../RateLimits.js"
import { readBody } from "../Uploads.js"

const encodeJob = Schema.encodeSync(Job)

/** Handlers of the `executor` group, with the services they need. */
export const ExecutorHttpLive = HttpApiBuilder.group(Api, "executor", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* ExecutorJobs
    const limits = yield* RateLimits
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.pending(principal, urlParams.agent_id, urlParams.limit, urlParams.wait)).pipe(
            Effect.map((data) => ({ data, next_cursor: null }))
          ))
      .handle("claim", ({ payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) => jobs.claim(principal, payload)))
      .handle("childKey", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.childKey(principal, path.job_id, payload.lease_id)))
      .handle("heartbeat", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.renew(principal, path.job_id, payload.lease_id)))
      .handle("logs", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.renew(principal, path.job_id, payload.lease_id, payload.lines)))
      .handle("status", ({ path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.report(principal, path.job_id, payload)))
      .handleRaw("complete", ({ path, request }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          limits.upload(
            principal.key_id,
            request,
            Effect.flatMap(readBody(request), (body) =>
              jobs.complete(principal, path.job_id, body, isSmallBody(request)))
          )).pipe(Effect.map((job) =>
            HttpServerResponse.unsafeJson(encodeJob(job))
          )))
  })).pipe(
    Layer.provide([AuthenticationLive, ExecutorJobs.Default, RateLimits.Default])
  )
