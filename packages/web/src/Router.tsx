/**
 * The app's routes (TanStack Router, code-based): the marketplace and the
 * sign-in page in the first chunk, every other page a chunk of its own
 * loaded when first visited. Every page but sign-in needs a session; without
 * one the router goes to `/sign-in?next=<where you were>`. A 401 from any
 * call later (the session expired or was revoked) does the same.
 */
import { QueryCache, QueryClient } from "@tanstack/react-query"
import { createRootRouteWithContext, createRoute, createRouter, redirect } from "@tanstack/react-router"
import { errorTag, isUnauthorized } from "./Api.js"
import { Layout } from "./Layout.js"
import { Marketplace } from "./pages/Marketplace.js"
import { NotFound } from "./pages/NotFound.js"
import { SignIn } from "./pages/SignIn.js"
import { sessionQuery } from "./Session.js"

/** A search param as a non-empty string, or `undefined`. */
const text = (value: unknown): string | undefined => typeof value === "string" && value !== "" ? value : undefined

const rootRoute = createRootRouteWithContext<{ readonly queryClient: QueryClient }>()({
  component: Layout,
  notFoundComponent: () => <NotFound />
})

const requireSession = async ({ context, location }: {
  readonly context: { readonly queryClient: QueryClient }
  readonly location: { readonly href: string }
}) => {
  const session = await context.queryClient.ensureQueryData(sessionQuery)
  if (session === null) throw redirect({ to: "/sign-in", search: { next: location.href } })
  return { session }
}

const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/sign-in",
  validateSearch: (search: Record<string, unknown>) => ({ next: text(search["next"]) }),
  component: SignIn
})

const marketplaceRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/",
  validateSearch: (search: Record<string, unknown>) => ({ q: text(search["q"]), tags: text(search["tags"]) }),
  beforeLoad: requireSession,
  component: Marketplace
})

const agentRoute = createRoute({ getParentRoute: () => rootRoute, path: "/agents/$agentId", beforeLoad: requireSession })
  .lazy(() => import("./pages/Agent.js").then((module) => module.Route))

const jobsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/jobs",
  validateSearch: (search: Record<string, unknown>) => ({
    status: text(search["status"]),
    agent_id: text(search["agent_id"]),
    cursor: text(search["cursor"])
  }),
  beforeLoad: requireSession
}).lazy(() => import("./pages/Jobs.js").then((module) => module.Route))

const jobRoute = createRoute({ getParentRoute: () => rootRoute, path: "/jobs/$jobId", beforeLoad: requireSession })
  .lazy(() => import("./pages/Job.js").then((module) => module.Route))

const sellerRoute = createRoute({ getParentRoute: () => rootRoute, path: "/seller", beforeLoad: requireSession })
  .lazy(() => import("./pages/Seller.js").then((module) => module.Route))

const routeTree = rootRoute.addChildren([signInRoute, marketplaceRoute, agentRoute, jobsRoute, jobRoute, sellerRoute])

/** The app's query cache: a 401 on any call means the session is gone, so the page goes to sign-in. */
export const queryClient = new QueryClient({
  queryCache: new QueryCache({
    onError: (error) => {
      if (isUnauthorized(error)) void queryClient.invalidateQueries({ queryKey: sessionQuery.queryKey }).then(() => router.invalidate())
    }
  }),
  defaultOptions: {
    // The API's typed answers are final; an unreachable server or an unexpected answer is worth two more tries.
    queries: { retry: (count, error) => count < 2 && (errorTag(error) === undefined || errorTag(error) === "HttpError") }
  }
})

/** The app's router. */
export const router = createRouter({ routeTree, context: { queryClient }, defaultPreload: "intent", scrollRestoration: true })

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router
  }
}
