/**
 * Guards against multipart bodies that the parser under
 * `@effect/platform-node` (multipasta 0.2.8) cannot answer for:
 *
 * - a `multipart/form-data` content type without a usable `boundary`
 *   makes the parser throw from its constructor, before anyone listens for
 *   its errors — a defect, answered as an empty 500;
 * - a body that stops inside a part's headers (an empty body, or one cut
 *   off right after a boundary line) gets neither an error nor an end from
 *   the parser, so `request.multipart` waits forever and the request is
 *   never answered.
 *
 * The first is refused before the parser is made. For the second the raw
 * body is watched for the closing delimiter `CRLF--boundary--` (every
 * well-formed multipart body ends with it, RFC 2046 §5.1.1; at the very
 * start the CRLF is implied, as the parser implies it): when the body ends
 * without one, the request is refused at once and the stuck parse is
 * interrupted.
 */
import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Deferred, Effect, Exit } from "effect"

// The content-type grammar multipasta uses (from fastify/fast-content-type-parse, MIT; RFC 7231 §3.1.1.1),
// so that a boundary found here is the one the parser finds.
const parameterPattern =
  /; *([!#$%&'*+.^\w`|~-]+)=("(?:[\v\u0020\u0021\u0023-\u005b\u005d-\u007e\u0080-\u00ff]|\\[\v\u0020-\u00ff])*"|[!#$%&'*+.^\w`|~-]+) */gu
const quotedPairPattern = /\\([\v\u0020-\u00ff])/gu
const mediaTypePattern = /^[!#$%&'*+.^\w|~-]+\/[!#$%&'*+.^\w|~-]+$/u

/** The `boundary` parameter of a content type as multipasta parses it, if any. */
export const boundaryOf = (contentType: string): string | undefined => {
  let index = contentType.indexOf(";")
  const type = index === -1 ? contentType.trim() : contentType.slice(0, index).trim()
  if (index === -1 || !mediaTypePattern.test(type)) return undefined
  const parameters = new Map<string, string>()
  const pattern = new RegExp(parameterPattern.source, "gu")
  pattern.lastIndex = index
  for (let match = pattern.exec(contentType); match !== null; match = pattern.exec(contentType)) {
    if (match.index !== index) return undefined
    index += match[0].length
    const raw = match[2] ?? ""
    parameters.set((match[1] ?? "").toLowerCase(), raw.startsWith("\"") ? raw.slice(1, -1).replace(quotedPairPattern, "$1") : raw)
  }
  return index === contentType.length ? parameters.get("boundary") : undefined
}

/**
 * Run `app`, unless the request carries a `multipart/form-data` body the
 * parser cannot answer for: one without a boundary is refused at once,
 * one that ends before its closing delimiter is refused when it ends.
 * `refuse` makes the answer from a reason.
 */
export const guardMultipart = <A, E, R>(
  request: HttpServerRequest.HttpServerRequest,
  app: Effect.Effect<A, E, R>,
  refuse: (reason: string) => A
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const contentType = request.headers["content-type"] ?? ""
    // The API builder parses a payload as multipart whenever the content type mentions it.
    if (request.method === "GET" || request.method === "HEAD" || !contentType.includes("multipart/form-data")) return app
    const boundary = boundaryOf(contentType)
    if (boundary === undefined) return Effect.succeed(refuse("multipart/form-data needs a boundary parameter"))
    const source = NodeHttpServerRequest.toIncomingMessage(request)
    const closing = Buffer.from(`\r\n--${boundary}--`)
    return Effect.flatMap(Deferred.make<void>(), (ended) => {
      let tail = Buffer.from("\r\n")
      let closed = false
      // Only the last bytes before a chunk are copied (to find a delimiter split across two chunks), never the chunk itself.
      const onData = (data: Buffer | string) => {
        const chunk = typeof data === "string" ? Buffer.from(data) : data
        const seam = Buffer.concat([tail, chunk.subarray(0, closing.length - 1)])
        if (seam.includes(closing) || chunk.includes(closing)) {
          closed = true
          source.off("data", onData)
          return
        }
        tail = chunk.length >= closing.length - 1
          ? Buffer.from(chunk.subarray(chunk.length - closing.length + 1))
          : Buffer.from(seam.subarray(Math.max(0, seam.length - closing.length + 1)))
      }
      const onEnd = () => {
        if (!closed) Deferred.unsafeDone(ended, Exit.void)
      }
      // Paused first, so that listening does not start the flow before the parser is attached
      // (a `data` listener on a stream in flowing mode would take chunks the parser never sees).
      source.pause()
      source.on("data", onData)
      source.once("end", onEnd)
      // Middleware runs uninterruptibly (only route handlers are interruptible): the waiting side must
      // say it may be interrupted, or a finished `app` would wait for it forever.
      const truncated = Effect.interruptible(
        Effect.map(Deferred.await(ended), () => refuse("multipart body ends before its closing boundary"))
      )
      return Effect.raceFirst(app, truncated).pipe(
        Effect.ensuring(Effect.sync(() => {
          source.off("data", onData)
          source.off("end", onEnd)
        }))
      )
    })
  })
