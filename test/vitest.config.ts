import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "e2e",
    include: ["**/*.test.ts"],
    // The release artifacts' tests run in `npm run test:dist`, after `npm run dist`.
    exclude: ["**/node_modules/**", "artifacts/**"],
    globalSetup: ["../packages/server/test/globalSetup.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000
  }
})
