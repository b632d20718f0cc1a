/**
 * The HTTP edge, around every handler: the per-key request rate, the body
 * limits, and typed 4xx bodies for what fails before a handler runs or
 * outside it — a request that fails its schema (its issues in one
 * sentence), an oversized or malformed body, a method and path no endpoint
 * serves, text PostgreSQL cannot store.
 */
import { Api } from "@agnt/domain/Api"
import { InvalidRequest, MethodNotAllowed, NotReady, PayloadTooLarge, RateLimited, RouteNotFound } from "@agnt/domain/Errors"
import { describeIssues } from "@agnt/domain/Requests"
import {
  FileSystem,
  HttpApiBuilder,
  HttpApiSchema,
  HttpApp,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  Multipart
} from "@effect/platform"
import { HttpIncomingMessage } from "@effect/platform"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { Cause, Effect, Either, Layer, Option, Schema } from "effect"
import { databaseUnavailable } from "./Database.js"
import { guardMultipart } from "./MultipartGuard.js"
import { hasBearer, RateLimits } from "./RateLimits.js"
import { allowedMethods } from "./Routes.js"
import { ServerConfig, type ServerSettings } from "./ServerConfig.js"
import { maxFieldBytesOf, multipartFailure } from "./Uploads.js"

/** The errors the edge answers itself, each a domain error class carrying its HTTP status. */
const edgeErrors = { InvalidRequest, PayloadTooLarge, RateLimited, RouteNotFound, MethodNotAllowed, NotReady } as const
const EdgeError = Schema.Union(InvalidRequest, PayloadTooLarge, RateLimited, RouteNotFound, MethodNotAllowed, NotReady)
const encodeEdgeError = Schema.encodeSync(EdgeError)

/**
 * `error` as the API answers a domain error: the body its schema encodes,
 * the status its class's `HttpApiSchema` annotation carries.
 */
const errorResponse = (error: typeof EdgeError.Type, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(encodeEdgeError(error), { status: HttpApiSchema.getStatusError(edgeErrors[error._tag]), headers })

const invalidRequest = (message: string) => errorResponse(new InvalidRequest({ message }))

const payloadTooLarge = (message: string, limit: number) => errorResponse(new PayloadTooLarge({ message, limit }))

const rateLimited = (error: RateLimited) => errorResponse(error, { "retry-after": String(error.retry_after_seconds) })

const decodeRateLimited = Schema.decodeUnknownOption(Schema.parseJson(RateLimited))

/**
 * A 429 as sent: with `Retry-After` (RFC 9110 §10.2.3) from the body's
 * `retry_after_seconds` when a handler or the authentication middleware
 * refused the request, and, when the request has a body, `Connection:
 * close`, so that a refused upload is not read on to its end.
 */
const finishRateLimited = (request: HttpServerRequest.HttpServerRequest, response: HttpServerResponse.HttpServerResponse) => {
  if (response.status !== 429) return response
  const body = response.body
  const refused = body._tag === "Uint8Array" && response.headers["retry-after"] === undefined
    ? decodeRateLimited(new TextDecoder().decode(body.body))
    : Option.none()
  const withRetry = Option.match(refused, {
    onNone: () => response,
    onSome: (error) => HttpServerResponse.setHeader(response, "retry-after", String(error.retry_after_seconds))
  })
  return hasBody(request) ? HttpServerResponse.setHeader(withRetry, "connection", "close") : withRetry
}

/** Whether `request` has a body: a `Content-Length` other than 0, or `Transfer-Encoding`. */
const hasBody = (request: HttpServerRequest.HttpServerRequest) =>
  (request.headers["content-length"] ?? "0") !== "0" || request.headers["transfer-encoding"] !== undefined

/** Seconds a client is asked to wait (`Retry-After`) while the database is away. */
const notReadyRetrySeconds = 5

/** A typed 503 for a request that needed the database while it was away; clients retry it. */
const notReady = () =>
  errorResponse(new NotReady({ message: "the database is unavailable; retry shortly" }), {
    "retry-after": String(notReadyRetrySeconds)
  })

const isRouteNotFound = (error: unknown) => HttpServerError.isServerError(error) && error._tag === "RouteNotFound"

/**
 * A typed answer for a method and path no endpoint serves (the router's own
 * has no body): 405 `MethodNotAllowed` with `Allow` when the path has other
 * methods, else 404 `RouteNotFound`.
 */
const routeNotFound = (request: HttpServerRequest.HttpServerRequest) => {
  const path = (request.url.split("?")[0] ?? "").slice(0, 200)
  const allowed = allowedMethods(path)
  if (allowed.length > 0 && !allowed.includes(request.method)) {
    const message = `${path} answers ${allowed.join(", ")}, not ${request.method}`
    return errorResponse(new MethodNotAllowed({ method: request.method, path, allowed, message }), { allow: allowed.join(", ") })
  }
  return errorResponse(new RouteNotFound({ method: request.method, path, message: `no endpoint answers ${request.method} ${path}` }))
}

/** Longest wait for the shared address count before a keyless request is let through uncounted. */
const addressLimitWait = "2 seconds"

/**
 * The edge of every request: a request without a bearer key spends from its
 * client address's rate before anything else runs (a keyed one is counted
 * by its verified key, or as a failed attempt, in `AuthenticationLive`).
 * Every 429 leaves with `Retry-After` (`finishRateLimited`, set by
 * `withRequestSettings`); body limits live in `withRequestSettings` and
 * `BodyLimitsLive`, inside the API app.
 */
export const withRequestLimits = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const limits = yield* RateLimits
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!hasBearer(request)) {
      const admitted = yield* limits.admitAddress(request).pipe(
        Effect.either,
        Effect.timeout(addressLimitWait),
        // The count lives in PostgreSQL: while it is away, a keyless request is let through rather than held or
        // failed, so /healthz stays a liveness answer and /readyz can say the database is away.
        Effect.catchAllCause((cause) =>
          Effect.as(Effect.logWarning("address rate limit unavailable; request admitted", cause), Either.void)
        )
      )
      if (Either.isLeft(admitted)) return finishRateLimited(request, rateLimited(admitted.left))
    }
    return yield* app
  })

