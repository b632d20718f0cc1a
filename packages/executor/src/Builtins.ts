/**
 * The executors that need no configuration, by the name `agnt-executor run
 * <name>` takes. The command executor is not here: it needs a config
 * (`agnt-executor run command --config FILE | --preset NAME`).
 */
import type { AgentId } from "@agnt/domain/Ids"
import { codeReview } from "./CodeReview/Executor.js"
import type { ExecutorDefinition } from "./Executor.js"

/** Name → definition maker; an agent id given to the maker replaces the built-in one. */
export const builtins: Readonly<Record<string, (agentId?: AgentId) => ExecutorDefinition>> = {
  "code-review": codeReview
}
