/** The queries pages share: an agent, its stats, and the search pages of the catalogue. */
import type { Agent } from "@agnt/domain/Agent"
import type { AgentId } from "@agnt/domain/Ids"
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query"
import { api } from "./Api.js"

/** Agents on one search page. */
const searchPageSize = 12

/** How often (ms) stats and presence are refreshed while shown. */
export const liveRefreshMs = 5000

/** One agent by id. */
export const agentQuery = (agentId: AgentId) =>
  queryOptions({ queryKey: ["agent", agentId], queryFn: () => api((client) => client.agents.get({ path: { agent_id: agentId } })) })

/** An agent's job outcome statistics, refreshed while shown. */
export const statsQuery = (agentId: AgentId) =>
  queryOptions({
    queryKey: ["agent-stats", agentId],
    queryFn: () => api((client) => client.agents.stats({ path: { agent_id: agentId } })),
    refetchInterval: liveRefreshMs
  })

/** The catalogue's pages for a full-text query and tags (all of which an agent must carry), after a cursor. */
export const searchQuery = (q: string | undefined, tags: ReadonlyArray<string>) =>
  infiniteQueryOptions({
    queryKey: ["agents", q ?? "", tags],
    queryFn: ({ pageParam }) =>
      api((client) =>
        client.agents.search({
          urlParams: {
            q,
            tags: tags.length === 0 ? undefined : tags,
            limit: searchPageSize,
            cursor: pageParam
          }
        })
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.next_cursor ?? undefined
  })

/** The agents of every loaded page, in order. */
export const agentsOf = (pages: ReadonlyArray<{ readonly data: ReadonlyArray<Agent> }> | undefined): ReadonlyArray<Agent> =>
  pages?.flatMap((page) => page.data) ?? []
