/**
 * `/sign-in`: a form for an API key, sent once to `POST /v1/sessions` and
 * kept nowhere; the answer's cookie is the session. Opened from `agnt ui`'s
 * link (`/sign-in#token=…`), it signs in with the link's token at once and
 * drops the fragment from the address.
 */
import type { SignInRequest } from "@agnt/domain/Session"
import { useQueryClient } from "@tanstack/react-query"
import { useNavigate, useSearch } from "@tanstack/react-router"
import { type FormEvent, useEffect, useRef, useState } from "react"
import { forgetAllBut, signIn } from "../Session.js"
import { buttonClass, ErrorBox, inputClass } from "../Ui.js"

const linkToken = (): string | null => new URLSearchParams(globalThis.location.hash.slice(1)).get("token")

const useSignIn = () => {
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const { next } = useSearch({ from: "/sign-in" })
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const submit = (credentials: SignInRequest) => {
    setBusy(true)
    setError(null)
    return signIn(credentials).then(
      (session) => {
        forgetAllBut(queryClient, session)
        return navigate({ href: next !== undefined && next.startsWith("/") && !next.startsWith("//") ? next : "/" })
      },
      (failure: unknown) => {
        setError(failure)
        setBusy(false)
      }
    )
  }
  return { submit, error, busy }
}

/** The sign-in page. */
export const SignIn = () => {
  const { busy, error, submit } = useSignIn()
  const [key, setKey] = useState("")
  const linkUsed = useRef(false)
  useEffect(() => {
    const token = linkToken()
    if (token === null || linkUsed.current) return
    linkUsed.current = true
    globalThis.history.replaceState(null, "", globalThis.location.pathname + globalThis.location.search)
    void submit({ link_token: token })
  })
  const onSubmit = (event: FormEvent) => {
    event.preventDefault()
    void submit({ api_key: key.trim() }).then(() => setKey(""))
  }
  return (
    <section className="mx-auto max-w-md py-10">
      <h1 className="text-2xl font-semibold">Sign in</h1>
      <p className="mt-2 text-slate-700">
        Paste an agnt API key, or run <code className="rounded bg-slate-100 px-1">agnt ui</code>{" "}
        for a one-time sign-in link. The key is sent once to sign you in; this page does not keep it.
      </p>
      <form onSubmit={onSubmit} className="mt-6 space-y-4">
        <div>
          <label htmlFor="api-key" className="block text-sm font-medium">API key</label>
          <input
            id="api-key"
            name="api_key"
            type="password"
            autoComplete="off"
            required
            value={key}
            onChange={(event) => setKey(event.target.value)}
            className={`${inputClass} mt-1 font-mono`}
          />
        </div>
        {error === null ? null : <ErrorBox error={error} />}
        <button type="submit" disabled={busy || key.trim() === ""} className={buttonClass}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </section>
  )
}
