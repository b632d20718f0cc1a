/**
 * JSON Schema validation with ajv (draft 2020-12, plus `ajv-formats`):
 * checks agents' `input_schema`s and `output_schema`s on publish, jobs'
 * `params` against the `input_schema` on order (DESIGN.md "API v1": params
 * are validated on `POST /v1/jobs`) and their structured `result` against
 * the `output_schema` on completion (DESIGN.md "Data model").
 * Compiled validators are cached per schema text.
 */
import { InvalidManifest, InvalidParams, InvalidResult, type ValidationIssue } from "@agnt/domain/Errors"
import addFormatsModule from "ajv-formats"
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js"
import { Effect } from "effect"

const addFormats = addFormatsModule.default

const issuesOf = (errors: ReadonlyArray<ErrorObject> | null | undefined): ReadonlyArray<ValidationIssue> =>
  (errors ?? []).map((error) => ({
    path: error.instancePath === "" ? "/" : error.instancePath,
    message: error.keyword === "additionalProperties" && "additionalProperty" in error.params
      ? `${error.message ?? "is invalid"}: ${String(error.params["additionalProperty"])}`
      : error.message ?? "is invalid"
  }))

/** Validating JSON documents against agents' JSON Schemas. */
export class JsonSchemas extends Effect.Service<JsonSchemas>()("@agnt/server/JsonSchemas", {
  sync: () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true })
    addFormats(ajv)
    const cache = new Map<string, ValidateFunction>()

    /**
     * Check that the manifest's `field` (`input_schema` or `output_schema`)
     * is a valid JSON Schema that compiles.
     *
     * @fails InvalidManifest naming each problem, with paths under `/<field>`.
     */
    const checkSchema = (
      schema: Record<string, unknown>,
      field: "input_schema" | "output_schema"
    ): Effect.Effect<void, InvalidManifest> =>
      Effect.suspend(() => {
        try {
          if (ajv.validateSchema(schema) === true) {
            ajv.compile(schema)
            return Effect.void
          }
          return Effect.fail(
            new InvalidManifest({
              message: `${field} is not a valid JSON Schema`,
              issues: issuesOf(ajv.errors).map((issue) => ({ ...issue, path: `/${field}${issue.path === "/" ? "" : issue.path}` }))
            })
          )
        } catch (cause) {
          return Effect.fail(
            new InvalidManifest({
              message: `${field} does not compile: ${String(cause)}`,
              issues: [{ path: `/${field}`, message: String(cause) }]
            })
          )
        }
      })

    /** The problems of `value` against `schema` (compiled once per schema text); empty when it is valid. */
    const problems = (schema: Record<string, unknown>, value: unknown): ReadonlyArray<ValidationIssue> => {
      const text = JSON.stringify(schema)
      let check = cache.get(text)
      if (check === undefined) {
        check = ajv.compile(schema)
        cache.set(text, check)
      }
      return check(value) === true ? [] : issuesOf(check.errors)
    }

    /**
     * Check a job's `params` against its agent's `input_schema`.
     *
     * @fails InvalidParams with one issue per failing JSON Pointer (RFC 6901) path.
     */
    const validate = (schema: Record<string, unknown>, params: unknown): Effect.Effect<void, InvalidParams> =>
      Effect.suspend(() => {
        const issues = problems(schema, params)
        return issues.length === 0
          ? Effect.void
          : Effect.fail(new InvalidParams({ message: "params do not match the agent's input_schema", issues }))
      })

    /**
     * Check a completion's structured `result` against its agent's `output_schema`.
     *
     * @fails InvalidResult with one issue per failing JSON Pointer (RFC 6901) path.
     */
    const validateResult = (schema: Record<string, unknown>, result: unknown): Effect.Effect<void, InvalidResult> =>
      Effect.suspend(() => {
        const issues = problems(schema, result)
        return issues.length === 0
          ? Effect.void
          : Effect.fail(new InvalidResult({ message: "result does not match the agent's output_schema", issues }))
      })

    return { checkSchema, validate, validateResult } as const
  }
}) {}
