/**
 * File-name rules (DESIGN.md "Storage"): a client's file name is metadata
 * only. It is normalised to a relative, `/`-separated path and refused when
 * absolute, escaping (`..`), holding a NUL or control character, or too long.
 */
import { Either } from "effect"
import { InvalidFileName } from "./Errors.js"
import { maxFilePathLength } from "./Limits.js"

/**
 * Normalise `name` (backslashes become `/`, `.` segments and repeated `/`
 * are dropped) or say why it is refused.
 *
 * @returns `Either.right(path)` or `Either.left(InvalidFileName)`.
 */
export const normalizeFilePath = (name: string): Either.Either<string, InvalidFileName> => {
  const refuse = (message: string) => Either.left(new InvalidFileName({ path: name, message }))
  if (name.length === 0) return refuse("file name is empty")
  if (name.length > maxFilePathLength) return refuse(`file name is longer than ${maxFilePathLength} characters`)

  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  if (/[\u0000-\u001f\u007f]/.test(name)) return refuse("file name contains a NUL or control character")
  const slashed = name.replace(/\\/g, "/")
  if (slashed.startsWith("/") || /^[a-zA-Z]:/.test(slashed)) return refuse("file name must be relative")
  const segments = slashed.split("/").filter((segment) => segment !== "" && segment !== ".")
  if (segments.includes("..")) return refuse("file name must not contain '..'")
  if (segments.length === 0) return refuse("file name has no name part")
  return Either.right(segments.join("/"))
}
