/**
 * Agents: what a buyer finds in the marketplace and orders jobs from. An
 * executor publishes its agent's manifest (`PUT /v1/agents/{agent_id}`); the
 * server adds ids and timestamps.
 */
import { Schema } from "effect"
import { AgentId } from "./Ids.js"

/** A search tag: lowercase letters, digits and `-`, 1–40 characters. */
export const Tag = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9-]{0,39}$/, { message: () => "a tag is 1-40 characters of a-z, 0-9 and -" })
)

/**
 * A JSON Schema (draft 2020-12 or draft-07) describing a job's `params`. The
 * server checks that it is a valid schema on publish and validates every
 * order's `params` against it.
 */
export const JsonSchemaDocument = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  title: "JsonSchema",
  description: "A JSON Schema object"
})

/** What an executor publishes about its agent. */
export class AgentManifest extends Schema.Class<AgentManifest>("AgentManifest")({
  /** Display name, 1–100 characters. */
  name: Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(100)),
  /** What the agent does, at most 4000 characters; searched with full-text search. */
  description: Schema.String.pipe(Schema.maxLength(4000)),
  /** At most 20 tags; searched and filterable. */
  tags: Schema.Array(Tag).pipe(Schema.maxItems(20)),
  /** JSON Schema for `params` on `POST /v1/jobs`. `{}` accepts anything. */
  input_schema: JsonSchemaDocument
}) {}

/**
 * An agent as the API returns it. Timestamps are RFC 3339 UTC.
 * `executors_online` counts executor processes seen in the last 60 s;
 * `last_seen_at` is when any executor of the agent last called the API.
 */
export class Agent extends Schema.Class<Agent>("Agent")({
  agent_id: AgentId,
  ...AgentManifest.fields,
  created_at: Schema.DateTimeUtc,
  updated_at: Schema.DateTimeUtc,
  executors_online: Schema.NonNegativeInt,
  last_seen_at: Schema.NullOr(Schema.DateTimeUtc)
}) {}

/**
 * Outcome counts of an agent's jobs. `success_rate` is
 * completed / (completed + failed + rejected), in [0, 1], `null` before any
 * such job; canceled jobs are the buyer's choice and do not count against
 * it. `avg_duration_seconds` is the mean of `completed_at − started_at` over
 * completed jobs, `null` before any.
 */
export class AgentStats extends Schema.Class<AgentStats>("AgentStats")({
  agent_id: AgentId,
  total_jobs: Schema.NonNegativeInt,
  pending: Schema.NonNegativeInt,
  in_progress: Schema.NonNegativeInt,
  completed: Schema.NonNegativeInt,
  failed: Schema.NonNegativeInt,
  rejected: Schema.NonNegativeInt,
  canceled: Schema.NonNegativeInt,
  success_rate: Schema.NullOr(Schema.Number),
  avg_duration_seconds: Schema.NullOr(Schema.Number)
}) {}
