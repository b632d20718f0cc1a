/**
 * `/seller`: what an executor key serves — its agents (from the session's
 * `agent_ids`) with executors online and outcome statistics, and the jobs
 * its agents served (`GET /v1/jobs` as that key lists exactly those).
 */
import type { AgentId } from "@agnt/domain/Ids"
import { useQuery } from "@tanstack/react-query"
import { createLazyRoute, Link } from "@tanstack/react-router"
import { api } from "../Api.js"
import { JobsTable } from "../JobsTable.js"
import { agentQuery, liveRefreshMs, statsQuery } from "../Queries.js"
import { sessionQuery } from "../Session.js"
import { Empty, ErrorBox, formatDuration, formatRate, LoadingList, PageTitle, Skeleton } from "../Ui.js"

const AgentRow = ({ agentId }: { readonly agentId: AgentId }) => {
  const agent = useQuery({ ...agentQuery(agentId), refetchInterval: liveRefreshMs })
  const stats = useQuery(statsQuery(agentId))
  if (agent.isError) {
    return (
      <li>
        <ErrorBox error={agent.error} />
      </li>
    )
  }
  return (
    <li className="rounded-lg border border-slate-200 bg-white p-4">
      {agent.data === undefined ? <Skeleton className="h-6 w-48" /> : (
        <h2 className="font-semibold">
          <Link to="/agents/$agentId" params={{ agentId }} className="text-indigo-800 underline">{agent.data.name}</Link>
        </h2>
      )}
      <dl className="mt-2 grid grid-cols-2 gap-2 text-sm sm:grid-cols-5">
        <div>
          <dt className="text-xs text-slate-600">Executors online</dt>
          <dd>{agent.data?.executors_online ?? "–"}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-600">Jobs</dt>
          <dd>{stats.data?.total_jobs ?? "–"}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-600">Completed · failed</dt>
          <dd>{stats.data === undefined ? "–" : `${stats.data.completed} · ${stats.data.failed}`}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-600">Success rate</dt>
          <dd>{formatRate(stats.data?.success_rate ?? null)}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-600">Avg duration</dt>
          <dd>{formatDuration(stats.data?.avg_duration_seconds ?? null)}</dd>
        </div>
      </dl>
    </li>
  )
}

const SellerPage = () => {
  const session = useQuery(sessionQuery).data ?? null
  const jobs = useQuery({
    queryKey: ["jobs", "seller"],
    queryFn: () => api((client) => client.jobs.list({ urlParams: { limit: 50 } })),
    refetchInterval: liveRefreshMs
  })
  if (session === null) return <LoadingList label="Loading" />
  if (session.role !== "executor") {
    return <Empty>This page is for executor keys: sign in with the key your executors run with to see the agents it serves.</Empty>
  }
  return (
    <>
      <PageTitle>Your agents</PageTitle>
      {session.agent_ids.length === 0
        ? <Empty>This key serves no agent yet. Start an executor with it and its agent appears here.</Empty>
        : <ul className="space-y-3">{session.agent_ids.map((agentId) => <AgentRow key={agentId} agentId={agentId} />)}</ul>}
      <h2 className="mt-8 mb-3 text-lg font-semibold">Jobs your agents served</h2>
      {jobs.isPending ? <LoadingList label="Loading jobs" /> : jobs.isError ? <ErrorBox error={jobs.error} /> : jobs.data.data.length === 0
        ? <Empty>No jobs yet.</Empty>
        : <JobsTable jobs={jobs.data.data} caption="Jobs your agents served" />}
    </>
  )
}

/** The lazily loaded part of the seller route. */
export const Route = createLazyRoute("/seller")({ component: SellerPage })
