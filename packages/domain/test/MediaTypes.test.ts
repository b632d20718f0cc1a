import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaultMediaType, mediaTypeOf } from "../src/MediaTypes.js"

describe("media types from file names", () => {
  it.effect("a file gets the type of its extension, case-insensitively", () =>
    Effect.sync(() => {
      expect(mediaTypeOf("README.md")).toBe("text/markdown")
      expect(mediaTypeOf("src/app.js")).toBe("text/javascript")
      expect(mediaTypeOf("img/LOGO.PNG")).toBe("image/png")
      expect(mediaTypeOf("package.json")).toBe("application/json")
      expect(mediaTypeOf("config.json5")).toBe("application/json5")
      expect(mediaTypeOf("data.jsonld")).toBe("application/ld+json")
    }))

  it.effect("result formats the mime table does not know get their registered types", () =>
    Effect.sync(() => {
      expect(mediaTypeOf("review.sarif")).toBe("application/sarif+json")
      expect(mediaTypeOf("out/changes.patch")).toBe("text/x-diff")
    }))

  it.effect("source files get text types where the mime table says otherwise or nothing", () =>
    Effect.sync(() => {
      expect(mediaTypeOf("src/a.ts")).toBe("text/typescript")
      expect(mediaTypeOf("src/App.tsx")).toBe("text/tsx")
      expect(mediaTypeOf("main.rs")).toBe("text/x-rust")
      expect(mediaTypeOf("tool.py")).toBe("text/x-python")
    }))

  it.effect("a file without a known extension is application/octet-stream", () =>
    Effect.sync(() => {
      for (const name of ["Makefile", "data.unknownext", ".env", "dir.d/Makefile", "trailing."]) {
        expect(mediaTypeOf(name)).toBe(defaultMediaType)
      }
      expect(defaultMediaType).toBe("application/octet-stream")
    }))
})
