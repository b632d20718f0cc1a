/** Small pieces every page uses: skeletons, error and empty states, status badges, and formats of sizes, times and prices. */
import type { Pricing } from "@agnt/domain/Agent"
import type { JobStatus } from "@agnt/domain/Lifecycle"
import { DateTime } from "effect"
import type { ReactNode } from "react"

/** A grey placeholder block while data loads. */
export const Skeleton = ({ className = "" }: { readonly className?: string }) => (
  <div className={`skeleton ${className}`} aria-hidden="true" />
)

/** Placeholder rows for a list that is loading; announced once to screen readers. */
export const LoadingList = ({ rows = 3, label }: { readonly rows?: number; readonly label: string }) => (
  <div role="status" aria-label={label} className="space-y-3">
    {Array.from({ length: rows }, (_, index) => <Skeleton key={index} className="h-20 w-full" />)}
  </div>
)

/** A failed request's message, with a retry when one is given. */
export const ErrorBox = ({ error, onRetry }: { readonly error: unknown; readonly onRetry?: () => void }) => (
  <div role="alert" className="rounded-md border border-red-300 bg-red-50 p-4 text-red-900">
    <p>{error instanceof Error ? error.message : "something went wrong"}</p>
    {onRetry === undefined ?
      null :
      (
        <button type="button" onClick={onRetry} className="mt-2 rounded border border-red-400 px-3 py-1 text-sm hover:bg-red-100">
          Try again
        </button>
      )}
  </div>
)

/** What an empty list says, and what to do about it. */
export const Empty = ({ children }: { readonly children: ReactNode }) => (
  <div className="rounded-md border border-dashed border-slate-300 bg-white p-8 text-center text-slate-600">{children}</div>
)

const statusColours: Record<JobStatus, string> = {
  pending: "bg-slate-100 text-slate-800",
  accepted: "bg-sky-100 text-sky-900",
  running: "bg-indigo-100 text-indigo-900",
  completed: "bg-emerald-100 text-emerald-900",
  failed: "bg-red-100 text-red-900",
  rejected: "bg-amber-100 text-amber-900",
  canceled: "bg-zinc-200 text-zinc-800"
}

/** A job's status as a coloured label. */
export const StatusBadge = ({ status }: { readonly status: JobStatus }) => (
  <span className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ${statusColours[status]}`}>{status}</span>
)

/** A progress bar of 0–100 percent, labelled for screen readers. */
export const ProgressBar = ({ value, label }: { readonly value: number | null; readonly label: string }) => (
  <div className="flex items-center gap-2">
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value ?? 0}
      className="h-2 w-12 overflow-hidden rounded bg-slate-200 sm:w-24"
    >
      <div className="h-full bg-indigo-600" style={{ width: `${value ?? 0}%` }} />
    </div>
    <span className="text-xs tabular-nums text-slate-700">{value === null ? "–" : `${Math.round(value)}%`}</span>
  </div>
)

/** `bytes` as B, KB, MB or GB (powers of 1024, one decimal). */
export const formatBytes = (bytes: number): string => {
  const units = ["B", "KB", "MB", "GB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** A duration in seconds as `850 ms`, `12.3 s`, `4 min 5 s` or `2 h 3 min`; `–` when unknown. */
export const formatDuration = (seconds: number | null): string => {
  if (seconds === null) return "–"
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`
}

/** A timestamp in the reader's locale, date and time. */
export const formatTime = (time: DateTime.Utc): string =>
  new Date(DateTime.toEpochMillis(time)).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" })

/** A price as it reads: "Free" or "0.50 USD per job". */
export const formatPrice = (pricing: Pricing): string => pricing.model === "free" ? "Free" : `${pricing.amount} ${pricing.currency} per job`

/** A success rate of 0–1 as a percentage; `–` when no job has ended yet. */
export const formatRate = (rate: number | null): string => rate === null ? "–" : `${Math.round(rate * 100)}%`

/** A page's heading, with room for actions on the right. */
export const PageTitle = ({ children, actions }: { readonly children: ReactNode; readonly actions?: ReactNode }) => (
  <div className="mb-6 flex flex-wrap items-center justify-between gap-3">
    <h1 className="text-2xl font-semibold tracking-tight">{children}</h1>
    {actions}
  </div>
)

/** Classes of a primary button, and of a secondary one. */
export const buttonClass = "rounded-md bg-indigo-700 px-4 py-2 font-medium text-white hover:bg-indigo-800 disabled:opacity-50"
export const secondaryButtonClass =
  "rounded-md border border-slate-400 bg-white px-4 py-2 font-medium text-slate-800 hover:bg-slate-100 disabled:opacity-50"
export const inputClass = "w-full rounded-md border border-slate-400 bg-white px-3 py-2"
