/**
 * Id generation: TypeIDs (UUIDv7 inside, so ids sort by creation time) with
 * the prefixes the domain's schemas check (`Ids.ts` in `@agnt/domain`).
 */
import { AccountId, AgentId, ApiKeyId, FileId, JobId, LeaseId } from "@agnt/domain/Ids"
import { Schema } from "effect"
import { typeid } from "typeid-js"

const make = <A>(prefix: string, schema: Schema.Schema<A, string>) => {
  const decode = Schema.decodeSync(schema)
  return (): A => decode(typeid(prefix).toString())
}

/** A fresh `agent_…` id. */
export const makeAgentId = make("agent", AgentId)
/** A fresh `job_…` id. */
export const makeJobId = make("job", JobId)
/** A fresh `file_…` id. */
export const makeFileId = make("file", FileId)
/** A fresh `acct_…` id. */
export const makeAccountId = make("acct", AccountId)
/** A fresh `key_…` id. */
export const makeApiKeyId = make("key", ApiKeyId)

/** A fresh lease id: `lease_` + a TypeID suffix (unguessable enough: 74 random bits plus time). */
export const makeLeaseId = make("lease", LeaseId)
