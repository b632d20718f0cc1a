/**
 * `--param key=value` arguments of `agnt order`: flat keys, values parsed as
 * JSON when they parse (`3`, `true`, `null`, `{"a":1}`, `"quoted"`) and kept as
 * plain strings otherwise (`typescript`, `hello world`).
 */
import type { JobParams } from "@agnt/domain/Job"
import { Either } from "effect"
import { UsageError } from "./Output.js"

/** A value as the user typed it: JSON when it parses as JSON, else the text itself. */
export const parseParamValue = (text: string): unknown => Either.getOrElse(Either.try((): unknown => JSON.parse(text)), () => text)

/**
 * Split one `key=value` argument at its first `=`.
 *
 * @returns `[key, value]`, or `UsageError` when there is no `=` or the key is empty.
 */
export const parseParam = (argument: string): Either.Either<readonly [string, unknown], UsageError> => {
  const at = argument.indexOf("=")
  if (at < 0) {
    return Either.left(new UsageError({ message: `--param ${argument}: expected key=value` }))
  }
  const key = argument.slice(0, at).trim()
  if (key === "") {
    return Either.left(new UsageError({ message: `--param ${argument}: the key is empty` }))
  }
  return Either.right([key, parseParamValue(argument.slice(at + 1))])
}

/**
 * The job `params` object of every `--param` argument, in order.
 *
 * @returns the params, or `UsageError` for a malformed argument or a key given twice.
 */
export const parseParams = (argumentList: ReadonlyArray<string>): Either.Either<JobParams, UsageError> =>
  Either.gen(function*() {
    const entries: Array<readonly [string, unknown]> = []
    const seen = new Set<string>()
    for (const argument of argumentList) {
      const [key, value] = yield* parseParam(argument)
      if (seen.has(key)) {
        return yield* Either.left(new UsageError({ message: `--param ${key} is given more than once` }))
      }
      seen.add(key)
      entries.push([key, value])
    }
    // `Object.fromEntries` defines own properties, so a key such as `__proto__` stays plain data.
    return Object.fromEntries(entries)
  })
