/**
 * The media type of a job file, found from its name (DESIGN.md "Storage":
 * `job_files.mime`). One table for every side: the server records it for
 * each input and result file (whatever type an upload part declared), the
 * CLI and executors declare it on their upload parts, and a download is
 * served with it.
 */
import mime from "mime"

/**
 * Extensions the `mime` package gets wrong for our purpose (`.ts` is
 * `video/mp2t`, `.rs` an XML type) or does not know (`.sarif`, OASIS SARIF
 * 2.1.0 §3.2; `.patch`). Checked first.
 */
const ownTypes: Readonly<Record<string, string>> = {
  sarif: "application/sarif+json",
  patch: "text/x-diff",
  diff: "text/x-diff",
  ts: "text/typescript",
  mts: "text/typescript",
  cts: "text/typescript",
  tsx: "text/tsx",
  cjs: "text/javascript",
  py: "text/x-python",
  pyi: "text/x-python",
  go: "text/x-go",
  rs: "text/x-rust",
  rb: "text/x-ruby",
  kt: "text/x-kotlin",
  kts: "text/x-kotlin",
  swift: "text/x-swift",
  cs: "text/x-csharp",
  scala: "text/x-scala",
  vue: "text/x-vue",
  svelte: "text/x-svelte",
  bash: "application/x-sh",
  zsh: "application/x-sh"
}

/** The type of a file whose extension says nothing (none, or an unknown one). */
export const defaultMediaType = "application/octet-stream"

/**
 * The media type of the file at `path` (`/`-separated), from its extension,
 * case-insensitively: our table, else the `mime` package's (IANA and common
 * types), else `application/octet-stream`. A name that only starts with a
 * dot (`.env`) has no extension.
 *
 * @example mediaTypeOf("out/review.sarif") // "application/sarif+json"
 */
export const mediaTypeOf = (path: string): string => {
  const name = path.slice(path.lastIndexOf("/") + 1)
  const dot = name.lastIndexOf(".")
  if (dot <= 0 || dot === name.length - 1) return defaultMediaType
  const extension = name.slice(dot + 1).toLowerCase()
  return ownTypes[extension] ?? mime.getType(extension) ?? defaultMediaType
}
