/**
 * The runtime's defaults (`Runtime.ts` `RuntimeOptions`), apart from the
 * runtime itself so that `agnt-executor`'s commands show them in their
 * flags without loading it. Every duration is in seconds.
 */

/** Default number of jobs run at once. */
export const defaultConcurrency = 1
/** Default long-poll hold of a claim, in seconds. */
export const defaultClaimWaitSeconds = 25
/** Default least spacing of empty claims, in seconds. */
export const defaultPollIntervalSeconds = 1
/** Default grace period on shutdown, in seconds. */
export const defaultGraceSeconds = 30
