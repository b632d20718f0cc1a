/**
 * `agnt-executor init <name> [--repo]`: a working command executor to start
 * from — `<name>.executor.json` (a `CommandConfig` with a fresh agent id)
 * and `<name>.sh`, a tiny program that reads the job's prompt from stdin and
 * writes `out/result.md`, or with `--repo` a program for repo jobs (`agnt
 * order --repo`) that edits the buyer's repository in place and commits —
 * plus the exact command that starts it.
 */
import { AgentId } from "@agnt/domain/Ids"
import { Data, Effect, Schema } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { typeid } from "typeid-js"

/** `init` could not write the files; `message` says why. */
export class InitError extends Data.TaggedError("InitError")<{ readonly message: string }> {}

/** What `init` wrote, and how to start it. */
export interface InitResult {
  readonly agentId: AgentId
  /** Absolute path of `<name>.executor.json`. */
  readonly configPath: string
  /** Absolute path of `<name>.sh`. */
  readonly programPath: string
  /** The command that starts the executor (the config names its agent), paths relative to the working directory `init` ran in. */
  readonly startCommand: string
}

/** Names `init` takes: they become file names and the agent's tag. */
const namePattern = /^[a-z0-9][a-z0-9-]{0,39}$/

/** A fresh agent id: a TypeID with prefix `agent`. */
export const makeAgentId = (): AgentId => Schema.decodeSync(AgentId)(typeid("agent").toString())

/** `value` quoted for a POSIX shell when it needs it. */
const shellQuote = (value: string): string => /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`

/** The command config `init` writes for `name` (with `repo`, for the repo-job program). */
export const initConfig = (name: string, agentId: AgentId, repo = false) => ({
  agent_id: agentId,
  name,
  description: repo
    ? `${name}: for repo jobs (agnt order --repo): notes the prompt in AGNT_NOTES.md and commits; the buyer gets the change as a patch. Edit ${name}.sh to do real work.`
    : `${name}: reads the prompt and writes it back as result.md, with the list of input files. Edit ${name}.sh to do real work.`,
  tags: [name],
  input_schema: { type: "object" },
  pricing: { model: "free" },
  program: `./${name}.sh`,
  args: [],
  prompt_via: "stdin",
  timeout_seconds: 600,
  kill_grace_seconds: 10
})

/** The program `init --repo` writes for `name`: POSIX sh and git; edits the repository it runs in and commits. */
export const initRepoProgram = (name: string): string =>
  `#!/bin/sh
# ${name}: an agnt command executor program for repo jobs (agnt order --repo).
# - The working directory is a git repository holding the buyer's tree at the
#   commit they sent. Edit the files in place; you may commit (commits are kept).
# - After this program exits 0, the executor returns everything it changed,
#   committed or not, as changes.patch and changes.json; the buyer turns it
#   into a branch with: agnt result <job-id> --apply
# - The job's prompt arrives on stdin; each line of output is a log line.
set -eu

prompt=$(cat)
echo "${name}: working on $(git rev-parse --short HEAD) ($(git ls-files | wc -l) tracked files)"

printf -- '- %s\\n' "$prompt" >> AGNT_NOTES.md
git add AGNT_NOTES.md
git -c user.name='${name}' -c user.email='${name}@agnt.invalid' commit -q -m "${name}: note the request"

echo "${name}: committed AGNT_NOTES.md"
`

/** The program `init` writes for `name`: POSIX sh, no dependencies. */
export const initProgram = (name: string): string =>
  `#!/bin/sh
# ${name}: an agnt command executor program (see ${name}.executor.json).
# - The job's prompt arrives on stdin (prompt_via "stdin"); params are JSON in $AGNT_PARAMS.
# - The working directory holds the job's input files; every file written
#   under ./out becomes a result file.
# - Each line printed to stdout or stderr becomes a line of the job's log.
# - Exit 0 completes the job; any other exit code fails it with the last lines of output.
set -eu

prompt=$(cat)
echo "${name}: got a prompt of \${#prompt} characters; params: \${AGNT_PARAMS-}"

mkdir -p out
{
  printf '# %s\\n\\n' "${name}"
  printf '## Prompt\\n\\n%s\\n\\n' "$prompt"
  printf '## Input files\\n\\n'
  find . -path ./out -prune -o -type f -print | sed 's|^\\./|- |'
} > out/result.md

echo "${name}: wrote out/result.md"
`

/**
 * Write `<dir>/<name>.executor.json` and `<dir>/<name>.sh` (executable;
 * with `options.repo` the repo-job program) with a fresh agent id; existing files are never overwritten. `cwd` is
 * where the printed start command is meant to run.
 */
export const initExecutor = (
  name: string,
  dir: string,
  cwd: string,
  options: { readonly repo?: boolean } = {}
): Effect.Effect<InitResult, InitError> =>
  Effect.gen(function*() {
    if (!namePattern.test(name)) {
      return yield* new InitError({
        message: `invalid name ${JSON.stringify(name)}: use 1–40 of a-z, 0-9 and -, starting with a letter or digit`
      })
    }
    const agentId = makeAgentId()
    const target = NodePath.resolve(cwd, dir)
    const configPath = NodePath.join(target, `${name}.executor.json`)
    const programPath = NodePath.join(target, `${name}.sh`)
    yield* Effect.tryPromise({
      try: async () => {
        for (const path of [configPath, programPath]) {
          const exists = await NodeFs.access(path).then(() => true, () => false)
          if (exists) throw new Error(`${path} exists; pick another name or directory`)
        }
        await NodeFs.mkdir(target, { recursive: true })
        // "wx": fail rather than overwrite someone's work.
        await NodeFs.writeFile(configPath, `${JSON.stringify(initConfig(name, agentId, options.repo === true), null, 2)}\n`, { flag: "wx" })
        const program = options.repo === true ? initRepoProgram(name) : initProgram(name)
        await NodeFs.writeFile(programPath, program, { flag: "wx", mode: 0o755 })
      },
      catch: (cause) =>
        new InitError({ message: `cannot write the executor files: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
    const relative = NodePath.relative(cwd, configPath)
    const shown = relative.startsWith("..") || NodePath.isAbsolute(relative) ? configPath : `./${relative}`
    return {
      agentId,
      configPath,
      programPath,
      startCommand: `npx agnt-executor run command --config ${shellQuote(shown)}`
    }
  })
