/** Test data shared by tests and benchmarks (no vitest imports here). */
import { AgentManifest } from "@agnt/domain/Agent"
import type { AgentId } from "@agnt/domain/Ids"

/** A manifest whose params need `level` (an integer 1–5). */
export const manifest = (name: string, tags: ReadonlyArray<string> = ["test"]) =>
  new AgentManifest({
    name,
    description: `${name}: an agent made by a test`,
    tags,
    input_schema: {
      type: "object",
      properties: { level: { type: "integer", minimum: 1, maximum: 5 } },
      required: ["level"],
      additionalProperties: false
    }
  })

/** A multipart order of `agentId` with `files` (name → text). */
export const orderForm = (agentId: AgentId, params: unknown, files: Readonly<Record<string, string>> = {}) => {
  const form = new FormData()
  form.append("agent_id", agentId)
  form.append("prompt", "review this")
  form.append("params", JSON.stringify(params))
  for (const [name, text] of Object.entries(files)) form.append("files", new Blob([text], { type: "text/plain" }), name)
  return form
}

/**
 * A fresh multipart order with an optional prompt, params and `files`
 * (name → text). A FormData is consumed by its request, so each retry
 * builds its own.
 */
export const order = (agentId: AgentId, options: {
  readonly prompt?: string
  readonly params?: unknown
  readonly files?: Readonly<Record<string, string>>
} = {}) => {
  const form = new FormData()
  form.append("agent_id", agentId)
  form.append("prompt", options.prompt ?? "review this")
  form.append("params", JSON.stringify(options.params ?? {}))
  for (const [name, text] of Object.entries(options.files ?? {})) form.append("files", new Blob([text], { type: "text/plain" }), name)
  return form
}

/** A multipart completion (or any executor form) carrying only `lease_id`. */
export const leaseForm = (leaseId: string) => {
  const form = new FormData()
  form.append("lease_id", leaseId)
  return form
}
