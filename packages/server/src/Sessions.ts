/**
 * Browser sessions (DESIGN.md "Auth", domain `Session.ts`): signing in with
 * an API key or a one-time sign-in link, the session a cookie stands for,
 * signing out, and making sign-in links. A session's and a link's token
 * are 32 random bytes, base64url; only their SHA-256 is stored
 * (`Sessions/Repo.ts`). A session stands for its key as it is now: the
 * principal is read with the session, so a key revoked or given other
 * agents changes its sessions at their next request.
 */
import { Principal } from "@agnt/domain/Auth"
import { Unauthorized } from "@agnt/domain/Errors"
import { Session, SignInLink, signInLinkSeconds, signInPagePath, type SignInRequest } from "@agnt/domain/Session"
import { Effect, Layer, Option, Redacted, Schedule } from "effect"
import * as NodeCrypto from "node:crypto"
import { ApiKeys } from "./ApiKeys.js"
import { ServerConfig } from "./ServerConfig.js"
import { type LinkState, type SessionRow, SessionsRepo } from "./Sessions/Repo.js"

/** A fresh token: 32 random bytes, base64url (43 characters). */
const makeToken = () => NodeCrypto.randomBytes(32).toString("base64url")

/** What `makeToken` makes; anything else is refused without a database round trip. */
const tokenPattern = /^[A-Za-z0-9_-]{43}$/

const sha256 = (text: string) => NodeCrypto.createHash("sha256").update(text).digest()

const unauthorized = (message: string) => new Unauthorized({ message })

/** Why a sign-in link was refused, in words a person can act on. */
const linkRefusal = (state: Option.Option<LinkState>) =>
  Option.match(state, {
    onNone: () => unauthorized("this sign-in link is not valid; run `agnt ui` for a new one"),
    onSome: (link) =>
      link.used
        ? unauthorized("this sign-in link was already used")
        : link.expired
        ? unauthorized("this sign-in link expired; run `agnt ui` for a new one")
        : unauthorized("the key that made this sign-in link was revoked")
  })

/**
 * A child-order key (`Principal.scope_job_id`) signs no browser in: a
 * session's principal is its key's account, which would lift the key's
 * scope to one job's children.
 */
const childKeyRefused = Effect.fail(
  new Unauthorized({ message: "a child-order key orders children of its job only; it cannot sign a browser in" })
)

/** The session and the principal of its key, from a stored row. */
const fromRow = (row: SessionRow) => {
  const { agent_ids, account_id, csrf_token, expires_at, key_id, role } = row
  return {
    session: new Session({ account_id, key_id, role, agent_ids, csrf_token, expires_at }),
    principal: new Principal({ key_id, account_id, role, agent_ids })
  }
}

/** A signed-in browser's session, and the token its cookie holds (shown once, in `Set-Cookie`). */
export interface SignedIn {
  readonly session: Session
  readonly token: Redacted.Redacted
}