/**
 * The declared body size checked against the limit (`withRequestSettings` sets
 * the limits the body's reader applies), and typed answers for the failures of parsing
 * a body — which the API builder treats as defects — 413 `PayloadTooLarge`
 * for limits, 400 `InvalidRequest` for malformed JSON or multipart — and
 * a typed 404 `RouteNotFound` for a method and path no endpoint serves
 * (405 `MethodNotAllowed` when the path has other methods),
 * and 503 `NotReady` with `Retry-After` for a request that needed the
 * database while it was away (`Database.databaseUnavailable`).
 * A request that fails its schema (400 `HttpApiDecodeError`) gets as its
 * `message` the clauses of its `issues` in one sentence (`Requests.ts`).
 * Other defects are logged with their cause.
 *
 * An API-level middleware (it wraps the router inside the API app): a
 * middleware given to `HttpApiBuilder.serve` runs outside the app's own
 * error handling, which has already answered an empty 500 by the time such
 * a middleware sees the defect.
 */
export const BodyLimitsLive = HttpApiBuilder.middleware(
  Api,
  Effect.map(ServerConfig, (settings) => (app: HttpApp.Default) => respond(settings, app))
)

/**
 * PostgreSQL refused a value of the request, which any string field can
 * carry: a NUL character in text (22021) or JSON (22P05), or an unpaired
 * surrogate in JSON (22P02 "invalid input syntax for type json").
 */
const unstorableText = (defect: unknown) => {
  if (typeof defect !== "object" || defect === null || !("_tag" in defect) || defect._tag !== "SqlError" || !("cause" in defect)) {
    return false
  }
  const cause = defect.cause
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined
  const message = cause instanceof Error ? cause.message : ""
  return code === "22021" || code === "22P05" || (code === "22P02" && message.includes("type json"))
}

/** The message of the error a Node body reader fails with past `maxBodySize`. */
const bodyTooLarge = (error: unknown) =>
  typeof error === "object" && error !== null && "cause" in error && error.cause instanceof Error &&
  error.cause.message === "maxBytes exceeded"

/** `app` with a declared body over the limit refused, and its parse failures rendered by `renderFailure`. */
const respond = <E, R>(settings: ServerSettings, app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = Number(request.headers["content-length"] ?? "0")
    if (Number.isFinite(declared) && declared > settings.maxBodyBytes) {
      return payloadTooLarge(`request body is over ${settings.maxBodyBytes} bytes`, settings.maxBodyBytes)
    }
    return yield* guardMultipart(request, app, invalidRequest)
  }).pipe(
    Effect.mapError((error) =>
      error instanceof HttpApiDecodeError ? new HttpApiDecodeError({ issues: error.issues, message: describeIssues(error.issues) }) : error
    ),
    Effect.catchAllCause(renderFailure(settings))
  )

