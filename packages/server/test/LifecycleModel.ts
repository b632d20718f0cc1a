/**
 * The pure model of the job lifecycle that `LifecycleModel.test.ts` checks
 * the running server against: the actions two buyers and two executor
 * processes can take, an arbitrary of action sequences, and what each
 * action should do to the model's jobs (DESIGN.md "Job lifecycle", "Lease",
 * "Cancel"). No I/O here; ids and lease ids the server makes are learned
 * from its answers and recorded.
 */
import { type JobId, LeaseId } from "@agnt/domain/Ids"
import { type JobEventType, outcomeMessage } from "@agnt/domain/Job"
import type { JobStatus } from "@agnt/domain/Lifecycle"
import { FastCheck, Option } from "effect"
import * as NodeCrypto from "node:crypto"

/** A file a buyer uploads or an executor delivers: its name and text. */
export interface FileSpec {
  readonly name: string
  readonly text: string
}

export type Who = 0 | 1

/**
 * Who makes a lease-needing call about a job: the executor process that
 * holds its lease (E0 while nobody does), or the other one.
 */
export type By = "holder" | "other"

/**
 * One step of a run. `job: k` picks the `k`-th of the run's jobs, the
 * furthest along first (see `jobOf`); with no job ordered yet the step is
 * skipped.
 */
export type Action =
  | { readonly _tag: "Order"; readonly buyer: Who; readonly files: ReadonlyArray<FileSpec> }
  | { readonly _tag: "Claim"; readonly executor: Who }
  | { readonly _tag: "Accept"; readonly executor: Who; readonly job: number }
  | { readonly _tag: "RaceAccept"; readonly job: number }
  | { readonly _tag: "Reject"; readonly executor: Who; readonly job: number; readonly reason: string }
  | { readonly _tag: "Start"; readonly by: By; readonly job: number }
  | { readonly _tag: "Progress"; readonly by: By; readonly job: number; readonly progress: number }
  | { readonly _tag: "Log"; readonly by: By; readonly job: number; readonly lines: ReadonlyArray<string> }
  | { readonly _tag: "Heartbeat"; readonly by: By; readonly job: number }
  | { readonly _tag: "Complete"; readonly by: By; readonly job: number; readonly files: ReadonlyArray<FileSpec> }
  | { readonly _tag: "Fail"; readonly by: By; readonly job: number; readonly reason: string }
  | { readonly _tag: "ConfirmCancel"; readonly by: By; readonly job: number }
  | { readonly _tag: "Cancel"; readonly buyer: Who; readonly job: number }
  | { readonly _tag: "Expire"; readonly job: number }

const fileList = (files: ReadonlyArray<FileSpec>) => `[${files.map((file) => `${file.name}=${JSON.stringify(file.text)}`).join(", ")}]`

/** How an action reads in a counterexample: `E1.start(job#0)`. */
export const describeAction = (action: Action): string => {
  switch (action._tag) {
    case "Order":
      return `B${action.buyer}.order(files ${fileList(action.files)})`
    case "Claim":
      return `E${action.executor}.claim()`
    case "Accept":
      return `E${action.executor}.accept(job#${action.job})`
    case "RaceAccept":
      return `E0+E1.acceptAtOnce(job#${action.job})`
    case "Reject":
      return `E${action.executor}.reject(job#${action.job}, ${JSON.stringify(action.reason)})`
    case "Start":
      return `${action.by}.start(job#${action.job})`
    case "Progress":
      return `${action.by}.progress(job#${action.job}, ${action.progress}%)`
    case "Log":
      return `${action.by}.log(job#${action.job}, ${JSON.stringify(action.lines)})`
    case "Heartbeat":
      return `${action.by}.heartbeat(job#${action.job})`
    case "Complete":
      return `${action.by}.complete(job#${action.job}, files ${fileList(action.files)})`
    case "Fail":
      return `${action.by}.fail(job#${action.job}, ${JSON.stringify(action.reason)})`
    case "ConfirmCancel":
      return `${action.by}.confirmCancel(job#${action.job})`
    case "Cancel":
      return `B${action.buyer}.cancel(job#${action.job})`
    case "Expire":
      return `leaseRunsOut(job#${action.job})`
  }
}

/** Attach `describeAction` as the value's printed form (fast-check's `toStringMethod`). */
const printable = <A extends Action>(action: A): A =>
  Object.assign(action, { [FastCheck.toStringMethod]: () => describeAction(action), toString: () => describeAction(action) })

