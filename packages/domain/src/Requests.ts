/**
 * Requests as the API takes them (DESIGN.md "API v1"): the shapes of
 * query parameters shared by the endpoints of `Api.ts`.
 */
import { Schema } from "effect"

/**
 * An integer query parameter from `minimum` to `maximum` (inclusive):
 * decoded from its text, documented in `/openapi.json` as
 * `type: integer` with its bounds, described as `description` in both the
 * document and a refusal.
 */
export const QueryInteger = (options: { readonly minimum: number; readonly maximum?: number; readonly description: string }) => {
  const { description, maximum, minimum } = options
  const bounded = maximum === undefined
    ? Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(minimum))
    : Schema.NumberFromString.pipe(Schema.int(), Schema.between(minimum, maximum))
  return bounded.annotations({
    description,
    jsonSchema: { type: "integer", minimum, ...(maximum === undefined ? {} : { maximum }), description }
  })
}
