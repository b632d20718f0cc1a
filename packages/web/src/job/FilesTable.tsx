/** A job's input or result files: path, size, SHA-256, a download link and, where the type allows, a preview. */
import type { JobId } from "@agnt/domain/Ids"
import type { JobFile } from "@agnt/domain/Job"
import { useState } from "react"
import { formatBytes } from "../Ui.js"
import { Preview, previewKind } from "./Preview.js"

const FileRow = ({ jobId, file }: { readonly jobId: JobId; readonly file: JobFile }) => {
  const [open, setOpen] = useState(false)
  const kind = previewKind(file)
  return (
    <li className="py-2">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="font-mono text-sm break-all">{file.path}</span>
        <span className="flex items-center gap-3 text-sm">
          <span className="tabular-nums text-slate-700">{formatBytes(file.size)}</span>
          <a href={`/v1/jobs/${jobId}/files/${file.file_id}`} download={file.path.split("/").pop()} className="text-indigo-700 underline">
            Download<span className="sr-only">{` ${file.path}`}</span>
          </a>
        </span>
      </div>
      <p className="font-mono text-xs break-all text-slate-600">
        <span className="sr-only">SHA-256</span>
        {file.sha256}
      </p>
      {kind === null ? null : (
        <details className="mt-1" onToggle={(event) => setOpen(event.currentTarget.open)}>
          <summary className="cursor-pointer text-sm text-indigo-700">
            Preview<span className="sr-only">{` ${file.path}`}</span>
          </summary>
          <div className="mt-2 rounded border border-slate-200 bg-white p-3">
            {open ? <Preview jobId={jobId} file={file} kind={kind} /> : null}
          </div>
        </details>
      )}
    </li>
  )
}

/** The list of `files`, or what to say when there are none. */
export const FilesList = (
  { jobId, files, empty }: { readonly jobId: JobId; readonly files: ReadonlyArray<JobFile>; readonly empty: string }
) =>
  files.length === 0
    ? <p className="text-sm text-slate-600">{empty}</p>
    : <ul className="divide-y divide-slate-100">{files.map((file) => <FileRow key={file.file_id} jobId={jobId} file={file} />)}</ul>
