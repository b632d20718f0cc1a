/**
 * A TCP port free on 127.0.0.1 right now, as the kernel hands one out
 * (listen on port 0, read the port, close). Another process may take it
 * before it is used; callers bind soon after.
 */
import * as NodeNet from "node:net"

/** The port, as a promise (for scripts and test set-up outside Effect). */
export const freePortPromise = (): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const server = NodeNet.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
