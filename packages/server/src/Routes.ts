/**
 * The methods each path of the API allows, derived from the domain `Api`
 * (plus `/openapi.json` and `/docs`), so that a known path asked with
 * another method is told 405 with `Allow` (RFC 9110 §15.5.6) rather than
 * 404 (`HttpEdge.ts`).
 */
import { Api } from "@agnt/domain/Api"
import { HttpApi } from "@effect/platform"

/** Each endpoint's method and path template, split into segments (`:name` matches any one segment). */
const routes: ReadonlyArray<{ readonly method: string; readonly segments: ReadonlyArray<string> }> = (() => {
  const found: Array<{ method: string; segments: ReadonlyArray<string> }> = [
    { method: "GET", segments: ["", "openapi.json"] },
    { method: "GET", segments: ["", "docs"] }
  ]
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => found.push({ method: endpoint.method, segments: endpoint.path.split("/") })
  })
  return found
})()

const matches = (template: ReadonlyArray<string>, segments: ReadonlyArray<string>) =>
  template.length === segments.length &&
  template.every((part, index) => part.startsWith(":") ? (segments[index] ?? "") !== "" : part === segments[index])

/**
 * The methods some endpoint serves at `path` (a request path without its
 * query), sorted; empty when no endpoint has this path. A path a template
 * matches counts whatever its parameters hold (a malformed id is the
 * endpoint's own 400 or 404).
 */
export const allowedMethods = (path: string): ReadonlyArray<string> => {
  const segments = path.split("/")
  return [...new Set(routes.filter((route) => matches(route.segments, segments)).map((route) => route.method))].sort()
}
