/**
 * Previews of a job's files, fetched through the derived client's
 * `jobs.download`: Markdown rendered by marked and sanitised by DOMPurify,
 * SARIF as a table of findings (file:line, rule, message, severity), other
 * text as it is, and images as images. Files over `maxPreviewBytes` are
 * only downloaded.
 */
import type { JobId } from "@agnt/domain/Ids"
import type { JobFile } from "@agnt/domain/Job"
import { useQuery } from "@tanstack/react-query"
import DOMPurify from "dompurify"
import { marked } from "marked"
import { useEffect, useMemo } from "react"
import { api } from "../Api.js"
import { ErrorBox, Skeleton } from "../Ui.js"

/** The largest file previewed, in bytes. */
export const maxPreviewBytes = 2 * 1024 * 1024

/** How a file can be previewed, if at all. */
export type PreviewKind = "markdown" | "sarif" | "text" | "image"

/** The preview of a file of this media type and size, or `null`. */
export const previewKind = (file: JobFile): PreviewKind | null => {
  if (file.size > maxPreviewBytes) return null
  if (file.mime === "text/markdown") return "markdown"
  if (file.mime === "application/sarif+json") return "sarif"
  if (file.mime.startsWith("image/") && file.mime !== "image/svg+xml") return "image"
  if (file.mime.startsWith("text/") || file.mime === "application/json" || file.mime.endsWith("+json")) return "text"
  return null
}

interface Finding {
  readonly location: string
  readonly rule: string
  readonly message: string
  readonly level: string
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null ? Object.fromEntries(Object.entries(value)) : {}
const list = (value: unknown): ReadonlyArray<unknown> => Array.isArray(value) ? value : []
const text = (value: unknown): string => typeof value === "string" ? value : typeof value === "number" ? String(value) : ""

/** The findings of a SARIF 2.1.0 log (OASIS SARIF §3.27): each result's first location, rule, message and level. */
export const sarifFindings = (json: unknown): ReadonlyArray<Finding> =>
  list(record(json)["runs"]).flatMap((run) =>
    list(record(run)["results"]).map((raw) => {
      const result = record(raw)
      const physical = record(record(list(result["locations"])[0])["physicalLocation"])
      const uri = text(record(physical["artifactLocation"])["uri"])
      const line = text(record(physical["region"])["startLine"])
      return {
        location: line === "" ? uri : `${uri}:${line}`,
        rule: text(result["ruleId"]),
        message: text(record(result["message"])["text"]),
        level: text(result["level"]) || "warning"
      }
    })
  )

const Sarif = ({ bytes }: { readonly bytes: Uint8Array }) => {
  const findings = useMemo(() => {
    try {
      return sarifFindings(JSON.parse(new TextDecoder().decode(bytes)))
    } catch {
      return null
    }
  }, [bytes])
  if (findings === null) return <p className="text-sm text-red-800">This SARIF file is not valid JSON.</p>
  if (findings.length === 0) return <p className="text-sm text-slate-700">No findings.</p>
  return (
    <div className="overflow-x-auto">
      <table className="w-full min-w-[32rem] text-left text-sm">
        <caption className="sr-only">Findings</caption>
        <thead className="text-xs text-slate-700 uppercase">
          <tr>
            <th scope="col" className="py-1 pr-3">Location</th>
            <th scope="col" className="py-1 pr-3">Rule</th>
            <th scope="col" className="py-1 pr-3">Message</th>
            <th scope="col" className="py-1">Severity</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {findings.map((finding, index) => (
            <tr key={index}>
              <td className="py-1 pr-3 font-mono text-xs">{finding.location}</td>
              <td className="py-1 pr-3 font-mono text-xs">{finding.rule}</td>
              <td className="py-1 pr-3">{finding.message}</td>
              <td className="py-1">{finding.level}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// An image a report gives no text for is shown as decoration (`alt=""`), so screen readers skip it rather than read its address.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "IMG" && !node.hasAttribute("alt")) node.setAttribute("alt", "")
})

const Markdown = ({ bytes }: { readonly bytes: Uint8Array }) => {
  const html = useMemo(() => DOMPurify.sanitize(marked.parse(new TextDecoder().decode(bytes), { async: false })), [bytes])
  return <div className="markdown text-sm" dangerouslySetInnerHTML={{ __html: html }} />
}

const Image = ({ bytes, file }: { readonly bytes: Uint8Array; readonly file: JobFile }) => {
  const url = useMemo(() => URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: file.mime })), [bytes, file.mime])
  useEffect(() => () => URL.revokeObjectURL(url), [url])
  return <img src={url} alt={file.path} className="max-h-96 max-w-full" />
}

/** The preview of `file` of job `jobId` (a `previewKind` must exist for it). */
export const Preview = ({ jobId, file, kind }: { readonly jobId: JobId; readonly file: JobFile; readonly kind: PreviewKind }) => {
  const content = useQuery({
    queryKey: ["file", file.file_id],
    queryFn: () => api((client) => client.jobs.download({ path: { job_id: jobId, file_id: file.file_id } })),
    staleTime: Infinity
  })
  if (content.isPending) return <Skeleton className="h-24 w-full" />
  if (content.isError) return <ErrorBox error={content.error} />
  switch (kind) {
    case "markdown":
      return <Markdown bytes={content.data} />
    case "sarif":
      return <Sarif bytes={content.data} />
    case "image":
      return <Image bytes={content.data} file={file} />
    case "text":
      return <pre className="max-h-96 overflow-auto rounded bg-slate-100 p-3 text-xs">{new TextDecoder().decode(content.data)}</pre>
  }
}
