/**
 * The pure parts of repo jobs in `agnt`: a bare `--repo` defaults to `.`,
 * `git ls-tree -r -z --long` records are read with their modes, sizes and
 * odd paths, and `git am`'s refusals name the conflicting files.
 */
import { describe, expect, it } from "@effect/vitest"
import { withDefaultRepoDir } from "../src/Commands.js"
import { conflictingFiles } from "../src/RepoApply.js"
import { parseLsTree } from "../src/RepoInput.js"

describe("repo jobs in agnt", () => {
  it("a bare --repo (last, or before another option) means --repo .; --repo DIR and arguments after -- are left alone", () => {
    expect(withDefaultRepoDir(["order", "a", "--repo"])).toEqual(["order", "a", "--repo", "."])
    expect(withDefaultRepoDir(["order", "a", "--repo", "--prompt", "x"])).toEqual(["order", "a", "--repo", ".", "--prompt", "x"])
    expect(withDefaultRepoDir(["order", "a", "--repo", "../r", "--wait"])).toEqual(["order", "a", "--repo", "../r", "--wait"])
    expect(withDefaultRepoDir(["order", "--", "--repo"])).toEqual(["order", "--", "--repo"])
  })

  it("ls-tree records give mode, type, id, size (0 for a submodule) and the path as written, tabs and spaces included", () => {
    const oid = "a".repeat(40)
    const output = [
      `100644 blob ${oid}      12\tsrc/a b.ts`,
      `100755 blob ${oid}       3\trun.sh`,
      `120000 blob ${oid}       8\tlink`,
      `160000 commit ${oid}       -\tvendor/lib`,
      `100644 blob ${oid}       1\tweird\tname`
    ].join("\0") + "\0"
    expect(parseLsTree(output)).toEqual([
      { mode: "100644", type: "blob", oid, size: 12, path: "src/a b.ts" },
      { mode: "100755", type: "blob", oid, size: 3, path: "run.sh" },
      { mode: "120000", type: "blob", oid, size: 8, path: "link" },
      { mode: "160000", type: "commit", oid, size: 0, path: "vendor/lib" },
      { mode: "100644", type: "blob", oid, size: 1, path: "weird\tname" }
    ])
  })

  it("git am's errors name the files the patch does not apply to, once each", () => {
    const stderr = [
      "error: patch failed: edit.txt:1",
      "error: edit.txt: patch does not apply",
      "error: added.txt: already exists in index",
      "error: gone.txt: does not exist in index",
      "hint: Use 'git am --show-current-patch=diff' to see the failed patch",
      "Patch failed at 0001 Edit edit.txt"
    ].join("\n")
    expect(conflictingFiles(stderr)).toEqual(["edit.txt", "added.txt", "gone.txt"])
  })
})
