/**
 * Repo jobs end to end (DESIGN.md "Repo jobs"), against git repositories
 * made here, the real `agnt`, the real server and a real `agnt-executor`
 * running a command agent in its sandbox: `agnt order --repo` sends the
 * tracked files at HEAD (no ignored or untracked file), the workspace is a
 * git repository with the buyer's exact tree, the runtime returns the
 * agent's commits and uncommitted changes as `changes.patch` and
 * `changes.json`, and `agnt result --apply` makes a branch with exactly
 * those changes without touching the buyer's branch or working tree — or
 * refuses (base commit missing, conflicting patch) leaving the repository
 * as it was; `--push` reaches a bare remote; `--include-changes` sends the
 * working tree's changes; `agnt order --from` hands one job's outcome to
 * the next.
 */
import type { JobId } from "@agnt/domain/Ids"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { inject } from "vitest"
import { serverUrl, temporaryDirectory, TestServerLive } from "../packages/server/src/Testing.js"
import { commandAgent, jobWhen } from "./Executors.js"
import { binPath, run } from "./Processes.js"

const TestLive = TestServerLive(inject("pgAdminUrl")).pipe(
  Layer.provideMerge(Layer.mergeAll(FetchHttpClient.layer, NodeContext.layer))
)

/** `git args…` in `cwd` with a fixed identity; its output without the final line break. */
const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.sync(() =>
    NodeChildProcess.execFileSync("git", [...args], {
      cwd,
      encoding: "utf8",
      env: {
        ...process.env,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_AUTHOR_NAME: "Buyer",
        GIT_AUTHOR_EMAIL: "buyer@example.com",
        GIT_COMMITTER_NAME: "Buyer",
        GIT_COMMITTER_EMAIL: "buyer@example.com"
      }
    }).replace(/\n$/, "")
  )

const write = (dir: string, path: string, content: string | Uint8Array) =>
  Effect.promise(async () => {
    await NodeFs.mkdir(NodePath.dirname(NodePath.join(dir, path)), { recursive: true })
    await NodeFs.writeFile(NodePath.join(dir, path), content)
  })

/** The rename's file: long enough that git pairs its old and new path. */
const renamedText = Array.from({ length: 40 }, (_, i) => `line ${i} of the file that moves\n`).join("")

/**
 * A buyer's repository: a text file to edit, one to delete, one to rename,
 * a binary file, an executable script, a symbolic link, a `.gitignore`d
 * log and an untracked `.env`; committed on `main`.
 */
const buyerRepo = Effect.gen(function*() {
  const dir = yield* temporaryDirectory("agnt-repo-")
  yield* git(dir, "init", "-q", "--initial-branch=main")
  yield* write(dir, "edit.txt", "first line\n")
  yield* write(dir, "delete.txt", "to be deleted\n")
  yield* write(dir, "docs/rename-me.txt", renamedText)
  yield* write(dir, "image.bin", new Uint8Array([0, 1, 2, 3, 255, 254, 0, 10]))
  yield* write(dir, "run.sh", "#!/bin/sh\necho run\n")
  yield* Effect.promise(() => NodeFs.chmod(NodePath.join(dir, "run.sh"), 0o755))
  yield* Effect.promise(() => NodeFs.symlink("edit.txt", NodePath.join(dir, "link.txt")))
  yield* write(dir, ".gitignore", "*.log\n")
  yield* git(dir, "add", "-A")
  yield* git(dir, "commit", "-q", "-m", "Initial")
  yield* write(dir, "secret.log", "ignored\n")
  yield* write(dir, ".env", "TOKEN=untracked\n")
  return dir
})

/**
 * The agent: by its prompt (on stdin), edits, adds, deletes, renames a
 * file and changes a binary one with a commit of its own in between
 * ("change"); writes `notes.txt` ("write"); appends to it ("append");
 * appends the workspace's `edit.txt` to a result ("echo"); or, as a
 * hostile program would, leaves hooks, an fsmonitor, a filter driver, an
 * external diff and an alternate object store in its `.git` that would each
 * create a file in `dir` (read-only in the sandbox) if the runtime ran them
 * ("hostile"); or does nothing.
 */
