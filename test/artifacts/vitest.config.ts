import { defineConfig } from "vitest/config"

/** `npm run test:dist`: the artifacts of `npm run dist`, installed as a user gets them (not part of `npm test`). */
export default defineConfig({
  test: {
    name: "artifacts",
    include: ["test/artifacts/*.test.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000
  }
})
