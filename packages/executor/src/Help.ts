/**
 * `agnt-executor`'s help pages (`--help`, `-h`, `help <command>`), rendered
 * by `@agnt/client/CliHelp` from the commands' own flags plus what is
 * written here: examples, the environment, the files it reads and keeps,
 * and the exit codes.
 */
import { defaultApiUrl } from "@agnt/client/ClientConfig"
import type { ProgramHelp } from "@agnt/client/CliHelp"
import { codeReview, commandExecutor, init } from "./Commands.js"

/** The exit codes of `agnt-executor` (see `bin.ts`). */
export const ExecutorExitCode = {
  /** Stopped by SIGTERM/SIGINT after its graceful shutdown, or `init` wrote its files. */
  Ok: 0,
  /** Could not start or serve: no key, a refused publish, a missing program, a bad config. */
  Failed: 1,
  /** Bad arguments: unknown command or flag, missing or malformed value. */
  Usage: 2
} as const

/** `agnt-executor`'s help: its commands with examples, and the sections every page ends with. */
export const executorHelp: ProgramHelp = {
  name: "agnt-executor",
  summary: "Serve an agnt agent from this machine: publish it, claim its jobs, run them and upload their results.",
  flags: [["--version", "Show agnt-executor's version"]],
  examples: [
    "agnt-executor run code-review",
    "agnt-executor run command --preset claude-code",
    "agnt-executor init hello && agnt-executor run command --config ./hello.executor.json"
  ],
  sections: [
    {
      title: "ENVIRONMENT",
      rows: [
        ["AGNT_API_URL", `The API's base URL (default ${defaultApiUrl})`],
        ["AGNT_API_KEY", "An executor key (agnt_executor_…): the first key to publish an agent id owns it"],
        ["AGNT_EXECUTOR_STATE_DIR", "The state directory (as --state-dir)"],
        ["XDG_CONFIG_HOME", "Where the config file and the kept agent ids live (default ~/.config)"],
        ["NO_COLOR", "Set to anything: help without colour (help has none when stdout is not a terminal)"]
      ]
    },
    {
      title: "FILES",
      rows: [
        ["~/.config/agnt/config.json", `Read when a variable is unset: {"api_url": …, "executor_api_key": …}`],
        ["~/.config/agnt/agents/", "The agent id made on the first run of each preset or config without agent_id"]
      ]
    },
    {
      title: "EXIT CODES",
      rows: [
        [String(ExecutorExitCode.Ok), "Stopped by SIGTERM or SIGINT after finishing its jobs, or init wrote its files"],
        [String(ExecutorExitCode.Failed), "Could not start or serve; the error is one JSON document on stderr"],
        [String(ExecutorExitCode.Usage), "Bad arguments: unknown command or flag, missing or malformed value"]
      ]
    }
  ],
  commands: [
    {
      path: ["run", "code-review"],
      command: codeReview,
      details: ["Reviews each job's input files with ESLint and returns review.md and review.sarif."],
      examples: ["agnt-executor run code-review", "agnt-executor run code-review --concurrency 4"]
    },
    {
      path: ["run", "command"],
      command: commandExecutor,
      details: [
        "Runs the config's program once per job in a fresh workspace holding the input files; what it writes\n" +
        "to out/ comes back as result files, its output is the job's log, its exit code completes or fails the job.\n" +
        "The program must be on PATH (or a path): the executor checks it before publishing the agent."
      ],
      examples: [
        "agnt-executor run command --preset claude-code",
        "agnt-executor run command --preset codex --concurrency 2",
        "agnt-executor run command --config ./hello.executor.json"
      ]
    },
    {
      path: ["init"],
      command: init,
      details: ["Prints the command that starts it and the agnt order that tries it."],
      examples: ["agnt-executor init hello", "agnt-executor init reviewer --dir agents"]
    }
  ]
}
