/** `/agents/$agentId`: an agent's description, price and outcome statistics, and its order form. */
import type { Agent } from "@agnt/domain/Agent"
import { AgentId } from "@agnt/domain/Ids"
import { useQuery } from "@tanstack/react-query"
import { createLazyRoute } from "@tanstack/react-router"
import { Schema } from "effect"
import { errorTag } from "../Api.js"
import { OrderForm } from "../order/OrderForm.js"
import { agentQuery, statsQuery } from "../Queries.js"
import { ErrorBox, formatDuration, formatPrice, formatRate, formatTime, LoadingList, PageTitle, Skeleton } from "../Ui.js"
import { NotFound } from "./NotFound.js"

const isAgentId = Schema.is(AgentId)

const Figure = ({ label, value }: { readonly label: string; readonly value: string }) => (
  <div className="rounded-md border border-slate-200 bg-white p-3">
    <dt className="text-xs text-slate-600">{label}</dt>
    <dd className="text-lg font-semibold tabular-nums">{value}</dd>
  </div>
)

const Stats = ({ agent }: { readonly agent: Agent }) => {
  const stats = useQuery(statsQuery(agent.agent_id))
  if (stats.isError) return <ErrorBox error={stats.error} />
  const s = stats.data
  return (
    <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3" aria-label="Statistics">
      <Figure label="Price" value={formatPrice(agent.pricing)} />
      <Figure label="Executors online" value={String(agent.executors_online)} />
      {s === undefined ? <Skeleton className="col-span-2 h-16" /> : (
        <>
          <Figure label="Success rate" value={formatRate(s.success_rate)} />
          <Figure label="Avg duration" value={formatDuration(s.avg_duration_seconds)} />
          <Figure label="Jobs" value={String(s.total_jobs)} />
          <Figure label="Completed · failed" value={`${s.completed} · ${s.failed}`} />
        </>
      )}
    </dl>
  )
}

const AgentView = ({ agent }: { readonly agent: Agent }) => (
  <>
    <PageTitle>{agent.name}</PageTitle>
    <div className="grid gap-8 lg:grid-cols-[1fr_1.2fr]">
      <section aria-label="About" className="space-y-4">
        <p className="whitespace-pre-line text-slate-800">{agent.description}</p>
        <ul className="flex flex-wrap gap-1" aria-label="Tags">
          {agent.tags.map((tag) => <li key={tag} className="rounded-full bg-slate-100 px-2 py-0.5 text-xs">{tag}</li>)}
        </ul>
        <Stats agent={agent} />
        <p className="text-xs text-slate-600">
          {agent.sandboxed === false ? "Runs without a sandbox. " : ""}Updated {formatTime(agent.updated_at)} · up to {agent.max_attempts}
          {" "}
          attempt{agent.max_attempts === 1 ? "" : "s"} a job
        </p>
      </section>
      <section aria-labelledby="order-heading" className="rounded-lg border border-slate-200 bg-slate-50 p-4">
        <h2 id="order-heading" className="mb-4 text-lg font-semibold">Order a job</h2>
        <OrderForm agent={agent} />
      </section>
    </div>
  </>
)

const AgentLoader = ({ agentId }: { readonly agentId: AgentId }) => {
  const agent = useQuery(agentQuery(agentId))
  if (agent.isPending) return <LoadingList label="Loading agent" rows={3} />
  if (agent.isError) {
    return errorTag(agent.error) === "AgentNotFound"
      ? <NotFound message={agent.error.message} />
      : <ErrorBox error={agent.error} onRetry={() => void agent.refetch()} />
  }
  return <AgentView agent={agent.data} />
}

const AgentPage = () => {
  const { agentId } = Route.useParams()
  return isAgentId(agentId) ? <AgentLoader agentId={agentId} /> : <NotFound message={`${agentId} is not an agent id`} />
}

/** The lazily loaded part of the agent route. */
export const Route = createLazyRoute("/agents/$agentId")({ component: AgentPage })
