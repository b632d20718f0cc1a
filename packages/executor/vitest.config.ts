import { configDefaults, defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "executor",
    include: ["test/**/*.test.ts"],
    // The code review's fixtures are projects to review, their own test files among them.
    exclude: [...configDefaults.exclude, "test/fixtures/**"]
  }
})
