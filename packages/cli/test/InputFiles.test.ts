import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodePath from "node:path"
import { collectInputFiles, uploadName } from "../src/InputFiles.js"

describe("upload names", () => {
  it.effect("a file inside the current directory is named by its relative path", () =>
    Effect.sync(() => {
      expect(uploadName("/work/repo", "src/a.ts", "src/a.ts")).toBe("src/a.ts")
      expect(uploadName("/work/repo", "./src/../src/a.ts", "./src/../src/a.ts")).toBe("src/a.ts")
      expect(uploadName("/work/repo", "/work/repo/src/a.ts", "/work/repo/src/a.ts")).toBe("src/a.ts")
      expect(uploadName("/work/repo", "src", "/work/repo/src/deep/b.ts")).toBe("src/deep/b.ts")
    }))

  it.effect("a file outside it is named by its basename; a directory outside it keeps its own name", () =>
    Effect.sync(() => {
      expect(uploadName("/work/repo", "/etc/hosts", "/etc/hosts")).toBe("hosts")
      expect(uploadName("/work/repo", "../other/x.md", "../other/x.md")).toBe("x.md")
      expect(uploadName("/work/repo", "../lib", "/work/lib/sub/a.ts")).toBe("lib/sub/a.ts")
      expect(uploadName("/work/repo-2", "/work/repo", "/work/repo/a.ts")).toBe("repo/a.ts")
    }))
})

/** A temp directory holding `files`, removed when the scope closes. */
const workspace = (files: Record<string, string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const root = yield* fs.makeTempDirectoryScoped({ prefix: "agnt-cli-" })
    for (const [path, text] of Object.entries(files)) {
      yield* fs.makeDirectory(NodePath.dirname(NodePath.join(root, path)), { recursive: true })
      yield* fs.writeFileString(NodePath.join(root, path), text)
    }
    return root
  })

describe("collecting --file arguments", () => {
  it.scoped("a directory adds every regular file below it, skipping node_modules and .git", () =>
    Effect.gen(function*() {
      const root = yield* workspace({
        "src/a.ts": "a",
        "src/deep/b.ts": "b",
        "src/node_modules/pkg/index.js": "skip",
        "src/.git/HEAD": "skip",
        "README.md": "r"
      })
      const files = yield* collectInputFiles(root, ["src", "README.md"])
      expect(files.map((file) => file.name)).toEqual(["README.md", "src/a.ts", "src/deep/b.ts"])
      expect(files.map((file) => file.type)).toEqual(["text/markdown", "text/typescript", "text/typescript"])
      expect(files.map((file) => file.path)).toEqual([
        NodePath.join(root, "README.md"),
        NodePath.join(root, "src/a.ts"),
        NodePath.join(root, "src/deep/b.ts")
      ])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("the same file given twice is sent once; a missing path is a UsageError", () =>
    Effect.gen(function*() {
      const root = yield* workspace({ "a.ts": "a" })
      const files = yield* collectInputFiles(root, ["a.ts", "./a.ts", "."])
      expect(files.map((file) => file.name)).toEqual(["a.ts"])
      const missing = yield* Effect.flip(collectInputFiles(root, ["nope.ts"]))
      expect(missing._tag).toBe("UsageError")
      expect(missing.message).toContain("nope.ts")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("two different files with the same upload name are refused", () =>
    Effect.gen(function*() {
      const root = yield* workspace({ "one/x.md": "1", "two/x.md": "2", "cwd/keep": "" })
      const clash = yield* Effect.flip(
        collectInputFiles(NodePath.join(root, "cwd"), [NodePath.join(root, "one/x.md"), NodePath.join(root, "two/x.md")])
      )
      expect(clash._tag).toBe("UsageError")
      expect(clash.message).toContain("x.md")
    }).pipe(Effect.provide(NodeContext.layer)))
})
