/**
 * Agents in PostgreSQL: publish (upsert; a new agent belongs to the
 * publisher's account), lookup, full-text search over
 * name (weight A), tags (B) and description (C) with a tag filter, and job
 * outcome statistics; each row decoded by its schema.
 */
import { Agent, type AgentManifest, AgentStats, JsonSchemaDocument, Pricing } from "@agnt/domain/Agent"
import type { Principal } from "@agnt/domain/Auth"
import { Forbidden, type InvalidRequest } from "@agnt/domain/Errors"
import { AccountId, AgentId, ApiKeyId } from "@agnt/domain/Ids"
import type { Page } from "@agnt/domain/Pagination"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { decodeOffsetCursor, encodeOffsetCursor } from "../Cursor.js"

/** The columns of an `Agent`, with its executors' presence. */
const agentColumns = `
  agents.agent_id, agents.account_id, agents.name, agents.description, agents.tags, agents.input_schema,
  agents.pricing, agents.output_schema, agents.max_attempts, agents.retry_delay_seconds, agents.sandboxed, agents.created_at, agents.updated_at,
  (SELECT count(*)::int FROM executors e
    WHERE e.agent_id = agents.agent_id AND e.last_seen_at > now() - interval '60 seconds') AS executors_online,
  (SELECT max(e.last_seen_at) FROM executors e WHERE e.agent_id = agents.agent_id) AS last_seen_at`

/** A manifest as the upsert takes it: its JSON documents as JSON text. */
const UpsertRequest = Schema.Struct({
  agent_id: AgentId,
  account_id: AccountId,
  name: Schema.String,
  description: Schema.String,
  tags: Schema.Array(Schema.String),
  input_schema: Schema.parseJson(JsonSchemaDocument),
  pricing: Schema.parseJson(Pricing),
  output_schema: Schema.parseJson(JsonSchemaDocument),
  max_attempts: Schema.Int,
  retry_delay_seconds: Schema.Int,
  sandboxed: Schema.NullOr(Schema.Boolean)
})

/** Create the agent in its account or replace its manifest; `created_at` and the owning account are kept. */
const upsertStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.single({
    Request: UpsertRequest,
    Result: Agent,
    execute: (r) =>
      sql`
      INSERT INTO agents (agent_id, account_id, name, description, tags, input_schema, pricing, output_schema,
                          max_attempts, retry_delay_seconds, sandboxed)
      VALUES (${r.agent_id}, ${r.account_id}, ${r.name}, ${r.description}, ${r.tags}::text[],
              ${r.input_schema}::jsonb, ${r.pricing}::jsonb, ${r.output_schema}::jsonb, ${r.max_attempts}, ${r.retry_delay_seconds},
              ${r.sandboxed})
      ON CONFLICT (agent_id) DO UPDATE SET
        name = EXCLUDED.name, description = EXCLUDED.description, tags = EXCLUDED.tags,
        input_schema = EXCLUDED.input_schema, pricing = EXCLUDED.pricing, output_schema = EXCLUDED.output_schema,
        max_attempts = EXCLUDED.max_attempts, retry_delay_seconds = EXCLUDED.retry_delay_seconds,
        sandboxed = EXCLUDED.sandboxed, updated_at = now()
      RETURNING ${sql.literal(agentColumns)}`
  })

/**
 * The agents an executor key serves (its row locked until the transaction
 * ends), and whether `agent_id` was new: created here, in the key's
 * account, and bound to the key.
 */
const claimAgentStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.single({
    Request: Schema.Struct({ key_id: ApiKeyId, agent_id: AgentId, account_id: AccountId, name: Schema.String }),
    Result: Schema.Struct({ served: Schema.Array(Schema.String), created: Schema.Boolean }),
    execute: (r) =>
      sql`
      WITH key AS (
        SELECT agent_ids FROM api_keys WHERE key_id = ${r.key_id} FOR UPDATE
      ), created AS (
        INSERT INTO agents (agent_id, account_id, name, description, tags, input_schema)
        VALUES (${r.agent_id}, ${r.account_id}, ${r.name}, '', '{}'::text[], '{}'::jsonb)
        ON CONFLICT (agent_id) DO NOTHING RETURNING agent_id
      ), bound AS (
        UPDATE api_keys SET agent_ids = array_append(agent_ids, ${r.agent_id}::text)
        WHERE key_id = ${r.key_id} AND EXISTS (SELECT 1 FROM created)
      )
      SELECT COALESCE((SELECT agent_ids FROM key), '{}') AS served, EXISTS (SELECT 1 FROM created) AS created`
  })

const findByIdStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: AgentId,
    Result: Agent,
    execute: (agentId) => sql`SELECT ${sql.literal(agentColumns)} FROM agents WHERE agent_id = ${agentId}`
  })

const inputSchemaStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findOne({
    Request: AgentId,
    Result: Schema.Struct({ input_schema: JsonSchemaDocument }),
    execute: (agentId) => sql`SELECT input_schema FROM agents WHERE agent_id = ${agentId}`
  })

/** A search as the statement takes it: `q` trimmed (`null` for none), the offset, and one row more than a page. */
const SearchRequest = Schema.Struct({
  q: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  offset: Schema.Number,
  limit: Schema.Number
})

const searchStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: SearchRequest,
    Result: Agent,
    execute: (r) =>
      sql`
      SELECT ${sql.literal(agentColumns)} FROM agents
      WHERE (${r.q}::text IS NULL OR search @@ websearch_to_tsquery('english', ${r.q}::text))
        AND tags @> ${r.tags}::text[]
      ORDER BY CASE WHEN ${r.q}::text IS NULL THEN 0
                    ELSE ts_rank(search, websearch_to_tsquery('english', ${r.q}::text)) END DESC,
               agents.agent_id DESC
      OFFSET ${r.offset} LIMIT ${r.limit + 1}`
  })

/** Outcome counts of an agent's jobs (see `AgentStats` for the definitions). */
const statsStatement = (sql: SqlClient.SqlClient) =>
  SqlSchema.single({
    Request: AgentId,
    Result: AgentStats,
    execute: (agentId) =>
      sql`
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
  })

/** The upsert's request for `manifest` as agent `agentId` of `accountId`. */
const upsertRequest = (agentId: AgentId, manifest: AgentManifest, accountId: AccountId): typeof UpsertRequest.Type => ({
  agent_id: agentId,
  account_id: accountId,
  name: manifest.name,
  description: manifest.description,
  tags: manifest.tags,
  input_schema: manifest.input_schema,
  max_attempts: manifest.max_attempts,
  retry_delay_seconds: manifest.retry_delay_seconds,
  pricing: manifest.pricing,
  output_schema: manifest.output_schema,
  sandboxed: manifest.sandboxed ?? null
})

/**
 * Publish as an executor key: a new agent id is created in the key's
 * account and bound to the key (the first publisher owns it); an existing
 * one is updated only when the key is bound to it. One transaction.
 *
 * @fails Forbidden when the agent exists and the key does not serve it.
 */
const publishAs = (sql: SqlClient.SqlClient) => {
  const [claimAgent, upsert] = [claimAgentStatement(sql), upsertStatement(sql)]
  return Effect.fn("AgentsRepo.publishAs")(
    function*(principal: Principal, agentId: AgentId, manifest: AgentManifest) {
      const { account_id, key_id } = principal
      const { created, served } = yield* claimAgent({ key_id, agent_id: agentId, account_id, name: manifest.name })
      if (!created && !served.includes(agentId)) {
        return yield* new Forbidden({ message: `agent ${agentId} belongs to another executor key` })
      }
      return yield* upsert(upsertRequest(agentId, manifest, account_id))
    },
    sql.withTransaction,
    (effect) => Effect.catchTags(effect, { SqlError: Effect.die, ParseError: Effect.die, NoSuchElementException: Effect.die })
  )
}

/**
 * Agents matching `q` (websearch syntax: words, "phrases", -excluded, or)
 * and carrying every tag of `tags`; best match first, else newest first.
 *
 * @fails InvalidRequest for a cursor this server did not make.
 */
const search = (sql: SqlClient.SqlClient) => {
  const rows = searchStatement(sql)
  return (params: {
    readonly q?: string | undefined
    readonly tags?: ReadonlyArray<string> | undefined
    readonly limit: number
    readonly cursor?: string | undefined
  }): Effect.Effect<Page<Agent>, InvalidRequest> =>
    Effect.gen(function*() {
      const offset = yield* decodeOffsetCursor(params.cursor)
      const q = params.q?.trim() ? params.q.trim() : null
      const agents = yield* rows({ q, tags: params.tags ?? [], offset, limit: params.limit }).pipe(Effect.orDie)
      return {
        data: agents.slice(0, params.limit),
        next_cursor: agents.length > params.limit ? encodeOffsetCursor(offset + params.limit) : null
      }
    }).pipe(Effect.withSpan("AgentsRepo.search"))
}

/** Agent rows: publish, find, search, stats. */
export class AgentsRepo extends Effect.Service<AgentsRepo>()("@agnt/server/AgentsRepo", {
  effect: Effect.map(SqlClient.SqlClient, (sql) => {
    const [upsert, findById, stats] = [upsertStatement(sql), findByIdStatement(sql), statsStatement(sql)]
    const inputSchema = inputSchemaStatement(sql)
    return {
      /** Create the agent in `accountId` or replace its manifest; `created_at` and the owning account are kept. */
      upsert: Effect.fn("AgentsRepo.upsert")(function*(agentId: AgentId, manifest: AgentManifest, accountId: AccountId) {
        return yield* upsert(upsertRequest(agentId, manifest, accountId))
      }, Effect.orDie),
      publishAs: publishAs(sql),
      /** The agent, or `None`. */
      findById: Effect.fn("AgentsRepo.findById")(function*(agentId: AgentId) {
        return yield* findById(agentId)
      }, Effect.orDie),
      /** The agent's `input_schema`, or `None` when there is no such agent. */
      inputSchema: Effect.fn("AgentsRepo.inputSchema")(function*(agentId: AgentId) {
        return Option.map(yield* inputSchema(agentId), (row) => row.input_schema)
      }, Effect.orDie),
      search: search(sql),
      /** Outcome counts of the agent's jobs (see `AgentStats` for the definitions). */
      stats: Effect.fn("AgentsRepo.stats")(function*(agentId: AgentId) {
        return yield* stats(agentId)
      }, Effect.orDie)
    } as const
  })
}) {}
