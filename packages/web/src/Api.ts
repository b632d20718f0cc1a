/**
 * The web app's one way to the API: the client derived from the domain
 * `HttpApi` (`HttpApiClient.make(Api)`) over the browser's `fetch`, on the
 * page's own origin, so the session cookie goes with every request and no
 * page script ever holds a key. Requests other than GET and HEAD carry
 * the session's CSRF token in `x-csrf-token` (the token is set by
 * `Session.ts` when a session is known).
 *
 * `api(f)` runs `f` with the client and settles as a Promise (what TanStack
 * Query expects), failing with an `ApiError` whose `message` is the
 * server's typed error message.
 */
import { Api } from "@agnt/domain/Api"
import { csrfHeaderName } from "@agnt/domain/Session"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Either, ManagedRuntime, Predicate } from "effect"

let csrfToken: string | null = null

/** The CSRF token sent on requests that change state: the signed-in session's, or `null` when signed out. */
export const setCsrfToken = (token: string | null): void => {
  csrfToken = token
}

const withCsrf = (request: HttpClientRequest.HttpClientRequest) =>
  request.method === "GET" || request.method === "HEAD" || csrfToken === null
    ? request
    : HttpClientRequest.setHeader(request, csrfHeaderName, csrfToken)

const runtime = ManagedRuntime.make(FetchHttpClient.layer)

const makeClient = HttpApiClient.make(Api, {
  baseUrl: globalThis.location.origin,
  transformClient: HttpClient.mapRequest(withCsrf)
})

/** The derived client of the whole API. */
export type Client = Effect.Effect.Success<typeof makeClient>

const client = runtime.runPromise(makeClient)

/**
 * A failed API call as the page shows it: the typed error's tag (`JobNotFound`,
 * `Unauthorized`, …, or `HttpError`/`DecodeError` when the answer was not one
 * of the API's) and its message, for a person to read.
 */
export class ApiError extends Error {
  constructor(readonly tag: string, message: string) {
    super(message)
    this.name = "ApiError"
  }
}

const hasMessage = (error: unknown): error is { readonly _tag: string; readonly message: string } =>
  Predicate.hasProperty(error, "_tag") && Predicate.hasProperty(error, "message") &&
  typeof error._tag === "string" && typeof error.message === "string"

/** The `ApiError` of whatever a client call failed with. */
export const toApiError = (error: unknown): ApiError => {
  if (!hasMessage(error)) return new ApiError("Unknown", "something went wrong; try again")
  switch (error._tag) {
    case "RequestError":
      return new ApiError("HttpError", "the server cannot be reached; check your connection and try again")
    case "ResponseError":
      return new ApiError("HttpError", "the server gave an unexpected answer; try again")
    case "ParseError":
      return new ApiError("DecodeError", "the server's answer could not be read; reload the page")
    default:
      return new ApiError(error._tag, error.message)
  }
}

/** Run `f` with the derived client; rejects with an `ApiError`. */
export const api = <A, E>(f: (client: Client) => Effect.Effect<A, E>): Promise<A> =>
  client.then((ready) => runtime.runPromise(Effect.either(f(ready)))).then(
    Either.match({ onLeft: (error) => Promise.reject(toApiError(error)), onRight: (value) => value })
  )

/** Whether `error` is the API's answer that no one is signed in (401 `Unauthorized`). */
export const isUnauthorized = (error: unknown): boolean => error instanceof ApiError && error.tag === "Unauthorized"

/** The typed error's tag of a failed call (`JobNotFound`, …), or `undefined` for anything else. */
export const errorTag = (error: unknown): string | undefined => error instanceof ApiError ? error.tag : undefined
