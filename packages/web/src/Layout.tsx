/** The frame of every page: a skip link, the header with its navigation and sign-out, and the page. */
import { useQuery, useQueryClient } from "@tanstack/react-query"
import { Link, Outlet, useNavigate } from "@tanstack/react-router"
import { forgetAllBut, sessionQuery, signOut } from "./Session.js"

const navLink = "rounded px-2 py-1 text-slate-700 hover:bg-slate-100 hover:text-slate-950"
const activeLink = { className: "bg-slate-100 font-medium text-slate-950" }

const SignOut = () => {
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const leave = () =>
    signOut().finally(() => {
      forgetAllBut(queryClient, null)
      void navigate({ to: "/sign-in", search: { next: undefined } })
    })
  return (
    <button type="button" onClick={() => void leave()} className={navLink}>
      Sign out
    </button>
  )
}

/** The header and the current page. */
export const Layout = () => {
  const session = useQuery(sessionQuery).data ?? null
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:bg-white focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
          <Link to="/" search={{ q: undefined, tags: undefined }} className="text-lg font-bold tracking-tight text-indigo-800">
            agnt
          </Link>
          {session === null ? null : (
            <nav aria-label="Main" className="flex flex-1 flex-wrap items-center gap-1 text-sm">
              <Link
                to="/"
                search={{ q: undefined, tags: undefined }}
                className={navLink}
                activeProps={activeLink}
                activeOptions={{ exact: true, includeSearch: false }}
              >
                Marketplace
              </Link>
              <Link
                to="/jobs"
                search={{ status: undefined, agent_id: undefined, cursor: undefined }}
                className={navLink}
                activeProps={activeLink}
              >
                Jobs
              </Link>
              {session.role === "executor" ? <Link to="/seller" className={navLink} activeProps={activeLink}>Seller</Link> : null}
              <div className="ml-auto flex items-center gap-2">
                <span className="hidden text-xs text-slate-600 sm:inline">signed in as {session.role}</span>
                <SignOut />
              </div>
            </nav>
          )}
        </div>
      </header>
      <main id="main" className="mx-auto max-w-6xl px-4 py-6">
        <Outlet />
      </main>
    </div>
  )
}
