/**
 * The sandbox every `command` job's program runs in (DESIGN.md "Sandbox"),
 * built from well-kept tools rather than home-made isolation:
 *
 * - **bubblewrap** (`bwrap`, Debian package `bubblewrap`) gives the program
 *   new user, PID, network, IPC, UTS and cgroup namespaces
 *   (`--unshare-all`) and a filesystem of its own: the system directories
 *   (`/usr`, `/bin`, `/lib*`, `/opt`, `/etc` without its secrets) read-only,
 *   the job's workspace, out dir, a fresh home and `/tmp` writable, and
 *   nothing else — no seller's home, no agnt config or state, no SSH or
 *   cloud credentials, no `/run` sockets. Its network namespace holds only
 *   loopback (`network: "none"`, the default); with an allow-list
 *   (`{ "allow": [...] }`) its HTTP clients reach the named hosts through
 *   the executor's egress proxy (`EgressProxy.ts`), whose socket it sees
 *   at `/run/agnt`, via the bridge on 127.0.0.1:3128 (`HTTPS_PROXY`). Its PID namespace ends with
 *   it: when the program ends, is canceled or times out, the kernel kills
 *   everything it started (`--die-with-parent` ties the sandbox to the
 *   executor too).
 * - **prlimit** (util-linux) sets its resource limits: data segment
 *   (`RLIMIT_DATA`, the memory a program allocates), processes
 *   (`RLIMIT_NPROC`), open files (`RLIMIT_NOFILE`), file size
 *   (`RLIMIT_FSIZE`), no core dumps. The runtime watches the total size of
 *   the job's writable directories itself (`workspaceUsage`).
 * - **setpriv** (util-linux): an executor running as root runs the program
 *   as `nobody` (uid 65534) with no capabilities, because root is exempt
 *   from `RLIMIT_NPROC` and owns the system's root-only files; the job's
 *   directories are handed to that user first. Files `read_only` shows must
 *   then be readable by `nobody` (better: run the executor as the user who
 *   owns the agent CLI's credentials).
 *
 * The program sees its paths inside the sandbox: the workspace at
 * `/job/workspace` (its working directory), the out dir at `/job/out`,
 * `HOME` at `/job/home`, `TMPDIR` at `/tmp`.
 */
import { Data, Effect, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeFsP from "node:fs/promises"
import * as NodePath from "node:path"
import { parseHostPattern } from "./EgressPolicy.js"
import { egressBridgePath } from "./EgressProxy.js"

/** A host an agent may reach through the egress proxy: `api.example.com`, or `*.example.com` for the names below it (`EgressPolicy.parseHostPattern`). */
export const DomainPattern = Schema.String.pipe(
  Schema.filter((entry) => {
    const parsed = parseHostPattern(entry)
    return "reason" in parsed ? parsed.reason : true
  })
)

/**
 * What the program may reach: `"none"` (the default; loopback inside its
 * own network namespace only), or `{ "allow": [domains] }`, reached
 * through the executor's filtering egress proxy.
 */
export const NetworkPolicy = Schema.Union(
  Schema.Literal("none"),
  Schema.Struct({ allow: Schema.Array(DomainPattern).pipe(Schema.minItems(1)) })
)
export type NetworkPolicy = typeof NetworkPolicy.Type

/** An environment variable's name. */
const EnvName = Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/))

/** A whole number at least 1. */
const PositiveInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))

/**
 * An agent's sandbox, as its command config states it (`sandbox`); every
 * field has a default, so `{}` is the default sandbox.
 */
export class SandboxSettings extends Schema.Class<SandboxSettings>("SandboxSettings")({
  /** What the program may reach on the network (`NetworkPolicy`). Default `"none"`. */
  network: Schema.optionalWith(NetworkPolicy, { default: () => "none" as const }),
  /**
   * Host paths the program may read, read-only, e.g. an agent CLI's
   * credentials: `~/…` is the executor's home, shown at the same place
   * under the program's home (`~/.claude` → `/job/home/.claude`); an
   * absolute path is shown where it is. A path that does not exist is
   * skipped. Default none.
   */
  read_only: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.minLength(1))), { default: () => [] }),
  /** Names of the executor's environment variables passed on to the program (e.g. `ANTHROPIC_API_KEY`). Default none. */
  pass_env: Schema.optionalWith(Schema.Array(EnvName), { default: () => [] }),
  /** Memory each of the program's processes may allocate, in MiB (`RLIMIT_DATA`, a per-process limit). Default 4096. */
  memory_mb: Schema.optionalWith(PositiveInt, { default: () => 4096 }),
  /** Processes and threads the sandbox's user may run at once (`RLIMIT_NPROC`). Default 512. */
  max_processes: Schema.optionalWith(PositiveInt, { default: () => 512 }),
  /** Files a process may hold open (`RLIMIT_NOFILE`). Default 1024. */
  max_open_files: Schema.optionalWith(PositiveInt, { default: () => 1024 }),
  /**
   * Largest file the program may write, in MiB (`RLIMIT_FSIZE`). Default 1024. A file of exactly this
   * size is allowed: the limit is set one byte above it, since the kernel refuses (SIGXFSZ) any write
   * that starts at the limit, even one that would copy nothing more (`cp` of a file of exactly the limit).
   */
  max_file_mb: Schema.optionalWith(PositiveInt, { default: () => 1024 }),
  /** Total size of the job's writable directories (workspace, out, home, `/tmp`), in MiB. Default 4096. */
  workspace_mb: Schema.optionalWith(PositiveInt, { default: () => 4096 })
}) {}