const agentScript = (dir = "/nonexistent") =>
  `set -e
prompt=$(cat)
commit() { git -c user.name=Agent -c user.email=agent@example.com commit -q "$@"; }
case "$prompt" in
  change)
    printf 'second line\\n' >> edit.txt
    git add edit.txt
    commit -m "Edit edit.txt"
    printf 'a new file\\n' > added.txt
    rm delete.txt
    mv docs/rename-me.txt docs/renamed.txt
    printf '\\000\\377\\001binary' > image.bin
    ;;
  write) printf 'from A\\n' > notes.txt ;;
  append) printf 'from B\\n' >> notes.txt ;;
  echo) cat edit.txt > "$AGNT_OUT_DIR/seen.txt" ;;
  hostile)
    mkdir -p .git/hooks
    for hook in pre-commit post-commit post-checkout pre-auto-gc post-index-change reference-transaction; do
      printf '#!/bin/sh\ntouch ${dir}/ran-hook-%s\n' "$hook" > .git/hooks/$hook
      chmod +x .git/hooks/$hook
    done
    git config core.fsmonitor "touch ${dir}/ran-fsmonitor"
    git config filter.evil.clean "touch ${dir}/ran-filter; cat"
    git config filter.evil.required true
    git config diff.external "touch ${dir}/ran-diff"
    git config core.hooksPath .git/hooks
    printf '* filter=evil\n' > .git/info/attributes
    printf '* filter=evil\n' > .gitattributes
    printf '/etc\n' > .git/objects/info/alternates
    printf 'changed by a hostile agent\n' > edit.txt
    ;;
esac`

