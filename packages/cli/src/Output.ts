/**
 * What `agnt` prints and how it exits. stdout carries exactly one JSON
 * document per command (pretty-printed, 2 spaces), or — for the following
 * commands `watch` and `logs` — one compact JSON document per line (NDJSON);
 * every failure is one JSON
 * document on stderr — the API's typed error body as the server sent it, or
 * one of the CLI's own errors below — and its kind decides the exit code
 * (table in `packages/cli/README.md`).
 */
import { Api } from "@agnt/domain/Api"
import { RateLimited } from "@agnt/domain/Errors"
import { JobId } from "@agnt/domain/Ids"
import { JobStatus } from "@agnt/domain/Lifecycle"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import { HttpApi, type HttpApiEndpoint, type HttpApiGroup } from "@effect/platform"
import type { HttpClientError } from "@effect/platform/HttpClientError"
import { isHttpClientError } from "@effect/platform/HttpClientError"
import { Cause, Console, Data, Effect, Exit, Option, ParseResult, Predicate, Schema } from "effect"
import * as AST from "effect/SchemaAST"

// ---------------------------------------------------------------------------
// Exit codes
// ---------------------------------------------------------------------------

/** Process exit codes, one per kind of outcome. */
export const ExitCode = {
  /** The command did what it was asked. */
  Ok: 0,
  /** `order --wait` or `watch` saw the job end `failed`, `rejected` or `canceled`. */
  JobFailed: 1,
  /** Bad arguments or configuration, detected before any request. */
  Usage: 2,
  /** The server refused the input (400 / 413). */
  InvalidInput: 3,
  /** The agent, job or file does not exist or is not yours (404). */
  NotFound: 4,
  /** The job is not in a state that allows this (409). */
  Conflict: 5,
  /** Missing, unknown or revoked key, or a key of the wrong role (401 / 403). */
  Auth: 6,
  /** The server failed, is not ready, or answered something undecodable (5xx, 503, bad body, bad checksum). */
  Server: 7,
  /** The server could not be reached (connection refused, DNS, reset). */
  Network: 8,
  /** A bug in `agnt` itself (an unexpected defect). */
  Internal: 9,
  /** The server is rate limiting this key (429); try again after `retry_after_seconds`. */
  RateLimited: 10,
  /** A git step in your repository was refused (`--repo`, `--apply`, `--push`, `--pr`); the repository is as it was. */
  Git: 11,
  /** Interrupted (Ctrl-C / SIGTERM). */
  Interrupted: 130
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

// ---------------------------------------------------------------------------
// The CLI's own errors
// ---------------------------------------------------------------------------

/** Bad arguments or configuration found locally (exit 2). */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {}

/** The API could not be reached at all (exit 8). */
export class NetworkError extends Schema.TaggedError<NetworkError>()("NetworkError", {
  message: Schema.String
}) {}

/** The server failed or answered something the CLI cannot decode (exit 7). `status` is the HTTP status when there was one. */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  message: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

/** A downloaded result file does not match the manifest's size or sha256 (exit 7); nothing was written for it. */
export class CorruptDownload extends Schema.TaggedError<CorruptDownload>()("CorruptDownload", {
  path: Schema.String,
  expected_sha256: Schema.String,
  actual_sha256: Schema.String,
  expected_size: Schema.Number,
  actual_size: Schema.Number,
  message: Schema.String
}) {}

/** A result file's path would land outside the output directory (exit 7): the server sent a path it should have refused. */
export class UnsafePath extends Schema.TaggedError<UnsafePath>()("UnsafePath", {
  path: Schema.String,
  out: Schema.String,
  message: Schema.String
}) {}

/** `order --wait` or `watch` saw the job end in `failed`, `rejected` or `canceled` (exit 1); the job (or its events) is still printed on stdout. */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {
  job_id: JobId,
  status: JobStatus,
  failure_reason: Schema.NullOr(Schema.String),
  message: Schema.String
}) {}

