/**
 * Text agnt stores: what PostgreSQL can keep exactly. A `text` or `jsonb`
 * value cannot hold the NUL character (SQLSTATE 22021 / 22P05), and UTF-8
 * cannot encode an unpaired UTF-16 surrogate (the driver would store
 * U+FFFD in its place, silently changing the text). Every request field
 * that goes to a text column is `StorableText` (or built on it), so such
 * text is refused with a 400 naming the field instead of being altered.
 */
import { Schema } from "effect"

/** An unpaired UTF-16 surrogate: a high one not followed by a low one, or a low one not after a high one. */
const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether PostgreSQL can store `text` exactly: no NUL character, no unpaired surrogate. */
export const isStorable = (text: string): boolean => !text.includes("\u0000") && !unpairedSurrogate.test(text)

/** A string PostgreSQL stores exactly (see the module docs); refused otherwise with the reason. */
export const StorableText = Schema.String.pipe(
  Schema.filter(isStorable, {
    title: "StorableText",
    description: "a string without NUL characters or unpaired UTF-16 surrogates"
  })
)