/** Run the real `agnt` in `cwd`; its exit code and parsed stdout (or stderr when it failed). */
const agnt = (env: NodeJS.ProcessEnv, cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.map(run(binPath("cli", "agnt.js"), args, { cwd, env }), (finished) => ({
    code: finished.code,
    out: finished.code === 0 ? JSON.parse(finished.stdout) : JSON.parse(finished.stderr || "{}"),
    stderr: finished.stderr
  }))

/** The agent, the environment `agnt` runs with, and a started executor. */
const setUp = Effect.gen(function*() {
  const url = yield* serverUrl
  const agent = yield* commandAgent("repo-agent", (dir) => agentScript(dir), {}, { sandboxed: true })
  yield* agent.start()
  const env = { ...process.env, AGNT_API_URL: url, AGNT_API_KEY: agent.buyerKey, XDG_CONFIG_HOME: NodePath.join(agent.dir, "buyer") }
  return { agent, env }
})

/** What `git status`, `HEAD` and the branch list say: equal before and after means the repository was untouched. */
const snapshot = (dir: string) =>
  Effect.all([
    git(dir, "status", "--porcelain", "--ignored"),
    git(dir, "rev-parse", "HEAD"),
    git(dir, "for-each-ref", "--format=%(refname) %(objectname)"),
    git(dir, "worktree", "list", "--porcelain")
  ])

layer(TestLive, { timeout: 300_000, excludeTestServices: true })("repo jobs", (it) => {
  it.scoped("order --repo, the agent's changes as a patch, --apply makes a branch with exactly them; refusals leave the repo as it was", () =>
    Effect.gen(function*() {
      const { agent, env } = yield* setUp
      const repo = yield* buyerRepo
      const before = yield* snapshot(repo)

      const ordered = yield* agnt(env, repo, "order", agent.agentId, "--repo", "--prompt", "change", "--wait")
      expect(ordered.code, ordered.stderr).toBe(0)
      const job = ordered.out
      expect(job.status).toBe("completed")
      expect(job.repo).toMatchObject({
        base_commit: yield* git(repo, "rev-parse", "HEAD"),
        tree: yield* git(repo, "rev-parse", "HEAD^{tree}"),
        branch: "main",
        modes: { "run.sh": "100755", "link.txt": "120000" }
      })
      // Tracked files only: no .env, no ignored log, nothing of .git.
      expect(job.input_files.map((file: { path: string }) => file.path)).toEqual(
        [".gitignore", "delete.txt", "docs/rename-me.txt", "edit.txt", "image.bin", "link.txt", "run.sh"]
      )

      const result = yield* agnt(env, repo, "result", job.job_id)
      expect(result.out.files.map((file: { path: string }) => file.path).sort()).toEqual(["changes.json", "changes.patch"])
      const saved = yield* agnt(env, repo, "result", job.job_id, "--out", NodePath.join(agent.dir, "results"))
      expect(saved.code).toBe(0)
      const summary = JSON.parse(yield* Effect.promise(() => NodeFs.readFile(NodePath.join(agent.dir, "results", "changes.json"), "utf8")))
      expect(summary).toMatchObject({ changed: true, commits: 2, base_tree: job.repo.tree })
      expect(summary.files.map((file: { path: string; status: string }) => [file.status, file.path]).sort()).toEqual([
        ["added", "added.txt"],
        ["deleted", "delete.txt"],
        ["modified", "edit.txt"],
        ["modified", "image.bin"],
        ["renamed", "docs/renamed.txt"]
      ])
      expect(summary.files.find((file: { path: string }) => file.path === "image.bin")).toMatchObject({ binary: true, insertions: null })

      // The same changes made here, for the tree the branch must have.
      const expectedDir = NodePath.join(agent.dir, "expected")
      yield* git(repo, "worktree", "add", "-q", "--detach", expectedDir, "HEAD")
      yield* Effect.sync(() => NodeChildProcess.execFileSync("sh", ["-c", agentScript()], { cwd: expectedDir, input: "change" }))
      yield* git(expectedDir, "add", "-A")
      const expectedTree = yield* git(expectedDir, "write-tree")
      yield* git(repo, "worktree", "remove", "--force", expectedDir)

      const applied = yield* agnt(env, repo, "result", job.job_id, "--apply")
      expect(applied.code, applied.stderr).toBe(0)
      expect(applied.out).toMatchObject({ branch: `agnt/${job.job_id}`, changed: true, base_commit: job.repo.base_commit })
      expect(yield* git(repo, "rev-parse", `agnt/${job.job_id}^{tree}`)).toBe(expectedTree)
      const log = yield* git(repo, "log", "--format=%s%n%b--", `${job.repo.base_commit}..agnt/${job.job_id}`)
      expect(log).toContain("Edit edit.txt")
      expect(log).toContain(`Test repo-agent: changes of job ${job.job_id}`)
      expect(log.match(new RegExp(`Agnt-Job: ${job.job_id}`, "g"))?.length).toBe(2)
      const afterApply = yield* snapshot(repo)
      expect([afterApply[0], afterApply[1], afterApply[3]]).toEqual([before[0], before[1], before[3]])

      // A branch that moved on with a conflicting edit: refused, naming the file, nothing changed.
      yield* git(repo, "branch", "feature", "HEAD")
      yield* git(repo, "worktree", "add", "-q", expectedDir, "feature")
      yield* write(expectedDir, "edit.txt", "a conflicting first line\n")
      yield* git(expectedDir, "commit", "-q", "-am", "Conflicting edit")
      yield* git(repo, "worktree", "remove", "--force", expectedDir)
      const beforeConflict = yield* snapshot(repo)
      const conflict = yield* agnt(env, repo, "result", job.job_id, "--apply", "--branch", "feature")
      expect(conflict.code).toBe(11)
      expect(conflict.out).toMatchObject({ _tag: "RepoRefused", reason: "patch_does_not_apply", files: ["edit.txt"] })
      expect(yield* snapshot(repo)).toEqual(beforeConflict)

      // A repository without the base commit.
      const stranger = yield* temporaryDirectory("agnt-stranger-")
      yield* git(stranger, "init", "-q")
      yield* write(stranger, "other.txt", "other\n")
      yield* git(stranger, "add", "-A")
      yield* git(stranger, "commit", "-q", "-m", "Other")
      const strangerBefore = yield* snapshot(stranger)
      const missing = yield* agnt(env, stranger, "result", job.job_id, "--apply")
      expect(missing.code).toBe(11)
      expect(missing.out).toMatchObject({ _tag: "RepoRefused", reason: "base_commit_missing" })
      expect(yield* snapshot(stranger)).toEqual(strangerBefore)

      // --push to a bare remote.
      const remote = NodePath.join(yield* temporaryDirectory("agnt-remote-"), "origin.git")
      yield* git(repo, "init", "-q", "--bare", remote)
      yield* git(repo, "remote", "add", "origin", remote)
      const pushed = yield* agnt(env, repo, "result", job.job_id, "--apply", "--branch", "pushed", "--push")
      expect(pushed.code, pushed.stderr).toBe(0)
      expect(pushed.out).toMatchObject({ branch: "pushed", pushed: true })
      expect(yield* git(remote, "rev-parse", "refs/heads/pushed")).toBe(pushed.out.commit)

      // A job that changes nothing says so and has no patch.
      const idle = yield* agnt(env, repo, "order", agent.agentId, "--repo", repo, "--prompt", "nothing", "--wait")
      expect(idle.out.status).toBe("completed")
      const idleResult = yield* agnt(env, repo, "result", idle.out.job_id)
      expect(idleResult.out.files.map((file: { path: string }) => file.path)).toEqual(["changes.json"])
      const events = yield* agnt(env, repo, "status", idle.out.job_id)
      expect(events.code).toBe(0)
      const idleApplied = yield* agnt(env, repo, "result", idle.out.job_id, "--apply")
      expect(idleApplied.out).toMatchObject({ changed: false, commit: idle.out.repo.base_commit })
    }))

  it.scoped("--include-changes sends the working tree's changes to tracked files, and --apply starts from them", () =>
    Effect.gen(function*() {
      const { agent, env } = yield* setUp
      const repo = yield* buyerRepo
      yield* write(repo, "edit.txt", "first line\nuncommitted line\n")
      const ordered = yield* agnt(env, repo, "order", agent.agentId, "--repo", ".", "--include-changes", "--prompt", "echo", "--wait")
      expect(ordered.code, ordered.stderr).toBe(0)
      const job = ordered.out
      expect(job.repo.base_commit).toBe(yield* git(repo, "rev-parse", "HEAD"))
      expect(job.repo.tree).not.toBe(yield* git(repo, "rev-parse", "HEAD^{tree}"))
      expect(job.input_files.map((file: { path: string }) => file.path)).not.toContain(".env")
      const out = NodePath.join(agent.dir, "echo")
      yield* agnt(env, repo, "result", job.job_id, "--out", out)
      expect(yield* Effect.promise(() => NodeFs.readFile(NodePath.join(out, "seen.txt"), "utf8"))).toBe("first line\nuncommitted line\n")
      const applied = yield* agnt(env, repo, "result", job.job_id, "--apply")
      expect(applied.code, applied.stderr).toBe(0)
      expect(yield* git(repo, "rev-parse", `agnt/${job.job_id}^{tree}`)).toBe(job.repo.tree)
      expect((yield* git(repo, "status", "--porcelain")).split("\n")).toEqual([" M edit.txt", "?? .env"])
    }))

  it.scoped("what a hostile program leaves in .git (hooks, fsmonitor, filters, external diff, alternates) never runs outside its sandbox; input files inside .git fail the job", () =>
    Effect.gen(function*() {
      const { agent, env } = yield* setUp
      const repo = yield* buyerRepo
      const ordered = yield* agnt(env, repo, "order", agent.agentId, "--repo", "--prompt", "hostile", "--wait")
      expect(ordered.code, ordered.stderr).toBe(0)
      const applied = yield* agnt(env, repo, "result", ordered.out.job_id, "--apply")
      expect(applied.code, applied.stderr).toBe(0)
      expect(yield* git(repo, "show", `agnt/${ordered.out.job_id}:edit.txt`)).toBe("changed by a hostile agent")
      expect(yield* git(repo, "show", `agnt/${ordered.out.job_id}:.gitattributes`)).toBe("* filter=evil")
      const left = yield* Effect.promise(() => NodeFs.readdir(agent.dir))
      expect(left.filter((name) => name.startsWith("ran-"))).toEqual([])

      // A buyer's client that sends files inside .git with a repo: the job fails before any git runs on them.
      const form = new FormData()
      form.append("agent_id", agent.agentId)
      form.append("prompt", "nothing")
      form.append("repo", JSON.stringify({ base_commit: "a".repeat(40), tree: "b".repeat(40), branch: null }))
      form.append("files", new Blob([`[core]\n\tfsmonitor = touch ${agent.dir}/ran-buyer-config\n`]), ".git/config")
      const sneaky = yield* agent.client.jobs.create({ headers: {}, payload: form })
      const ended = yield* jobWhen(
        agent.client,
        sneaky.job_id,
        (job) => job.status === "failed" || job.status === "completed",
        "60 seconds",
        "ended"
      )
      expect([ended.status, ended.failure_reason]).toEqual([
        "failed",
        "repo: the input file .git/config is inside .git, which no git tree holds"
      ])
    }))

  it.scoped("order --from hands a repo job's outcome to the next job, whose patch applies on top; --parent lists the child", () =>
    Effect.gen(function*() {
      const { agent, env } = yield* setUp
      const repo = yield* buyerRepo
      const first = yield* agnt(env, repo, "order", agent.agentId, "--repo", "--prompt", "write", "--wait")
      expect(first.code, first.stderr).toBe(0)
      const second = yield* agnt(env, repo, "order", agent.agentId, "--from", first.out.job_id, "--prompt", "append", "--wait")
      expect(second.code, second.stderr).toBe(0)
      expect(second.out.parent_job_id).toBe(first.out.job_id)
      const children = yield* agnt(env, repo, "jobs", "--parent", first.out.job_id)
      expect(children.out.data.map((job: { job_id: JobId }) => job.job_id)).toEqual([second.out.job_id])
      const applied = yield* agnt(env, repo, "result", second.out.job_id, "--apply")
      expect(applied.code, applied.stderr).toBe(0)
      expect(yield* git(repo, "show", `agnt/${second.out.job_id}:notes.txt`)).toBe("from A\nfrom B")
      const log = yield* git(repo, "log", "--format=%b", `${first.out.repo.base_commit}..agnt/${second.out.job_id}`)
      expect(log).toContain(`Agnt-Job: ${first.out.job_id}`)
      expect(log).toContain(`Agnt-Job: ${second.out.job_id}`)
    }))
})
