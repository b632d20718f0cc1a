/**
 * The client configuration file the embedded server writes so that the CLI
 * and executors work with no set-up (DESIGN.md "Auth"):
 * `$XDG_CONFIG_HOME/agnt/config.json` or `~/.config/agnt/config.json`,
 * mode 0600, holding `{ api_url, api_key, executor_api_key }`.
 */
import { Config, Effect, Option } from "effect"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** Where the config file lives. */
export const clientConfigPath = Config.option(Config.string("XDG_CONFIG_HOME")).pipe(
  Config.map((xdg) =>
    NodePath.join(Option.getOrElse(xdg, () => NodePath.join(NodeOs.homedir(), ".config")), "agnt", "config.json"))
)

/** Merge `values` into the config file, creating it (mode 0600) if missing. */
export const updateClientConfig = (values: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const path = yield* clientConfigPath
    yield* Effect.tryPromise(async () => {
      const current: unknown = await NodeFs.readFile(path, "utf8").then(JSON.parse, () => ({}))
      const merged = { ...(typeof current === "object" && current !== null ? current : {}), ...values }
      await NodeFs.mkdir(NodePath.dirname(path), { recursive: true, mode: 0o700 })
      await NodeFs.writeFile(path, JSON.stringify(merged, null, 2) + "\n", { mode: 0o600 })
    })
    return path
  })