const who: FastCheck.Arbitrary<Who> = FastCheck.constantFrom<Who>(0, 1)
const by: FastCheck.Arbitrary<By> = FastCheck.oneof(
  { weight: 3, arbitrary: FastCheck.constant<By>("holder") },
  { weight: 1, arbitrary: FastCheck.constant<By>("other") }
)
// Mostly the furthest-along unfinished job, sometimes another or a finished one.
const jobIndex = FastCheck.oneof({ weight: 3, arbitrary: FastCheck.constant(0) }, { weight: 2, arbitrary: FastCheck.nat({ max: 3 }) })
const text = FastCheck.string({ unit: "grapheme", maxLength: 24 })
const files = (names: ReadonlyArray<string>) =>
  FastCheck.uniqueArray(
    FastCheck.record({ name: FastCheck.constantFrom(...names), text: FastCheck.constantFrom("", "ok", "ünïcödé ✓\n", "x".repeat(300)) }),
    {
      selector: (file) => file.name,
      maxLength: 2
    }
  )
const inputNames = ["src/main.ts", "README.md", "data/ünï cödé.json"]
// Few names and contents, so a retried complete often sends the same files.
const resultNames = ["review.md", "out/report.sarif"]

const order = FastCheck.record({ _tag: FastCheck.constant("Order" as const), buyer: who, files: files(inputNames) })

/** Arbitrary actions, weighted so jobs get ordered and moved along often. */
export const actionArbitrary: FastCheck.Arbitrary<Action> = FastCheck.oneof(
  { weight: 4, arbitrary: order },
  { weight: 4, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Claim" as const), executor: who }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Accept" as const), executor: who, job: jobIndex }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("RaceAccept" as const), job: jobIndex }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Reject" as const), executor: who, job: jobIndex, reason: text }) },
  { weight: 3, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Start" as const), by, job: jobIndex }) },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Progress" as const),
      by,
      job: jobIndex,
      progress: FastCheck.integer({ min: 0, max: 100 })
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Log" as const),
      by,
      job: jobIndex,
      lines: FastCheck.array(text, { minLength: 1, maxLength: 3 })
    })
  },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Heartbeat" as const), by, job: jobIndex }) },
  {
    weight: 3,
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("Complete" as const), by, job: jobIndex, files: files(resultNames) })
  },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Fail" as const), by, job: jobIndex, reason: text }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("ConfirmCancel" as const), by, job: jobIndex }) },
  { weight: 2, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Cancel" as const), buyer: who, job: jobIndex }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Expire" as const), job: jobIndex }) }
).map((action): Action => printable(action))

/** A run: whether the two executor processes share one key, and 5–25 actions, the first an order. */
export const runArbitrary = FastCheck.record({
  sharedExecutorKey: FastCheck.boolean(),
  actions: FastCheck.tuple(
    order.map((action): Action => printable(action)),
    FastCheck.array(actionArbitrary, { minLength: 4, maxLength: 24 })
  )
    .map(([first, rest]) => [first, ...rest])
})

/** An expected event of a job: its type, the status after it, and some of its `data`. */
export interface ExpectedEvent {
  readonly type: JobEventType
  readonly status: JobStatus
  readonly data?: Readonly<Record<string, unknown>>
}

/** What the model knows of one job. */
export interface ModelJob {
  readonly id: JobId
  readonly buyer: Who
  readonly inputs: ReadonlyArray<FileSpec>
  status: JobStatus
  /** The job's lease, once one was made (kept after the job ends). */
  leaseId: string | null
  /** The executor process the lease was handed to. */
  holder: Who | null
  cancelRequested: boolean
  /** Why an executor rejected the job (the model's executors give no reason when they accept). */
  decisionReason: string | null
  failureReason: string | null
  progress: number | null
  /** The last progress message while it runs; its outcome once it ended. */
  statusMessage: string | null
  started: boolean
  results: ReadonlyArray<FileSpec>
  readonly events: Array<ExpectedEvent>
}

/** The model of one run: the jobs in order of ordering, and the leases each executor process was given. */
export interface Model {
  readonly jobs: Array<ModelJob>
  readonly leases: readonly [Map<JobId, LeaseId>, Map<JobId, LeaseId>]
}

export const emptyModel = (): Model => ({ jobs: [], leases: [new Map(), new Map()] })

const rank = (status: JobStatus) => status === "running" ? 0 : status === "accepted" ? 1 : status === "pending" ? 2 : 3

/**
 * The job `job#index` names, counting round the run's jobs ordered running,
 * accepted, pending, then finished, newest first within each — so `job#0`
 * is the furthest-along unfinished job. `undefined` before any order.
 */
