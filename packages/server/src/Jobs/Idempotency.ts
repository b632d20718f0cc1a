/**
 * What makes two orders with one `Idempotency-Key` the same request: the
 * SHA-256 of the order's agent, prompt, params, repo, parent job and files, as canonical JSON.
 */
import type { AgentId } from "@agnt/domain/Ids"
import * as NodeCrypto from "node:crypto"

const sha256Hex = (text: string) => NodeCrypto.createHash("sha256").update(text).digest("hex")

/** JSON with object keys sorted at every depth, so equal values hash equally. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === "object" && inner !== null && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner)

/** The hex SHA-256 of an order: its agent, prompt, params, repo, parent job, and each file's path and SHA-256 in order. */
export const requestSha256 = (
  request: {
    readonly agent_id: AgentId
    readonly prompt: string
    readonly params: unknown
    readonly repo?: unknown
    readonly parent_job_id?: string | undefined
  },
  files: ReadonlyArray<{ readonly path: string; readonly sha256: string }>
): string =>
  sha256Hex(canonicalJson({
    agent_id: request.agent_id,
    prompt: request.prompt,
    params: request.params,
    repo: request.repo ?? null,
    parent_job_id: request.parent_job_id ?? null,
    files: files.map((file) => [file.path, file.sha256])
  }))
