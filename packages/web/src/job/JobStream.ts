/**
 * A job's live events: an `EventSource` on `/v1/jobs/{id}/events` (the
 * server's SSE stream: an `event: job` frame with the job, then every event
 * with its `id:`), each decoded by the domain `JobEvent` schema. After a
 * dropped connection the browser reconnects by itself with `Last-Event-ID`,
 * and the server resumes after that event, so nothing is missed or shown
 * twice (events are also kept by id). Once the job has ended the server
 * closes the stream and the page stops listening.
 */
import { Job, JobEvent } from "@agnt/domain/Job"
import { isTerminal } from "@agnt/domain/Lifecycle"
import { Schema } from "effect"
import { useEffect, useRef, useState } from "react"

const decodeEvent = Schema.decodeUnknownOption(Schema.parseJson(JobEvent))
const decodeJob = Schema.decodeUnknownOption(Schema.parseJson(Job))

/** Log lines kept on the page: the tail of a long log. */
export const maxLogLines = 2000

/** What the stream has told of a job so far. */
export interface JobStreamState {
  /** The job as of the latest `job` frame. */
  readonly job: Job | null
  /** Status and progress events, oldest first. */
  readonly timeline: ReadonlyArray<JobEvent>
  /** The last `maxLogLines` log lines, oldest first. */
  readonly log: ReadonlyArray<string>
  /** The id of the last event seen (0 before any). */
  readonly lastEventId: number
  /** Whether the stream is connected now. */
  readonly connected: boolean
}

const initial: JobStreamState = { job: null, timeline: [], log: [], lastEventId: 0, connected: false }

const withEvent = (state: JobStreamState, event: JobEvent): JobStreamState => {
  if (event.event_id <= state.lastEventId) return state
  return event._tag === "Logged"
    ? { ...state, lastEventId: event.event_id, log: [...state.log, ...event.data.lines].slice(-maxLogLines) }
    : { ...state, lastEventId: event.event_id, timeline: [...state.timeline, event] }
}

const eventTypes = ["status", "progress", "log"] as const

/** Follow job `jobId`'s events live; `onEvent` runs after each new one (e.g. to refetch the job). */
export const useJobStream = (jobId: string, onEvent: (event: JobEvent) => void): JobStreamState => {
  const [state, setState] = useState(initial)
  const latest = useRef(onEvent)
  latest.current = onEvent
  useEffect(() => {
    setState(initial)
    const source = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events`)
    let ended = false
    const onMessage = (message: MessageEvent<string>) => {
      const event = decodeEvent(message.data)
      if (event._tag === "None") return
      ended = isTerminal(event.value.status)
      setState((current) => withEvent(current, event.value))
      latest.current(event.value)
    }
    source.addEventListener("job", (message: MessageEvent<string>) => {
      const job = decodeJob(message.data)
      if (job._tag === "Some") {
        ended = isTerminal(job.value.status)
        setState((current) => ({ ...current, job: job.value, connected: true }))
      }
    })
    for (const type of eventTypes) source.addEventListener(type, onMessage)
    source.addEventListener("open", () => setState((current) => ({ ...current, connected: true })))
    source.addEventListener("error", () => {
      // The server ends the stream of an ended job: stay closed rather than reconnect.
      if (ended) source.close()
      setState((current) => ({ ...current, connected: false }))
    })
    return () => source.close()
  }, [jobId])
  return state
}
