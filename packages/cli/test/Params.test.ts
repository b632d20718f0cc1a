import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { parseParam, parseParams, parseParamValue } from "../src/Params.js"

describe("--param parsing", () => {
  it.effect("values that parse as JSON become JSON; anything else stays a string", () =>
    Effect.sync(() => {
      expect(parseParamValue("5")).toBe(5)
      expect(parseParamValue("-2.5")).toBe(-2.5)
      expect(parseParamValue("true")).toBe(true)
      expect(parseParamValue("null")).toBe(null)
      expect(parseParamValue("{\"strict\":true}")).toEqual({ strict: true })
      expect(parseParamValue("[1,2]")).toEqual([1, 2])
      expect(parseParamValue("\"42\"")).toBe("42")
      expect(parseParamValue("typescript")).toBe("typescript")
      expect(parseParamValue("hello world")).toBe("hello world")
      expect(parseParamValue("")).toBe("")
    }))

  it.effect("splits at the first '=' so values may contain '='", () =>
    Effect.gen(function*() {
      expect(yield* parseParam("query=a=b")).toEqual(["query", "a=b"])
      expect(yield* parseParam("max_findings=10")).toEqual(["max_findings", 10])
      expect(yield* parseParam("empty=")).toEqual(["empty", ""])
    }))

  it.effect("an argument without '=' or with an empty key is a UsageError", () =>
    Effect.sync(() => {
      const noEquals = parseParam("max_findings")
      const noKey = parseParam("=5")
      expect(Either.isLeft(noEquals) && noEquals.left._tag).toBe("UsageError")
      expect(Either.isLeft(noKey) && noKey.left._tag).toBe("UsageError")
    }))

  it.effect("builds one flat params object, refusing a key given twice", () =>
    Effect.gen(function*() {
      expect(yield* parseParams(["a=1", "b=x", "c={\"d\":[true]}"])).toEqual({ a: 1, b: "x", c: { d: [true] } })
      expect(yield* parseParams([])).toEqual({})
      const twice = yield* Effect.flip(parseParams(["a=1", "a=2"]))
      expect(twice._tag).toBe("UsageError")
      expect(twice.message).toContain("a")
    }))

  it.effect("a __proto__ key is plain data, not a prototype", () =>
    Effect.gen(function*() {
      const params = yield* parseParams(["__proto__={\"polluted\":true}"])
      expect(Object.getPrototypeOf(params)).toBe(Object.prototype)
      expect(JSON.parse(JSON.stringify(params))).toEqual(JSON.parse("{\"__proto__\":{\"polluted\":true}}"))
    }))
})
