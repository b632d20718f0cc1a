/** The executors shipped with agnt, by the name `agnt-executor run <name>` takes. */
import type { AgentId } from "@agnt/domain/Ids"
import { codeReview } from "./CodeReview/Executor.js"
import type { ExecutorDefinition } from "./Executor.js"

/** Name → definition maker (an optional agent id overrides the built-in one). */
export const builtins: Readonly<Record<string, (agentId?: AgentId) => ExecutorDefinition>> = {
  "code-review": codeReview
}