/** The sandbox cannot be used on this host; `message` says why and how to fix it, or to run with `--no-sandbox`. */
export class SandboxUnavailable extends Data.TaggedError("SandboxUnavailable")<{ readonly message: string }> {}

/** Where the program finds its directories inside the sandbox. */
export const inside = {
  workspace: "/job/workspace",
  out: "/job/out",
  home: "/job/home",
  tmp: "/tmp"
} as const

/** The tools the sandbox runs through, found on the executor's `PATH` (`probeSandbox`). */
export interface SandboxTools {
  readonly bwrap: string
  readonly prlimit: string
  /** Set when the executor runs as root: the sandbox then runs as `nobody`. */
  readonly setpriv: string | undefined
}

/** The user an executor running as root runs sandboxes as: `nobody`. */
export const sandboxUid = 65534

/** The job's host directories the sandbox shows writable. */
export interface SandboxMounts {
  readonly workspace: string
  readonly out: string
  readonly home: string
  readonly tmp: string
}

/** A host path shown in the sandbox at `inside`, writable or read-only. */
export interface Bind {
  readonly host: string
  readonly inside: string
  readonly writable: boolean
}

/** Root-only or secret files and folders of `/etc` hidden inside (shown as empty). */
const etcSecrets = [
  "/etc/shadow",
  "/etc/shadow-",
  "/etc/gshadow",
  "/etc/gshadow-",
  "/etc/sudoers",
  "/etc/sudoers.d",
  "/etc/ssh",
  "/etc/ssl/private",
  "/etc/security/opasswd",
  "/etc/agnt"
]

/** Read-only system directories, each shown as it is on the host (a symbolic link stays one: `/bin` → `usr/bin`). */
const systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/etc"]

const lstatOrUndefined = (path: string) => {
  try {
    return NodeFs.lstatSync(path)
  } catch {
    return undefined
  }
}

/** bwrap arguments showing the host's system directories read-only, with `/etc`'s secrets hidden. */
const systemMounts = (): Array<string> => {
  const args: Array<string> = []
  for (const dir of systemDirectories) {
    const stat = lstatOrUndefined(dir)
    if (stat === undefined) continue
    if (stat.isSymbolicLink()) args.push("--symlink", NodeFs.readlinkSync(dir), dir)
    else if (stat.isDirectory()) args.push("--ro-bind", dir, dir)
  }
  for (const secret of etcSecrets) {
    const stat = lstatOrUndefined(secret)
    if (stat === undefined) continue
    if (stat.isDirectory()) args.push("--tmpfs", secret)
    else args.push("--ro-bind", "/dev/null", secret)
  }
  return args
}

/** A `read_only` entry as a host path and where the program sees it (`~/x` under its home, else the same path). */
export const readOnlyMount = (entry: string, hostHome: string): { readonly host: string; readonly inside: string } => {
  if (entry === "~" || entry.startsWith("~/")) {
    const rest = entry.slice(2)
    return { host: NodePath.join(hostHome, rest), inside: NodePath.join(inside.home, rest) }
  }
  return { host: NodePath.resolve(entry), inside: NodePath.resolve(entry) }
}

/** Where a sandbox with an allow-list reaches the egress proxy: its socket, and the bridge's port on loopback. */
export const egressInside = { dir: "/run/agnt", socket: "/run/agnt/egress.sock", port: 3128 } as const

/**
 * What a sandbox with an allow-list adds: the folder of the proxy's socket
 * (`egressDir` on the host) at `egressInside.dir`, and Node and the bridge
 * script at their own paths, read-only, to run the bridge
 * (`EgressProxy.bridgeCommand`).
 */
export const egressBinds = (egressDir: string): Array<Bind> => [
  { host: egressDir, inside: egressInside.dir, writable: false },
  { host: process.execPath, inside: process.execPath, writable: false },
  { host: egressBridgePath, inside: egressBridgePath, writable: false }
]

