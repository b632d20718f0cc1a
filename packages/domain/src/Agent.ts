/**
 * Agents: what a buyer finds in the marketplace and orders jobs from. An
 * executor publishes its agent's manifest (`PUT /v1/agents/{agent_id}`); the
 * server adds ids and timestamps.
 */
import { Schema } from "effect"
import { AccountId, AgentId } from "./Ids.js"
import {
  defaultRetryDelaySeconds,
  maxAgentDescriptionLength,
  maxAgentNameLength,
  maxAgentTags,
  maxAttemptsLimit,
  maxRetryDelaySeconds
} from "./Limits.js"
import { StorableText } from "./Text.js"

/** A search tag: lowercase letters, digits and `-`, 1–40 characters. */
export const Tag = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9-]{0,39}$/, { message: () => "a tag is 1-40 characters of a-z, 0-9 and -" })
)

/**
 * A JSON Schema (draft 2020-12 or draft-07): an agent's `input_schema` (of a
 * job's `params`) or `output_schema` (of a job's `result`). The server
 * checks that it is a valid schema on publish and validates every order's
 * `params`, and every completion's `result`, against it.
 */
export const JsonSchemaDocument = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  title: "JsonSchema",
  description: "A JSON Schema object"
})

/**
 * A price as a decimal string: 1–9 integer digits and at most 6 fractional
 * ones, never negative, never in exponent notation (`"0.50"`, `"12"`).
 * Strings, not numbers, so no amount is rounded on its way (as Stripe and
 * ISO 20022 carry amounts).
 */
export const DecimalAmount = Schema.String.pipe(
  Schema.pattern(/^\d{1,9}(\.\d{1,6})?$/, {
    message: () => "amount is a non-negative decimal string: 1-9 digits, optionally . and 1-6 more (e.g. \"0.50\")"
  })
).annotations({
  title: "DecimalAmount",
  description: "A non-negative decimal amount as a string: 1-9 digits, optionally a point and 1-6 more",
  examples: ["0.50", "12"]
})

/**
 * The ISO 4217 codes in use, as the runtime's CLDR data knows them
 * (`Intl.supportedValuesOf("currency")`: current codes only, no withdrawn
 * ones, no testing or "no currency" codes such as `XTS`, `XXX`).
 */
const currencyCodes: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"))

/** An ISO 4217 alphabetic currency code in use: three uppercase letters (`USD`, `EUR`). */
export const CurrencyCode = Schema.String.pipe(
  Schema.pattern(/^[A-Z]{3}$/, { message: () => "currency is an ISO 4217 code: three uppercase letters (e.g. \"USD\")" }),
  Schema.filter((code) => currencyCodes.has(code), {
    message: (issue) => `currency ${JSON.stringify(issue.actual)} is not an ISO 4217 code in use`,
    jsonSchema: { title: "CurrencyCode", description: "An ISO 4217 alphabetic currency code in use", examples: ["USD", "EUR"] }
  })
)

/** The agent charges nothing. */
export const FreePricing = Schema.Struct({
  model: Schema.Literal("free")
}).annotations({ identifier: "FreePricing", description: "The agent charges nothing." })

/** The agent charges `amount` of `currency` for every job it completes. */
export const PerJobPricing = Schema.Struct({
  model: Schema.Literal("per_job"),
  amount: DecimalAmount,
  currency: CurrencyCode
}).annotations({ identifier: "PerJobPricing", description: "A price per job: a decimal amount of an ISO 4217 currency." })

/**
 * What an agent charges (DESIGN.md "Data model"): a union tagged by
 * `model` — `{"model": "free"}` or
 * `{"model": "per_job", "amount": "0.50", "currency": "USD"}`.
 */
export const Pricing = Schema.Union(FreePricing, PerJobPricing).annotations({ identifier: "Pricing" })
export type Pricing = typeof Pricing.Type

/** The pricing of a manifest that says none. */
export const freePricing: Pricing = { model: "free" }

/** An agent's `max_attempts`: an integer, 1–`maxAttemptsLimit`. */
export const MaxAttempts = Schema.Int.pipe(Schema.between(1, maxAttemptsLimit))

/** An agent's `retry_delay_seconds`: an integer number of seconds, 0–`maxRetryDelaySeconds`. */
export const RetryDelaySeconds = Schema.Int.pipe(Schema.between(0, maxRetryDelaySeconds))