export const jobOf = (model: Model, index: number): ModelJob | undefined => {
  const candidates = [...model.jobs].reverse().sort((a, b) => rank(a.status) - rank(b.status))
  return candidates[index % Math.max(1, candidates.length)]
}

/** The executor process `by` stands for on `job`. */
export const executorBy = (by: By, job: ModelJob): Who => {
  const holder = job.holder ?? 0
  return by === "holder" ? holder : holder === 0 ? 1 : 0
}

/** What an executor process sends as `lease_id` for a job: the lease it was given, or one it never had. */
export const leaseSentBy = (model: Model, executor: Who, job: ModelJob): LeaseId =>
  model.leases[executor].get(job.id) ?? LeaseId.make("lease_never_given")

/** The answer of a call: success, or the `_tag` of its typed error. */
export type Outcome = "ok" | "LeaseLost" | "InvalidTransition" | "JobNotFound"

const active: ReadonlyArray<JobStatus> = ["accepted", "running"]

/**
 * A call that needs the caller's lease and a job in `from`: it succeeds
 * when both hold. Without the current lease it is `LeaseLost` once the
 * job has had a lease (or is in `from`); a caller holding the lease of a
 * job in another state, or any call on a never-leased job, is
 * `InvalidTransition`.
 */
export const leasedCall = (job: ModelJob, sent: string, from: ReadonlyArray<JobStatus> = active): Outcome => {
  if (from.includes(job.status) && job.leaseId === sent) return "ok"
  if (job.leaseId !== sent && (from.includes(job.status) || job.leaseId !== null)) return "LeaseLost"
  return "InvalidTransition"
}

/**
 * Move a job to `to`, recording the event the server appends (`progress`
 * when the status stays); a job that ends gets its outcome as status
 * message (with its `results` and the event's `reason`).
 */
export const moveTo = (job: ModelJob, to: JobStatus, data?: Readonly<Record<string, unknown>>) => {
  job.events.push({ type: job.status === to ? "progress" : "status", status: to, ...(data === undefined ? {} : { data }) })
  job.status = to
  if (to === "running") job.started = true
  if (to === "completed") job.progress = 100
  const reason = typeof data?.["reason"] === "string" ? data["reason"] : undefined
  job.statusMessage = Option.getOrElse(outcomeMessage(to, { reason, files: job.results.length }), () => job.statusMessage)
}

/** Hand a pending job's new lease to `executor`. */
export const grantLease = (model: Model, job: ModelJob, executor: Who, leaseId: LeaseId) => {
  model.leases[executor].set(job.id, leaseId)
  job.leaseId = leaseId
  job.holder = executor
  moveTo(job, "accepted")
}

/** The outcome of a buyer's cancel, applied to the model when it succeeds. */
export const cancelByBuyer = (job: ModelJob, buyer: Who): Outcome => {
  if (job.buyer !== buyer) return "JobNotFound"
  if (job.status === "pending") {
    job.failureReason = "canceled by the buyer"
    moveTo(job, "canceled", { reason: "canceled by the buyer" })
    return "ok"
  }
  if (active.includes(job.status)) {
    job.cancelRequested = true
    job.events.push({ type: "status", status: job.status, data: { cancel_requested: true } })
    return "ok"
  }
  return "InvalidTransition"
}

/** What the reaper does once a job's lease ran out: fail it as `lease_expired`, or cancel it when asked to. */
export const expire = (job: ModelJob): boolean => {
  if (!active.includes(job.status)) return false
  if (job.cancelRequested) {
    moveTo(job, "canceled", { reason: "lease_expired" })
  } else {
    job.failureReason = "lease_expired"
    moveTo(job, "failed", { reason: "lease_expired" })
  }
  return true
}

/** `path:sha256` lines of files, sorted: how the server compares a retried complete's files. */
export const manifestOf = (files: ReadonlyArray<FileSpec>) => files.map((file) => `${file.name}:${sha256Hex(file.text)}`).sort().join("\n")

/**
 * The outcome of `complete`: a retry by the holder with the same files
 * succeeds without a change; any other call on a completed job is
 * `InvalidTransition`; otherwise the lease must be current and the job
 * running.
 */
export const completeOutcome = (job: ModelJob, sent: string, files: ReadonlyArray<FileSpec>): Outcome => {
  if (job.status === "completed") {
    return job.leaseId === sent && manifestOf(job.results) === manifestOf(files) ? "ok" : "InvalidTransition"
  }
  const renewed = leasedCall(job, sent)
  if (renewed !== "ok") return renewed
  return job.status === "running" ? "ok" : "InvalidTransition"
}

export const sha256Hex = (content: string | Uint8Array) => NodeCrypto.createHash("sha256").update(content).digest("hex")
