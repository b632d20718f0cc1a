/**
 * `/jobs/$jobId`: a job's status and progress, its live event timeline and
 * log tail (SSE, `job/JobStream.ts`), cancel, its input files and, once it
 * completed, its result files with previews. A job that does not exist or
 * is not the signed-in account's is the 404 page.
 */
import { JobId } from "@agnt/domain/Ids"
import type { Job } from "@agnt/domain/Job"
import { isTerminal } from "@agnt/domain/Lifecycle"
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query"
import { createLazyRoute, Link } from "@tanstack/react-router"
import { Schema } from "effect"
import type { ReactNode } from "react"
import { api, errorTag } from "../Api.js"
import { FilesList } from "../job/FilesTable.js"
import { useJobStream } from "../job/JobStream.js"
import { LogTail, Timeline } from "../job/Timeline.js"
import { ErrorBox, formatDuration, formatTime, LoadingList, PageTitle, ProgressBar, secondaryButtonClass, StatusBadge } from "../Ui.js"
import { NotFound } from "./NotFound.js"

const isJobId = Schema.is(JobId)

const Panel = ({ title, children }: { readonly title: string; readonly children: ReactNode }) => (
  <section aria-label={title} className="min-w-0 rounded-lg border border-slate-200 bg-white p-4">
    <h2 className="mb-3 font-semibold">{title}</h2>
    {children}
  </section>
)

const CancelButton = ({ job }: { readonly job: Job }) => {
  const queryClient = useQueryClient()
  const cancel = useMutation({
    mutationFn: () => api((client) => client.jobs.cancel({ path: { job_id: job.job_id } })),
    onSuccess: (updated) => queryClient.setQueryData(["job", job.job_id], updated)
  })
  if (isTerminal(job.status)) return null
  return (
    <div className="flex flex-col items-end gap-1">
      <button
        type="button"
        disabled={job.cancel_requested || cancel.isPending}
        onClick={() => cancel.mutate()}
        className={secondaryButtonClass}
      >
        {job.cancel_requested ? "Cancel requested" : "Cancel job"}
      </button>
      {cancel.isError ? <ErrorBox error={cancel.error} /> : null}
    </div>
  )
}

const Summary = ({ job }: { readonly job: Job }) => (
  <dl className="grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
    <div>
      <dt className="text-xs text-slate-600">Status</dt>
      <dd data-testid="job-status">
        <StatusBadge status={job.status} />
      </dd>
    </div>
    <div>
      <dt className="text-xs text-slate-600">Progress</dt>
      <dd>
        <ProgressBar value={job.progress} label="Job progress" />
      </dd>
    </div>
    <div>
      <dt className="text-xs text-slate-600">Created</dt>
      <dd>{formatTime(job.created_at)}</dd>
    </div>
    <div>
      <dt className="text-xs text-slate-600">Duration</dt>
      <dd className="tabular-nums">{formatDuration(job.duration_seconds)}</dd>
    </div>
    <div className="col-span-2 sm:col-span-4">
      <dt className="text-xs text-slate-600">Agent</dt>
      <dd>
        <Link to="/agents/$agentId" params={{ agentId: job.agent_id }} className="font-mono text-indigo-700 underline">{job.agent_id}</Link>
      </dd>
    </div>
    {job.status_message === null ? null : (
      <div className="col-span-2 sm:col-span-4">
        <dt className="text-xs text-slate-600">Message</dt>
        <dd data-testid="status-message">{job.status_message}</dd>
      </div>
    )}
  </dl>
)

const Results = ({ job }: { readonly job: Job }) => {
  const result = useQuery({
    queryKey: ["job-result", job.job_id, job.status],
    queryFn: () => api((client) => client.jobs.result({ path: { job_id: job.job_id } })),
    enabled: job.status === "completed"
  })
  if (job.status !== "completed") {
    return (
      <p className="text-sm text-slate-600">
        {isTerminal(job.status) ? `The job ended ${job.status}, without results.` : "Results appear here when the job completes."}
      </p>
    )
  }
  if (result.isPending) return <LoadingList label="Loading results" rows={1} />
  if (result.isError) return <ErrorBox error={result.error} onRetry={() => void result.refetch()} />
  return <FilesList jobId={job.job_id} files={result.data.files} empty="The job completed without result files." />
}

const JobView = ({ jobId }: { readonly jobId: JobId }) => {
  const queryClient = useQueryClient()
  const job = useQuery({ queryKey: ["job", jobId], queryFn: () => api((client) => client.jobs.get({ path: { job_id: jobId } })) })
  const stream = useJobStream(jobId, (event) => {
    if (event._tag !== "Logged") void queryClient.invalidateQueries({ queryKey: ["job", jobId] })
  })
  if (job.isPending) return <LoadingList label="Loading job" rows={4} />
  if (job.isError) {
    return errorTag(job.error) === "JobNotFound"
      ? <NotFound message={job.error.message} />
      : <ErrorBox error={job.error} onRetry={() => void job.refetch()} />
  }
  const current = job.data
  return (
    <>
      <PageTitle actions={<CancelButton job={current} />}>
        Job <span className="font-mono text-lg break-all">{current.job_id}</span>
      </PageTitle>
      <div className="space-y-4">
        <Panel title="Summary">
          <Summary job={current} />
        </Panel>
        <Panel title="Prompt">
          <p className="text-sm whitespace-pre-wrap">{current.prompt}</p>
        </Panel>
        <div className="grid gap-4 lg:grid-cols-[1fr_1.5fr]">
          <Panel title="Events">
            <Timeline events={stream.timeline} />
          </Panel>
          <Panel title={stream.connected ? "Log (live)" : "Log"}>
            <LogTail lines={stream.log} />
          </Panel>
        </div>
        <div className="grid gap-4 lg:grid-cols-2">
          <Panel title="Input files">
            <FilesList jobId={current.job_id} files={current.input_files} empty="The job was ordered without files." />
          </Panel>
          <Panel title="Result files">
            <Results job={current} />
          </Panel>
        </div>
      </div>
    </>
  )
}

const JobPage = () => {
  const { jobId } = Route.useParams()
  return isJobId(jobId) ? <JobView jobId={jobId} /> : <NotFound message={`${jobId} is not a job id`} />
}

/** The lazily loaded part of the job route. */
export const Route = createLazyRoute("/jobs/$jobId")({ component: JobPage })
