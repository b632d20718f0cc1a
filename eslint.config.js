// ESLint for the whole repository: ESLint's and typescript-eslint's recommended rules, and formatting by
// dprint's TypeScript plugin through `@effect/dprint` (the Effect repository's set-up: one
// command checks both, `npm run lint -- --fix` formats; no plugin download at run time).
import effect from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  // The code-review fixtures are buyer code with planted problems, reviewed by the tests, not linted as ours.
  { ignores: ["**/node_modules/**", "**/build/**", "**/dist/**", "**/*.d.ts", "packages/executor/test/fixtures/code-review/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { "@effect": effect },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 140,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }]
    }
  },
  {
    // Source reads in small named pieces: a function that outgrows a screen is split by concept.
    files: ["packages/*/src/**/*.ts", "packages/*/src/**/*.tsx"],
    rules: {
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
      // The barrels re-export CommonJS packages (undici; yaml and toml) that a bundle then loads at every start.
      "no-restricted-imports": ["error", {
        paths: [
          { name: "@effect/platform-node", message: "Import the module: @effect/platform-node/NodeContext, …" },
          { name: "@effect/cli", message: "Import the module: @effect/cli/Command, …" }
        ]
      }]
    }
  }
)
