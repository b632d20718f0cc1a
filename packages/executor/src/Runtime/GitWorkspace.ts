/**
 * The git side of a repo job (DESIGN.md "Repo jobs"), done by the runtime
 * outside the program's sandbox: before the program, the workspace becomes
 * a git repository whose first commit has exactly the buyer's tree
 * (`initRepoWorkspace`); after it, the runtime turns what the program did —
 * its own commits, then whatever it left uncommitted — into
 * `changes.patch` and `changes.json` (`collectChanges`).
 *
 * The program may have rewritten anything under `.git` (hooks, config
 * with `core.fsmonitor`, filter drivers or `include`s, alternates pointing
 * elsewhere, replace refs). Before reading it the runtime puts back its own
 * `config` and `info/attributes`, deletes hooks, alternates, `commondir`,
 * grafts and replace refs, refuses a `.git` that is not a plain directory,
 * and runs git with no system or global config, `core.hooksPath=/dev/null`,
 * `core.fsmonitor=false` and `safe.directory` for the workspace (the
 * sandbox may run the program as `nobody`), so nothing the program wrote is
 * executed outside the sandbox.
 */
import { git as gitBytes, type GitError, type GitOptions } from "@agnt/client/Git"
import type { Job } from "@agnt/domain/Job"
import { changesJsonFile, changesPatchFile, type ChangeSummary, type FileChange, type JobRepo } from "@agnt/domain/Repo"
import { Effect } from "effect"
import * as NodeFsP from "node:fs/promises"
import * as NodePath from "node:path"
import { JobFailure } from "../Executor.js"

/** Attributes that keep every file's bytes as they are: no line-ending conversion, no filters, no `$Id$`. */
const neutralAttributes = "* -text !eol -ident -filter -working-tree-encoding\n"

/** The name and address of the base commit's author and committer, and its fixed date, so its id depends on the tree alone. */
const baseIdentity = {
  GIT_AUTHOR_NAME: "agnt",
  GIT_AUTHOR_EMAIL: "agnt@agnt.invalid",
  GIT_AUTHOR_DATE: "@0 +0000",
  GIT_COMMITTER_NAME: "agnt",
  GIT_COMMITTER_EMAIL: "agnt@agnt.invalid",
  GIT_COMMITTER_DATE: "@0 +0000"
}

/** The flags of every git call of the runtime's: no hooks, no fsmonitor, any owner (the sandbox's `nobody`), no signing. */
const hardened = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "safe.directory=*", "-c", "commit.gpgSign=false"]

/** How the runtime runs git in `workspace`: no system or global config, no replace refs, the repository named outright. */
const gitOptions = (workspace: string, env: GitOptions["env"], input?: string): GitOptions => ({
  cwd: workspace,
  input,
  env: {
    GIT_DIR: NodePath.join(workspace, ".git"),
    GIT_WORK_TREE: workspace,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_ATTR_NOSYSTEM: "1",
    GIT_NO_REPLACE_OBJECTS: "1",
    GIT_OPTIONAL_LOCKS: "0",
    GIT_INDEX_FILE: undefined,
    ...env
  }
})

/** Git in `workspace` as the runtime runs it (see `gitOptions`), its output as bytes. */
const runGitBytes = (workspace: string) => (args: ReadonlyArray<string>, env: GitOptions["env"] = {}, input?: string) =>
  gitBytes([...hardened, ...args], gitOptions(workspace, env, input))

/** Git in `workspace` as the runtime runs it, its output as text without the final line break. */
const runGit = (workspace: string) => (args: ReadonlyArray<string>, env: GitOptions["env"] = {}, input?: string) =>
  Effect.map(runGitBytes(workspace)(args, env, input), (out) => out.toString("utf8").replace(/\n$/, ""))

type Git = ReturnType<typeof runGit>

/** A git failure of the runtime's as the job's `JobFailure`, saying what it was doing. */
const failed = (what: string) => (error: GitError) => new JobFailure({ reason: `repo: ${what}: ${error.stderr || error.message}` })

/** The config the runtime gives the workspace's repository, before and after the program. */
const trustedConfig = (repo: JobRepo) =>
  "[core]\n\trepositoryformatversion = " + (repo.tree.length === 64 ? "1" : "0") +
  "\n\tfilemode = true\n\tbare = false\n\tsymlinks = true\n\tautocrlf = false\n" +
  (repo.tree.length === 64 ? "[extensions]\n\tobjectformat = sha256\n" : "")

/**
 * Make `workspace`, holding the job's input files, a git repository whose
 * first commit has the tree `repo.tree`: symbolic links made from their
 * files, executable bits set, submodules as gitlinks; that commit (by
 * "agnt" at a fixed date) on the buyer's branch name (`agnt` when none).
 *
 * @returns the base commit's id in the workspace.
 * @fails JobFailure when an input file is inside `.git`, git fails, or the tree built is not `repo.tree`.
 */