/** The host paths the program can read: the system directories and `read_only`'s entries. */
export const visibleRoots = (settings: SandboxSettings, hostHome: string): Array<string> => [
  ...systemDirectories.filter((dir) => dir !== "/etc"),
  ...settings.read_only.map((entry) => readOnlyMount(entry, hostHome).host)
]

/**
 * What the sandbox shows of the host besides the system directories: the
 * job's writable directories, then `read_only`'s entries that exist.
 */
export const sandboxBinds = (settings: SandboxSettings, mounts: SandboxMounts, hostHome: string): Array<Bind> => [
  { host: mounts.tmp, inside: inside.tmp, writable: true },
  { host: mounts.home, inside: inside.home, writable: true },
  { host: mounts.workspace, inside: inside.workspace, writable: true },
  { host: mounts.out, inside: inside.out, writable: true },
  ...settings.read_only.map((entry) => ({ ...readOnlyMount(entry, hostHome), writable: false }))
    .filter((bind) => lstatOrUndefined(bind.host) !== undefined)
]

/** The folders above `path`, outermost first, without `/`. */
const ancestors = (path: string): Array<string> => {
  const found: Array<string> = []
  for (let dir = NodePath.dirname(path); dir !== "/" && dir !== "."; dir = NodePath.dirname(dir)) found.unshift(dir)
  return found
}

/**
 * bwrap arguments mounting `binds`, each after the folders above it. Those
 * are made explicitly, open to every user (an existing one is left as it
 * is): bwrap run by root would make them private to root, and a program
 * run as `nobody` could not reach what is mounted below them.
 */
const bindArgs = (binds: ReadonlyArray<Bind>): Array<string> => {
  const made = new Set<string>()
  return binds.flatMap((bind) => {
    const folders = ancestors(bind.inside).filter((dir) => !made.has(dir))
    for (const dir of folders) made.add(dir)
    made.add(bind.inside)
    return [
      ...folders.flatMap((dir) => ["--perms", "0755", "--dir", dir]),
      bind.writable ? "--bind" : "--ro-bind",
      bind.host,
      bind.inside
    ]
  })
}

/** The namespaces a sandbox gets besides the user namespace (every one bwrap makes). */
const namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]

/**
 * bwrap's isolation flags and what runs the program: as the executor's own
 * user in a new user namespace; or, when the executor runs as root, without
 * one (root sets up the mounts) and with the program started through
 * `setpriv` as `nobody` with no capabilities at all (bwrap keeps only
 * CAP_SETUID and CAP_SETGID for that step, and sets no_new_privs, so no
 * setuid program inside can regain any).
 */
