/**
 * The browser's session (the contract of `POST /v1/sessions`): the signed-in
 * key's account, role and agents, and the CSRF token that requests which
 * change state carry. The session itself is an `HttpOnly` cookie the page
 * never sees; a key typed into the sign-in form goes to the server once
 * and is kept nowhere.
 */
import type { Session, SignInRequest } from "@agnt/domain/Session"
import { type QueryClient, queryOptions } from "@tanstack/react-query"
import { api, isUnauthorized, setCsrfToken } from "./Api.js"

/** The session is refetched this often at most (ms); a 401 on any call signs the page out sooner. */
const sessionStaleMs = 60_000

const remember = (session: Session | null): Session | null => {
  setCsrfToken(session?.csrf_token ?? null)
  return session
}

/** The signed-in session, or `null` when the browser has none (401). */
export const sessionQuery = queryOptions({
  queryKey: ["session"],
  queryFn: (): Promise<Session | null> =>
    api((client) => client.sessions.current()).then(
      remember,
      (error: unknown) => isUnauthorized(error) ? remember(null) : Promise.reject(error)
    ),
  staleTime: sessionStaleMs
})

/** Sign in with an API key or a one-time link's token; the answer sets the session cookie. */
export const signIn = (credentials: SignInRequest): Promise<Session> =>
  api((client) => client.sessions.create({ payload: credentials })).then((session) => {
    remember(session)
    return session
  })

/** Sign out: the server revokes the session and clears its cookie. */
export const signOut = (): Promise<void> => api((client) => client.sessions.delete()).then(() => void remember(null))

/**
 * After signing in or out: `session` is the session now, and everything
 * read as whoever was signed in before is forgotten (the session's own
 * entry is kept, so the pages watching it see the change).
 */
export const forgetAllBut = (queryClient: QueryClient, session: Session | null): void => {
  queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionQuery.queryKey[0] })
  queryClient.setQueryData(sessionQuery.queryKey, session)
}
