/**
 * The limits of agnt's API in one place: what the schemas of `Api.ts`
 * enforce (and so what every client may send), and the defaults of the
 * server's configurable limits (`AGNT_MAX_*`, `ServerConfig.ts`). The
 * server, the executor runtime and the CLI read them from here instead of
 * restating them.
 */

/** Items on a list page when the request names no `limit` (DESIGN.md "Lists"). */
export const defaultPageSize = 20

/** Most items on one list page: the largest `limit` (DESIGN.md "Lists"). */
export const maxPageSize = 100

/** Longest agent name, in characters (after trimming). */
export const maxAgentNameLength = 100

/** Longest agent description, in characters. */
export const maxAgentDescriptionLength = 4000

/** Most tags on one agent. */
export const maxAgentTags = 20

/** Longest executor process id (`executor_id` of a claim), in characters. */
export const maxExecutorIdLength = 200

/** Longest wait of a claim long-poll, in seconds. */
export const maxClaimWaitSeconds = 30

/** Longest log line kept, in characters; longer lines are cut. */
export const maxLogLineLength = 4000

/** Most lines in one log batch. */
export const maxLogBatchLines = 500

/** Longest `message` of a status report, and of a job's `status_message`, in characters. */
export const maxStatusMessageLength = 2000

/** Longest `reason` of a status report, in characters. */
export const maxReasonLength = 8000

/** Longest file path (a file's name as stored), in UTF-16 code units. */
export const maxFilePathLength = 512

/** Longest `Idempotency-Key` header, in characters. */
export const maxIdempotencyKeyLength = 255

/** Default of the longest prompt, in UTF-16 code units (`AGNT_MAX_PROMPT_CHARS`). */
export const defaultMaxPromptChars = 1_000_000

/** Default of the largest `params`, in bytes of JSON (`AGNT_MAX_PARAMS_BYTES`). */
export const defaultMaxParamsBytes = 64 * 1024

/** Default of the largest request body, in bytes (`AGNT_MAX_BODY_BYTES`). */
export const defaultMaxBodyBytes = 100 * 1024 * 1024

/** Default of the largest file of a job, input or result, in bytes (`AGNT_MAX_FILE_BYTES`). */
export const defaultMaxFileBytes = 25 * 1024 * 1024

/** Default of the most files in one request, an order's inputs or a complete's results (`AGNT_MAX_FILES`). */
export const defaultMaxFiles = 1000

/** Default of the largest total of a job's input files, in bytes (`AGNT_MAX_JOB_BYTES`). */
export const defaultMaxJobBytes = 100 * 1024 * 1024

/** The most attempts an agent may give a job (`max_attempts`). */
export const maxAttemptsLimit = 10

/** The longest delay before a retry, in seconds (one hour): the cap of `retry_delay_seconds` and of its doubling. */
export const maxRetryDelaySeconds = 3600

/** `retry_delay_seconds` of a manifest that says none. */
export const defaultRetryDelaySeconds = 10
