/**
 * Agents in PostgreSQL: publish (upsert; a new agent belongs to the
 * publisher's account), lookup, full-text search over
 * name (weight A), tags (B) and description (C) with a tag filter, and job
 * outcome statistics.
 */
import { Agent, type AgentManifest, AgentStats } from "@agnt/domain/Agent"
import type { Principal } from "@agnt/domain/Auth"
import { Forbidden, type InvalidRequest } from "@agnt/domain/Errors"
import type { AccountId, AgentId } from "@agnt/domain/Ids"
import type { Page } from "@agnt/domain/Pagination"
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { decodeOffsetCursor, encodeOffsetCursor } from "../Cursor.js"

const decodeAgent = Schema.decodeUnknown(Agent)
const decodeAgents = Schema.decodeUnknown(Schema.Array(Agent))

/** Agent rows: publish, find, search, stats. */
export class AgentsRepo extends Effect.Service<AgentsRepo>()("@agnt/server/AgentsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal(`
      agents.agent_id, agents.account_id, agents.name, agents.description, agents.tags, agents.input_schema,
      agents.pricing, agents.output_schema, agents.created_at, agents.updated_at,
      (SELECT count(*)::int FROM executors e
        WHERE e.agent_id = agents.agent_id AND e.last_seen_at > now() - interval '60 seconds') AS executors_online,
      (SELECT max(e.last_seen_at) FROM executors e WHERE e.agent_id = agents.agent_id) AS last_seen_at`)

    /**
     * Create the agent in `accountId` or replace its manifest; `created_at`
     * and the owning account are kept.
     */
    const upsert = Effect.fn("AgentsRepo.upsert")(function*(agentId: AgentId, manifest: AgentManifest, accountId: AccountId) {
      const rows = yield* sql`
        INSERT INTO agents (agent_id, account_id, name, description, tags, input_schema, pricing, output_schema)
        VALUES (${agentId}, ${accountId}, ${manifest.name}, ${manifest.description}, ${[...manifest.tags]}::text[],
                ${JSON.stringify(manifest.input_schema)}::jsonb, ${JSON.stringify(manifest.pricing)}::jsonb,
                ${JSON.stringify(manifest.output_schema)}::jsonb)
        ON CONFLICT (agent_id) DO UPDATE SET
          name = EXCLUDED.name, description = EXCLUDED.description, tags = EXCLUDED.tags,
          input_schema = EXCLUDED.input_schema, pricing = EXCLUDED.pricing, output_schema = EXCLUDED.output_schema,
          updated_at = now()
        RETURNING ${columns}`
      return yield* decodeAgent(rows[0])
    }, Effect.orDie)

    /**
     * Publish as an executor key: a new agent id is created in the key's
     * account and bound to the key (the first publisher owns it); an
     * existing one is updated only when the key is bound to it.
     *
     * @fails Forbidden when the agent exists and the key does not serve it.
     */
    const publishAs = (principal: Principal, agentId: AgentId, manifest: AgentManifest) =>
      Effect.gen(function*() {
        const keys = yield* sql<{ agent_ids: ReadonlyArray<string> }>`
          SELECT agent_ids FROM api_keys WHERE key_id = ${principal.key_id} FOR UPDATE`
        const created = yield* sql`
          INSERT INTO agents (agent_id, account_id, name, description, tags, input_schema)
          VALUES (${agentId}, ${principal.account_id}, ${manifest.name}, ${manifest.description}, ${[...manifest.tags]}::text[],
                  ${JSON.stringify(manifest.input_schema)}::jsonb)
          ON CONFLICT (agent_id) DO NOTHING RETURNING agent_id`
        if (created.length > 0) {
          yield* sql`UPDATE api_keys SET agent_ids = array_append(agent_ids, ${agentId}::text) WHERE key_id = ${principal.key_id}`
        } else if (!(keys[0]?.agent_ids ?? []).includes(agentId)) {
          return yield* new Forbidden({ message: `agent ${agentId} belongs to another executor key` })
        }
        return yield* upsert(agentId, manifest, principal.account_id)
      }).pipe(sql.withTransaction, (effect) => Effect.catchTag(effect, "SqlError", Effect.die), Effect.withSpan("AgentsRepo.publishAs"))

    /** The agent, or `None`. */
    const findById = Effect.fn("AgentsRepo.findById")(function*(agentId: AgentId) {
      const rows = yield* sql`SELECT ${columns} FROM agents WHERE agent_id = ${agentId}`
      return rows[0] === undefined ? Option.none<Agent>() : Option.some(yield* decodeAgent(rows[0]))
    }, Effect.orDie)

    /**
     * Agents matching `q` (websearch syntax: words, "phrases", -excluded, or)
     * and carrying every tag of `tags`; best match first, else newest first.
     *
     * @fails InvalidRequest for a cursor this server did not make.
     */
    const search = (params: {
      readonly q?: string | undefined
      readonly tags?: ReadonlyArray<string> | undefined
      readonly limit: number
      readonly cursor?: string | undefined
    }): Effect.Effect<Page<Agent>, InvalidRequest> =>
      Effect.gen(function*() {
        const offset = yield* decodeOffsetCursor(params.cursor)
        const q = params.q?.trim() ? params.q.trim() : null
        const rows = yield* sql`
          SELECT ${columns} FROM agents
          WHERE (${q}::text IS NULL OR search @@ websearch_to_tsquery('english', ${q}::text))
            AND tags @> ${[...(params.tags ?? [])]}::text[]
          ORDER BY CASE WHEN ${q}::text IS NULL THEN 0
                        ELSE ts_rank(search, websearch_to_tsquery('english', ${q}::text)) END DESC,
                   agents.agent_id DESC
          OFFSET ${offset} LIMIT ${params.limit + 1}`.pipe(Effect.orDie)
        const agents = yield* decodeAgents(rows).pipe(Effect.orDie)
        return {
          data: agents.slice(0, params.limit),
          next_cursor: agents.length > params.limit ? encodeOffsetCursor(offset + params.limit) : null
        }
      }).pipe(Effect.withSpan("AgentsRepo.search"))

    /** Outcome counts of the agent's jobs (see `AgentStats` for the definitions). */
    const stats = Effect.fn("AgentsRepo.stats")(function*(agentId: AgentId) {
      const rows = yield* sql`
        SELECT
          ${agentId}::text AS agent_id,
          count(*)::int AS total_jobs,
          count(*) FILTER (WHERE status = 'pending')::int AS pending,
          count(*) FILTER (WHERE status IN ('accepted', 'running'))::int AS in_progress,
          count(*) FILTER (WHERE status = 'completed')::int AS completed,
          count(*) FILTER (WHERE status = 'failed')::int AS failed,
          count(*) FILTER (WHERE status = 'rejected')::int AS rejected,
          count(*) FILTER (WHERE status = 'canceled')::int AS canceled,
          (count(*) FILTER (WHERE status = 'completed'))::float8
            / NULLIF(count(*) FILTER (WHERE status IN ('completed', 'failed')), 0) AS success_rate,
          (avg(EXTRACT(EPOCH FROM (completed_at - started_at)))
            FILTER (WHERE status = 'completed' AND started_at IS NOT NULL))::float8 AS avg_duration_seconds
        FROM jobs WHERE agent_id = ${agentId}`
      return yield* Schema.decodeUnknown(AgentStats)(rows[0])
    }, Effect.orDie)

    return { upsert, publishAs, findById, search, stats } as const
  })
}) {}
