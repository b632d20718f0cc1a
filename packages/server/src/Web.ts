/**
 * The web app (`packages/web`) served at `/` from the API's own origin:
 * its hashed files under `/assets/` with a year's immutable cache,
 * `index.html` never cached and with a Content-Security-Policy that allows
 * only what the app uses, and `index.html` for every other GET or HEAD of
 * a path that is not the API's (`/v1/…`, `/healthz`, `/readyz`,
 * `/metrics`, `/openapi.json`, `/docs`), so the app's own routes load
 * from their address. An unknown API path keeps its JSON 404
 * (`HttpEdge.ts`). Without a built app, `/` (and every page of the app)
 * is a 404 whose text says to run `npm run build`.
 */
import { HttpApiBuilder, HttpServerError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import * as NodeFsSync from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"

/**
 * The built app's directory: `web/` beside the running module (the
 * bundle of `npm run build`, which copies it there), else the workspace's
 * `packages/web/dist` (running from source).
 */
export const webDir: string = NodeFsSync.existsSync(new URL("./web/", import.meta.url))
  ? NodeUrl.fileURLToPath(new URL("./web/", import.meta.url))
  : NodeUrl.fileURLToPath(new URL("../../web/dist/", import.meta.url))

/**
 * The page's Content-Security-Policy: scripts, styles, fonts and requests
 * only from this origin; images also from `blob:` (previews of result
 * images) and `data:` (the empty favicon); no plugins, frames, `<base>` or
 * form posts elsewhere.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join("; ")

/** Paths that are the API's, never the app's: a miss there is the API's JSON 404. */
const apiPaths = /^\/(v1(\/|$)|healthz$|readyz$|metrics$|openapi\.json$|docs$)/

const immutable = "public, max-age=31536000, immutable"

const notBuilt = HttpServerResponse.text(
  "The agnt web app is not built. Run `npm run build` in the agnt repository, then reload.\n",
  { status: 404, headers: { "cache-control": "no-store" } }
)

const pathOf = (request: HttpServerRequest.HttpServerRequest) => decodeURIComponent(request.url.split("?")[0] ?? "/")

/** `index.html`, uncached, with the CSP; the "not built" page when there is none. */
const index = Effect.suspend(() => {
  const file = NodePath.join(webDir, "index.html")
  return NodeFsSync.existsSync(file)
    ? HttpServerResponse.file(file, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-cache",
        "content-security-policy": contentSecurityPolicy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer"
      }
    })
    : notBuilt
}).pipe(Effect.orDie)

/** A file under `assets/`, cached for a year (its name carries its hash); 404 for anything else. */
const asset = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
  const assets = NodePath.join(webDir, "assets")
  const file = NodePath.resolve(assets, `.${pathOf(request).slice("/assets".length)}`)
  const inside = file.startsWith(`${assets}${NodePath.sep}`) && NodeFsSync.statSync(file, { throwIfNoEntry: false })?.isFile() === true
  return inside
    ? HttpServerResponse.file(file, { headers: { "cache-control": immutable, "x-content-type-options": "nosniff" } }).pipe(Effect.orDie)
    : HttpServerResponse.text("not found\n", { status: 404 })
})

/** Any other GET or HEAD: the app's page, unless the path is the API's (then the router's 404 as usual). */
const fallback = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) => apiPaths.test(pathOf(request)) ? Effect.fail(new HttpServerError.RouteNotFound({ request })) : index
)

/** The app's routes on the API's router (`Server.ts` adds it beside `/docs`). */
export const WebLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    yield* router.get("/", index)
    yield* router.get("/assets/*", asset)
    yield* router.get("*", fallback)
  })
)
