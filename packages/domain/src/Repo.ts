/**
 * Repo jobs (DESIGN.md "Repo jobs"): a job whose input files are the
 * tracked files of a git repository at one commit, and whose outcome is a
 * patch against it. The buyer's `agnt order --repo` records where the files
 * came from (`JobRepo`); the executor's runtime rebuilds that exact tree as
 * the first commit of the job's workspace and returns `changes.patch` and
 * `changes.json` (`ChangeSummary`); `agnt result --apply` turns the patch
 * into a branch of the buyer's repository. Credentials never leave the
 * buyer: nothing here names a remote.
 */
import { Schema } from "effect"

/** A git object id: 40 lowercase hex characters (SHA-1) or 64 (SHA-256 repositories). */
export const GitObjectId = Schema.String.pipe(
  Schema.pattern(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, { message: () => "a git object id is 40 or 64 lowercase hex characters" })
).annotations({ title: "GitObjectId" })

/**
 * The mode of a tree entry that is not a plain file (`100644`): `100755` an
 * executable file, `120000` a symbolic link (its input file holds the
 * link's target, as git stores it).
 */
export const SpecialMode = Schema.Literal("100755", "120000").annotations({ title: "SpecialMode" })
export type SpecialMode = typeof SpecialMode.Type

/**
 * Where a repo job's files came from. `base_commit` is the buyer's `HEAD`;
 * `tree` the id of the tree sent — `HEAD^{tree}` itself, or with
 * `--include-changes` the tree of `HEAD` plus the working tree's changes to
 * tracked files; `branch` the buyer's branch then (`null` on a detached
 * `HEAD`). The input files are the tree's blobs at their paths; `modes`
 * names, by path, the entries that are executable files or symbolic links
 * (every other file is `100644`), and `submodules` the gitlinks (path →
 * commit; sent as no file). With them the executor rebuilds a tree with
 * exactly the id `tree`, and refuses the job when it cannot.
 */
export class JobRepo extends Schema.Class<JobRepo>("JobRepo")({
  base_commit: GitObjectId,
  tree: GitObjectId,
  branch: Schema.NullOr(Schema.String),
  modes: Schema.optionalWith(Schema.Record({ key: Schema.String, value: SpecialMode }), { default: () => ({}) }),
  submodules: Schema.optionalWith(Schema.Record({ key: Schema.String, value: GitObjectId }), { default: () => ({}) })
}) {}

/** The result file holding a repo job's patch: a `git format-patch --binary` series against the base commit. */
export const changesPatchFile = "changes.patch"

/** The result file holding a repo job's `ChangeSummary` as JSON. */
export const changesJsonFile = "changes.json"

/** How a file changed between the base commit and the job's outcome (`git diff --name-status -M`). */
export const FileChangeKind = Schema.Literal("added", "modified", "deleted", "renamed", "type_changed")

/**
 * One changed file. `path` is its path after the change (before, for a
 * deleted file); `old_path` the path it was renamed from. `insertions` and
 * `deletions` count lines (`git diff --numstat`); both `null` for a binary file.
 */
export const FileChange = Schema.Struct({
  path: Schema.String,
  status: FileChangeKind,
  old_path: Schema.optional(Schema.String),
  insertions: Schema.NullOr(Schema.NonNegativeInt),
  deletions: Schema.NullOr(Schema.NonNegativeInt),
  binary: Schema.Boolean
}).annotations({ title: "FileChange" })
export type FileChange = typeof FileChange.Type

/**
 * `changes.json` of a repo job: whether anything changed against
 * `base_tree` (the tree the buyer sent), how many commits the patch series
 * has (the agent's own, plus one for changes it left uncommitted), and each
 * changed file. A job that changed nothing has `changed: false`, no files,
 * and no `changes.patch`.
 */
export const ChangeSummary = Schema.Struct({
  changed: Schema.Boolean,
  base_tree: GitObjectId,
  commits: Schema.NonNegativeInt,
  files: Schema.Array(FileChange),
  insertions: Schema.NonNegativeInt,
  deletions: Schema.NonNegativeInt
}).annotations({ title: "ChangeSummary" })
export type ChangeSummary = typeof ChangeSummary.Type
