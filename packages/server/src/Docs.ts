/**
 * `/docs`, the API explorer: Swagger UI over the OpenAPI document, the page
 * `HttpApiSwagger` of `@effect/platform` makes. That page is about 2 MB
 * (Swagger UI's script and styles inline, the OpenAPI document derived from
 * the API), so `Server.ts` imports this module and makes the page on the
 * first request to `/docs` rather than at every start.
 */
import { HttpApi, HttpApiBuilder, HttpApiSwagger, type HttpRouter } from "@effect/platform"
import { type Context, Effect, Layer } from "effect"

/**
 * A router answering `GET /docs` with the explorer of `api` (the served
 * API, `HttpApi.Api`): the route `HttpApiSwagger.layer` mounts, on a
 * router of its own. The page is made once, here; the router only hands it out.
 */
export const docsRouter = (
  api: Context.Tag.Service<HttpApi.Api>
): Effect.Effect<HttpRouter.HttpRouter<unknown, HttpRouter.HttpRouter.DefaultServices>> =>
  HttpApiBuilder.Router.router.pipe(
    Effect.provide(
      HttpApiSwagger.layer({ path: "/docs" }).pipe(
        Layer.provideMerge(HttpApiBuilder.Router.Live),
        Layer.provide(Layer.succeed(HttpApi.Api, api))
      )
    )
  )
