/**
 * `globalThis.navigator` as Node.js 21 and later define it, on Node.js 20.
 *
 * `pg` asks at load whether it runs on Cloudflare Workers: with no
 * `navigator` it builds a fetch `Response` to find out, which loads Node's
 * whole fetch implementation (undici) into a server that never uses it —
 * about 60 ms of CPU and 14 MB of memory at every start (`bench/start.ts`).
 * With `navigator.userAgent` defined, as newer Node.js versions have it,
 * `pg` reads that instead. Imported first by `bin.ts`, before `pg` loads;
 * an existing `navigator` is left alone.
 */
import * as NodeOs from "node:os"

if (!("navigator" in globalThis)) {
  Object.defineProperty(globalThis, "navigator", {
    value: Object.freeze({
      userAgent: `Node.js/${process.versions.node.split(".")[0] ?? ""}`,
      hardwareConcurrency: NodeOs.availableParallelism(),
      language: Intl.DateTimeFormat().resolvedOptions().locale
    }),
    configurable: true,
    enumerable: true,
    writable: true
  })
}
