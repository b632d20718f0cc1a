import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "e2e",
    include: ["**/*.test.ts"],
    globalSetup: ["../packages/server/test/globalSetup.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000
  }
})