export const initRepoWorkspace = Effect.fn("GitWorkspace.init")(function*(
  workspace: string,
  repo: JobRepo,
  inputs: ReadonlyArray<string>
) {
  // A tree git made never holds .git; inputs that do would be the repository's own control files.
  const control = inputs.find((path) => path.split("/").some((part) => part.toLowerCase() === ".git"))
  if (control !== undefined) {
    return yield* new JobFailure({ reason: `repo: the input file ${control} is inside .git, which no git tree holds` })
  }
  const git = runGit(workspace)
  const format = `--object-format=${repo.tree.length === 64 ? "sha256" : "sha1"}`
  // The buyer's branch name when git takes it as one, else "agnt".
  const branch = repo.branch === null
    ? "agnt"
    : yield* git(["check-ref-format", "--branch", repo.branch]).pipe(Effect.orElseSucceed(() => "agnt"))
  yield* git(["init", "-q", format, `--initial-branch=${branch}`]).pipe(
    Effect.mapError(failed("cannot make the workspace a repository"))
  )
  yield* writeControlFiles(workspace, repo)
  yield* applyModes(workspace, repo, inputs)
  yield* git(["update-index", "--add", "-z", "--stdin"], {}, inputs.map((path) => `${path}\0`).join("")).pipe(
    Effect.mapError(failed("cannot add the input files"))
  )
  const links = Object.entries(repo.submodules).map(([path, oid]) => `160000 ${oid}\t${path}\0`).join("")
  if (links.length > 0) {
    yield* git(["update-index", "-z", "--index-info"], {}, links).pipe(Effect.mapError(failed("cannot add the submodules")))
  }
  const tree = yield* git(["write-tree"]).pipe(Effect.mapError(failed("cannot write the tree")))
  if (tree !== repo.tree) {
    return yield* new JobFailure({
      reason: `repo: the workspace's tree ${tree} is not the tree the buyer sent (${repo.tree}); the job's files do not make it`
    })
  }
  const base = yield* git(["commit-tree", tree, "-m", `Base of the job: ${repo.base_commit}`], baseIdentity).pipe(
    Effect.mapError(failed("cannot commit the base"))
  )
  yield* git(["update-ref", `refs/heads/${branch}`, base]).pipe(Effect.mapError(failed("cannot set the branch")))
  yield* git(["update-index", "-q", "--refresh"]).pipe(Effect.ignore)
  return base
})

/**
 * Set the executable bits, then make the symbolic links (each from its
 * file, which holds the target): only paths among the job's input files.
 *
 * @fails JobFailure naming a path of `repo.modes` that is not an input file.
 */
const applyModes = (workspace: string, repo: JobRepo, inputs: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const known = new Set(inputs)
    const entries = Object.entries(repo.modes)
    const unknown = entries.find(([path]) => !known.has(path))
    if (unknown !== undefined) {
      return yield* new JobFailure({ reason: `repo: the mode of ${unknown[0]} is given, but no such input file was sent` })
    }
    const ordered = [...entries.filter(([, mode]) => mode === "100755"), ...entries.filter(([, mode]) => mode === "120000")]
    for (const [path, mode] of ordered) {
      const file = NodePath.join(workspace, path)
      yield* Effect.promise(async () => {
        if (mode === "100755") return NodeFsP.chmod(file, 0o755)
        const target = await NodeFsP.readFile(file, "utf8")
        await NodeFsP.rm(file)
        await NodeFsP.symlink(target, file)
      })
    }
  })

/** Write the repository's config and attributes as the runtime wants them, and drop what could run or redirect anything. */
const writeControlFiles = (workspace: string, repo: JobRepo) =>
  Effect.tryPromise({
    try: async () => {
      const dotGit = NodePath.join(workspace, ".git")
      const stat = await NodeFsP.lstat(dotGit)
      if (!stat.isDirectory()) throw new Error(".git is not a directory")
      for (const inner of ["objects", "refs"]) {
        const info = await NodeFsP.lstat(NodePath.join(dotGit, inner))
        if (!info.isDirectory()) throw new Error(`.git/${inner} is not a directory`)
      }
      for (
        const dropped of [
          "hooks",
          "commondir",
          "config.worktree",
          "objects/info/alternates",
          "objects/info/http-alternates",
          "info/grafts",
          "refs/replace",
          "worktrees"
        ]
      ) {
        await NodeFsP.rm(NodePath.join(dotGit, dropped), { recursive: true, force: true })
      }
      await NodeFsP.mkdir(NodePath.join(dotGit, "info"), { recursive: true })
      await writeFresh(NodePath.join(dotGit, "config"), trustedConfig(repo))
      await writeFresh(NodePath.join(dotGit, "info", "attributes"), neutralAttributes)
    },
    catch: (cause) =>
      new JobFailure({ reason: `repo: the workspace's .git cannot be used: ${cause instanceof Error ? cause.message : String(cause)}` })
  })

