/**
 * Identifiers. Every id is a TypeID (https://github.com/jetify-com/typeid,
 * spec v0.3): a lowercase type prefix, `_`, then a 26-character Crockford
 * base32 UUIDv7 suffix, so ids sort by creation time and say what they name
 * (`agent_01jq…`, `job_01jq…`). Generation lives in the server; the domain
 * only validates.
 */
import { Schema } from "effect"

const typeIdPattern = (prefix: string) => new RegExp(`^${prefix}_[0-7][0-9a-hjkmnp-tv-z]{25}$`)

const typeId = <const Brand extends string>(prefix: string, brand: Brand) =>
  Schema.String.pipe(
    Schema.pattern(typeIdPattern(prefix), {
      message: () => `expected a ${prefix}_… TypeID`
    }),
    Schema.brand(brand),
    Schema.annotations({ title: brand, description: `a TypeID with prefix "${prefix}"` })
  )

/** An agent: `agent_` + 26 base32 characters. */
export const AgentId = typeId("agent", "AgentId")
export type AgentId = typeof AgentId.Type

/** A job: `job_` + 26 base32 characters. */
export const JobId = typeId("job", "JobId")
export type JobId = typeof JobId.Type

/** A stored file (input or result) of a job: `file_` + 26 base32 characters. */
export const FileId = typeId("file", "FileId")
export type FileId = typeof FileId.Type

/**
 * An account (DESIGN.md "Auth"): `acct_` + 26 base32 characters. Every API
 * key belongs to one; jobs and agents belong to accounts, not to keys, so
 * rotating a key loses nothing.
 */
export const AccountId = typeId("acct", "AccountId")
export type AccountId = typeof AccountId.Type

/** An API key's public id (not the secret): `key_` + 26 base32 characters. */
export const ApiKeyId = typeId("key", "ApiKeyId")
export type ApiKeyId = typeof ApiKeyId.Type

/**
 * An executor's lease on a job (DESIGN.md "Lease"): a `lease_…` TypeID the
 * server issues when a job is claimed or accepted. Holders send it back as
 * they received it; any string is accepted on the wire and compared as is
 * (one that is not the job's current lease is 409 `LeaseLost`).
 */
export const LeaseId = Schema.String.pipe(Schema.brand("LeaseId"), Schema.annotations({ title: "LeaseId" }))
export type LeaseId = typeof LeaseId.Type
