-- Whether an agent's jobs run their program in the executor's sandbox, as its
-- manifest says (DESIGN.md "Sandbox"): true by default for a command executor,
-- false when its seller runs it with --no-sandbox, NULL when the manifest says
-- nothing (an executor that runs no program of the job's, or one from before).
ALTER TABLE agents ADD COLUMN sandboxed boolean;
