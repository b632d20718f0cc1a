/**
 * What `agnt order --repo [DIR]` sends (DESIGN.md "Repo jobs"): the files
 * of one git tree — `HEAD^{tree}`, or with `--include-changes` the tree of
 * the index after `git add -u` on a temporary copy of it (the working
 * tree's changes to tracked files) — read through git's plumbing (`git
 * ls-tree -r -z --long`, blobs streamed by one `git cat-file --batch`), so
 * `.git/`, ignored and untracked files are never read. Executable files and
 * symbolic links keep their modes in `JobRepo.modes` (a link is sent as a
 * file holding its target, as git stores it); submodules are sent as their
 * commit ids in `JobRepo.submodules`, without their files.
 */
import { catFileBatch, type GitError, gitText } from "@agnt/client/Git"
import type { SourceFile, UploadSource } from "@agnt/client/Upload"
import { mediaTypeOf } from "@agnt/domain/MediaTypes"
import { JobRepo, type SpecialMode } from "@agnt/domain/Repo"
import { Effect } from "effect"
import * as NodeFsP from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { RepoRefused } from "./Output.js"

/** One entry of `git ls-tree -r --long`: mode, type, object id, size (`-` for a submodule) and path. */
export interface TreeEntry {
  readonly mode: string
  readonly type: string
  readonly oid: string
  readonly size: number
  readonly path: string
}

/** The entries of `git ls-tree -r -z --long` output. */
export const parseLsTree = (output: string): ReadonlyArray<TreeEntry> =>
  output.split("\0").filter((record) => record.length > 0).map((record) => {
    const tab = record.indexOf("\t")
    const [mode = "", type = "", oid = "", size = "0"] = record.slice(0, tab).split(/ +/)
    return { mode, type, oid, size: size === "-" ? 0 : Number(size), path: record.slice(tab + 1) }
  })

/** A repository read for sending: where the files came from, and the files. */
export interface RepoInput {
  readonly root: string
  readonly repo: JobRepo
  readonly source: UploadSource
}

/** A git failure in the buyer's repository as `RepoRefused`, with `reason`. */
const refused = (reason: RepoRefused["reason"], what: string) => (error: GitError) =>
  new RepoRefused({ reason, message: `${what}: ${error.stderr || error.message}` })

/**
 * The tree of the index of `root` with the working tree's changes to its
 * tracked files added (`git add -u` on a temporary copy of the index: the
 * buyer's index and branch are untouched; the blobs of changed files are
 * written to the repository's object store, as `git stash` would).
 */
const treeWithChanges = (root: string) =>
  Effect.acquireUseRelease(
    Effect.promise(() => NodeFsP.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-index-"))),
    (dir) =>
      Effect.gen(function*() {
        const index = NodePath.join(dir, "index")
        const real = NodePath.resolve(root, yield* gitText(["rev-parse", "--git-path", "index"], { cwd: root }))
        const copied = yield* Effect.promise(() => NodeFsP.copyFile(real, index).then(() => true, () => false))
        const env = { GIT_INDEX_FILE: index }
        if (!copied) yield* gitText(["read-tree", "HEAD"], { cwd: root, env })
        yield* gitText(["add", "-u", "--", "."], { cwd: root, env })
        return yield* gitText(["write-tree"], { cwd: root, env })
      }),
    (dir) => Effect.promise(() => NodeFsP.rm(dir, { recursive: true, force: true }))
  )

/**
 * Read the repository holding `dir` for a repo job: its `HEAD`, with
 * `includeChanges` the working tree's changes to tracked files too.
 *
 * @fails RepoRefused `not_a_repository` (no git repository at `dir`),
 *   `no_commit` (no `HEAD` commit), `git_failed` (the tree could not be
 *   read or written, e.g. an index with unresolved conflicts).
 */
export const readRepo = (dir: string, includeChanges: boolean): Effect.Effect<RepoInput, RepoRefused> =>
  Effect.gen(function*() {
    const root = yield* repoRoot(dir)
    const base = yield* gitText(["rev-parse", "--verify", "HEAD^{commit}"], { cwd: root }).pipe(
      Effect.mapError(refused("no_commit", `--repo ${dir} has no commit at HEAD`))
    )
    const branch = yield* gitText(["symbolic-ref", "-q", "--short", "HEAD"], { cwd: root }).pipe(Effect.option)
    const tree = yield* (includeChanges ? treeWithChanges(root) : gitText(["rev-parse", "HEAD^{tree}"], { cwd: root })).pipe(
      Effect.mapError(refused("git_failed", "cannot read the tree to send"))
    )
    return yield* readTree(root, { base, tree, branch: branch._tag === "Some" ? branch.value : null })
  })

/**
 * The top directory of the git repository holding `dir`.
 *
 * @fails RepoRefused `not_a_repository`.
 */
export const repoRoot = (dir: string): Effect.Effect<string, RepoRefused> =>
  gitText(["rev-parse", "--show-toplevel"], { cwd: dir }).pipe(
    Effect.mapError(refused("not_a_repository", `${dir} is not in a git repository`))
  )

/**
 * The files of `tree` in the repository at `root`, to send as a repo job
 * whose base is the commit `base`.
 *
 * @fails RepoRefused `git_failed` when the tree cannot be listed.
 */
export const readTree = (
  root: string,
  from: { readonly base: string; readonly tree: string; readonly branch: string | null }
): Effect.Effect<RepoInput, RepoRefused> =>
  Effect.gen(function*() {
    const listing = yield* gitText(["ls-tree", "-r", "-z", "--long", "--full-tree", from.tree], { cwd: root }).pipe(
      Effect.mapError(refused("git_failed", "cannot list the tree to send"))
    )
    const entries = parseLsTree(listing)
    const blobs = entries.filter((entry) => entry.type === "blob")
    const modes: Record<string, SpecialMode> = {}
    for (const entry of blobs) {
      if (entry.mode === "100755" || entry.mode === "120000") modes[entry.path] = entry.mode
    }
    const submodules = Object.fromEntries(entries.filter((entry) => entry.type === "commit").map((entry) => [entry.path, entry.oid]))
    const files: ReadonlyArray<SourceFile> = blobs.map((entry) => ({
      name: entry.path,
      type: mediaTypeOf(entry.path),
      size: entry.size
    }))
    const source: UploadSource = {
      files,
      open: Effect.map(catFileBatch(root), (reader) => (index) => {
        const entry = blobs[index]
        return entry === undefined ? reader.read("", 0) : reader.read(entry.oid, entry.size)
      })
    }
    const repo = new JobRepo({ base_commit: from.base, tree: from.tree, branch: from.branch, modes, submodules })
    return { root, repo, source }
  })
