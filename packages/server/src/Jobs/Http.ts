/**
 * The `jobs` group: ordering, reading, cancelling, downloading, and a
 * job's events as a JSON page or a Server-Sent Events stream.
 */
import { Api } from "@agnt/domain/Api"
import { CurrentPrincipal, type Principal } from "@agnt/domain/Auth"
import type { JobId } from "@agnt/domain/Ids"
import { Job, JobEvent } from "@agnt/domain/Job"
import { isTerminal } from "@agnt/domain/Lifecycle"
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Chunk, Effect, Layer, Option, Schema, Stream } from "effect"
import { AuthenticationLive } from "../Auth.js"
import { Jobs } from "../Jobs.js"
import { RateLimits } from "../RateLimits.js"
import { readBody } from "../Uploads.js"

const encodeEvent = Schema.encodeSync(JobEvent)
const encodeJob = Schema.encodeSync(Job)

/** Handlers of the `jobs` group, with the services they need. */
export const JobsHttpLive = HttpApiBuilder.group(Api, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    const limits = yield* RateLimits
    return handlers
      .handleRaw("create", ({ headers, request }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          limits.upload(
            principal.key_id,
            request,
            Effect.flatMap(readBody(request), (body) => jobs.create(principal, body, headers["idempotency-key"]))
          )).pipe(Effect.map((job) => HttpServerResponse.unsafeJson(encodeJob(job), { status: 201 }))))
      .handle("list", ({ urlParams }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.list(principal, urlParams)))
      .handle("get", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.get(principal, path.job_id)))
      .handle("result", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.result(principal, path.job_id)))
      .handle("cancel", ({ path }) => Effect.flatMap(CurrentPrincipal, (principal) => jobs.cancel(principal, path.job_id)))
      .handle("events", ({ path, request, urlParams }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          events(jobs, principal, path.job_id, request, urlParams)))
      .handle("download", ({ path }) =>
        Effect.flatMap(CurrentPrincipal, (principal) =>
          jobs.download(principal, path.job_id, path.file_id)).pipe(
            Effect.map(({ content, file }) =>
              HttpServerResponse.stream(content, {
                contentType: file.mime,
                contentLength: file.size,
                headers: {
                  "content-disposition": `attachment; filename="${encodeURIComponent(file.path)}"`,
                  "x-content-type-options": "nosniff",
                  "x-content-sha256": file.sha256
                }
              })
            )
          ))
  })).pipe(
    Layer.provide([AuthenticationLive, Jobs.Default, RateLimits.Default])
  )

/**
 * A job's events: a JSON page, or with `Accept: text/event-stream` the SSE
 * stream from after the later of `urlParams.after` and `Last-Event-ID`.
 *
 * @fails JobNotFound.
 */
const events = (
  jobs: Jobs,
  principal: Principal,
  jobId: JobId,
  request: HttpServerRequest.HttpServerRequest,
  urlParams: { readonly after: number; readonly limit: number; readonly wait: number }
) =>
  Effect.gen(function*() {
    if (!(request.headers["accept"] ?? "").includes("text/event-stream")) {
      return yield* jobs.events(principal, jobId, urlParams)
    }
    const lastEventId = Number(request.headers["last-event-id"] ?? "0")
    const after = Math.max(urlParams.after, Number.isSafeInteger(lastEventId) ? lastEventId : 0)
    const job = yield* jobs.get(principal, jobId)
    return HttpServerResponse.stream(eventStream(jobs, principal, job, after), {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    })
  })

/**
 * A job's events as Server-Sent Events (WHATWG HTML §9.2): first an
 * `event: job` frame with the job's current state, then every event after
 * `after` in order (`id:` is the event id, `event:` its type, `data:` the
 * event as JSON), a comment every 15 s while nothing happens, and the end
 * of the stream once the job is terminal and all its events were sent.
 */
const eventStream = (jobs: Jobs, principal: Principal, job: Job, after: number): Stream.Stream<Uint8Array> => {
  const encoder = new TextEncoder()
  const frame = (text: string) => encoder.encode(text)
  const first = Stream.make(frame(`event: job\ndata: ${JSON.stringify(encodeJob(job))}\n\n`))
  const rest = Stream.paginateChunkEffect(
    after,
    (cursor) =>
      jobs.events(principal, job.job_id, { after: cursor, limit: 100, wait: 15 }).pipe(
        Effect.map((page) => {
          const frames = page.data.length === 0
            ? Chunk.of(frame(": keepalive\n\n"))
            : Chunk.fromIterable(
              page.data.map((event) =>
                frame(`id: ${event.event_id}\nevent: ${event.type}\ndata: ${JSON.stringify(encodeEvent(event))}\n\n`)
              )
            )
          const finished = page.data.length === 0 && isTerminal(page.status)
          return [frames, finished ? Option.none<number>() : Option.some(page.next_cursor)] as const
        })
      )
  )
  return Stream.concat(first, rest).pipe(Stream.catchAll(() => Stream.empty))
}
