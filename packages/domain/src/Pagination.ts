/**
 * Cursor pagination (DESIGN.md "Lists"): `limit` defaults to 20, at most 100,
 * newest first; a page carries `next_cursor`, `null` on the last page. A
 * cursor is opaque to clients.
 */
import { Schema } from "effect"
import { defaultPageSize, maxPageSize } from "./Limits.js"
import { QueryInteger } from "./Requests.js"

/** `limit` as a URL parameter: an integer 1–`maxPageSize` (100), default `defaultPageSize` (20). */
export const Limit = Schema.optionalWith(
  QueryInteger({ minimum: 1, maximum: maxPageSize, description: `an integer from 1 to ${maxPageSize}` }),
  { default: () => defaultPageSize }
)

/** One page of `A`s. */
export const Page = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({
    data: Schema.Array(item),
    next_cursor: Schema.NullOr(Schema.String)
  })

/** The TypeScript shape of a page. */
export interface Page<A> {
  readonly data: ReadonlyArray<A>
  readonly next_cursor: string | null
}
