/** Files and whole folders for an order: two pickers, a drop zone, the list, and the count and size against the limits. */
import { defaultMaxFileBytes, defaultMaxFiles, defaultMaxJobBytes } from "@agnt/domain/Limits"
import { type DragEvent, useState } from "react"
import { formatBytes, secondaryButtonClass } from "../Ui.js"
import { checkFiles, fromDrop, fromPicker, mergeFiles, type OrderFile } from "./Files.js"

const pickerClass =
  `${secondaryButtonClass} cursor-pointer text-sm focus-within:outline focus-within:outline-3 focus-within:outline-indigo-600`

/** The props of the picker's parts: the files chosen so far, and what gets the whole new list. */
interface FilesProps {
  readonly files: ReadonlyArray<OrderFile>
  readonly onChange: (files: ReadonlyArray<OrderFile>) => void
}

/** The drop zone with its two pickers (files; a folder, with its paths inside it). */
const DropZone = ({ files, onChange }: FilesProps) => {
  const [over, setOver] = useState(false)
  const drop = (event: DragEvent) => {
    event.preventDefault()
    setOver(false)
    void fromDrop(event.dataTransfer).then((added) => onChange(mergeFiles(files, added)))
  }
  return (
    <div
      onDragOver={(event) => (event.preventDefault(), setOver(true))}
      onDragLeave={() => setOver(false)}
      onDrop={drop}
      data-testid="drop-zone"
      className={`rounded-md border-2 border-dashed p-4 text-center text-sm ${
        over ? "border-indigo-600 bg-indigo-50" : "border-slate-300 bg-white"
      }`}
    >
      <p className="text-slate-700">Drop files or folders here, or</p>
      <div className="mt-2 flex flex-wrap justify-center gap-2">
        <label className={pickerClass}>
          Choose files
          <input
            type="file"
            multiple
            className="sr-only"
            onChange={(event) => onChange(mergeFiles(files, fromPicker(event.target.files)))}
          />
        </label>
        <label className={pickerClass}>
          Choose a folder
          <input
            type="file"
            className="sr-only"
            ref={(input) => input?.setAttribute("webkitdirectory", "")}
            onChange={(event) => onChange(mergeFiles(files, fromPicker(event.target.files)))}
          />
        </label>
      </div>
    </div>
  )
}

/** The chosen files, each with its size and a button that removes it. */
const ChosenFiles = ({ files, onChange }: FilesProps) =>
  files.length === 0 ? null : (
    <ul
      className="max-h-48 divide-y divide-slate-100 overflow-y-auto rounded border border-slate-200 bg-white text-sm"
      aria-label="Chosen files"
    >
      {files.map(({ file, path }) => (
        <li key={path} className="flex items-center justify-between gap-2 px-3 py-1">
          <span className="truncate font-mono">{path}</span>
          <span className="flex shrink-0 items-center gap-2 text-slate-600">
            {formatBytes(file.size)}
            <button
              type="button"
              onClick={() => onChange(files.filter((entry) => entry.path !== path))}
              aria-label={`Remove ${path}`}
              className="rounded px-1 text-slate-700 hover:bg-slate-100"
            >
              ×
            </button>
          </span>
        </li>
      ))}
    </ul>
  )

/** Picks, drops and lists an order's files, with their count and size against the limits; `onChange` gets the whole new list. */
export const FilePicker = ({ files, onChange }: FilesProps) => {
  const check = checkFiles(files)
  return (
    <fieldset className="space-y-3">
      <legend className="text-sm font-medium">Files</legend>
      <DropZone files={files} onChange={onChange} />
      <p className="text-sm text-slate-700" aria-live="polite">
        {check.count} of {defaultMaxFiles} files · {formatBytes(check.totalBytes)} of {formatBytes(defaultMaxJobBytes)} · at most{" "}
        {formatBytes(defaultMaxFileBytes)} a file
      </p>
      {check.problems.length === 0 ? null : (
        <ul role="alert" className="list-disc pl-5 text-sm text-red-800">
          {check.problems.map((problem) => <li key={problem}>{problem}</li>)}
        </ul>
      )}
      <ChosenFiles files={files} onChange={onChange} />
    </fieldset>
  )
}
