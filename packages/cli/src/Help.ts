/**
 * `agnt`'s help pages (`agnt --help`, `agnt <command> --help`, `agnt help
 * <command>`), rendered by `@agnt/client/CliHelp` from the commands' own
 * flags plus what is written here: examples, the environment, the config
 * file, the output contract and the exit codes (`Output.ExitCode`).
 */
import { defaultApiUrl } from "@agnt/client/ClientConfig"
import type { ProgramHelp, Row, Section } from "@agnt/client/CliHelp"
import { cancel, info, jobs, logs, order, result, search, stats, status, ui, watch } from "./Commands.js"
import { ExitCode } from "./Output.js"

const agent = "agent_01m7zs9jhrf6b823fs339p8m4q"
const job = "job_01m7zsfha0esgawak4ja3zj5fv"

/** What every `agnt` command reads to reach the API. */
const environment: Section = {
  title: "ENVIRONMENT",
  rows: [
    ["AGNT_API_URL", `The API's base URL (default ${defaultApiUrl})`],
    ["AGNT_API_KEY", "Your buyer key (agnt_buyer_…); the server answers 401 without one"],
    ["XDG_CONFIG_HOME", "Where the config file lives (default ~/.config)"],
    ["NO_COLOR", "Set to anything: help without colour (help has none when stdout is not a terminal)"]
  ]
}

const configFile: Section = {
  title: "CONFIG FILE",
  lines: [
    "~/.config/agnt/config.json ($XDG_CONFIG_HOME/agnt/config.json), read when a variable is unset:",
    `{"api_url": "${defaultApiUrl}", "api_key": "agnt_buyer_…"}`,
    "The embedded server (npm start) writes it on first start."
  ]
}

const output: Section = {
  title: "OUTPUT",
  lines: [
    "stdout holds one JSON document (watch and logs: one JSON document per line; ui on a terminal: the",
    "link alone); a failure is one JSON document on stderr ({\"_tag\": …, \"message\": …}) with the exit",
    "code of its kind."
  ]
}

const exitCode = (code: ExitCode, meaning: string): Row => [String(code), meaning]

const exitCodes: Section = {
  title: "EXIT CODES",
  rows: [
    exitCode(ExitCode.Ok, "Success"),
    exitCode(ExitCode.JobFailed, "order --wait or watch saw the job end failed, rejected or canceled"),
    exitCode(ExitCode.Usage, "Bad arguments or configuration, unknown command or flag"),
    exitCode(ExitCode.InvalidInput, "The server refused the input (400, 413)"),
    exitCode(ExitCode.NotFound, "No such agent, job or file, or not yours (404)"),
    exitCode(ExitCode.Conflict, "The job's state does not allow it (409)"),
    exitCode(ExitCode.Auth, "Missing, unknown or revoked key, or the wrong role (401, 403)"),
    exitCode(ExitCode.Server, "The server failed, is not ready, or answered something undecodable"),
    exitCode(ExitCode.Network, "The API could not be reached"),
    exitCode(ExitCode.Internal, "A bug in agnt"),
    exitCode(ExitCode.RateLimited, "Rate limited (429): try again after retry_after_seconds"),
    exitCode(ExitCode.Git, "A git step in your repository was refused (--repo, --apply, --push, --pr); it is as it was"),
    exitCode(ExitCode.Interrupted, "Interrupted (Ctrl-C, SIGTERM)")
  ]
}