/** Replace whatever is at `path` (a file, a link, a directory) with a file holding `text`. */
const writeFresh = async (path: string, text: string) => {
  await NodeFsP.rm(path, { recursive: true, force: true })
  await NodeFsP.writeFile(path, text, { flag: "wx" })
}

/** What `collectChanges` found: the summary, and the number of result files it wrote. */
export interface CollectedChanges {
  readonly summary: ChangeSummary
  readonly message: string
}

/** Who the changes are by, for their commits' author and messages. */
export interface ChangeAuthor {
  readonly agentName: string
  readonly job: Job
}

/**
 * After the program: the agent's commits on top of `base` (when its `HEAD`
 * still descends from `base` through a line without merges; otherwise
 * they are folded into one), then one commit of everything it left in the
 * working tree (`git add -A`: tracked changes and new files not ignored),
 * each message given the trailer `Agnt-Job: <job_id>`; written to `outDir`
 * as `changes.patch` (`git format-patch --binary -M` of the series, absent
 * when nothing changed) and `changes.json` (`ChangeSummary`).
 *
 * @fails JobFailure when the repository cannot be read.
 */
export const collectChanges = Effect.fn("GitWorkspace.collect")(function*(
  workspace: string,
  repo: JobRepo,
  base: string,
  outDir: string,
  author: ChangeAuthor
) {
  yield* writeControlFiles(workspace, repo)
  const git = runGit(workspace)
  const start = yield* agentLine(git, base)
  const tip = yield* commitWorkingTree(git, workspace, start, author)
  const series = yield* withTrailers(git, base, tip, author.job)
  const summary = yield* summarize(git, repo, base, series)
  if (summary.changed) {
    const patch = yield* runGitBytes(workspace)([
      "format-patch",
      "--binary",
      "--stdout",
      "-M",
      "--no-signature",
      "--no-ext-diff",
      `${base}..${series}`
    ])
      .pipe(Effect.mapError(failed("cannot write the patch")))
    yield* Effect.promise(() => NodeFsP.writeFile(NodePath.join(outDir, changesPatchFile), patch))
  }
  yield* Effect.promise(() => NodeFsP.writeFile(NodePath.join(outDir, changesJsonFile), `${JSON.stringify(summary, null, 2)}\n`))
  const message = summary.changed
    ? `${summary.files.length} file(s) changed in ${summary.commits} commit(s), +${summary.insertions} -${summary.deletions}`
    : "no changes"
  return { summary, message } satisfies CollectedChanges
})

/** The agent's `HEAD` when it is `base` or a merge-free line of commits from it; else `base`. */
const agentLine = (git: Git, base: string) =>
  Effect.gen(function*() {
    const head = yield* git(["rev-parse", "--verify", "-q", "HEAD^{commit}"]).pipe(Effect.option)
    if (head._tag === "None" || head.value === base) return base
    const descends = yield* git(["merge-base", "--is-ancestor", base, head.value]).pipe(Effect.isSuccess)
    if (!descends) return base
    const merges = yield* git(["rev-list", "--merges", `${base}..${head.value}`]).pipe(Effect.orElseSucceed(() => "x"))
    return merges === "" ? head.value : base
  })

/** A commit of the working tree on `parent` (in a temporary index), or `parent` when the tree is its own. */
const commitWorkingTree = (git: Git, workspace: string, parent: string, author: ChangeAuthor) =>
  Effect.gen(function*() {
    const index = NodePath.join(NodePath.dirname(workspace), "agnt-index")
    const env = { GIT_INDEX_FILE: index }
    yield* git(["read-tree", parent], env).pipe(Effect.mapError(failed("cannot read the agent's last commit")))
    yield* git(["add", "-A", "--", "."], env).pipe(Effect.mapError(failed("cannot add the working tree's changes")))
    const tree = yield* git(["write-tree"], env).pipe(Effect.mapError(failed("cannot write the working tree")))
    yield* Effect.promise(() => NodeFsP.rm(index, { force: true }))
    const parentTree = yield* git(["rev-parse", `${parent}^{tree}`]).pipe(Effect.mapError(failed("cannot read a tree")))
    if (tree === parentTree) return parent
    const message = `${author.agentName}: changes of job ${author.job.job_id}`
    return yield* git(["commit-tree", tree, "-p", parent, "-m", message], identityOf(author)).pipe(
      Effect.mapError(failed("cannot commit the working tree"))
    )
  })