/** Signing browsers in and out, and the sessions their cookies stand for. */
export class Sessions extends Effect.Service<Sessions>()("@agnt/server/Sessions", {
  effect: Effect.gen(function*() {
    const repo = yield* SessionsRepo
    const keys = yield* ApiKeys
    const { sessionSeconds } = yield* ServerConfig

    /** A new session for `store`, which stores it under the fresh token's SHA-256 and yields it, or `None`. */
    const startSession = <E>(
      store: (fresh: { token_sha256: Uint8Array; csrf_token: string; seconds: number }) => Effect.Effect<Option.Option<SessionRow>>,
      refusal: () => Effect.Effect<never, E>
    ) =>
      Effect.gen(function*() {
        const token = makeToken()
        const row = yield* store({ token_sha256: sha256(token), csrf_token: makeToken(), seconds: sessionSeconds })
        if (Option.isNone(row)) return yield* refusal()
        return { session: fromRow(row.value).session, token: Redacted.make(token) } satisfies SignedIn
      })

    /**
     * Sign a browser in with an API key or a sign-in link's token, for
     * `sessionSeconds`. Nothing is stored for a refused request.
     *
     * @fails Unauthorized for a key that is not valid or was revoked (or is
     * a child-order key), and a link that is unknown, already used, expired,
     * or whose key was revoked.
     */
    const signIn = Effect.fn("Sessions.signIn")(function*(request: SignInRequest): Effect.fn.Return<SignedIn, Unauthorized> {
      if (request.api_key !== undefined) {
        const invalidKey = () => Effect.fail(unauthorized("that API key is not valid or was revoked"))
        const principal = yield* keys.authenticate(Redacted.make(request.api_key)).pipe(Effect.catchAll(invalidKey))
        if (principal.scope_job_id !== null) return yield* childKeyRefused
        return yield* startSession((fresh) => repo.insertForKey({ ...fresh, key_id: principal.key_id }), invalidKey)
      }
      const token = request.link_token ?? ""
      if (!tokenPattern.test(token)) return yield* linkRefusal(Option.none())
      const linkSha256 = sha256(token)
      return yield* startSession(
        (fresh) => repo.redeem({ ...fresh, link_sha256: linkSha256 }),
        () => Effect.flatMap(repo.linkState(linkSha256), (state) => Effect.fail(linkRefusal(state)))
      )
    })

    /**
     * The live session of a cookie's token and the principal of its key.
     *
     * @fails Unauthorized without a token, or when its session expired, was
     * signed out, or its key was revoked.
     */
    const authenticate = (token: Redacted.Redacted): Effect.Effect<ReturnType<typeof fromRow>, Unauthorized> =>
      Effect.gen(function*() {
        const value = Redacted.value(token)
        if (value === "") {
          return yield* unauthorized("missing API key: send Authorization: Bearer <key>, or sign in to the web app")
        }
        const row = tokenPattern.test(value) ? yield* repo.findLive(sha256(value)) : Option.none()
        if (Option.isNone(row)) {
          return yield* unauthorized("your session ended (it expired, you signed out, or its key was revoked); sign in again")
        }
        return fromRow(row.value)
      }).pipe(Effect.withSpan("Sessions.authenticate"))

    /** End the session of a cookie's token (sign-out); nothing when it already ended. */
    const signOut = Effect.fn("Sessions.signOut")(function*(token: Redacted.Redacted) {
      const value = Redacted.value(token)
      if (tokenPattern.test(value)) yield* repo.revoke(sha256(value))
    })

    /**
     * A one-time sign-in link for a browser, as `principal`'s key,
     * redeemable once within `signInLinkSeconds`.
     *
     * @fails Unauthorized for a child-order key (see `childKeyRefused`).
     */
    const createLink = Effect.fn("Sessions.createLink")(function*(principal: Principal) {
      if (principal.scope_job_id !== null) return yield* childKeyRefused
      const token = makeToken()
      const expires_at = yield* repo.insertLink({ token_sha256: sha256(token), key_id: principal.key_id, seconds: signInLinkSeconds })
      return new SignInLink({ link_token: token, expires_at, path: `${signInPagePath}#token=${token}` })
    })

    return { signIn, authenticate, signOut, createLink } as const
  }),
  dependencies: [SessionsRepo.Default, ApiKeys.Default]
}) {}

/** Seconds between sweeps of ended sessions and links. */
const sweepIntervalSeconds = 60

/**
 * Deletes sessions and sign-in links that ended over a day ago
 * (`SessionsRepo.sweep`, a bounded batch per pass), every minute, jittered.
 */
export const SessionsSweeperLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const repo = yield* SessionsRepo
    yield* repo.sweep().pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("sweeping sessions failed", cause)),
      Effect.repeat(Schedule.spaced(`${sweepIntervalSeconds} seconds`).pipe(Schedule.jittered)),
      Effect.forkScoped
    )
  })
).pipe(Layer.provide(SessionsRepo.Default))
