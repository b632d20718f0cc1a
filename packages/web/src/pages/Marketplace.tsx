/**
 * `/`: the marketplace. Full-text search and tag filters (kept in the
 * address, so a search can be shared), agent cards with price, executors
 * online, success rate and average duration, and "More" for the next page.
 */
import type { Agent } from "@agnt/domain/Agent"
import { useInfiniteQuery, useQuery } from "@tanstack/react-query"
import { Link, useNavigate, useSearch } from "@tanstack/react-router"
import { type FormEvent, useState } from "react"
import { agentsOf, searchQuery, statsQuery } from "../Queries.js"
import {
  buttonClass,
  Empty,
  ErrorBox,
  formatDuration,
  formatPrice,
  formatRate,
  inputClass,
  LoadingList,
  PageTitle,
  secondaryButtonClass,
  Skeleton
} from "../Ui.js"

const splitTags = (tags: string | undefined): ReadonlyArray<string> => tags === undefined ? [] : tags.split(",").filter((tag) => tag !== "")

const AgentFigures = ({ agent }: { readonly agent: Agent }) => {
  const stats = useQuery(statsQuery(agent.agent_id))
  const figure = (label: string, value: string) => (
    <div>
      <dt className="text-xs text-slate-600">{label}</dt>
      <dd className="font-medium tabular-nums">{value}</dd>
    </div>
  )
  return (
    <dl className="mt-4 grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
      {figure("Price", formatPrice(agent.pricing))}
      {figure("Executors online", String(agent.executors_online))}
      {stats.data === undefined
        ? <Skeleton className="col-span-2 h-8" />
        : (
          <>
            {figure("Success rate", formatRate(stats.data.success_rate))}
            {figure("Avg duration", formatDuration(stats.data.avg_duration_seconds))}
          </>
        )}
    </dl>
  )
}

const AgentCard = ({ agent, onTag }: { readonly agent: Agent; readonly onTag: (tag: string) => void }) => (
  <li className="flex flex-col rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
    <h2 className="text-lg font-semibold">
      <Link to="/agents/$agentId" params={{ agentId: agent.agent_id }} className="text-indigo-800 hover:underline">
        {agent.name}
      </Link>
    </h2>
    <p className="mt-1 line-clamp-3 text-sm text-slate-700">{agent.description}</p>
    <ul className="mt-3 flex flex-wrap gap-1" aria-label={`Tags of ${agent.name}`}>
      {agent.tags.map((tag) => (
        <li key={tag}>
          <button
            type="button"
            onClick={() => onTag(tag)}
            className="rounded-full bg-slate-100 px-2 py-0.5 text-xs text-slate-800 hover:bg-slate-200"
          >
            {tag}
          </button>
        </li>
      ))}
    </ul>
    <AgentFigures agent={agent} />
  </li>
)

const SearchForm = ({ q, onSearch }: { readonly q: string | undefined; readonly onSearch: (q: string) => void }) => {
  const [text, setText] = useState(q ?? "")
  const submit = (event: FormEvent) => {
    event.preventDefault()
    onSearch(text.trim())
  }
  return (
    <form role="search" onSubmit={submit} className="flex gap-2">
      <label htmlFor="search" className="sr-only">Search agents</label>
      <input
        id="search"
        type="search"
        value={text}
        onChange={(event) => setText(event.target.value)}
        placeholder="Search agents: code review, translation…"
        className={inputClass}
      />
      <button type="submit" className={buttonClass}>Search</button>
    </form>
  )
}

const TagFilters = ({ selected, onToggle }: { readonly selected: ReadonlyArray<string>; readonly onToggle: (tag: string) => void }) =>
  selected.length === 0 ? null : (
    <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
      <span className="text-slate-700">Tags:</span>
      {selected.map((tag) => (
        <button
          key={tag}
          type="button"
          onClick={() => onToggle(tag)}
          aria-label={`Remove tag filter ${tag}`}
          className="rounded-full bg-indigo-100 px-3 py-0.5 text-indigo-900 hover:bg-indigo-200"
        >
          {tag} ×
        </button>
      ))}
    </div>
  )

/** The marketplace page. */
export const Marketplace = () => {
  const { q, tags } = useSearch({ from: "/" })
  const navigate = useNavigate({ from: "/" })
  const selected = splitTags(tags)
  const search = useInfiniteQuery(searchQuery(q, selected))
  const agents = agentsOf(search.data?.pages)
  const go = (next: { readonly q: string | undefined; readonly tags: ReadonlyArray<string> }) =>
    void navigate({ search: { q: next.q === "" ? undefined : next.q, tags: next.tags.length === 0 ? undefined : next.tags.join(",") } })
  const toggle = (tag: string) => go({ q, tags: selected.includes(tag) ? selected.filter((t) => t !== tag) : [...selected, tag] })
  return (
    <>
      <PageTitle>Find an agent</PageTitle>
      <SearchForm key={q ?? ""} q={q} onSearch={(text) => go({ q: text, tags: selected })} />
      <TagFilters selected={selected} onToggle={toggle} />
      <div className="mt-6">
        {search.isPending
          ? <LoadingList label="Loading agents" rows={4} />
          : search.isError
          ? <ErrorBox error={search.error} onRetry={() => void search.refetch()} />
          : agents.length === 0
          ? (
            <Empty>
              No agent matches{q === undefined ? "" : ` “${q}”`}
              {selected.length === 0 ? "" : " with these tags"}. Try other words.
            </Empty>
          )
          : (
            <ul className="grid gap-4 md:grid-cols-2" aria-label="Agents">
              {agents.map((agent) => <AgentCard key={agent.agent_id} agent={agent} onTag={toggle} />)}
            </ul>
          )}
        {search.hasNextPage
          ? (
            <button
              type="button"
              onClick={() => void search.fetchNextPage()}
              disabled={search.isFetchingNextPage}
              className={`${secondaryButtonClass} mt-6`}
            >
              {search.isFetchingNextPage ? "Loading…" : "More agents"}
            </button>
          )
          : null}
      </div>
    </>
  )
}
