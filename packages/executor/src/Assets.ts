/**
 * Files the executor reads at run time from beside its code: the command
 * presets (`Command/Presets.ts`), the sandbox's egress bridge
 * (`Command/EgressProxy.ts`) and the type-check worker
 * (`CodeReview/TypeCheck.ts`). From source each sits beside the module that
 * names it; in a bundle the build copies them beside the entry file
 * (`scripts/build.ts`), one folder up from a module that esbuild split into
 * `dist/chunks/`.
 */
import * as NodeFs from "node:fs"
import * as NodeUrl from "node:url"

/**
 * Absolute path of `name` (a path relative to a folder, `/`-separated) for
 * the module at `moduleUrl` (its `import.meta.url`): beside the module if it
 * is there, else one folder up if it is there, else beside the module (so a
 * missing file is reported where it belongs from source).
 */
export const besideModule = (name: string, moduleUrl: string): string => {
  const beside = NodeUrl.fileURLToPath(new URL(`./${name}`, moduleUrl))
  if (NodeFs.existsSync(beside)) return beside
  const above = NodeUrl.fileURLToPath(new URL(`../${name}`, moduleUrl))
  return NodeFs.existsSync(above) ? above : beside
}
