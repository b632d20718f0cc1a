/**
 * `/jobs`: the signed-in account's jobs (or, for an executor key, its
 * agents' jobs), newest first — status, agent, created, duration, progress
 * — filtered by status and agent (kept in the address), a page at a time,
 * refreshed every few seconds while any shown job is still going.
 */
import { AgentId, JobId } from "@agnt/domain/Ids"
import { isTerminal, JobStatus } from "@agnt/domain/Lifecycle"
import { keepPreviousData, useQuery } from "@tanstack/react-query"
import { createLazyRoute, Link, useNavigate } from "@tanstack/react-router"
import { Schema } from "effect"
import { api } from "../Api.js"
import { JobsTable } from "../JobsTable.js"
import { Empty, ErrorBox, inputClass, LoadingList, PageTitle, secondaryButtonClass } from "../Ui.js"

/** Jobs on one page of the table. */
const jobsPageSize = 20

/** How often (ms) the table is refreshed while a shown job has not ended. */
const liveJobsMs = 2000

const statuses = JobStatus.literals
const asStatus = Schema.decodeUnknownOption(JobStatus)
const asAgentId = Schema.decodeUnknownOption(AgentId)
const asJobId = Schema.decodeUnknownOption(JobId)

const Filters = ({ status, agentId, onChange }: {
  readonly status: string | undefined
  readonly agentId: string | undefined
  readonly onChange: (next: { readonly status: string | undefined; readonly agent_id: string | undefined }) => void
}) => (
  <form className="mb-4 flex flex-wrap gap-3" onSubmit={(event) => event.preventDefault()} aria-label="Filters">
    <div>
      <label htmlFor="status-filter" className="block text-sm font-medium">Status</label>
      <select
        id="status-filter"
        value={status ?? ""}
        className={`${inputClass} mt-1 w-44`}
        onChange={(event) => onChange({ status: event.target.value || undefined, agent_id: agentId })}
      >
        <option value="">Any status</option>
        {statuses.map((value) => <option key={value} value={value}>{value}</option>)}
      </select>
    </div>
    <div className="min-w-64 flex-1">
      <label htmlFor="agent-filter" className="block text-sm font-medium">Agent id</label>
      <input
        id="agent-filter"
        defaultValue={agentId ?? ""}
        placeholder="agent_…"
        className={`${inputClass} mt-1 font-mono`}
        onBlur={(event) => onChange({ status, agent_id: event.target.value.trim() || undefined })}
        onKeyDown={(event) => event.key === "Enter" && onChange({ status, agent_id: event.currentTarget.value.trim() || undefined })}
      />
    </div>
  </form>
)

const JobsPage = () => {
  const search = Route.useSearch()
  const navigate = useNavigate({ from: "/jobs" })
  const status = asStatus(search.status)
  const agentId = asAgentId(search.agent_id)
  const cursor = asJobId(search.cursor)
  const jobs = useQuery({
    queryKey: ["jobs", search.status, search.agent_id, search.cursor],
    queryFn: () =>
      api((client) =>
        client.jobs.list({
          urlParams: {
            status: status._tag === "Some" ? status.value : undefined,
            agent_id: agentId._tag === "Some" ? agentId.value : undefined,
            cursor: cursor._tag === "Some" ? cursor.value : undefined,
            limit: jobsPageSize
          }
        })
      ),
    placeholderData: keepPreviousData,
    refetchInterval: (query) => query.state.data?.data.some((job) => !isTerminal(job.status)) === true ? liveJobsMs : false
  })
  const filter = (next: { readonly status: string | undefined; readonly agent_id: string | undefined }) =>
    void navigate({ search: { ...next, cursor: undefined } })
  return (
    <>
      <PageTitle>Jobs</PageTitle>
      <Filters status={search.status} agentId={search.agent_id} onChange={filter} />
      {jobs.isPending
        ? <LoadingList label="Loading jobs" rows={5} />
        : jobs.isError
        ? <ErrorBox error={jobs.error} onRetry={() => void jobs.refetch()} />
        : jobs.data.data.length === 0
        ? (
          <Empty>
            No jobs{search.status === undefined && search.agent_id === undefined ? " yet" : " match these filters"}.{" "}
            <Link to="/" search={{ q: undefined, tags: undefined }} className="text-indigo-700 underline">Find an agent</Link> to order one.
          </Empty>
        )
        : <JobsTable jobs={jobs.data.data} />}
      <nav aria-label="Pages" className="mt-4 flex gap-2">
        {search.cursor === undefined ?
          null :
          <Link to="/jobs" search={{ ...search, cursor: undefined }} className={secondaryButtonClass}>Newest</Link>}
        {jobs.data?.next_cursor == null ?
          null :
          <Link to="/jobs" search={{ ...search, cursor: jobs.data.next_cursor }} className={secondaryButtonClass}>Older</Link>}
      </nav>
    </>
  )
}

/** The lazily loaded part of the jobs route. */
export const Route = createLazyRoute("/jobs")({ component: JobsPage })
