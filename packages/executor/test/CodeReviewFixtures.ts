/** The code-review fixtures (real-world shaped packages) and the official SARIF 2.1.0 schema beside them. */
import { Ajv, type ValidateFunction } from "ajv"
import addFormatsModule from "ajv-formats"
import { Effect } from "effect"
import { readdir, readFile } from "node:fs/promises"
import { join, relative } from "node:path"

/** `test/fixtures/code-review`: `node-mocha/`, `browser/`, `typescript/`, and `sarif-schema-2.1.0.json`. */
export const fixturesDir = join(import.meta.dirname, "fixtures", "code-review")

/** Every file under `root`, relative and sorted, as a job's inputs would list them. */
export const fixtureFiles = (root: string) =>
  Effect.promise(async () => {
    const entries = await readdir(root, { recursive: true, withFileTypes: true })
    return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name))).sort()
  })

const addFormats = addFormatsModule.default

let compiled: Promise<ValidateFunction> | undefined

/**
 * The official SARIF 2.1.0 JSON Schema (draft-07 edition, from
 * github.com/oasis-tcs/sarif-spec `sarif-2.1/prose/sarif-schema-2.1.0.json`
 * at e0583813964ec43cea53b6b531b402866095ed1f), compiled once with ajv and its formats.
 */
const sarifValidator = () =>
  compiled ??= readFile(join(fixturesDir, "sarif-schema-2.1.0.json"), "utf8").then((text) => {
    // The schema's `language` pattern (`…-[a-zA-Z]{2}]?$`) is not a valid Unicode-mode regular expression.
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false })
    addFormats(ajv)
    const schema: object = JSON.parse(text)
    return ajv.compile(schema)
  })

/** Where `log` breaks the SARIF 2.1.0 schema (`instancePath` and message each); empty when valid. */
export const sarifSchemaErrors = (log: unknown) =>
  Effect.promise(async () => {
    const validate = await sarifValidator()
    return validate(log) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ""}`)
  })
