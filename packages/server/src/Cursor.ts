/**
 * Opaque pagination cursors (DESIGN.md "Lists"). An offset cursor is
 * base64url JSON `{"o": offset}`; a keyset cursor is the last item's id.
 */
import { InvalidRequest } from "@agnt/domain/Errors"
import { Effect, Either, Schema } from "effect"

const OffsetCursor = Schema.compose(
  Schema.StringFromBase64Url,
  Schema.parseJson(Schema.Struct({ o: Schema.NonNegativeInt }))
)
const decode = Schema.decodeUnknownEither(OffsetCursor)
const encode = Schema.encodeSync(OffsetCursor)

/** `0` for no cursor, else the offset inside it. @fails InvalidRequest for a malformed cursor. */
export const decodeOffsetCursor = (cursor: string | undefined): Effect.Effect<number, InvalidRequest> =>
  cursor === undefined
    ? Effect.succeed(0)
    : Either.match(decode(cursor), {
      onLeft: () => Effect.fail(new InvalidRequest({ message: "malformed cursor" })),
      onRight: ({ o }) => Effect.succeed(o)
    })

/** The cursor of the page starting at `offset`. */
export const encodeOffsetCursor = (offset: number): string => encode({ o: offset })
