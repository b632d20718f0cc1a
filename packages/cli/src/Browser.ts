/**
 * Opening a URL in the user's browser with the platform's opener:
 * `xdg-open` on Linux and the BSDs, `open` on macOS, `start` (through
 * `cmd`) on Windows. The opener is started detached, its output ignored;
 * where none is on `PATH` (a server, a container) nothing is started and
 * the caller only prints the URL.
 */
import { Config, Effect, Option } from "effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** The program and arguments that open `url` on `platform`. */
export const openerOf = (platform: NodeJS.Platform, url: string): { readonly program: string; readonly args: ReadonlyArray<string> } =>
  platform === "darwin"
    ? { program: "open", args: [url] }
    : platform === "win32"
    // `start` is a builtin of cmd; its first quoted argument is a window title.
    ? { program: "cmd", args: ["/c", "start", "", url] }
    : { program: "xdg-open", args: [url] }

/** Whether `program` is an executable file in one of the directories of `path` (`PATH`'s value). */
const onPath = (program: string, path: string) =>
  path.split(NodePath.delimiter).filter((dir) => dir !== "").some((dir) =>
    [program, `${program}.exe`].some((name) => {
      try {
        NodeFs.accessSync(NodePath.join(dir, name), NodeFs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })
  )

/**
 * Open `url` in the browser: `true` when an opener was started, `false`
 * when there is none on `PATH` or it could not be started.
 */
export const openInBrowser = (url: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const path = yield* Config.option(Config.string("PATH")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    const { args, program } = openerOf(process.platform, url)
    if (!onPath(program, Option.getOrElse(path, () => ""))) return false
    return yield* Effect.try(() => {
      const child = NodeChildProcess.spawn(program, args, { detached: true, stdio: "ignore" })
      child.on("error", () => {})
      child.unref()
      return true
    }).pipe(Effect.orElseSucceed(() => false))
  })
