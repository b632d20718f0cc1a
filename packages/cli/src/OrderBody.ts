/**
 * The body of `agnt order`: loose input files (`--file`), a repository's
 * tree (`--repo [DIR]`, `--include-changes`), or another job's outcome
 * (`--from <job>`, DESIGN.md "Repo jobs": handoff between agents) — that
 * job's result files as input files, or for a repo job its base tree with
 * its patch applied, as a repo job whose base is the commit of that outcome
 * in the buyer's repository (so the child's own patch applies on top).
 */
import { retryTransient } from "@agnt/client/ApiClient"
import { gitText } from "@agnt/client/Git"
import { uploadBody, uploadSourceBody } from "@agnt/client/Upload"
import type { JobId } from "@agnt/domain/Ids"
import { mediaTypeOf } from "@agnt/domain/MediaTypes"
import { JobRepo } from "@agnt/domain/Repo"
import { Effect, Option, Schema } from "effect"
import * as NodeFsP from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { AgntClient } from "./Client.js"
import { collectInputFiles } from "./InputFiles.js"
import { RepoRefused, UsageError } from "./Output.js"
import { outcomeCommit } from "./RepoApply.js"
import { readRepo, readTree, type RepoInput, repoRoot } from "./RepoInput.js"
import { downloadResults } from "./Results.js"

/** Where an order's files come from, as its options say. */
export interface OrderSource {
  readonly files: ReadonlyArray<string>
  readonly repo: Option.Option<string>
  readonly includeChanges: boolean
  readonly from: Option.Option<JobId>
}

const encodeRepo = Schema.encodeSync(JobRepo)

/** The upload body of a repo job: `fields` with `repo`, and the tree's files. */
const repoBody = (fields: Readonly<Record<string, string>>, input: RepoInput) =>
  uploadSourceBody({ ...fields, repo: JSON.stringify(encodeRepo(input.repo)) }, input.source)

/**
 * The body of an order with `fields` and the files `source` names. The
 * body streams while it is sent: run the send in the same scope (a
 * handoff's downloaded files live in a temporary directory until it closes).
 *
 * @fails UsageError for options that do not go together or unreadable
 *   files, RepoRefused for a repository that cannot be read or a parent's
 *   patch that does not apply, and the client's errors.
 */
export const orderBody = (fields: Readonly<Record<string, string>>, source: OrderSource) =>
  Effect.gen(function*() {
    if (source.files.length > 0 && (Option.isSome(source.repo) || Option.isSome(source.from))) {
      return yield* new UsageError({ message: "--file cannot go with --repo or --from: a repo job's files are its tree" })
    }
    if (source.includeChanges && (Option.isNone(source.repo) || Option.isSome(source.from))) {
      return yield* new UsageError({ message: "--include-changes goes with --repo (and not with --from)" })
    }
    if (Option.isSome(source.from)) return yield* handoffBody(fields, source.from.value, source.repo)
    if (Option.isSome(source.repo)) return yield* repoBody(fields, yield* readRepo(source.repo.value, source.includeChanges))
    const inputs = yield* collectInputFiles(process.cwd(), source.files)
    return yield* uploadBody(fields, inputs).pipe(
      Effect.mapError((error) => new UsageError({ message: `cannot read ${error.path}: ${error.message}` }))
    )
  })

/** A temporary directory removed when the scope closes. */
const scopedTempDir = Effect.acquireRelease(
  Effect.promise(() => NodeFsP.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-from-"))),
  (dir) => Effect.promise(() => NodeFsP.rm(dir, { recursive: true, force: true }))
)

/**
 * The body of an order on the outcome of the completed job `parentId`
 * (sent as `parent_job_id`): its result files, or for a repo job the tree
 * of its outcome commit in the repository at `repoDir` (default `.`).
 */
const handoffBody = (
  fields: Readonly<Record<string, string>>,
  parentId: JobId,
  repoDir: Option.Option<string>
) =>
  Effect.gen(function*() {
    const client = yield* AgntClient
    const parent = yield* client.jobs.get({ path: { job_id: parentId } }).pipe(Effect.retry(retryTransient))
    if (parent.status !== "completed") {
      return yield* new UsageError({
        message: `--from ${parentId}: the job is ${parent.status}; only a completed job's outcome can be handed on`
      })
    }
    const result = yield* client.jobs.result({ path: { job_id: parentId } }).pipe(Effect.retry(retryTransient))
    const withParent = { ...fields, parent_job_id: parentId }
    if (parent.repo === null) {
      const dir = yield* scopedTempDir
      const saved = yield* downloadResults(result, dir)
      const files = saved.map((file) => ({ name: file.path, path: file.local_path, type: mediaTypeOf(file.path) }))
      return yield* uploadBody(withParent, files).pipe(
        Effect.mapError((error) => new UsageError({ message: `cannot read ${error.path}: ${error.message}` }))
      )
    }
    const root = yield* repoRoot(Option.getOrElse(repoDir, () => "."))
    const { commit } = yield* outcomeCommit(root, parent, result)
    const tree = yield* gitText(["rev-parse", `${commit}^{tree}`], { cwd: root }).pipe(
      Effect.mapError((error) => new RepoRefused({ reason: "git_failed", message: error.message }))
    )
    return yield* repoBody(withParent, yield* readTree(root, { base: commit, tree, branch: parent.repo.branch }))
  })