/**
 * A git step of a repo job in the buyer's repository was refused (exit 11),
 * and the repository is as it was: `reason` says which step and why —
 * `not_a_repository`, `no_commit`, `git_failed` (reading or writing the
 * tree), `not_a_repo_job` (the job was not ordered with `--repo`),
 * `base_commit_missing` (the job's base commit, or the tree it sent, is not
 * in this repository: fetch it first), `patch_does_not_apply` (`files`
 * names the conflicting files), `branch_exists`, `push_failed`,
 * `gh_unavailable` (no `gh`, or not signed in) and `pr_failed`.
 */
export class RepoRefused extends Schema.TaggedError<RepoRefused>()("RepoRefused", {
  reason: Schema.Literal(
    "not_a_repository",
    "no_commit",
    "git_failed",
    "not_a_repo_job",
    "base_commit_missing",
    "patch_does_not_apply",
    "branch_exists",
    "push_failed",
    "gh_unavailable",
    "pr_failed"
  ),
  message: Schema.String,
  files: Schema.optional(Schema.Array(Schema.String))
}) {}

/**
 * The typed errors an `HttpApi` declares — on the API, its groups and
 * their endpoints — as the derived client decodes them.
 */
export type DeclaredError<A> = A extends HttpApi.HttpApi<infer _Id, infer Groups, infer ApiErrors, infer _R>
  ? ApiErrors | HttpApiGroup.HttpApiGroup.Error<Groups> | HttpApiEndpoint.HttpApiEndpoint.Error<HttpApiGroup.HttpApiGroup.Endpoints<Groups>>
  : never

/** Errors of the API, decoded from their wire bodies by the derived client: every error `Api` declares. */
export type ApiError = DeclaredError<typeof Api>

/** The CLI's own errors. */
export const LocalError = Schema.Union(UsageError, NetworkError, ServerError, CorruptDownload, UnsafePath, JobFailed, RepoRefused)
export type LocalError = typeof LocalError.Type

/** Every error a command can end with: API errors, the CLI's own, and what the client and `@effect/cli` raise. */
export type Failure =
  | ApiError
  | LocalError
  | HttpClientError
  | ParseResult.ParseError
  | ValidationError.ValidationError

/**
 * The exit code of an API error with HTTP status `status` (the README's
 * table): 400 and 413 (and any other 4xx) → 3 invalid input, 404 → 4 not
 * found, 409 → 5 conflict, 401 and 403 → 6 auth, 429 → 10 rate limited,
 * 503 and every other status → 7 server.
 */
export const exitCodeOfStatus = (status: number): ExitCode => {
  switch (status) {
    case 404:
      return ExitCode.NotFound
    case 409:
      return ExitCode.Conflict
    case 401:
    case 403:
      return ExitCode.Auth
    case 429:
      return ExitCode.RateLimited
    default:
      return status >= 400 && status < 500 ? ExitCode.InvalidInput : ExitCode.Server
  }
}

/** The exit code of each of the CLI's own errors. */
export const exitCodeByTag: Readonly<Record<LocalError["_tag"], ExitCode>> = {
  JobFailed: ExitCode.JobFailed,
  UsageError: ExitCode.Usage,
  ServerError: ExitCode.Server,
  CorruptDownload: ExitCode.Server,
  UnsafePath: ExitCode.Server,
  NetworkError: ExitCode.Network,
  RepoRefused: ExitCode.Git
}

