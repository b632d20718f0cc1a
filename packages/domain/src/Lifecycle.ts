/**
 * The job lifecycle as one pure function (DESIGN.md "Job lifecycle"):
 *
 * ```
 * pending  → accepted | rejected | canceled
 * accepted → running  | failed   | canceled
 * running  → running (progress) | completed | failed | canceled
 * terminal: rejected, completed, failed, canceled
 * ```
 *
 * The server enforces it in SQL with `allowedFrom(to)`; tests check the
 * server against `canTransition`.
 */
import { Schema } from "effect"

/** Every state a job can be in. */
export const JobStatus = Schema.Literal(
  "pending",
  "accepted",
  "rejected",
  "running",
  "completed",
  "failed",
  "canceled"
).annotations({ title: "JobStatus" })
export type JobStatus = typeof JobStatus.Type

/** The states a job never leaves. */
export const terminalStatuses: ReadonlyArray<JobStatus> = ["rejected", "completed", "failed", "canceled"]

const transitions: Readonly<Record<JobStatus, ReadonlyArray<JobStatus>>> = {
  pending: ["accepted", "rejected", "canceled"],
  accepted: ["running", "failed", "canceled"],
  running: ["running", "completed", "failed", "canceled"],
  rejected: [],
  completed: [],
  failed: [],
  canceled: []
}

/** `true` when `status` is terminal. */
export const isTerminal = (status: JobStatus): boolean => terminalStatuses.includes(status)

/** `true` when a job in `from` may move to `to`. */
export const canTransition = (from: JobStatus, to: JobStatus): boolean => transitions[from].includes(to)

/** The states from which a job may move to `to` (empty for `pending`). */
export const allowedFrom = (to: JobStatus): ReadonlyArray<JobStatus> => JobStatus.literals.filter((from) => canTransition(from, to))
