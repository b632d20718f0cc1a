/**
 * A repo job's outcome in the buyer's repository (DESIGN.md "Repo jobs",
 * "patch, not push"): `agnt result --apply` makes branch `agnt/<job_id>`
 * (or `--branch NAME`) from the job's base commit with the job's
 * `changes.patch` series applied by `git am` in a temporary worktree, so
 * the buyer's current branch, index and working tree are never touched;
 * `--push` and `--pr` then use the buyer's own git and `gh`. Nothing here
 * sends anything to the API or the executor. The buyer's hooks are not
 * run (`core.hooksPath=/dev/null`): the commits are the agent's.
 */
import { type GitError, gitText } from "@agnt/client/Git"
import type { Job, JobResult } from "@agnt/domain/Job"
import { changesPatchFile } from "@agnt/domain/Repo"
import { Effect, Option } from "effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFsP from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { AgntClient } from "./Client.js"
import { RepoRefused, UsageError } from "./Output.js"

/** Git in the buyer's repository, never running its hooks. */
const buyerGit = (cwd: string, args: ReadonlyArray<string>) => gitText(["-c", "core.hooksPath=/dev/null", ...args], { cwd })

/** A git failure as `RepoRefused` with `reason`. */
const refusedBy = (reason: RepoRefused["reason"], what: string) => (error: GitError) =>
  new RepoRefused({ reason, message: `${what}: ${error.stderr || error.message}` })

/** The files `git am` / `git apply` says a patch does not apply to. */
export const conflictingFiles = (stderr: string): ReadonlyArray<string> => {
  const files = new Set<string>()
  for (const line of stderr.split("\n")) {
    const match =
      /^error: (?:patch failed: )?(.+?)(?::\d+)?(?:: (?:patch does not apply|already exists in (?:working directory|index)|does not exist in index|No such file or directory))?$/
        .exec(line)
    if (match?.[1] !== undefined && !match[1].startsWith("could not") && !line.includes("Failed to merge")) files.add(match[1])
  }
  return [...files]
}

/**
 * The commit a repo job's changes start from in the repository at `root`:
 * its base commit, or when the job was sent with uncommitted changes
 * (its tree is not the base's) a commit of that tree on the base.
 *
 * @fails RepoRefused `not_a_repo_job`, `base_commit_missing` (fetch the base first).
 */
export const startCommit = (root: string, job: Job) =>
  Effect.gen(function*() {
    const repo = job.repo
    if (repo === null) {
      return yield* new RepoRefused({ reason: "not_a_repo_job", message: `${job.job_id} was not ordered with --repo` })
    }
    const baseTree = yield* buyerGit(root, ["rev-parse", "--verify", "-q", `${repo.base_commit}^{tree}`]).pipe(
      Effect.mapError(() =>
        new RepoRefused({
          reason: "base_commit_missing",
          message:
            `the job's base commit ${repo.base_commit} is not in this repository (${root}); fetch it, or run this where the job was ordered`
        })
      )
    )
    if (baseTree === repo.tree) return repo.base_commit
    yield* buyerGit(root, ["cat-file", "-e", `${repo.tree}^{tree}`]).pipe(
      Effect.mapError(() =>
        new RepoRefused({
          reason: "base_commit_missing",
          message: `the job was sent with uncommitted changes (tree ${repo.tree}), which are not in this repository (${root})`
        })
      )
    )
    const message = `Uncommitted changes sent with ${job.job_id}\n\nAgnt-Job: ${job.job_id}\n`
    return yield* buyerGit(root, ["commit-tree", repo.tree, "-p", repo.base_commit, "-m", message]).pipe(
      Effect.mapError(refusedBy("git_failed", "cannot commit the changes the job was sent with"))
    )
  })

/** Download the job's `changes.patch` into `dir`; `None` when the job changed nothing. */
const downloadPatch = (result: JobResult, dir: string) =>
  Effect.gen(function*() {
    const file = result.files.find((candidate) => candidate.path === changesPatchFile)
    if (file === undefined) return Option.none<string>()
    const client = yield* AgntClient
    const local = NodePath.join(dir, changesPatchFile)
    yield* client.downloadFile({ ...file, job_id: result.job_id }, local).pipe(
      Effect.mapError((error) => new UsageError({ message: `cannot download ${changesPatchFile}: ${error.message}` }))
    )
    return Option.some(local)
  })

/** A temporary directory for the duration of `use`, removed after it. */
const withTempDir = <A, E, R>(use: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => NodeFsP.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-apply-"))),
    use,
    (dir) => Effect.promise(() => NodeFsP.rm(dir, { recursive: true, force: true }))
  )

/**
 * `patch` applied by `git am` on `onto`, in a temporary detached worktree
 * of `root` (removed after); returns the last commit made.
 *
 * @fails RepoRefused `patch_does_not_apply` naming the conflicting files,
 *   `git_failed` when git has no identity for the committer.
 */
const applySeries = (root: string, onto: string, patch: string, dir: string) =>
  Effect.gen(function*() {
    const tree = NodePath.join(dir, "worktree")
    yield* buyerGit(root, ["worktree", "add", "--detach", "-q", tree, onto]).pipe(
      Effect.mapError(refusedBy("git_failed", "cannot make a temporary worktree"))
    )
    return yield* buyerGit(tree, ["am", "-q", "--keep-cr", "--no-3way", patch]).pipe(
      Effect.catchAll((error) =>
        Effect.zipRight(
          buyerGit(tree, ["am", "--abort"]).pipe(Effect.ignore),
          Effect.fail(
            /tell me who you are|empty ident/i.test(error.stderr)
              ? new RepoRefused({
                reason: "git_failed",
                message: `git am needs your identity as the commits' committer (git config user.name and user.email): ${error.stderr}`
              })
              : new RepoRefused({
                reason: "patch_does_not_apply",
                message: `the job's patch does not apply on ${onto}: ${error.stderr}`,
                files: conflictingFiles(error.stderr)
              })
          )
        )
      ),
      Effect.zipRight(buyerGit(tree, ["rev-parse", "HEAD"]).pipe(Effect.mapError(refusedBy("git_failed", "cannot read the result")))),
      Effect.ensuring(buyerGit(root, ["worktree", "remove", "--force", tree]).pipe(Effect.ignore))
    )
  })

