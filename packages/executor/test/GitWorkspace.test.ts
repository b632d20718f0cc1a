/** The change lists of a repo job's `changes.json`: `git diff -z --name-status -M` and `--numstat` records, renames and binaries included. */
import { describe, expect, it } from "@effect/vitest"
import { parseNameStatus, parseNumstat } from "../src/Runtime/GitWorkspace.js"

describe("a repo job's change lists", () => {
  it("name-status records: added, modified, deleted, type changed, and renames with their old path", () => {
    const output = ["A", "new.txt", "M", "edit.txt", "D", "gone.txt", "T", "link", "R087", "docs/old.txt", "docs/new.txt", ""].join("\0")
    expect(parseNameStatus(output)).toEqual([
      { status: "added", path: "new.txt" },
      { status: "modified", path: "edit.txt" },
      { status: "deleted", path: "gone.txt" },
      { status: "type_changed", path: "link" },
      { status: "renamed", old_path: "docs/old.txt", path: "docs/new.txt" }
    ])
  })

  it("numstat records by new path: line counts, null for a binary file, a rename under its new path", () => {
    const output = ["3\t1\tedit.txt", "-\t-\timage.bin", "2\t0\t", "docs/old.txt", "docs/new.txt", ""].join("\0")
    expect([...parseNumstat(output)]).toEqual([
      ["edit.txt", { insertions: 3, deletions: 1 }],
      ["image.bin", { insertions: null, deletions: null }],
      ["docs/new.txt", { insertions: 2, deletions: 0 }]
    ])
  })
})