/**
 * `layer` — the one serving the API — built with what every request it
 * serves inherits (a request's fiber starts from the fiber refs of the
 * server's), set once rather than around each request, where it was six
 * fiber-ref changes per request: the configured body limits — the largest
 * body, and how multipart bodies are parsed — and `finishRateLimited`, so
 * that every 429 leaves with `Retry-After`.
 */
export const withRequestSettings = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R | ServerConfig> =>
  Layer.unwrapEffect(Effect.map(ServerConfig, (settings) => Layer.locallyEffect(layer, (build) => requestSettings(settings, build))))

/** `effect` with the settings of `withRequestSettings`. */
const requestSettings = <A, E, R>(settings: ServerSettings, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    // Per-file sizes are checked after parsing (`Jobs.checkFiles`), not by the parser (multipasta 0.2.8):
    // a part over its limit that followed another file was dropped without an error (the job was made
    // without it), and in a chunked body the parser emitted an unhandled 'error' that crashed the process.
    Multipart.withMaxFileSize(Option.none()),
    // A part with a filename is a file whatever its type (a .json input is not a form field).
    Multipart.withFieldMimeTypes([]),
    Multipart.withMaxParts(Option.some(settings.maxFiles + 16)),
    Multipart.withMaxFieldSize(FileSystem.Size(maxFieldBytesOf(settings))),
    HttpIncomingMessage.withMaxBodySize(Option.some(FileSystem.Size(settings.maxBodyBytes))),
    // The response of a handler or middleware is amended before it is sent (what `HttpApp.appendPreResponseHandler` does).
    Effect.locallyWith(
      HttpApp.currentPreResponseHandlers,
      Option.match({
        onNone: () => Option.some(finishRateLimitedHandler),
        onSome: (prior) =>
          Option.some((request, response) =>
            Effect.flatMap(prior(request, response), (amended) => finishRateLimitedHandler(request, amended))
          )
      })
    )
  )

const finishRateLimitedHandler: HttpApp.PreResponseHandler = (request, response) => Effect.succeed(finishRateLimited(request, response))

/**
 * A typed answer for a failure or defect of the API app, where one fits
 * (see `BodyLimitsLive`); any other cause passes on, a defect logged first.
 */
const renderFailure = (settings: ServerSettings) => <E>(cause: Cause.Cause<E>) => {
  if (Option.exists(Cause.failureOption(cause), isRouteNotFound)) {
    return Effect.map(HttpServerRequest.HttpServerRequest, routeNotFound)
  }
  const defect = Cause.dieOption(cause)
  if (Option.exists(Option.orElse(defect, () => Cause.failureOption(cause)), databaseUnavailable)) {
    return Effect.as(Effect.logDebug("database unavailable: 503", cause), notReady())
  }
  if (Option.isSome(defect) && unstorableText(defect.value)) {
    return Effect.succeed(invalidRequest("text must not contain NUL characters or unpaired UTF-16 surrogates"))
  }
  if (Option.isSome(defect) && defect.value instanceof RangeError && defect.value.message.includes("call stack")) {
    // Decoding (or formatting the decode error of) a deeply nested body ran out of stack.
    return Effect.succeed(invalidRequest("request body is nested too deeply"))
  }
  if (Option.isSome(defect) && defect.value instanceof Multipart.MultipartError) {
    return Effect.succeed(errorResponse(multipartFailure(defect.value, { ...settings, maxFieldBytes: maxFieldBytesOf(settings) })))
  }
  if (
    Option.isSome(defect) && typeof defect.value === "object" && defect.value !== null && "_tag" in defect.value &&
    defect.value._tag === "RequestError"
  ) {
    const error = defect.value
    return Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
      bodyTooLarge(error)
        ? payloadTooLarge(`request body is over ${settings.maxBodyBytes} bytes`, settings.maxBodyBytes)
        // The API builder reads a body without a content type as JSON too.
        : invalidRequest(
          /json/.test(request.headers["content-type"] ?? "json") ? "the request body is not valid JSON" : "malformed request body"
        ))
  }
  return Effect.zipRight(
    // Typed failures pass through here on their way to their 4xx bodies: only defects are worth a log.
    Cause.isDie(cause) ? Effect.logError("request failed", cause) : Effect.void,
    Effect.failCause(cause)
  )
}
