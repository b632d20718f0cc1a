/**
 * The files of an order as the page holds them: each with its path in the
 * job's workspace (a picked file's name, or its path inside a picked or
 * dropped folder), checked against the server's default limits
 * (`Limits.ts`), hashed and put in the multipart body `POST /v1/jobs` takes.
 */
import { defaultMaxFileBytes, defaultMaxFiles, defaultMaxJobBytes } from "@agnt/domain/Limits"

/** A file to send, and its path in the job's workspace (`/`-separated, relative). */
export interface OrderFile {
  readonly path: string
  readonly file: File
}

/** What the limits say of a set of files: counts, totals, and a sentence per limit broken. */
export interface FilesCheck {
  readonly count: number
  readonly totalBytes: number
  readonly problems: ReadonlyArray<string>
}

/** The files' count and total size against the server's limits (`AGNT_MAX_FILES`, `AGNT_MAX_FILE_BYTES`, `AGNT_MAX_JOB_BYTES` defaults). */
export const checkFiles = (files: ReadonlyArray<OrderFile>): FilesCheck => {
  const totalBytes = files.reduce((sum, { file }) => sum + file.size, 0)
  const tooLarge = files.filter(({ file }) => file.size > defaultMaxFileBytes)
  const problems = [
    ...(files.length > defaultMaxFiles ? [`${files.length} files is more than the ${defaultMaxFiles} a job may have`] : []),
    ...(totalBytes > defaultMaxJobBytes ? [`the files add up to more than the ${defaultMaxJobBytes / 1024 / 1024} MB a job may have`] : []),
    ...tooLarge.map(({ path }) => `${path} is larger than the ${defaultMaxFileBytes / 1024 / 1024} MB a file may be`)
  ]
  return { count: files.length, totalBytes, problems }
}

/** `files` with `added` on top; a path added again replaces the earlier file. */
export const mergeFiles = (files: ReadonlyArray<OrderFile>, added: ReadonlyArray<OrderFile>): ReadonlyArray<OrderFile> => {
  const byPath = new Map(files.map((entry) => [entry.path, entry]))
  for (const entry of added) byPath.set(entry.path, entry)
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path))
}

/** Files chosen by a picker: each a folder picker's relative path, else its name. */
export const fromPicker = (list: FileList | null): ReadonlyArray<OrderFile> =>
  Array.from(list ?? [], (file) => ({ path: file.webkitRelativePath === "" ? file.name : file.webkitRelativePath, file }))

const readAll = (reader: FileSystemDirectoryReader): Promise<ReadonlyArray<FileSystemEntry>> =>
  new Promise((resolve, reject) => {
    const all: Array<FileSystemEntry> = []
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) return resolve(all)
        all.push(...batch)
        next()
      }, reject)
    next()
  })

const isFile = (entry: FileSystemEntry): entry is FileSystemFileEntry => entry.isFile
const isDirectory = (entry: FileSystemEntry): entry is FileSystemDirectoryEntry => entry.isDirectory

const walk = async (entry: FileSystemEntry, prefix: string): Promise<ReadonlyArray<OrderFile>> => {
  if (isFile(entry)) {
    const file = await new Promise<File>((resolve, reject) => entry.file(resolve, reject))
    return [{ path: `${prefix}${entry.name}`, file }]
  }
  if (!isDirectory(entry)) return []
  const children = await readAll(entry.createReader())
  const nested = await Promise.all(children.map((child) => walk(child, `${prefix}${entry.name}/`)))
  return nested.flat()
}

/** The files and whole folders dropped on the page, each with its path under what was dropped. */
export const fromDrop = async (transfer: DataTransfer): Promise<ReadonlyArray<OrderFile>> => {
  const entries = Array.from(transfer.items, (item) => item.webkitGetAsEntry()).filter((entry) => entry !== null)
  const found = await Promise.all(entries.map((entry) => walk(entry, "")))
  return found.flat()
}

const hex = (buffer: ArrayBuffer) => Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("")

/**
 * The multipart body of `POST /v1/jobs`: `agent_id`, `prompt`, `params`
 * (JSON text), each file as a `files` part whose filename is its path
 * percent-encoded (as `CreateJobRequest` says), and `sha256` with each
 * file's SHA-256 (Web Crypto), so the server refuses bytes that changed
 * on the way.
 */
export const orderBody = async (order: {
  readonly agentId: string
  readonly prompt: string
  readonly params: unknown
  readonly files: ReadonlyArray<OrderFile>
}): Promise<FormData> => {
  const body = new FormData()
  body.append("agent_id", order.agentId)
  body.append("prompt", order.prompt)
  body.append("params", JSON.stringify(order.params ?? {}))
  const sums: Record<string, string> = {}
  for (const { file, path } of order.files) {
    sums[path] = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()))
    body.append("files", file, encodeURIComponent(path))
  }
  body.append("sha256", JSON.stringify(sums))
  return body
}