/** An error body as the CLI prints it: the error's wire form, which always has `_tag` and `message`. */
const ErrorBody = Schema.Struct(
  { _tag: Schema.String, message: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
type ErrorBody = typeof ErrorBody.Type

/** How the CLI reports the errors an API declares. */
export interface ApiErrorReports {
  /** `error`'s wire body and the exit code of its class's HTTP status; `None` when `api` declares no such error. */
  readonly reportOf: (error: unknown) => Option.Option<{ readonly body: ErrorBody; readonly exitCode: ExitCode }>
}

/**
 * The reports of every error `api` declares (on itself, its groups and
 * their endpoints), each error's exit code derived from its class's HTTP
 * status annotation (`HttpApiSchema.annotations({ status })`) by
 * `exitCodeOfStatus`: adding an error class to the API needs no change here.
 */
export const apiErrorReports = <Id extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<Id, Groups, E, R>
): ApiErrorReports => {
  const statusOf = new Map<AST.AST, number>()
  const collect = (ast: AST.AST, status: number): void => {
    if (AST.isUnion(ast)) ast.types.forEach((member) => collect(member, status))
    else if (!AST.isNeverKeyword(ast)) statusOf.set(ast, status)
  }
  HttpApi.reflect(api, {
    onGroup: () => {},
    onEndpoint: ({ errors }) => errors.forEach(({ ast }, status) => Option.map(ast, (declared) => collect(declared, status)))
  })
  const reports = Array.from(statusOf, ([ast, status]) => {
    const schema = Schema.make(ast)
    return {
      is: Schema.is(schema),
      body: (error: unknown) => Schema.decodeUnknownSync(ErrorBody)(Schema.encodeUnknownSync(schema)(error)),
      exitCode: exitCodeOfStatus(status)
    }
  })
  return {
    reportOf: (error) =>
      Option.map(
        Option.fromNullable(reports.find((report) => report.is(error))),
        (report) => ({ body: report.body(error), exitCode: report.exitCode })
      )
  }
}

const apiErrors = apiErrorReports(Api)

/** A failure as the CLI reports it: the JSON body for stderr and the process exit code. */
export interface Report {
  readonly body: { readonly _tag: string; readonly message: string; readonly [field: string]: unknown }
  readonly exitCode: ExitCode
}

const isLocalError = Schema.is(LocalError)
const encodeLocalError = Schema.encodeSync(LocalError)

// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const ansiEscape = /\u001b\[[0-9;]*m/g

/** Plain text of an `@effect/cli` help document (its ANSI styling removed, trimmed). */
export const helpDocText = (doc: HelpDoc.HelpDoc): string => HelpDoc.toAnsiText(doc).replace(ansiEscape, "").trim()

/**
 * A short, one-line account of a schema failure: each issue as
 * `path: message` (path omitted at the root), joined by `; `.
 */
export const parseErrorText = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`))
    .join("; ")

/** The innermost message of an error's `cause` chain (e.g. `connect ECONNREFUSED 127.0.0.1:8080` under `fetch failed`). */
const rootCauseMessage = (error: unknown): string | undefined => {
  let current: unknown = error
  let message: string | undefined
  for (let depth = 0; depth < 8 && Predicate.hasProperty(current, "cause"); depth++) {
    current = current.cause
    if (Predicate.hasProperty(current, "message") && Predicate.isString(current.message) && current.message !== "") {
      message = current.message
    }
  }
  return message
}

/**
 * Seconds to wait from a `Retry-After` header: delay-seconds, or an HTTP date
 * (RFC 9110 §10.2.3); `undefined` when absent or unreadable.
 */
export const retryAfterSeconds = (header: string | undefined, now: Date): number | undefined => {
  if (header === undefined || header.trim() === "") return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return Number(text)
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000))
}

/**
 * Classify an HTTP client failure: unreachable server, bad URL, rate limited
 * (a 429 the endpoint does not declare, with `Retry-After` when sent), or an
 * unexpected response.
 */
export const fromHttpClientError = (error: HttpClientError): NetworkError | ServerError | UsageError | RateLimited => {
  const target = `${error.request.method} ${error.request.url}`
  if (error._tag === "RequestError") {
    switch (error.reason) {
      case "Transport": {
        const detail = rootCauseMessage(error) ?? error.description ?? "transport error"
        return new NetworkError({ message: `cannot reach the API (${target}): ${detail}` })
      }
      case "InvalidUrl":
        return new UsageError({ message: `invalid API URL (${target}); check AGNT_API_URL or api_url in the config file` })
      case "Encode":
        // E.g. an input file that changed while it was sent (`Upload.UnreadableFile`).
        return new UsageError({
          message: `cannot encode the request (${target}): ${rootCauseMessage(error) ?? error.description ?? "encode error"}`
        })
    }
  }
  if (error.response.status === 429) {
    return new RateLimited({
      message: `rate limited (${target}); try again later`,
      retry_after_seconds: retryAfterSeconds(error.response.headers["retry-after"], new Date()) ?? 1
    })
  }
  return new ServerError({
    message: `unexpected response ${error.response.status} to ${target}`,
    status: error.response.status
  })
}

/**
 * How to report `failure`: its JSON body (for stderr) and exit code. API
 * errors keep the body the server sent; client and parser failures become
 * `NetworkError` / `ServerError`; `@effect/cli` validation errors become
 * `UsageError` with the parser's message.
 */
export const reportOf = (failure: Failure): Report => {
  const declared = apiErrors.reportOf(failure)
  if (Option.isSome(declared)) return declared.value
  if (isLocalError(failure)) {
    const { _tag, ...fields } = encodeLocalError(failure)
    return { body: { _tag, ...fields }, exitCode: exitCodeByTag[failure._tag] }
  }
  if (ValidationError.isValidationError(failure)) {
    return reportOf(new UsageError({ message: helpDocText(failure.error) || failure._tag }))
  }
  if (ParseResult.isParseError(failure)) {
    return reportOf(new ServerError({ message: `undecodable response: ${parseErrorText(failure)}` }))
  }
  if (isHttpClientError(failure)) return reportOf(fromHttpClientError(failure))
  return { body: { _tag: "InternalError", message: `an error the API does not declare: ${String(failure)}` }, exitCode: ExitCode.Internal }
}

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

/** Render a value as the CLI's JSON: pretty-printed with 2 spaces. */
export const renderJson = (value: unknown): string => JSON.stringify(value, null, 2)

/**
 * Print `value`, encoded with `schema` to its wire form (snake_case, RFC 3339
 * timestamps), as the command's one JSON document on stdout. An encoding
 * failure is a defect: the value came from our own decoder.
 */
export const printJson = <A, I>(schema: Schema.Schema<A, I>, value: A): Effect.Effect<void> =>
  Schema.encode(schema)(value).pipe(Effect.orDie, Effect.flatMap((encoded) => Console.log(renderJson(encoded))))

/**
 * Print `value`, encoded with `schema` to its wire form, as one compact JSON
 * line on stdout (NDJSON, for the commands that follow a job).
 */
export const printJsonLine = <A, I>(schema: Schema.Schema<A, I>, value: A): Effect.Effect<void> =>
  Schema.encode(schema)(value).pipe(Effect.orDie, Effect.flatMap((encoded) => Console.log(JSON.stringify(encoded))))

/** Ends the program with `code` once the failure has been reported; read by `exitCodeOf` in the runtime's teardown. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: ExitCode }> {}

/** Print `failure`'s JSON body on stderr and fail with the matching `CliExit`. */
export const reportFailure = (failure: Failure): Effect.Effect<never, CliExit> => {
  const report = reportOf(failure)
  return Console.error(renderJson(report.body)).pipe(Effect.zipRight(Effect.fail(new CliExit({ code: report.exitCode }))))
}

/** Print a defect (a bug in `agnt`) as `{"_tag":"InternalError",…}` on stderr and fail with exit 9. */
export const reportDefect = (defect: unknown): Effect.Effect<never, CliExit> =>
  Console.error(renderJson({ _tag: "InternalError", message: Cause.pretty(Cause.die(defect)) })).pipe(
    Effect.zipRight(Effect.fail(new CliExit({ code: ExitCode.Internal })))
  )

/**
 * The process exit code of the program's `exit`: 0 on success, 130 when
 * interrupted, the code of a `CliExit` failure, else 9 (internal).
 */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): ExitCode =>
  Exit.match(exit, {
    onSuccess: () => ExitCode.Ok,
    onFailure: (cause) =>
      Cause.isInterruptedOnly(cause)
        ? ExitCode.Interrupted
        : Option.match(Cause.failureOption(cause), {
          onNone: () => ExitCode.Internal,
          onSome: (error) => (error instanceof CliExit ? error.code : ExitCode.Internal)
        })
  })