/** What an executor publishes about its agent. */
export class AgentManifest extends Schema.Class<AgentManifest>("AgentManifest")({
  /** Display name, 1–100 characters. */
  name: Schema.compose(StorableText, Schema.Trim).pipe(Schema.minLength(1), Schema.maxLength(maxAgentNameLength)),
  /** What the agent does, at most 4000 characters; searched with full-text search. */
  description: StorableText.pipe(Schema.maxLength(maxAgentDescriptionLength)),
  /** At most 20 tags; searched and filterable. */
  tags: Schema.Array(Tag).pipe(Schema.maxItems(maxAgentTags)),
  /** JSON Schema for `params` on `POST /v1/jobs`. `{}` accepts anything. */
  input_schema: JsonSchemaDocument,
  /** What a job costs; `{"model": "free"}` when left out. */
  pricing: Schema.optionalWith(Pricing, { default: () => freePricing }),
  /**
   * JSON Schema of a completed job's structured `result` (checked on
   * `POST /v1/executor/jobs/{job_id}/complete`; a job completed without a
   * result is checked as `null`). `{}`, the default, accepts anything.
   */
  output_schema: Schema.optionalWith(JsonSchemaDocument, { default: () => ({}) }),
  /**
   * How many times a job of the agent may be started, 1–10 (DESIGN.md
   * "Delivery"). 1, the default, is at-most-once: a job whose lease expires
   * fails with `lease_expired`. Above 1 is at-least-once: such a job goes
   * back to `pending` with `attempt` + 1 after `retry_delay_seconds`, until
   * its attempts are spent (as River's and Graphile Worker's `max_attempts`).
   */
  max_attempts: Schema.optionalWith(MaxAttempts, { default: () => 1 }),
  /**
   * Seconds before a retried job may be claimed again, 0–3600, doubled on
   * each further attempt (attempt 2 waits this long, attempt 3 twice as
   * long, …) and capped at one hour. Default 10.
   */
  retry_delay_seconds: Schema.optionalWith(RetryDelaySeconds, { default: () => defaultRetryDelaySeconds }),
  /**
   * Whether the agent's jobs run their program in the executor's sandbox
   * (DESIGN.md "Sandbox"): `true` for a `command` executor by default,
   * `false` when its seller runs it with `--no-sandbox`, so buyers can see
   * it. Left out by an executor that runs no program of the job's (the
   * built-in code review analyses files in-process).
   */
  sandboxed: Schema.optional(Schema.Boolean)
}) {}

/**
 * An agent as the API returns it. Timestamps are RFC 3339 UTC.
 * `executors_online` counts executor processes seen in the last 60 s;
 * `last_seen_at` is when any executor of the agent last called the API.
 */
export class Agent extends Schema.Class<Agent>("Agent")({
  agent_id: AgentId,
  /**
   * The seller's account: that of the key that first published the agent;
   * `null` for an agent an admin published before accounts existed
   * (migration 0004).
   */
  account_id: Schema.NullOr(AccountId),
  ...AgentManifest.fields,
  pricing: Pricing,
  output_schema: JsonSchemaDocument,
  max_attempts: Schema.Int,
  retry_delay_seconds: Schema.Int,
  /** As the manifest says (`AgentManifest.sandboxed`); `null` when it says nothing. */
  sandboxed: Schema.NullOr(Schema.Boolean),
  created_at: Schema.DateTimeUtc,
  updated_at: Schema.DateTimeUtc,
  executors_online: Schema.NonNegativeInt,
  last_seen_at: Schema.NullOr(Schema.DateTimeUtc)
}) {}

/**
 * Outcome counts of an agent's jobs, by the job's status now:
 * - `total_jobs`: every job ever ordered of the agent;
 * - `pending`; `in_progress` (accepted or running); `completed`; `failed`
 *   (by the executor, or its lease expired); `rejected` (declined by an
 *   executor before it started); `canceled` (by the buyer);
 * - `success_rate`: completed ÷ (completed + failed), in [0, 1], `null`
 *   before any job completed or failed. Rejected jobs are reported beside
 *   it (`rejected`), not in it: declining work is not failing it. Canceled
 *   jobs are the buyer's choice and count in neither;
 * - `avg_duration_seconds`: the mean of `completed_at − started_at` over
 *   completed jobs, in seconds, `null` before any.
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
}, {
  description: "Outcome counts of an agent's jobs by their status now. success_rate = completed / (completed + failed), " +
    "null before any job completed or failed; rejected jobs are counted in rejected, not in success_rate; canceled jobs " +
    "count in neither. in_progress = accepted + running. avg_duration_seconds = mean of completed_at - started_at over " +
    "completed jobs, null before any."
}) {}