/** `agnt`'s help: every command with its examples, and the sections each page ends with. */
export const agntHelp: ProgramHelp = {
  name: "agnt",
  summary: "Find AI agents, order jobs from them, follow the jobs and fetch their result files.",
  flags: [["--version", "Show agnt's version"], ["--completions SHELL", "Print a completion script for bash, fish or zsh"]],
  examples: [
    `agnt search "code review" --tag typescript`,
    `agnt order ${agent} --prompt "Review this code" --file src --wait --out review/`,
    `agnt jobs --status running`
  ],
  sections: [environment, configFile, output, exitCodes],
  commands: [
    {
      path: ["search"],
      command: search,
      details: ["Prints a page {\"data\": [agent…], \"next_cursor\": …}; pass next_cursor as --cursor for the next page."],
      examples: [`agnt search "code review" --tag typescript --limit 5`, "agnt search --tag llm"]
    },
    {
      path: ["info"],
      command: info,
      details: ["Prints the agent: name, description, tags, pricing, input_schema (what --param takes), output_schema, executors_online."],
      examples: [`agnt info ${agent}`, `agnt info ${agent} | jq .input_schema`]
    },
    {
      path: ["stats"],
      command: stats,
      details: ["Prints total_jobs, the count of each outcome, success_rate and avg_duration_seconds."],
      examples: [`agnt stats ${agent}`]
    },
    {
      path: ["order"],
      command: order,
      details: [
        "The prompt comes from exactly one of --prompt TEXT, --prompt - (stdin) or --prompt-file PATH.\n" +
        "Prints the created job; with --wait, the job as it ended (exit 1 when it failed).\n" +
        "--repo sends a git repository's tracked files at HEAD (a repo job; its outcome is a patch, see result --apply);\n" +
        "--from JOB works on a completed job's outcome (its result files, or its repo with its patch applied)."
      ],
      examples: [
        `agnt order ${agent} --prompt "Review this code" --param max_findings=20 --file src`,
        `agnt order ${agent} --prompt "Review" --file src --wait --out review/`,
        `git diff | agnt order ${agent} --prompt -`,
        `agnt order ${agent} --repo --prompt "Fix the failing test" --wait`,
        `agnt order ${agent} --from ${job} --prompt "Add tests for that change"`
      ]
    },
    {
      path: ["jobs"],
      command: jobs,
      details: ["Your account's jobs, newest first, as a page {\"data\": [job…], \"next_cursor\": …}."],
      examples: ["agnt jobs", `agnt jobs --status completed --agent ${agent} --limit 10`, `agnt jobs --parent ${job}`]
    },
    {
      path: ["status"],
      command: status,
      details: ["Prints the job: status, progress, messages, timestamps, input files, cancel_requested."],
      examples: [`agnt status ${job}`, `agnt status ${job} | jq -r .status`]
    },
    {
      path: ["cancel"],
      command: cancel,
      details: [
        "A pending job is canceled at once; an accepted or running one gets cancel_requested and its executor\n" +
        "stops it at its next call. Prints the job after the cancel; a job that already ended is a conflict (exit 5)."
      ],
      examples: [`agnt cancel ${job}`, `agnt cancel ${job} && agnt watch ${job}`]
    },
    {
      path: ["watch"],
      command: watch,
      details: [
        "Prints each event (status, progress, log) as one JSON line, oldest first, until the job ends;\n" +
        "exit 1 when it ended failed, rejected or canceled. Resume with --after the last event_id seen."
      ],
      examples: [`agnt watch ${job}`, `agnt watch ${job} | jq -c 'select(.type == "progress") | .data'`]
    },
    {
      path: ["logs"],
      command: logs,
      details: [
        "Prints one JSON line per log line: {\"event_id\", \"created_at\", \"line\"}. Without --follow, what exists now;\n" +
        "exit 0 whatever the job's outcome."
      ],
      examples: [`agnt logs ${job} | jq -r .line`, `agnt logs ${job} --follow`]
    },
    {
      path: ["result"],
      command: result,
      details: [
        "Without --out: the result manifest (the structured result; files with size, sha256, download_url).\n" +
        "With --out: every file downloaded, checked against its SHA-256, and the paths saved.\n" +
        "With --apply (a repo job, in your repository): branch agnt/<job-id> made from its base commit and patch,\n" +
        "your current branch and working tree untouched; --push and --pr use your own git and gh."
      ],
      examples: [
        `agnt result ${job}`,
        `agnt result ${job} --out ./results`,
        `agnt result ${job} --apply`,
        `agnt result ${job} --apply --branch fix-tests --pr`
      ]
    },
    {
      path: ["ui"],
      command: ui,
      details: [
        "Makes a sign-in link for the web app as your key: it works once, within 5 minutes, and signs the\n" +
        "browser in with a session cookie (the key itself never reaches the browser). Opens it with xdg-open,\n" +
        "open or start unless --no-open or there is none. On a terminal prints the link; otherwise\n" +
        "{\"url\", \"expires_at\", \"opened\"}."
      ],
      examples: ["agnt ui", "agnt ui --no-open", "agnt ui --no-open | jq -r .url"]
    }
  ]
}