/** The author and committer of the runtime's commits: the agent. */
const identityOf = (author: ChangeAuthor) => ({
  GIT_AUTHOR_NAME: author.agentName,
  GIT_AUTHOR_EMAIL: `${author.job.agent_id}@agnt.invalid`,
  GIT_COMMITTER_NAME: author.agentName,
  GIT_COMMITTER_EMAIL: `${author.job.agent_id}@agnt.invalid`
})

/** The commits `base..tip` made again with the trailer `Agnt-Job: <job_id>` (authors and dates kept). */
const withTrailers = (git: Git, base: string, tip: string, job: Job) =>
  Effect.gen(function*() {
    if (tip === base) return base
    const list = yield* git(["rev-list", "--reverse", `${base}..${tip}`]).pipe(Effect.mapError(failed("cannot list the commits")))
    let parent = base
    for (const commit of list.split("\n").filter((line) => line !== "")) {
      const [name = "", email = "", date = "", ...body] =
        (yield* git(["log", "-1", "--format=%an%x00%ae%x00%ad%x00%B", "--date=raw", commit])
          .pipe(Effect.mapError(failed("cannot read a commit")))).split("\0")
      const message = yield* git(
        ["interpret-trailers", "--if-exists", "addIfDifferent", "--trailer", `Agnt-Job: ${job.job_id}`],
        {},
        body.join("\0")
      )
        .pipe(Effect.mapError(failed("cannot add the trailer")))
      const identity = { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_AUTHOR_DATE: date }
      parent = yield* git(["commit-tree", `${commit}^{tree}`, "-p", parent, "-F", "-"], {
        ...identity,
        GIT_COMMITTER_NAME: name,
        GIT_COMMITTER_EMAIL: email
      }, message)
        .pipe(Effect.mapError(failed("cannot commit")))
    }
    return parent
  })

const statusOf = (letter: string): FileChange["status"] =>
  letter === "A" ? "added" : letter === "D" ? "deleted" : letter === "R" ? "renamed" : letter === "T" ? "type_changed" : "modified"

/** The `ChangeSummary` of `base..tip` (`git diff -M --name-status` and `--numstat`). */
const summarize = (git: Git, repo: JobRepo, base: string, tip: string) =>
  Effect.gen(function*() {
    const commits = tip === base ? 0 : Number(yield* git(["rev-list", "--count", `${base}..${tip}`]).pipe(Effect.orElseSucceed(() => "0")))
    const diff = (format: string) =>
      git(["diff", "-z", "-M", "--no-ext-diff", "--no-textconv", format, base, tip]).pipe(Effect.mapError(failed("cannot diff")))
    const names = parseNameStatus(yield* diff("--name-status"))
    const counts = parseNumstat(yield* diff("--numstat"))
    const files = names.map((change): FileChange => {
      const count = counts.get(change.path)
      const binary = count === undefined || count.insertions === null
      return { ...change, insertions: binary ? null : count.insertions, deletions: binary ? null : count.deletions, binary }
    })
    const total = (key: "insertions" | "deletions") => files.reduce((sum, file) => sum + (file[key] ?? 0), 0)
    return {
      changed: files.length > 0,
      base_tree: repo.tree,
      commits,
      files,
      insertions: total("insertions"),
      deletions: total("deletions")
    } satisfies ChangeSummary
  })

/** `git diff -z --name-status` records: `X\0path\0`, or `Rnnn\0old\0new\0` for a rename. */
export const parseNameStatus = (output: string) => {
  const fields = output.split("\0")
  const changes: Array<{ path: string; status: FileChange["status"]; old_path?: string }> = []
  for (let index = 0; index < fields.length - 1;) {
    const letter = (fields[index] ?? "").charAt(0)
    if (letter === "R" || letter === "C") {
      changes.push({ status: letter === "R" ? "renamed" : "added", old_path: fields[index + 1] ?? "", path: fields[index + 2] ?? "" })
      index += 3
    } else {
      changes.push({ status: statusOf(letter), path: fields[index + 1] ?? "" })
      index += 2
    }
  }
  return changes
}

/** `git diff -z --numstat` records by (new) path: line counts, `null` for a binary file. */
export const parseNumstat = (output: string) => {
  const fields = output.split("\0")
  const counts = new Map<string, { insertions: number | null; deletions: number | null }>()
  for (let index = 0; index < fields.length - 1;) {
    const [added = "-", deleted = "-", path = ""] = (fields[index] ?? "").split("\t")
    const count = { insertions: added === "-" ? null : Number(added), deletions: deleted === "-" ? null : Number(deleted) }
    if (path === "") {
      counts.set(fields[index + 2] ?? "", count)
      index += 3
    } else {
      counts.set(path, count)
      index += 1
    }
  }
  return counts
}