const isolation = (tools: SandboxTools): { readonly flags: Array<string>; readonly runAs: Array<string> } =>
  tools.setpriv === undefined
    ? { flags: ["--unshare-user", ...namespaces], runAs: [] }
    : {
      flags: [...namespaces, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"],
      runAs: [
        tools.setpriv,
        `--reuid=${sandboxUid}`,
        `--regid=${sandboxUid}`,
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--"
      ]
    }

/**
 * The argument vector that runs `program args` in the sandbox: prlimit's
 * limits, then bwrap with the mounts of the module comment and `binds`,
 * then (as root) setpriv to `nobody`.
 */
export const sandboxArgv = (
  tools: SandboxTools,
  settings: SandboxSettings,
  binds: ReadonlyArray<Bind>,
  program: string,
  args: ReadonlyArray<string>
): Array<string> => {
  const mib = 1024 * 1024
  const { flags, runAs } = isolation(tools)
  return [
    tools.prlimit,
    `--data=${settings.memory_mb * mib}`,
    `--nproc=${settings.max_processes}`,
    `--nofile=${settings.max_open_files}`,
    `--fsize=${settings.max_file_mb * mib + 1}`,
    "--core=0",
    "--",
    tools.bwrap,
    ...flags,
    "--die-with-parent",
    "--new-session",
    "--hostname",
    "agnt-sandbox",
    ...systemMounts(),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    ...bindArgs(binds),
    "--chdir",
    inside.workspace,
    "--",
    ...runAs,
    program,
    ...args
  ]
}

/**
 * The first executable regular file `name` on `path` (a `PATH` value), as
 * an absolute path, or `undefined`; a name with `/` is taken as a path.
 */
export const findExecutable = (name: string, path: string | undefined): string | undefined => {
  const candidates = name.includes("/") ? [name] : (path ?? "").split(NodePath.delimiter).filter((dir) => dir !== "")
    .map((dir) => NodePath.join(dir, name))
  for (const candidate of candidates) {
    try {
      NodeFs.accessSync(candidate, NodeFs.constants.X_OK)
      if (NodeFs.statSync(candidate).isFile()) return NodePath.resolve(candidate)
    } catch {
      // not here
    }
  }
  return undefined
}

const isWithin = (path: string, root: string) => path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`)

/**
 * What the sandbox must add to show the program found at `found` (an
 * absolute path, `Setup.findProgram`): nothing when it lies (following
 * symbolic links) under the system directories or `read_only`; else that
 * one file, read-only at `found` — enough for a script or a single binary
 * (a program installed with its own folder of files in the seller's home,
 * as nvm does, needs that folder in `read_only`).
 */
export const programBinds = (found: string, settings: SandboxSettings, hostHome: string): Array<Bind> => {
  const real = (() => {
    try {
      return NodeFs.realpathSync(found)
    } catch {
      return found
    }
  })()
  const roots = visibleRoots(settings, hostHome)
  return roots.some((root) => isWithin(real, root) && isWithin(found, root))
    ? []
    : [{ host: real, inside: found, writable: false }]
}

/** Run `argv` to completion; yields its exit code and stderr. */
const runProbe = (argv: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number | null; readonly stderr: string }>((resume) => {
    const [command = "", ...rest] = argv
    const child = ChildProcess.spawn(command, rest, { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
    child.once("error", (error) => resume(Effect.succeed({ code: null, stderr: error.message })))
    child.once("close", (code) => resume(Effect.succeed({ code, stderr: stderr.trim() })))
  })

/** How to fix a host that cannot start the sandbox. */
const fixes = "Install bubblewrap and util-linux (Debian/Ubuntu: apt-get install bubblewrap util-linux) and allow " +
  "unprivileged user namespaces (Ubuntu 24.04: sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor " +
  "profile for bwrap; in Docker: --security-opt seccomp=unconfined or a profile allowing clone/unshare of user namespaces). " +
  "Or run with --no-sandbox: jobs then run unsandboxed, every job's log says so and the agent's manifest shows sandboxed: false."

/**
 * Find bwrap, prlimit and (as root) setpriv on the executor's `PATH` and
 * start a trivial sandbox with them, so that an executor that cannot
 * isolate its jobs refuses to start (fail closed) instead of finding out
 * on a buyer's job.
 *
 * @fails SandboxUnavailable saying what is missing or what bwrap said, and how to fix it.
 */
export const probeSandbox = (path: string | undefined, isRoot: boolean): Effect.Effect<SandboxTools, SandboxUnavailable> =>
  Effect.gen(function*() {
    const find = (name: string) => {
      const found = findExecutable(name, path)
      return found === undefined
        ? Effect.fail(new SandboxUnavailable({ message: `the sandbox needs ${name}, which is not on the PATH. ${fixes}` }))
        : Effect.succeed(found)
    }
    const tools: SandboxTools = {
      bwrap: yield* find("bwrap"),
      prlimit: yield* find("prlimit"),
      setpriv: isRoot ? yield* find("setpriv") : undefined
    }
    const { flags, runAs } = isolation(tools)
    const probe = yield* runProbe([
      tools.prlimit,
      "--nproc=64",
      "--",
      tools.bwrap,
      ...flags,
      "--die-with-parent",
      ...systemMounts(),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--",
      ...runAs,
      "true"
    ])
    if (probe.code !== 0) {
      return yield* new SandboxUnavailable({
        message: `bubblewrap cannot start a sandbox on this host${probe.stderr === "" ? "" : ` (${probe.stderr})`}. ${fixes}`
      })
    }
    return tools
  })

/**
 * The total size in bytes of the regular files under `dirs` (not following
 * symbolic links); an entry that vanishes while it is counted is skipped.
 */
export const workspaceUsage = async (dirs: ReadonlyArray<string>): Promise<number> => {
  let total = 0
  for (const dir of dirs) {
    const entries = await NodeFsP.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
    for (const entry of entries) {
      if (!entry.isFile()) continue
      const stat = await NodeFsP.lstat(NodePath.join(entry.parentPath, entry.name)).catch(() => undefined)
      total += stat?.size ?? 0
    }
  }
  return total
}

/** Give `dirs` (recursively) to the sandbox's user, so that a sandbox run as `nobody` can write them. */
export const handOver = async (dirs: ReadonlyArray<string>): Promise<void> => {
  for (const dir of dirs) {
    await NodeFsP.chown(dir, sandboxUid, sandboxUid)
    const entries = await NodeFsP.readdir(dir, { recursive: true, withFileTypes: true })
    for (const entry of entries) {
      await NodeFsP.lchown(NodePath.join(entry.parentPath, entry.name), sandboxUid, sandboxUid)
    }
  }
}
