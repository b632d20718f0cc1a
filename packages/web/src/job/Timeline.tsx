/** A job's events as a timeline (status changes and progress), and its log tail. */
import type { JobEvent } from "@agnt/domain/Job"
import { useEffect, useRef } from "react"
import { formatTime, StatusBadge } from "../Ui.js"

const describe = (event: JobEvent): string => {
  switch (event._tag) {
    case "Created":
      return `ordered with ${event.data.files} file${event.data.files === 1 ? "" : "s"}`
    case "Claimed":
      return `claimed by ${event.data.executor_id}`
    case "CancelRequested":
      return "cancel requested"
    case "LeaseExpired":
      return "the executor's lease expired"
    case "Retried":
      return `back to pending for attempt ${event.data.attempt}`
    case "StatusChanged":
    case "Progressed":
      return [
        event.data.progress === undefined ? "" : `${Math.round(event.data.progress)}%`,
        event.data.message ?? "",
        event.data.reason ?? ""
      ].filter((part) => part !== "").join(" · ") || event.status
    case "Logged":
      return `${event.data.lines.length} log lines`
  }
}

/** The status and progress events, oldest first. */
export const Timeline = ({ events }: { readonly events: ReadonlyArray<JobEvent> }) =>
  events.length === 0 ? <p className="text-sm text-slate-600">No events yet.</p> : (
    <ol className="space-y-2 border-l-2 border-slate-200 pl-4" aria-label="Events">
      {events.map((event) => (
        <li key={event.event_id} className="text-sm">
          <div className="flex flex-wrap items-center gap-2">
            <StatusBadge status={event.status} />
            <span>{describe(event)}</span>
          </div>
          <time className="text-xs text-slate-600">{formatTime(event.created_at)}</time>
        </li>
      ))}
    </ol>
  )

/** The log's last lines, kept scrolled to the end while new lines come. */
export const LogTail = ({ lines }: { readonly lines: ReadonlyArray<string> }) => {
  const end = useRef<HTMLPreElement>(null)
  useEffect(() => {
    const element = end.current
    if (element !== null) element.scrollTop = element.scrollHeight
  }, [lines])
  return (
    <pre
      ref={end}
      role="log"
      aria-label="Log"
      tabIndex={0}
      data-testid="log"
      className="h-72 overflow-auto rounded-md bg-slate-900 p-3 text-xs leading-relaxed text-slate-100"
    >
      {lines.length === 0 ? "No log lines yet." : lines.join("\n")}
    </pre>
  )
}