/**
 * The commit of the job's outcome in the repository at `root`: its patch
 * series applied on `onto` (default: `startCommit`), made without touching
 * any branch; `onto` itself (`changed: false`) when the job changed nothing.
 *
 * @fails RepoRefused (`not_a_repo_job`, `base_commit_missing`, `patch_does_not_apply`), UsageError, the client's errors.
 */
export const outcomeCommit = (root: string, job: Job, result: JobResult, onto?: string) =>
  Effect.gen(function*() {
    const start = onto ?? (yield* startCommit(root, job))
    return yield* withTempDir((dir) =>
      Effect.flatMap(downloadPatch(result, dir), (patch) =>
        Option.isNone(patch)
          ? Effect.succeed({ commit: start, changed: false })
          : Effect.map(applySeries(root, start, patch.value, dir), (commit) => ({ commit, changed: true })))
    )
  })

/** What `agnt result --apply` did. */
export interface Applied {
  readonly job_id: string
  readonly branch: string
  readonly commit: string
  readonly base_commit: string
  readonly changed: boolean
  readonly pushed: boolean
  readonly pr_url: string | null
}

/**
 * Make `branch` (default `agnt/<job_id>`) the job's outcome in the
 * repository holding `cwd`: a new branch from the job's base, or, when it
 * already exists and is not checked out, the series applied on its tip.
 * Then `--push` pushes it to `origin` and `--pr` opens a pull request with
 * `gh`. The buyer's current branch and working tree are untouched.
 *
 * @fails RepoRefused (`branch_exists` for a checked-out branch, `push_failed`, `gh_unavailable`, `pr_failed`, and those of `outcomeCommit`).
 */
export const applyJob = (
  cwd: string,
  job: Job,
  result: JobResult,
  options: { readonly branch: Option.Option<string>; readonly push: boolean; readonly pr: boolean }
) =>
  Effect.gen(function*() {
    const root = yield* gitText(["rev-parse", "--show-toplevel"], { cwd }).pipe(
      Effect.mapError(refusedBy("not_a_repository", `${cwd} is not in a git repository`))
    )
    const branch = Option.getOrElse(options.branch, () => `agnt/${job.job_id}`)
    const ref = `refs/heads/${branch}`
    yield* buyerGit(root, ["check-ref-format", ref]).pipe(
      Effect.mapError(() => new UsageError({ message: `--branch ${branch} is not a valid branch name` }))
    )
    const existing = yield* buyerGit(root, ["rev-parse", "--verify", "-q", ref]).pipe(Effect.option)
    const current = yield* buyerGit(root, ["symbolic-ref", "-q", "HEAD"]).pipe(Effect.option)
    if (Option.isSome(existing) && Option.contains(current, ref)) {
      return yield* new RepoRefused({
        reason: "branch_exists",
        message: `${branch} is checked out here; apply to another branch (--branch NAME) and merge it`
      })
    }
    const { changed, commit } = yield* outcomeCommit(root, job, result, Option.getOrUndefined(existing))
    yield* buyerGit(root, ["update-ref", "-m", `agnt: ${job.job_id}`, ref, commit, Option.getOrElse(existing, () => "")]).pipe(
      Effect.mapError(refusedBy("git_failed", `cannot set ${branch}`))
    )
    const pushed = options.push || options.pr
    if (pushed) {
      yield* gitText(["push", "origin", `${ref}:${ref}`], { cwd: root }).pipe(
        Effect.mapError(refusedBy("push_failed", `cannot push ${branch} to origin`))
      )
    }
    const pr_url = options.pr ? yield* openPullRequest(root, job, branch) : null
    const base_commit = job.repo?.base_commit ?? ""
    return { job_id: job.job_id, branch, commit, base_commit, changed, pushed, pr_url } satisfies Applied
  })

/** `gh pr create` for `branch` against the branch the job was ordered from; returns the pull request's URL. */
const openPullRequest = (root: string, job: Job, branch: string) =>
  Effect.gen(function*() {
    const gh = (args: ReadonlyArray<string>) =>
      Effect.async<string, string>((resume) => {
        NodeChildProcess.execFile(
          "gh",
          [...args],
          { cwd: root },
          (error, stdout, stderr) => resume(error === null ? Effect.succeed(stdout.trim()) : Effect.fail(stderr.trim() || error.message))
        )
      })
    yield* gh(["auth", "status"]).pipe(
      Effect.mapError((message) =>
        new RepoRefused({ reason: "gh_unavailable", message: `--pr needs the gh CLI installed and signed in: ${message}` })
      )
    )
    const title = `${job.job_id}: ${job.prompt.split("\n", 1)[0]?.slice(0, 100) ?? ""}`
    const body = `Changes made by agent ${job.agent_id} for job ${job.job_id}.\n\nAgnt-Job: ${job.job_id}\n`
    const baseArgs = job.repo?.branch === null || job.repo?.branch === undefined ? [] : ["--base", job.repo.branch]
    return yield* gh(["pr", "create", "--head", branch, ...baseArgs, "--title", title, "--body", body]).pipe(
      Effect.mapError((message) => new RepoRefused({ reason: "pr_failed", message: `gh pr create failed: ${message}` }))
    )
  })
