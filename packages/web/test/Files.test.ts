import { defaultMaxFileBytes, defaultMaxFiles } from "@agnt/domain/Limits"
import { describe, expect, it } from "@effect/vitest"
import { checkFiles, mergeFiles, type OrderFile } from "../src/order/Files.js"

const file = (path: string, size: number): OrderFile => ({ path, file: new File([new Uint8Array(size)], path.split("/").pop() ?? path) })

describe("an order's files against the limits", () => {
  it("counts files and bytes and says nothing when within the limits", () => {
    expect(checkFiles([file("a.txt", 3), file("src/b.ts", 5)])).toEqual({ count: 2, totalBytes: 8, problems: [] })
  })

  it("names a file over the per-file limit and a count over the per-job limit", () => {
    const big = file("big.bin", defaultMaxFileBytes + 1)
    expect(checkFiles([big]).problems).toEqual([`big.bin is larger than the ${defaultMaxFileBytes / 1024 / 1024} MB a file may be`])
    const many = Array.from({ length: defaultMaxFiles + 1 }, (_, index) => file(`f${index}`, 0))
    expect(checkFiles(many).problems).toEqual([`${defaultMaxFiles + 1} files is more than the ${defaultMaxFiles} a job may have`])
  })

  it("a path added again replaces the earlier file, and the list stays sorted by path", () => {
    const merged = mergeFiles([file("b", 1), file("a", 1)], [file("b", 7), file("c/d", 2)])
    expect(merged.map((entry) => [entry.path, entry.file.size])).toEqual([["a", 1], ["b", 7], ["c/d", 2]])
  })
})
